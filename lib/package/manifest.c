/*
 * manifest.c - opening and validating an agent package (see package.h and
 * docs/package-format.md).
 *
 * Design: the manifest is parsed with cJSON, then every field is copied into
 * plain C structs (struct pkg_os per OS section) while it is checked, so the
 * rest of agentpush never sees JSON and never meets an unchecked value.
 * Validation is strict on purpose: an unknown or duplicate field is an error
 * (a typo in "instal_dir" must not silently fall back to a default), and
 * every command template is parsed once here so ap_package_command() can only
 * fail on a value it is given later.  Each error names the file and the JSON
 * path of the culprit.
 *
 * Quoting: commands are run by the target's shell, so each placeholder value
 * is quoted by quote_posix() (single quotes, ' written as '\'') or
 * quote_cmd() (double quotes; ", %, ! and control characters refused since
 * cmd.exe has no escape for them inside quotes).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentpush/catalog.h"
#include "agentpush/package.h"
#include "package_int.h"

#define PATH_FIELD_MAX 1024 /* bytes in a path field */
#define CMD_MAX 4096        /* bytes in a command template */
#define CMD_OUT_MAX 65536   /* bytes in an expanded command */
#define MEANING_MAX 200     /* bytes in an exit code's meaning */

enum { OS_LINUX = 0, OS_WINDOWS, OS_N };

struct pkg_os {
	bool present;
	char *payload_name;
	char *payload_path; /* on the controller */
	char *sha256;       /* 64 lowercase hex */
	uint64_t size;
	char **archs;
	size_t n_archs;
	char *staging;
	char *install_dir;
	char *log_path;
	uint64_t space_staging_kb;
	uint64_t space_install_kb;
	uint64_t install_timeout_s;
	char *cmd[AP_PKG_CMD_COUNT_];
	struct ap_pkg_exit *exits; /* meaning strings owned here */
	size_t n_exits;
	struct ap_pkg_caps caps;
};

struct ap_package {
	char *name;
	char *version;
	char *dir;    /* folder holding manifest.json and the payloads */
	char *tmpdir; /* extraction folder of a tarball, removed on free */
	struct pkg_os os[OS_N];
};

/* Where we are in the manifest, for error messages. */
struct vctx {
	const char *file; /* "pkg/manifest.json" or "pkg.tar.gz:manifest.json" */
	struct ap_ctx *ctx;
};

static const char *const os_key[OS_N] = { "linux", "windows" };
/* NULL-terminated: check_keys() walks it (found by fuzz_manifest). */
static const char *const cmd_key[AP_PKG_CMD_COUNT_ + 1] = {
	"install", "uninstall", "verify", "version", NULL
};
static const char *const placeholders[] = {
	"payload", "install_dir", "staging", "workdir", "log", "version", NULL
};
static const char *const linux_archs[] = {
	"x86_64", "aarch64", "armv7l", "i686", "ppc64le", "s390x", NULL
};
static const char *const windows_archs[] = { "x64", "x86", "arm64", NULL };

static int
os_index(enum ap_os os)
{
	switch (os) {
	case AP_OS_LINUX:   return OS_LINUX;
	case AP_OS_WINDOWS: return OS_WINDOWS;
	default:            return -1;
	}
}

static const struct pkg_os *
section(const struct ap_package *pkg, enum ap_os os)
{
	int i = os_index(os);

	if (pkg == NULL || i < 0 || !pkg->os[i].present)
		return NULL;
	return &pkg->os[i];
}

static int
bad(struct vctx *v, const char *jpath, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
bad(struct vctx *v, const char *jpath, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ap_ctx_fail(v->ctx, AP_EINVAL, 0, "package %s: %s: %s", v->file, jpath, msg);
}

static int
oom(struct vctx *v)
{
	return ap_ctx_fail(v->ctx, AP_ENOMEM, 0, "out of memory");
}

/* Every key of obj must be in allowed[] and appear once. */
static int
check_keys(struct vctx *v, const cJSON *obj, const char *jpath,
           const char *const *allowed)
{
	const cJSON *it = NULL, *jt = NULL;
	char p[256];
	size_t i;

	cJSON_ArrayForEach(it, obj) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(it->string, allowed[i]) == 0)
				break;
		snprintf(p, sizeof(p), "%s%s%s", jpath, jpath[0] ? "." : "", it->string);
		if (allowed[i] == NULL)
			return bad(v, p, "unknown field");
		for (jt = it->next; jt != NULL; jt = jt->next)
			if (strcmp(it->string, jt->string) == 0)
				return bad(v, p, "appears twice");
	}
	return 0;
}

/* One line of printable text: no control characters. */
static bool
one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
get_str(struct vctx *v, const cJSON *obj, const char *jpath, const char *key,
        size_t max, char **out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	*out = NULL;
	snprintf(p, sizeof(p), "%s%s%s", jpath, jpath[0] ? "." : "", key);
	if (it == NULL)
		return bad(v, p, "missing");
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return bad(v, p, "must be a string");
	if (it->valuestring[0] == '\0')
		return bad(v, p, "must not be empty");
	if (strlen(it->valuestring) > max)
		return bad(v, p, "longer than %zu bytes", max);
	if (!one_line(it->valuestring))
		return bad(v, p, "must be one line of printable text");
	if ((*out = strdup(it->valuestring)) == NULL)
		return oom(v);
	return 0;
}

static int
get_uint(struct vctx *v, const cJSON *obj, const char *jpath, const char *key,
         uint64_t min, uint64_t max, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];
	double d;

	snprintf(p, sizeof(p), "%s%s%s", jpath, jpath[0] ? "." : "", key);
	if (it == NULL)
		return bad(v, p, "missing");
	if (!cJSON_IsNumber(it))
		return bad(v, p, "must be a whole number");
	d = it->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return bad(v, p, "must be a whole number");
	if (d < (double)min || d > (double)max)
		return bad(v, p, "must be between %llu and %llu",
		           (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)d;
	return 0;
}

static int
get_bool(struct vctx *v, const cJSON *obj, const char *jpath, const char *key,
         bool *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	snprintf(p, sizeof(p), "%s.%s", jpath, key);
	if (it == NULL)
		return bad(v, p, "missing");
	if (!cJSON_IsBool(it))
		return bad(v, p, "must be true or false");
	*out = cJSON_IsTrue(it);
	return 0;
}

static const cJSON *
get_obj(struct vctx *v, const cJSON *obj, const char *jpath, const char *key,
        int *r)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[256];

	snprintf(p, sizeof(p), "%s%s%s", jpath, jpath[0] ? "." : "", key);
	*r = 0;
	if (it == NULL)
		*r = bad(v, p, "missing");
	else if (!cJSON_IsObject(it))
		*r = bad(v, p, "must be an object");
	return *r == 0 ? it : NULL;
}

/* An absolute path for the OS's file system, without ".." components. */
static const char *
path_problem(int osi, const char *s)
{
	const char *c = NULL;

	if (osi == OS_LINUX) {
		if (s[0] != '/')
			return "must be an absolute path";
		if (strstr(s, "/../") != NULL ||
		    (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0))
			return "must not contain \"..\"";
		return NULL;
	}
	if (!isalpha((unsigned char)s[0]) || s[1] != ':' || s[2] != '\\')
		return "must be an absolute path like C:\\dir";
	for (c = s; *c; c++)
		if (strchr("\"%!<>|*?/", *c) != NULL)
			return "must not contain any of \" % ! < > | * ? /";
	if (strstr(s, "\\..\\") != NULL || (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "\\..") == 0))
		return "must not contain \"..\"";
	return NULL;
}

static int
get_path(struct vctx *v, int osi, const cJSON *obj, const char *jpath,
         const char *key, const char *dflt, char **out)
{
	const char *why = NULL;
	char p[256];
	int r;

	snprintf(p, sizeof(p), "%s.%s", jpath, key);
	if (dflt != NULL && cJSON_GetObjectItemCaseSensitive(obj, key) == NULL) {
		if ((*out = strdup(dflt)) == NULL)
			return oom(v);
		return 0;
	}
	if ((r = get_str(v, obj, jpath, key, PATH_FIELD_MAX, out)) != 0)
		return r;
	if ((why = path_problem(osi, *out)) != NULL) {
		free(*out);
		*out = NULL;
		return bad(v, p, "%s", why);
	}
	return 0;
}

/*
 * Command templates.  expand() walks tmpl once; with vals == NULL it only
 * checks the syntax and returns a static description of the first problem.
 * With vals (indexed like placeholders[]) it appends the quoted values to
 * *out.  Returns NULL on success.
 */
struct sbuf {
	char *p;
	size_t len, cap;
};

static bool
sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *np = NULL;
	size_t ncap;

	if (b->len + n + 1 > CMD_OUT_MAX)
		return false;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 128;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return false;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static bool
quote_posix(struct sbuf *b, const char *s)
{
	if (!sb_add(b, "'", 1))
		return false;
	for (; *s; s++) {
		if (*s == '\'') {
			if (!sb_add(b, "'\\''", 4))
				return false;
		} else if (!sb_add(b, s, 1)) {
			return false;
		}
	}
	return sb_add(b, "'", 1);
}

/* cmd.exe and CommandLineToArgvW: no escape exists for these inside "..." */
static bool
cmd_quotable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || strchr("\"%!", *s) != NULL)
			return false;
	return true;
}

static bool
quote_cmd(struct sbuf *b, const char *s)
{
	size_t n = strlen(s), tail = 0;

	while (tail < n && s[n - 1 - tail] == '\\')
		tail++;
	/* Backslashes before the closing quote are doubled (argv rules). */
	return sb_add(b, "\"", 1) && sb_add(b, s, n) && sb_add(b, s + n - tail, tail) &&
	       sb_add(b, "\"", 1);
}

static const char *
expand(const char *tmpl, int osi, const char *const *vals, struct sbuf *out,
       const char **bad_name)
{
	const char *p = tmpl, *end = NULL;
	size_t i, n;

	while (*p) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			if (vals != NULL && !sb_add(out, p, 1))
				return "too long";
			p += 2;
			continue;
		}
		if (*p == '}')
			return "unmatched '}' (write }} for a literal brace)";
		if (*p != '{') {
			if (vals != NULL && !sb_add(out, p, 1))
				return "too long";
			p++;
			continue;
		}
		if ((end = strchr(p + 1, '}')) == NULL)
			return "unterminated '{' (write {{ for a literal brace)";
		n = (size_t)(end - p - 1);
		for (i = 0; placeholders[i] != NULL; i++)
			if (strlen(placeholders[i]) == n && memcmp(placeholders[i], p + 1, n) == 0)
				break;
		if (placeholders[i] == NULL)
			return "unknown placeholder (known: {payload} {install_dir} {staging} {workdir} {log} {version})";
		if (vals != NULL) {
			if (osi == OS_WINDOWS && !cmd_quotable(vals[i])) {
				*bad_name = placeholders[i];
				return "cannot be quoted for cmd.exe (it holds \", %, ! or a control character)";
			}
			if (!(osi == OS_WINDOWS ? quote_cmd(out, vals[i]) : quote_posix(out, vals[i])))
				return "too long";
		}
		p = end + 1;
	}
	if (vals != NULL && out->p == NULL && !sb_add(out, "", 0))
		return "too long";
	return NULL;
}

static int
parse_commands(struct vctx *v, int osi, const cJSON *sec, const char *jpath,
               struct pkg_os *o)
{
	const cJSON *cmds = NULL;
	const char *why = NULL;
	char p[128], pp[160];
	int r, i;

	snprintf(p, sizeof(p), "%s.commands", jpath);
	if ((cmds = get_obj(v, sec, jpath, "commands", &r)) == NULL)
		return r;
	if ((r = check_keys(v, cmds, p, cmd_key)) != 0)
		return r;
	for (i = 0; i < AP_PKG_CMD_COUNT_; i++) {
		if ((r = get_str(v, cmds, p, cmd_key[i], CMD_MAX, &o->cmd[i])) != 0)
			return r;
		if ((why = expand(o->cmd[i], osi, NULL, NULL, NULL)) != NULL) {
			snprintf(pp, sizeof(pp), "%s.%s", p, cmd_key[i]);
			return bad(v, pp, "%s", why);
		}
	}
	return 0;
}

/* "0", "97", "-1", "3010": a decimal int without sign or leading zero games. */
static bool
parse_code(const char *s, int *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	long val;
	char *end = NULL;

	if (!isdigit((unsigned char)d[0]) || (d[0] == '0' && d[1] != '\0') ||
	    strlen(d) > 10)
		return false;
	errno = 0;
	val = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || val < INT_MIN || val > INT_MAX ||
	    (s[0] == '-' && val == 0))
		return false;
	*out = (int)val;
	return true;
}

static int
parse_exit_codes(struct vctx *v, const cJSON *sec, const char *jpath,
                 struct pkg_os *o)
{
	static const char *const row_keys[] = { "meaning", "outcome", "error", "reboot", NULL };
	const cJSON *tab = NULL, *row = NULL, *it = NULL;
	const struct ap_catalog_entry *ce = NULL;
	struct ap_pkg_exit *e = NULL;
	char p[128], rp[192], ep[224];
	bool have_zero = false;
	size_t i, n;
	int r;

	snprintf(p, sizeof(p), "%s.exit_codes", jpath);
	if ((tab = get_obj(v, sec, jpath, "exit_codes", &r)) == NULL)
		return r;
	n = (size_t)cJSON_GetArraySize(tab);
	if (n == 0)
		return bad(v, p, "must list at least exit code 0");
	if ((o->exits = calloc(n, sizeof(*o->exits))) == NULL)
		return oom(v);
	cJSON_ArrayForEach(row, tab) {
		e = &o->exits[o->n_exits];
		snprintf(rp, sizeof(rp), "%s.%s", p, row->string);
		if (!parse_code(row->string, &e->code))
			return bad(v, rp, "key must be a decimal exit code such as \"0\" or \"97\"");
		for (i = 0; i < o->n_exits; i++)
			if (o->exits[i].code == e->code)
				return bad(v, rp, "exit code listed twice");
		if (!cJSON_IsObject(row))
			return bad(v, rp, "must be an object");
		if ((r = check_keys(v, row, rp, row_keys)) != 0)
			return r;
		o->n_exits++; /* from here on, e's strings are freed with the package */
		e->known = true;
		if ((r = get_str(v, row, rp, "meaning", MEANING_MAX, (char **)&e->meaning)) != 0)
			return r;
		snprintf(ep, sizeof(ep), "%s.outcome", rp);
		it = cJSON_GetObjectItemCaseSensitive(row, "outcome");
		if (it == NULL)
			return bad(v, ep, "missing");
		if (!cJSON_IsString(it) || it->valuestring == NULL)
			return bad(v, ep, "must be \"ok\", \"warning\" or \"failed\"");
		if (strcmp(it->valuestring, "ok") == 0)
			e->outcome = AP_PKG_OK;
		else if (strcmp(it->valuestring, "warning") == 0)
			e->outcome = AP_PKG_WARNING;
		else if (strcmp(it->valuestring, "failed") == 0)
			e->outcome = AP_PKG_FAILED;
		else
			return bad(v, ep, "must be \"ok\", \"warning\" or \"failed\"");
		if (e->code == 0) {
			if (e->outcome != AP_PKG_OK)
				return bad(v, rp, "exit code 0 must have the outcome \"ok\"");
			have_zero = true;
		}
		snprintf(ep, sizeof(ep), "%s.error", rp);
		it = cJSON_GetObjectItemCaseSensitive(row, "error");
		ce = NULL;
		if (it == NULL || cJSON_IsNull(it)) {
			if (e->outcome != AP_PKG_OK)
				return bad(v, ep, "required when the outcome is not \"ok\"");
		} else if (cJSON_IsString(it) && it->valuestring != NULL) {
			if ((ce = ap_catalog_find_name(it->valuestring)) == NULL)
				return bad(v, ep, "\"%.64s\" is not an ErrorID name of the catalog", it->valuestring);
		} else if (cJSON_IsNumber(it)) {
			if (it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 ||
			    it->valuedouble > INT_MAX || (ce = ap_catalog_find((int)it->valuedouble)) == NULL)
				return bad(v, ep, "%g is not an ErrorID of the catalog", it->valuedouble);
		} else {
			return bad(v, ep, "must be a catalog name like \"INSTALL_FAILED\", an ErrorID number or null");
		}
		e->error_id = ce != NULL ? ce->id : 0;
		if ((r = get_bool(v, row, rp, "reboot", &e->reboot)) != 0)
			return r;
	}
	if (!have_zero)
		return bad(v, p, "must list exit code 0");
	return 0;
}

static int
parse_archs(struct vctx *v, int osi, const cJSON *sec, const char *jpath,
            struct pkg_os *o)
{
	const char *const *known = osi == OS_LINUX ? linux_archs : windows_archs;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(sec, "architectures");
	const cJSON *it = NULL;
	char p[128];
	size_t i, n;

	snprintf(p, sizeof(p), "%s.architectures", jpath);
	if (arr == NULL)
		return bad(v, p, "missing");
	if (!cJSON_IsArray(arr) || (n = (size_t)cJSON_GetArraySize(arr)) == 0)
		return bad(v, p, "must be a non-empty array of names");
	if ((o->archs = calloc(n, sizeof(char *))) == NULL)
		return oom(v);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || it->valuestring == NULL)
			return bad(v, p, "must be a non-empty array of names");
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], it->valuestring) == 0)
				break;
		if (known[i] == NULL)
			return bad(v, p, "unknown architecture \"%.32s\" (known for %s: %s)",
			           it->valuestring, os_key[osi],
			           osi == OS_LINUX ? "x86_64 aarch64 armv7l i686 ppc64le s390x" : "x64 x86 arm64");
		for (i = 0; i < o->n_archs; i++)
			if (strcmp(o->archs[i], it->valuestring) == 0)
				return bad(v, p, "\"%s\" listed twice", it->valuestring);
		o->archs[o->n_archs++] = (char *)known[i]; /* static string */
	}
	return 0;
}

/* Hashes the payload and checks it against the manifest. */
static int
check_payload(struct vctx *v, const char *jpath, struct pkg_os *o)
{
	crypto_hash_sha256_state st;
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
	unsigned char buf[65536];
	struct stat sb;
	char p[128];
	ssize_t got;
	int fd = -1, r;

	snprintf(p, sizeof(p), "%s.payload", jpath);
	if ((fd = open(o->payload_path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = ap_ctx_fail(v->ctx, errno == ENOENT ? AP_ENOTFOUND : AP_EIO, AP_ERR_PACKAGE_NO_PAYLOAD,
		                "package %s: %s: cannot open %s: %s", v->file, p,
		                o->payload_path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		r = bad(v, p, "%s is not a regular file", o->payload_path);
		goto out;
	}
	if ((uint64_t)sb.st_size != o->size) {
		snprintf(p, sizeof(p), "%s.size", jpath);
		r = ap_ctx_fail(v->ctx, AP_EINVAL, AP_ERR_COPY_CHECKSUM_MISMATCH,
		                "package %s: %s: %llu bytes declared but %s has %llu",
		                v->file, p, (unsigned long long)o->size, o->payload_name,
		                (unsigned long long)sb.st_size);
		goto out;
	}
	crypto_hash_sha256_init(&st);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_sha256_update(&st, buf, (unsigned long long)got);
	if (got < 0) {
		r = ap_ctx_fail(v->ctx, AP_EIO, 0, "package %s: reading %s: %s", v->file,
		                o->payload_path, strerror(errno));
		goto out;
	}
	crypto_hash_sha256_final(&st, md);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	if (strcmp(hex, o->sha256) != 0) {
		snprintf(p, sizeof(p), "%s.sha256", jpath);
		r = ap_ctx_fail(v->ctx, AP_EINVAL, AP_ERR_COPY_CHECKSUM_MISMATCH,
		                "package %s: %s: %s does not match: declared %s, file has %s",
		                v->file, p, o->payload_name, o->sha256, hex);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static bool
valid_file_name(const char *s)
{
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strcmp(s, "manifest.json") == 0)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("._+-", *s) == NULL)
			return false;
	return true;
}

static int
parse_section(struct vctx *v, int osi, const cJSON *sec, const char *dir,
              struct pkg_os *o)
{
	static const char *const linux_keys[] = {
		"payload", "sha256", "size", "architectures", "staging_dir",
		"install_dir", "space_kb", "commands", "log_path", "exit_codes",
		"capabilities", "install_timeout", NULL
	};
	static const char *const space_keys[] = { "staging", "install", NULL };
	static const char *const cap_keys[] = {
		"boot_on_separate_disk", "root_multi_disk", "lvm_root",
		"kernel_driver", NULL
	};
	const char *jpath = os_key[osi];
	const cJSON *obj = NULL;
	char p[128];
	size_t i;
	int r;

	if (!cJSON_IsObject(sec))
		return bad(v, jpath, "must be an object");
	/* "capabilities" describes Linux disk layouts only. */
	if ((r = check_keys(v, sec, jpath, linux_keys)) != 0)
		return r;
	if (osi == OS_WINDOWS && cJSON_GetObjectItemCaseSensitive(sec, "capabilities") != NULL)
		return bad(v, "windows.capabilities", "unknown field (capabilities are Linux-only)");
	o->present = true;

	if ((r = get_str(v, sec, jpath, "payload", 255, &o->payload_name)) != 0)
		return r;
	if (!valid_file_name(o->payload_name)) {
		snprintf(p, sizeof(p), "%s.payload", jpath);
		return bad(v, p, "must be a plain file name (letters, digits, . _ + -) in the package folder");
	}
	if ((r = get_str(v, sec, jpath, "sha256", 64, &o->sha256)) != 0)
		return r;
	for (i = 0; o->sha256[i]; i++)
		if (!isdigit((unsigned char)o->sha256[i]) && !(o->sha256[i] >= 'a' && o->sha256[i] <= 'f'))
			break;
	if (i != 64 || o->sha256[i] != '\0') {
		snprintf(p, sizeof(p), "%s.sha256", jpath);
		return bad(v, p, "must be 64 lowercase hex digits");
	}
	if ((r = get_uint(v, sec, jpath, "size", 1, 1ULL << 40, &o->size)) != 0)
		return r;
	if ((r = parse_archs(v, osi, sec, jpath, o)) != 0)
		return r;
	if ((r = get_path(v, osi, sec, jpath, "staging_dir",
	                  osi == OS_LINUX ? "/var/tmp" : "C:\\Windows\\Temp", &o->staging)) != 0)
		return r;
	if ((r = get_path(v, osi, sec, jpath, "install_dir", NULL, &o->install_dir)) != 0)
		return r;
	if ((r = get_path(v, osi, sec, jpath, "log_path", NULL, &o->log_path)) != 0)
		return r;

	snprintf(p, sizeof(p), "%s.space_kb", jpath);
	if ((obj = get_obj(v, sec, jpath, "space_kb", &r)) == NULL)
		return r;
	if ((r = check_keys(v, obj, p, space_keys)) != 0 ||
	    (r = get_uint(v, obj, p, "staging", 0, 1ULL << 40, &o->space_staging_kb)) != 0 ||
	    (r = get_uint(v, obj, p, "install", 0, 1ULL << 40, &o->space_install_kb)) != 0)
		return r;

	/* Optional: installers run for minutes, far past a stage's default
	 * limit; this is the install command's own (docs/package-format.md). */
	o->install_timeout_s = AP_PACKAGE_INSTALL_TIMEOUT_S;
	if (cJSON_GetObjectItemCaseSensitive(sec, "install_timeout") != NULL &&
	    (r = get_uint(v, sec, jpath, "install_timeout", 1, 86400, &o->install_timeout_s)) != 0)
		return r;
	if ((r = parse_commands(v, osi, sec, jpath, o)) != 0)
		return r;
	if ((r = parse_exit_codes(v, sec, jpath, o)) != 0)
		return r;

	if (osi == OS_LINUX) {
		snprintf(p, sizeof(p), "%s.capabilities", jpath);
		if ((obj = get_obj(v, sec, jpath, "capabilities", &r)) == NULL)
			return r;
		if ((r = check_keys(v, obj, p, cap_keys)) != 0 ||
		    (r = get_bool(v, obj, p, "boot_on_separate_disk", &o->caps.boot_on_separate_disk)) != 0 ||
		    (r = get_bool(v, obj, p, "root_multi_disk", &o->caps.root_multi_disk)) != 0 ||
		    (r = get_bool(v, obj, p, "lvm_root", &o->caps.lvm_root)) != 0)
			return r;
		/* Optional, and true when absent: assuming a kernel driver keeps
		 * the checks strict for a package that did not say. */
		o->caps.kernel_driver = true;
		if (cJSON_GetObjectItemCaseSensitive(obj, "kernel_driver") != NULL &&
		    (r = get_bool(v, obj, p, "kernel_driver", &o->caps.kernel_driver)) != 0)
			return r;
	}

	if (asprintf(&o->payload_path, "%s/%s", dir, o->payload_name) < 0) {
		o->payload_path = NULL;
		return oom(v);
	}
	return check_payload(v, jpath, o);
}

static bool
valid_name(const char *s)
{
	if (!islower((unsigned char)s[0]) && !isdigit((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && strchr("._-", *s) == NULL)
			return false;
	return true;
}

/* 1 to 4 dot-separated numbers of at most 9 digits: "0.1.0", "9.60.1.7". */
static bool
valid_version(const char *s)
{
	int parts = 0, digits = 0;

	for (;; s++) {
		if (isdigit((unsigned char)*s)) {
			if (++digits > 9)
				return false;
			continue;
		}
		if (digits == 0 || ++parts > 4)
			return false;
		if (*s == '\0')
			return true;
		if (*s != '.')
			return false;
		digits = 0;
	}
}

static int
read_manifest(const char *path, const char *label, char **out, struct ap_ctx *ctx)
{
	struct stat sb;
	char *buf = NULL;
	size_t n = 0;
	ssize_t got;
	int fd = -1, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = ap_ctx_fail(ctx, errno == ENOENT ? AP_ENOTFOUND : AP_EIO, 0,
		                "package %s: cannot open: %s", label, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: not a regular file", label);
		goto out;
	}
	if (sb.st_size > PKG_MANIFEST_MAX) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: larger than %d bytes", label, PKG_MANIFEST_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	while (n < (size_t)sb.st_size && (got = read(fd, buf + n, (size_t)sb.st_size - n)) > 0)
		n += (size_t)got;
	if (n != (size_t)sb.st_size) {
		r = ap_ctx_fail(ctx, AP_EIO, 0, "package %s: short read", label);
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: holds a NUL byte", label);
		goto out;
	}
	*out = buf;
	buf = NULL; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

static bool
is_tarball(const char *path)
{
	size_t n = strlen(path);

	return (n > 7 && strcmp(path + n - 7, ".tar.gz") == 0) ||
	       (n > 4 && strcmp(path + n - 4, ".tgz") == 0);
}

/* Line and column of byte off in text, for JSON syntax errors. */
static void
line_col(const char *text, size_t off, int *line, int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int
ap_package_open(const char *path, struct ap_package **out, struct ap_ctx *ctx)
{
	static const char *const top_keys[] = {
		"format", "name", "version", "linux", "windows", NULL
	};
	struct ap_package *pkg = NULL;
	struct vctx v = { NULL, ctx };
	struct stat sb;
	cJSON *root = NULL;
	const cJSON *it = NULL;
	const char *jend = NULL;
	char *text = NULL, *mpath = NULL, *label = NULL;
	uint64_t fmt = 0;
	int r, i, line, col;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "package: no path given");
	if (sodium_init() < 0)
		return ap_ctx_fail(ctx, AP_EINTERNAL, 0, "libsodium failed to initialise");
	if ((pkg = calloc(1, sizeof(*pkg))) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (stat(path, &sb) != 0) {
		r = ap_ctx_fail(ctx, errno == ENOENT ? AP_ENOTFOUND : AP_EIO, 0,
		                "package %s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		if ((pkg->dir = strdup(path)) == NULL ||
		    asprintf(&label, "%s/manifest.json", path) < 0) {
			label = NULL;
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	} else if (S_ISREG(sb.st_mode) && is_tarball(path)) {
		if ((r = ap_package_extract_tgz(path, &pkg->tmpdir, ctx)) != 0)
			goto out;
		if ((pkg->dir = strdup(pkg->tmpdir)) == NULL ||
		    asprintf(&label, "%s:manifest.json", path) < 0) {
			label = NULL;
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	} else {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: must be a folder or a .tar.gz file", path);
		goto out;
	}
	v.file = label;
	if (asprintf(&mpath, "%s/manifest.json", pkg->dir) < 0) {
		mpath = NULL;
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((r = read_manifest(mpath, label, &text, ctx)) != 0)
		goto out;
	if ((root = cJSON_ParseWithOpts(text, &jend, 1)) == NULL) {
		line_col(text, jend != NULL ? (size_t)(jend - text) : 0, &line, &col);
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s: invalid JSON at line %d, column %d",
		                label, line, col);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		r = bad(&v, "(top)", "must be a JSON object");
		goto out;
	}
	if ((r = check_keys(&v, root, "", top_keys)) != 0)
		goto out;
	if ((r = get_uint(&v, root, "", "format", 0, UINT32_MAX, &fmt)) != 0)
		goto out;
	if (fmt != AP_PACKAGE_FORMAT) {
		r = bad(&v, "format", "version %llu is not supported (this agentpush reads %d)",
		        (unsigned long long)fmt, AP_PACKAGE_FORMAT);
		goto out;
	}
	if ((r = get_str(&v, root, "", "name", 64, &pkg->name)) != 0)
		goto out;
	if (!valid_name(pkg->name)) {
		r = bad(&v, "name", "must be lowercase letters, digits, '.', '_' or '-'");
		goto out;
	}
	if ((r = get_str(&v, root, "", "version", 64, &pkg->version)) != 0)
		goto out;
	if (!valid_version(pkg->version)) {
		r = bad(&v, "version", "must be 1 to 4 dot-separated numbers, like \"1.2.10\"");
		goto out;
	}
	for (i = 0; i < OS_N; i++) {
		if ((it = cJSON_GetObjectItemCaseSensitive(root, os_key[i])) == NULL)
			continue;
		if ((r = parse_section(&v, i, it, pkg->dir, &pkg->os[i])) != 0)
			goto out;
	}
	if (!pkg->os[OS_LINUX].present && !pkg->os[OS_WINDOWS].present) {
		r = bad(&v, "(top)", "needs a \"linux\" or a \"windows\" section");
		goto out;
	}
	*out = pkg;
	pkg = NULL; /* transferred */
	r = 0;
out:
	cJSON_Delete(root);
	free(text);
	free(mpath);
	free(label);
	ap_package_free(pkg);
	return r;
}

void
ap_package_free(struct ap_package *pkg)
{
	size_t j;
	int i, c;

	if (pkg == NULL)
		return;
	for (i = 0; i < OS_N; i++) {
		struct pkg_os *o = &pkg->os[i];

		free(o->payload_name);
		free(o->payload_path);
		free(o->sha256);
		free(o->archs); /* the names are static */
		free(o->staging);
		free(o->install_dir);
		free(o->log_path);
		for (c = 0; c < AP_PKG_CMD_COUNT_; c++)
			free(o->cmd[c]);
		for (j = 0; j < o->n_exits; j++)
			free((char *)o->exits[j].meaning);
		free(o->exits);
	}
	if (pkg->tmpdir != NULL)
		ap_package_rmtree(pkg->tmpdir);
	free(pkg->tmpdir);
	free(pkg->dir);
	free(pkg->name);
	free(pkg->version);
	free(pkg);
}

const char *
ap_package_name(const struct ap_package *pkg)
{
	return pkg != NULL ? pkg->name : NULL;
}

const char *
ap_package_version(const struct ap_package *pkg)
{
	return pkg != NULL ? pkg->version : NULL;
}

bool
ap_package_has_os(const struct ap_package *pkg, enum ap_os os)
{
	return section(pkg, os) != NULL;
}

#define SECTION_FIELD(fn, type, field, none)                             \
	type fn(const struct ap_package *pkg, enum ap_os os)                 \
	{                                                                    \
		const struct pkg_os *o = section(pkg, os);                   \
		return o != NULL ? o->field : none;                          \
	}

SECTION_FIELD(ap_package_payload_path, const char *, payload_path, NULL)
SECTION_FIELD(ap_package_payload_name, const char *, payload_name, NULL)
SECTION_FIELD(ap_package_payload_sha256, const char *, sha256, NULL)
SECTION_FIELD(ap_package_payload_size, uint64_t, size, 0)
SECTION_FIELD(ap_package_staging_dir, const char *, staging, NULL)
SECTION_FIELD(ap_package_install_dir, const char *, install_dir, NULL)
SECTION_FIELD(ap_package_log_path, const char *, log_path, NULL)
SECTION_FIELD(ap_package_space_staging_kb, uint64_t, space_staging_kb, 0)
SECTION_FIELD(ap_package_space_install_kb, uint64_t, space_install_kb, 0)
SECTION_FIELD(ap_package_install_timeout_s, uint64_t, install_timeout_s, 0)

const char *const *
ap_package_archs(const struct ap_package *pkg, enum ap_os os, size_t *n)
{
	const struct pkg_os *o = section(pkg, os);

	*n = o != NULL ? o->n_archs : 0;
	return o != NULL ? (const char *const *)o->archs : NULL;
}

bool
ap_package_supports_arch(const struct ap_package *pkg, enum ap_os os,
                         const char *arch)
{
	const struct pkg_os *o = section(pkg, os);
	const char *want = arch;
	size_t i;

	if (o == NULL || arch == NULL)
		return false;
	/* What targets report: `uname -m`, or Windows PROCESSOR_ARCHITECTURE. */
	if (strcasecmp(arch, "amd64") == 0 || strcasecmp(arch, "x86_64") == 0 ||
	    strcasecmp(arch, "x64") == 0)
		want = os == AP_OS_WINDOWS ? "x64" : "x86_64";
	else if (os == AP_OS_LINUX && strcasecmp(arch, "arm64") == 0)
		want = "aarch64";
	for (i = 0; i < o->n_archs; i++)
		if (strcasecmp(o->archs[i], want) == 0)
			return true;
	return false;
}

struct ap_pkg_caps
ap_package_caps(const struct ap_package *pkg)
{
	const struct pkg_os *o = section(pkg, AP_OS_LINUX);
	struct ap_pkg_caps none = { false, false, false, true };

	return o != NULL ? o->caps : none;
}

int
ap_package_command_vars(const struct ap_package *pkg, enum ap_os os,
                        enum ap_pkg_cmd which, const struct ap_pkg_vars *vars,
                        char **out, struct ap_ctx *ctx)
{
	const struct pkg_os *o = section(pkg, os);
	const char *vals[7] = { NULL };
	const char *why = NULL, *bad_name = NULL;
	const struct ap_pkg_vars none = { NULL, NULL, NULL, NULL, NULL };
	char *payload = NULL, *workdir = NULL;
	struct sbuf b = { NULL, 0, 0 };
	char sep = os == AP_OS_WINDOWS ? '\\' : '/';
	int r;

	*out = NULL;
	if (o == NULL)
		return ap_ctx_fail(ctx, AP_EINVAL, AP_ERR_PACKAGE_NO_PAYLOAD,
		                   "package has no %s section", os == AP_OS_WINDOWS ? "windows" : os == AP_OS_LINUX ? "linux" : "such");
	if ((int)which < 0 || which >= AP_PKG_CMD_COUNT_)
		return ap_ctx_fail(ctx, AP_EINVAL, 0, "package: no such command (%d)", (int)which);
	if (vars == NULL)
		vars = &none;
	/* Indexed like placeholders[]. */
	vals[1] = vars->install_dir ? vars->install_dir : o->install_dir;
	vals[2] = vars->staging ? vars->staging : o->staging;
	vals[4] = vars->log ? vars->log : o->log_path;
	vals[5] = pkg->version;
	if (vars->payload != NULL)
		vals[0] = vars->payload;
	else if (asprintf(&payload, "%s%c%s", vals[2], sep, o->payload_name) >= 0)
		vals[0] = payload;
	if (vars->workdir != NULL)
		vals[3] = vars->workdir;
	else if (asprintf(&workdir, "%s%c%s-%s.d", vals[2], sep, pkg->name, pkg->version) >= 0)
		vals[3] = workdir;
	if (vals[0] == NULL || vals[3] == NULL) {
		r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
		goto out;
	}
	if ((why = expand(o->cmd[which], os_index(os), vals, &b, &bad_name)) != NULL) {
		r = ap_ctx_fail(ctx, AP_EINVAL, 0, "package %s command: {%s}: %s",
		                cmd_key[which], bad_name ? bad_name : "?", why);
		goto out;
	}
	*out = b.p;
	b.p = NULL; /* transferred */
	r = 0;
out:
	free(b.p);
	free(payload);
	free(workdir);
	return r;
}

int
ap_package_command(const struct ap_package *pkg, enum ap_os os,
                   enum ap_pkg_cmd which, char **out, struct ap_ctx *ctx)
{
	return ap_package_command_vars(pkg, os, which, NULL, out, ctx);
}

int
ap_package_map_exit(const struct ap_package *pkg, enum ap_os os, int code,
                    struct ap_pkg_exit *out)
{
	const struct pkg_os *o = section(pkg, os);
	size_t i;

	if (o == NULL)
		return AP_EINVAL;
	for (i = 0; i < o->n_exits; i++) {
		if (o->exits[i].code == code) {
			*out = o->exits[i];
			return 0;
		}
	}
	out->code = code;
	out->outcome = AP_PKG_FAILED;
	out->error_id = AP_ERR_INSTALL_FAILED;
	out->reboot = false;
	out->meaning = "exit code not listed in the package manifest";
	out->known = false;
	return 0;
}

const char *
ap_package_outcome_name(enum ap_pkg_outcome o)
{
	switch (o) {
	case AP_PKG_OK:      return "ok";
	case AP_PKG_WARNING: return "warning";
	case AP_PKG_FAILED:  return "failed";
	}
	return "failed";
}

const char *
ap_package_cmd_name(enum ap_pkg_cmd c)
{
	return (int)c >= 0 && c < AP_PKG_CMD_COUNT_ ? cmd_key[c] : "?";
}
