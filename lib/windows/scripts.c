/*
 * scripts.c - the small PowerShell scripts the Windows install runs over
 * WinRM (windows.h), and the reading of what they print.
 *
 * Each script takes its paths as PowerShell single-quoted literals (the only
 * PowerShell quoting with no expansion at all: "$", "`" and "%" are plain
 * text inside, and a quote is doubled), so a path from a manifest or an
 * inventory can never run as code.  Each then goes through
 * ap_windows_powershell_command() (-EncodedCommand), so cmd.exe does not
 * see the path either.
 *
 * What comes back is untrusted: a hash is accepted only as exactly 64 hex
 * digits; file bytes only as one block of valid base64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agentpush/transport.h"
#include "agentpush/windows.h"
#include "transport/transport_util.h"

/* Far above what cmd.exe takes (ap_windows_powershell_command refuses
 * more than 8191 characters); a bound, so a huge path fails cleanly. */
#define SCRIPT_MAX (64 * 1024)

/* Appends s as a PowerShell single-quoted literal to b.  -1 on ENOMEM. */
static int
put_ps_literal(struct ap_capbuf *b, const char *s)
{
	const unsigned char *p = NULL;

	if (ap_capbuf_append(b, "'", 1) != 0)
		return -1;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		/* PowerShell also ends a literal at the typographic quotes
		 * U+2018..U+201B; such a quote is doubled like "'". */
		if (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0x98 && p[2] <= 0x9b) {
			if (ap_capbuf_append(b, p, 3) != 0 || ap_capbuf_append(b, p, 3) != 0)
				return -1;
			p += 2;
			continue;
		}
		if (*p == '\'' && ap_capbuf_append(b, "'", 1) != 0)
			return -1;
		if (ap_capbuf_append(b, p, 1) != 0)
			return -1;
	}
	return ap_capbuf_append(b, "'", 1);
}

/* Appends prefix with the -Path wildcard characters escaped, then "*". */
static int
put_wildcard_prefix(struct ap_capbuf *b, const char *prefix)
{
	struct ap_capbuf e;
	const char *p = NULL;
	int r = -1;

	memset(&e, 0, sizeof(e));
	e.cap = SCRIPT_MAX;
	/* A backtick is plain text inside a single-quoted literal, and the
	 * escape character of -Path's wildcard language. */
	for (p = prefix; *p != '\0'; p++) {
		if (strchr("[]*?`", *p) != NULL && ap_capbuf_append(&e, "`", 1) != 0)
			goto out;
		if (ap_capbuf_append(&e, p, 1) != 0)
			goto out;
	}
	if (ap_capbuf_append(&e, "*", 1) != 0)
		goto out;
	r = put_ps_literal(b, e.p);
out:
	ap_capbuf_clear(&e);
	return r;
}

/*
 * Builds the command for a script made of pieces: a NULL-terminated list
 * where each even entry is code and each odd entry is a value to quote.
 */
static int
build(const char *const *parts, char **cmd, struct ap_ctx *ctx)
{
	struct ap_capbuf b;
	size_t i;
	int r;

	*cmd = NULL;
	memset(&b, 0, sizeof(b));
	b.cap = SCRIPT_MAX;
	for (i = 0; parts[i] != NULL; i++) {
		if ((i % 2 == 0 ? ap_capbuf_append(&b, parts[i], strlen(parts[i]))
		                : put_ps_literal(&b, parts[i])) != 0) {
			r = ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
			goto out;
		}
	}
	r = ap_windows_powershell_command(b.p != NULL ? b.p : "", cmd, ctx);
out:
	ap_capbuf_clear(&b);
	return r;
}

int
ap_windows_hash_command(const char *path, char **cmd, struct ap_ctx *ctx)
{
	/* Get-FileHash: PowerShell 4 and later, which every supported
	 * Windows (Server 2012 R2 on) has. */
	const char *parts[] = {
		"$ErrorActionPreference='Stop';(Get-FileHash -Algorithm SHA256 -LiteralPath ",
		path, ").Hash", NULL
	};

	return build(parts, cmd, ctx);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
ap_windows_parse_hash(const char *out, size_t len, char hex[65])
{
	size_t i = 0, k = 0;

	hex[0] = '\0';
	if (out == NULL)
		return -1;
	while (i < len && is_space(out[i]))
		i++;
	for (k = 0; k < 64; k++, i++) {
		char c = i < len ? out[i] : '\0';

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			goto bad;
		hex[k] = c;
	}
	for (; i < len; i++)
		if (!is_space(out[i]))
			goto bad;
	hex[64] = '\0';
	return 0;
bad:
	hex[0] = '\0';
	return -1;
}

int
ap_windows_tail_command(const char *path, char **cmd, struct ap_ctx *ctx)
{
	/* Opened with FileShare ReadWrite: an installer may still hold its
	 * log open.  Exit 3 when there is no such file. */
	const char *parts[] = {
		"$ErrorActionPreference='Stop';$p=", path,
		";if(-not(Test-Path -LiteralPath $p -PathType Leaf)){exit 3}"
		"$f=[IO.File]::Open($p,'Open','Read','ReadWrite');try{"
		"$n=[int][Math]::Min($f.Length," AP_WINDOWS_LOG_TAIL_STR ");[void]$f.Seek(-$n,'End');"
		"$b=New-Object byte[] $n;$k=0;while($k -lt $n){$j=$f.Read($b,$k,$n-$k);if($j -le 0){break};$k+=$j}"
		"[Convert]::ToBase64String($b,0,$k)}finally{$f.Close()}",
		NULL
	};

	return build(parts, cmd, ctx);
}

int
ap_windows_parse_b64(const char *out, size_t len, char **bin, size_t *bin_len,
                     struct ap_ctx *ctx)
{
	char *buf = NULL;
	size_t n = 0, max = len / 4 * 3 + 3;

	*bin = NULL;
	*bin_len = 0;
	if ((buf = malloc(max + 1)) == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	if (sodium_base642bin((unsigned char *)buf, max, out != NULL ? out : "", len,
	                      " \t\r\n", &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(buf);
		return ap_ctx_fail(ctx, AP_EPROTO, 0, "the file's bytes did not come back as base64");
	}
	buf[n] = '\0';
	*bin = buf;
	*bin_len = n;
	return AP_OK;
}

int
ap_windows_remove_command(const char *const *paths, size_t n,
                          const char *prefix, char **cmd, struct ap_ctx *ctx)
{
	static const char head[] = "$ErrorActionPreference='SilentlyContinue'";
	static const char lit[] = ";Remove-Item -Force -Recurse -LiteralPath ";
	static const char wild[] = ";Remove-Item -Force -Path ";
	static const char tail[] = ";exit 0";
	struct ap_capbuf b;
	size_t i;
	int r;

	*cmd = NULL;
	memset(&b, 0, sizeof(b));
	b.cap = SCRIPT_MAX;
	/* SilentlyContinue: cleanup removes what is there; a missing file is
	 * not a failure. */
	if (ap_capbuf_append(&b, head, sizeof(head) - 1) != 0)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (paths[i] == NULL)
			continue;
		if (ap_capbuf_append(&b, lit, sizeof(lit) - 1) != 0 ||
		    put_ps_literal(&b, paths[i]) != 0)
			goto nomem;
	}
	if (prefix != NULL && (ap_capbuf_append(&b, wild, sizeof(wild) - 1) != 0 ||
	                       put_wildcard_prefix(&b, prefix) != 0))
		goto nomem;
	if (ap_capbuf_append(&b, tail, sizeof(tail) - 1) != 0)
		goto nomem;
	r = ap_windows_powershell_command(b.p, cmd, ctx);
	ap_capbuf_clear(&b);
	return r;
nomem:
	ap_capbuf_clear(&b);
	return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
}
