/*
 * facts.c - the Windows facts: the PowerShell script (facts.ps1, compiled
 * in), the -EncodedCommand line that runs it, and the strict parser of the
 * JSON it prints (see windows.h).
 *
 * The JSON comes from a host we do not trust, so: at most FACTS_MAX_BYTES,
 * parsed by cJSON with its length given, every field of format 1 present
 * with its exact type, numbers integral and in range, strings at most
 * STR_MAX bytes with no control character.  Unknown fields are ignored.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "agentpush/windows.h"
#include "windows_int.h"

#define FACTS_MAX_BYTES (64 * 1024)
#define STR_MAX 512
#define CMD_MAX 8191  /* cmd.exe's command line limit */
#define PS_PREFIX "powershell -NoProfile -NonInteractive -EncodedCommand "

int
ap_windows_facts_command(char **cmd, struct ap_ctx *ctx)
{
	return ap_windows_powershell_command(ap_windows_facts_script(), cmd, ctx);
}

/* UTF-8 to UTF-16LE; returns the byte count or -1 for invalid UTF-8. */
static long
utf16le(const unsigned char *s, size_t n, unsigned char *o)
{
	size_t i = 0, k = 0;
	unsigned long cp;
	int extra;

	while (i < n) {
		unsigned char b = s[i++];

		if (b < 0x80) {
			cp = b;
			extra = 0;
		} else if ((b & 0xe0) == 0xc0) {
			cp = b & 0x1f;
			extra = 1;
		} else if ((b & 0xf0) == 0xe0) {
			cp = b & 0x0f;
			extra = 2;
		} else if ((b & 0xf8) == 0xf0) {
			cp = b & 0x07;
			extra = 3;
		} else {
			return -1;
		}
		if (i + (size_t)extra > n)
			return -1;
		while (extra-- > 0) {
			if ((s[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i++] & 0x3f);
		}
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			o[k++] = (unsigned char)((0xd800 | (cp >> 10)) & 0xff);
			o[k++] = (unsigned char)((0xd800 | (cp >> 10)) >> 8);
			o[k++] = (unsigned char)((0xdc00 | (cp & 0x3ff)) & 0xff);
			o[k++] = (unsigned char)((0xdc00 | (cp & 0x3ff)) >> 8);
		} else {
			o[k++] = (unsigned char)(cp & 0xff);
			o[k++] = (unsigned char)(cp >> 8);
		}
	}
	return (long)k;
}

int
ap_windows_powershell_command(const char *script, char **cmd,
                              struct ap_ctx *ctx)
{
	size_t n = strlen(script), b64len, plen = strlen(PS_PREFIX);
	unsigned char *u16 = NULL;
	char *out = NULL;
	long k;
	int r = AP_ENOMEM;

	*cmd = NULL;
	if (n > CMD_MAX) /* the encoding only grows it */
		return ap_ctx_fail(ctx, AP_EINVAL, 0,
		                   "PowerShell script of %zu bytes: over the 8191-character command line",
		                   n);
	if ((u16 = malloc(n * 2 + 4)) == NULL)
		goto fail;
	if ((k = utf16le((const unsigned char *)script, n, u16)) < 0) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "PowerShell script is not valid UTF-8");
		goto out;
	}
	b64len = sodium_base64_ENCODED_LEN((size_t)k, sodium_base64_VARIANT_ORIGINAL);
	if (plen + b64len > CMD_MAX + 1) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0,
		                "encoded PowerShell command of %zu characters: over cmd.exe's 8191",
		                plen + b64len - 1);
		goto out;
	}
	if ((out = malloc(plen + b64len)) == NULL)
		goto fail;
	memcpy(out, PS_PREFIX, plen);
	sodium_bin2base64(out + plen, b64len, u16, (size_t)k,
	                  sodium_base64_VARIANT_ORIGINAL);
	*cmd = out;
	out = NULL; /* transferred */
	r = AP_OK;
	goto out;
fail:
	r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
out:
	free(u16);
	free(out);
	return r;
}

void
ap_windows_facts_free(struct ap_windows_facts *f)
{
	if (f == NULL)
		return;
	free(f->caption);
	free(f->os_version);
	free(f->arch);
	free(f->system_drive);
	free(f->system_root);
	free(f->cpu);
	free(f->reboot_reasons);
	free(f->domain);
	free(f->user);
	free(f);
}

struct pctx {
	struct ap_ctx *ctx;
	int rc;
};

static int
bad(struct pctx *p, const char *field, const char *what)
{
	p->rc = ap_ctx_fail(p->ctx, AP_EPROTO, 0, "Windows facts: \"%s\" %s",
	                    field, what);
	return -1;
}

static int
get_str(struct pctx *p, const cJSON *o, const char *name, int nullable,
        char **dst)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	const unsigned char *s;
	size_t n;

	if (nullable && (it == NULL || cJSON_IsNull(it))) {
		*dst = NULL;
		return 0;
	}
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return bad(p, name, "is missing or not a string");
	n = strlen(it->valuestring);
	if (n > STR_MAX)
		return bad(p, name, "is too long");
	for (s = (const unsigned char *)it->valuestring; *s != '\0'; s++)
		if (*s < 0x20 || *s == 0x7f)
			return bad(p, name, "holds a control character");
	if ((*dst = strdup(it->valuestring)) == NULL) {
		p->rc = ap_ctx_fail(p->ctx, AP_ENOMEM, 0, "out of memory");
		return -1;
	}
	return 0;
}

static int
get_int(struct pctx *p, const cJSON *o, const char *name, long long lo,
        long long hi, long long *dst)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
	double v;

	if (!cJSON_IsNumber(it))
		return bad(p, name, "is missing or not a number");
	v = it->valuedouble;
	if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
		return bad(p, name, "is not a whole number in range");
	*dst = (long long)v;
	return 0;
}

static int
get_bool(struct pctx *p, const cJSON *o, const char *name, int *dst)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsBool(it))
		return bad(p, name, "is missing or not true/false");
	*dst = cJSON_IsTrue(it) ? 1 : 0;
	return 0;
}

int
ap_windows_facts_parse(const char *text, size_t len,
                       struct ap_windows_facts **out, struct ap_ctx *ctx)
{
	struct ap_windows_facts *f = NULL;
	struct pctx p = { ctx, AP_EPROTO };
	cJSON *root = NULL;
	const cJSON *rb, *lt;
	long long v = 0;
	int cbs = 0, wu = 0, pfro = 0;
	char reasons[128];

	*out = NULL;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if (len > FACTS_MAX_BYTES)
		return ap_ctx_fail(ctx, AP_EPROTO, 0,
		                   "Windows facts: %zu bytes, over %d", len, FACTS_MAX_BYTES);
	if (memchr(text, '\0', len) != NULL)
		return ap_ctx_fail(ctx, AP_EPROTO, 0, "Windows facts: holds a NUL byte");
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		p.rc = ap_ctx_fail(ctx, AP_EPROTO, 0,
		                   "Windows facts: not a JSON object (the script's output was cut or mixed with other text)");
		goto out;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		p.rc = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if (get_int(&p, root, "agentpush_windows_facts", 1, 1, &v) != 0)
		goto out;
	f->version = 1;
	if (get_str(&p, root, "caption", 0, &f->caption) != 0 ||
	    get_str(&p, root, "version", 0, &f->os_version) != 0 ||
	    get_int(&p, root, "build", 0, 9999999, &v) != 0)
		goto out;
	f->build = (long)v;
	if (get_int(&p, root, "product_type", 1, 3, &v) != 0)
		goto out;
	f->product_type = (int)v;
	if (get_str(&p, root, "arch", 1, &f->arch) != 0 ||
	    get_bool(&p, root, "is64", &f->is_64bit) != 0 ||
	    get_str(&p, root, "system_drive", 0, &f->system_drive) != 0 ||
	    get_str(&p, root, "system_root", 1, &f->system_root) != 0 ||
	    get_str(&p, root, "cpu", 1, &f->cpu) != 0 ||
	    get_int(&p, root, "system_free", -1, 1LL << 53, &f->system_free_bytes) != 0 ||
	    get_int(&p, root, "mem_free", -1, 1LL << 53, &f->mem_free_bytes) != 0 ||
	    get_int(&p, root, "mem_total", -1, 1LL << 53, &f->mem_total_bytes) != 0)
		goto out;
	lt = cJSON_GetObjectItemCaseSensitive(root, "latfp");
	if (lt == NULL || cJSON_IsNull(lt)) {
		f->latfp = AP_WINDOWS_UNKNOWN;
	} else {
		if (get_int(&p, root, "latfp", 0, 0xffffffffLL, &v) != 0)
			goto out;
		f->latfp = v > 1 ? 2 : (int)v; /* any other DWORD: not 1 */
	}
	rb = cJSON_GetObjectItemCaseSensitive(root, "reboot");
	if (!cJSON_IsObject(rb)) {
		bad(&p, "reboot", "is missing or not an object");
		goto out;
	}
	if (get_bool(&p, rb, "cbs", &cbs) != 0 || get_bool(&p, rb, "wu", &wu) != 0 ||
	    get_bool(&p, rb, "pfro", &pfro) != 0)
		goto out;
	f->reboot_pending = cbs || wu || pfro;
	snprintf(reasons, sizeof(reasons), "%s%s%s%s%s", cbs ? "CBS RebootPending" : "",
	         cbs && (wu || pfro) ? ", " : "", wu ? "WindowsUpdate RebootRequired" : "",
	         wu && pfro ? ", " : "", pfro ? "PendingFileRenameOperations" : "");
	if ((f->reboot_reasons = strdup(reasons)) == NULL) {
		p.rc = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if (get_bool(&p, root, "domain_joined", &f->domain_joined) != 0 ||
	    get_str(&p, root, "domain", 1, &f->domain) != 0 ||
	    get_str(&p, root, "user", 0, &f->user) != 0 ||
	    get_bool(&p, root, "local_account", &f->local_account) != 0)
		goto out;
	*out = f;
	f = NULL; /* transferred */
	p.rc = AP_OK;
out:
	cJSON_Delete(root);
	ap_windows_facts_free(f);
	return p.rc;
}
