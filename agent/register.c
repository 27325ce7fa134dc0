/*
 * register.c - registration and heartbeats with the configuration server;
 * see register.h for the files and the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "register.h"
#include "util.h"

#define REQUEST_MAX_S 15         /* curl --max-time */
#define CONNECT_MAX_S 5
#define RETRY_FIRST_S 2
#define RETRY_MAX_S 60
#define RECHECK_S 5              /* look for a new register.conf this often */
#define CONF_LINE_MAX 1024

/* Path of name under the install dir. */
static int
reg_path(const struct reg *rg, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", rg->dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Writes text to path as 0600 through a temporary file and a rename. */
static int
write_private(const char *path, const char *text)
{
	char tmp[4200];
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd = -1, r = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	if (util_mkparent(path) != 0)
		return -1;
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return -1;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	r = rename(tmp, path);
out:
	if (fd >= 0)
		close(fd);
	if (r != 0)
		unlink(tmp);
	return r;
}

/* The status line the install reads back (register.h). */
static void status_set(const struct reg *rg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
status_set(const struct reg *rg, const char *fmt, ...)
{
	char path[4200], line[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	/* one line: the reader takes the first */
	for (n = 0; line[n] != '\0'; n++)
		if (line[n] == '\n' || line[n] == '\r')
			line[n] = ' ';
	line[n++] = '\n';
	line[n] = '\0';
	if (reg_path(rg, "run/register.status", path, sizeof(path)) == 0 &&
	    write_private(path, line) != 0)
		log_line("cannot write %s: %s", path, strerror(errno));
}

/*
 * Reads key=value lines of path; calls set for each.  Returns 0, or -1 when
 * the file cannot be read (errno).  A line too long or without '=' is
 * skipped: the file is written by us, a bad line is a corruption to ignore.
 */
static int
conf_read(const char *path, struct reg *rg,
          void (*set)(struct reg *rg, const char *key, const char *value, void *ud),
          void *ud)
{
	char line[CONF_LINE_MAX], *eq = NULL;
	FILE *f = NULL;
	size_t n;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f))
			continue;
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		set(rg, line, eq + 1, ud);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return 0;
}

/* What register.conf holds besides the server and pin. */
struct enroll {
	char passphrase[REG_SECRET_MAX];
	char enrollment[128];
};

/* value into dst, cut to fit. */
static void
copy_field(char *dst, size_t size, const char *value)
{
	size_t n = strlen(value);

	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, value, n);
	dst[n] = '\0';
}

static void
set_conf(struct reg *rg, const char *key, const char *value, void *ud)
{
	struct enroll *en = ud;

	if (strcmp(key, "server") == 0)
		copy_field(rg->server, sizeof(rg->server), value);
	else if (strcmp(key, "pin") == 0)
		copy_field(rg->pin, sizeof(rg->pin), value);
	else if (strcmp(key, "agent_id") == 0)
		copy_field(rg->agent_id, sizeof(rg->agent_id), value);
	else if (strcmp(key, "secret") == 0)
		copy_field(rg->secret, sizeof(rg->secret), value);
	else if (strcmp(key, "heartbeat") == 0)
		rg->interval_s = (unsigned)strtoul(value, NULL, 10);
	else if (en != NULL && strcmp(key, "passphrase") == 0)
		copy_field(en->passphrase, sizeof(en->passphrase), value);
	else if (en != NULL && strcmp(key, "enrollment") == 0)
		copy_field(en->enrollment, sizeof(en->enrollment), value);
}

void
reg_init(struct reg *rg, const char *dir)
{
	char path[4200];

	memset(rg, 0, sizeof(*rg));
	snprintf(rg->dir, sizeof(rg->dir), "%s", dir);
	rg->retry_s = RETRY_FIRST_S;
	if (reg_path(rg, "etc/agent.conf", path, sizeof(path)) != 0 ||
	    conf_read(path, rg, set_conf, NULL) != 0)
		return;
	if (rg->agent_id[0] == '\0' || rg->secret[0] == '\0' || rg->server[0] == '\0') {
		log_line("%s is incomplete; waiting for a new registration", path);
		reg_clear(rg);
		snprintf(rg->dir, sizeof(rg->dir), "%s", dir);
		return;
	}
	log_line("registered as %s with %s", rg->agent_id, rg->server);
}

void
reg_clear(struct reg *rg)
{
	explicit_bzero(rg->secret, sizeof(rg->secret));
	memset(rg, 0, sizeof(*rg));
}

/* ---- JSON: the little the agent reads and writes ------------------------- */

/* Appends s as a JSON string (with quotes) to out; -1 when it does not fit. */
static int
json_put_str(char *out, size_t size, size_t *len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;

#define PUT(ch) do { if (*len + 1 >= size) return -1; out[(*len)++] = (ch); } while (0)
	PUT('"');
	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c < 0x20) {
			PUT('\\'); PUT('u'); PUT('0'); PUT('0');
			PUT(hex[c >> 4]); PUT(hex[c & 15]);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
	out[*len] = '\0';
#undef PUT
	return 0;
}

/* Skips JSON whitespace. */
static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/*
 * Finds "key": at the top level of a flat object and returns a pointer to
 * its value, or NULL.  Nested objects and arrays are skipped by depth; a
 * key is only recognised right after '{' or ','.
 */
static const char *
json_find(const char *json, const char *key)
{
	const char *p = json_ws(json);
	size_t klen = strlen(key);
	int depth = 0, in_str = 0, expect_key = 0;

	if (*p != '{')
		return NULL;
	for (; *p != '\0'; p++) {
		if (in_str) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_str = 0;
			continue;
		}
		if (*p == '{' || *p == '[') {
			depth++;
			expect_key = depth == 1 && *p == '{';
			continue;
		}
		if (*p == '}' || *p == ']') {
			depth--;
			continue;
		}
		if (*p == ',') {
			expect_key = depth == 1;
			continue;
		}
		if (*p == '"') {
			if (expect_key && strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"') {
				const char *v = json_ws(p + 2 + klen);

				if (*v == ':')
					return json_ws(v + 1);
			}
			expect_key = 0;
			in_str = 1;
		}
	}
	return NULL;
}

int
reg_json_str(const char *json, const char *key, char *out, size_t size)
{
	const char *p = json_find(json, key);
	size_t n = 0;
	unsigned v;
	int i;

	if (p == NULL || *p != '"' || size == 0)
		return -1;
	for (p++; *p != '"'; p++) {
		char c = *p;

		if (c == '\0' || (unsigned char)c < 0x20)
			return -1;
		if (c == '\\') {
			switch (*++p) {
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case '/': c = '/'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				for (v = 0, i = 1; i <= 4; i++) {
					char h = p[i];

					if (h >= '0' && h <= '9') v = v * 16 + (unsigned)(h - '0');
					else if (h >= 'a' && h <= 'f') v = v * 16 + (unsigned)(h - 'a' + 10);
					else if (h >= 'A' && h <= 'F') v = v * 16 + (unsigned)(h - 'A' + 10);
					else return -1;
				}
				if (v == 0 || v > 0x7f)
					return -1;   /* only what our server sends */
				c = (char)v;
				p += 4;
				break;
			default:
				return -1;
			}
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

int
reg_json_uint(const char *json, const char *key, unsigned *out)
{
	const char *p = json_find(json, key);
	unsigned long v = 0;

	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 86400UL * 7)
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* ---- HTTP through curl(1) -------------------------------------------------- */

/* Appends one `name = "value"` line of curl's config syntax. */
static int
curl_opt(char *cfg, size_t size, size_t *len, const char *name, const char *value)
{
	int n = snprintf(cfg + *len, size - *len, "%s = \"", name);
	const char *s = NULL;

	if (n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += (size_t)n;
	for (s = value; *s != '\0'; s++) {
		if (*len + 3 >= size)
			return -1;
		if (*s == '"' || *s == '\\')
			cfg[(*len)++] = '\\';
		if (*s == '\n' || *s == '\r')
			return -1;   /* never ours: refuse rather than inject */
		cfg[(*len)++] = *s;
	}
	if (*len + 3 >= size)
		return -1;
	cfg[(*len)++] = '"';
	cfg[(*len)++] = '\n';
	cfg[*len] = '\0';
	return 0;
}

/* Reads fd to EOF into buf (NUL-terminated, the rest dropped). */
static void
read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	char sink[512];
	ssize_t n;

	for (;;) {
		if (len + 1 < size)
			n = read(fd, buf + len, size - 1 - len);
		else
			n = read(fd, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < size)
			len += (size_t)n;
	}
	buf[len] = '\0';
}

struct http_result {
	int curl_exit;       /* curl's exit status; 127: curl not found */
	int status;          /* HTTP status, 0 when none */
	char body[4096];
	char err[512];       /* curl's own message (stderr), one line */
};

/*
 * POSTs body (JSON) to url with curl.  bearer may be NULL.  Fills res.
 * Returns 0 when curl ran (whatever it said), -1 when it could not be
 * started.
 */
static int
http_post(const struct reg *rg, const char *url, const char *bearer,
          const char *body, struct http_result *res)
{
	char cfg[8192], auth[REG_SECRET_MAX + 32], *nl = NULL, *last = NULL;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	size_t len = 0, off = 0;
	pid_t pid = -1;
	ssize_t n;
	int st = 0, r = -1;

	memset(res, 0, sizeof(*res));
	cfg[0] = '\0';
	if (curl_opt(cfg, sizeof(cfg), &len, "url", url) != 0 ||
	    curl_opt(cfg, sizeof(cfg), &len, "header", "Content-Type: application/json") != 0 ||
	    curl_opt(cfg, sizeof(cfg), &len, "data-binary", body) != 0)
		goto too_long;
	if (bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		r = curl_opt(cfg, sizeof(cfg), &len, "header", auth);
		explicit_bzero(auth, sizeof(auth));
		if (r != 0)
			goto too_long;
		r = -1;
	}
	if (rg->pin[0] != '\0') {
		/* The pin is the trust anchor: the certificate is self-signed
		 * and names the address the server listens on, which need not
		 * be the one this host reaches it by. */
		if (curl_opt(cfg, sizeof(cfg), &len, "pinnedpubkey", rg->pin) != 0)
			goto too_long;
		n = snprintf(cfg + len, sizeof(cfg) - len, "insecure\n");
		if (n < 0 || (size_t)n >= sizeof(cfg) - len)
			goto too_long;
		len += (size_t)n;
	}
	n = snprintf(cfg + len, sizeof(cfg) - len,
	             /* write-out: the status on a last line of its own (the
	             * \\n is curl's escape, inside its quotes) */
	             "silent\nshow-error\nmax-time = %d\nconnect-timeout = %d\n"
	             "output = \"-\"\nproto = \"=http,https\"\n"
	             "write-out = \"\\n%%{http_code}\"\n",
	             REQUEST_MAX_S, CONNECT_MAX_S);
	if (n < 0 || (size_t)n >= sizeof(cfg) - len)
		goto too_long;
	len += (size_t)n;

	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		goto out;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(126);
		/* -q first: no ~/.curlrc of whoever runs the agent */
		execlp("curl", "curl", "-q", "--config", "-", (char *)NULL);
		_exit(127);
	}
	close(in[0]); in[0] = -1;
	close(out[1]); out[1] = -1;
	close(err[1]); err[1] = -1;
	while (off < len) {
		n = write(in[1], cfg + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(in[1]); in[1] = -1;
	/* curl prints at most a line on stderr, far below a pipe's buffer:
	 * reading stdout to its end first cannot deadlock. */
	read_all(out[0], res->body, sizeof(res->body));
	read_all(err[0], res->err, sizeof(res->err));
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	res->curl_exit = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	/* The status is the last line of stdout (write-out). */
	if ((last = strrchr(res->body, '\n')) != NULL) {
		res->status = atoi(last + 1);
		*last = '\0';
	}
	if ((nl = strchr(res->err, '\n')) != NULL)
		*nl = '\0';
	r = 0;
	goto out;
too_long:
	log_line("a request to the server does not fit in the agent's buffers");
out:
	explicit_bzero(cfg, sizeof(cfg));
	if (in[0] >= 0) close(in[0]);
	if (in[1] >= 0) close(in[1]);
	if (out[0] >= 0) close(out[0]);
	if (out[1] >= 0) close(out[1]);
	if (err[0] >= 0) close(err[0]);
	if (err[1] >= 0) close(err[1]);
	return r;
}

/* "host:port" of url, for messages ("?" when it does not parse). */
static void
url_hostport(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://"), *end = NULL;
	int https = strncmp(url, "https", 5) == 0;

	snprintf(out, size, "?");
	if (p == NULL)
		return;
	p += 3;
	end = p + strcspn(p, "/");
	if (memchr(p, ':', (size_t)(end - p)) != NULL && *p != '[')
		snprintf(out, size, "%.*s", (int)(end - p), p);
	else if (*p == '[' && strstr(p, "]:") != NULL && strstr(p, "]:") < end)
		snprintf(out, size, "%.*s", (int)(end - p), p);
	else
		snprintf(out, size, "%.*s:%d", (int)(end - p), p, https ? 443 : 80);
}

/*
 * What kind of failure a curl run was (register.h's KIND).  curl's exit
 * codes: 6 no such host, 7 connect failed, 28 timed out, 35 TLS handshake,
 * 56 connection reset, 52 nothing received, 90 pinned key mismatch.
 */
static const char *
failure_kind(const struct http_result *res)
{
	switch (res->curl_exit) {
	case 6: case 7: case 28: case 52: case 56:
		return "unreachable";
	case 35: case 51: case 58: case 59: case 60: case 90:
		return "tls";
	default:
		break;
	}
	if (res->status == 403 || res->status == 429)
		return "refused";
	return "failed";
}

/* Reads one line of a small file into buf ("" when absent). */
static void
read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	fclose(f);
}

/* PRETTY_NAME of /etc/os-release, unquoted. */
static void
os_name(char *buf, size_t size)
{
	char line[512], *v = NULL;
	FILE *f = fopen("/etc/os-release", "re");
	size_t n;

	snprintf(buf, size, "Linux");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		v = line + 12;
		v[strcspn(v, "\r\n")] = '\0';
		n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		if (*v != '\0')
			copy_field(buf, size, v);
		break;
	}
	fclose(f);
}

/* The registration body: passphrase, host identity, enrollment nonce. */
static int
register_body(const struct enroll *en, const char *version, char *out, size_t size)
{
	struct utsname u;
	char mid[128], os[256];
	size_t len = 0;
	int r = -1;

	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	read_line("/etc/machine-id", mid, sizeof(mid));
	if (mid[0] == '\0')
		read_line("/var/lib/dbus/machine-id", mid, sizeof(mid));
	if (mid[0] == '\0')
		snprintf(mid, sizeof(mid), "%s", u.nodename[0] ? u.nodename : "unknown");
	os_name(os, sizeof(os));
	len = (size_t)snprintf(out, size, "{\"passphrase\":");
	if (json_put_str(out, size, &len, en->passphrase) != 0) goto out;
#define FIELD(name, value) \
	if (len + sizeof(",\"" name "\":") >= size) goto out; \
	len += (size_t)snprintf(out + len, size - len, ",\"" name "\":"); \
	if (json_put_str(out, size, &len, value) != 0) goto out;
	FIELD("machine_id", mid)
	FIELD("hostname", u.nodename[0] ? u.nodename : "unknown")
	FIELD("os", os)
	FIELD("kernel", u.release[0] ? u.release : "unknown")
	FIELD("agent_version", version)
	if (en->enrollment[0] != '\0') {
		FIELD("enrollment", en->enrollment)
	}
#undef FIELD
	if (len + 2 >= size)
		goto out;
	out[len++] = '}';
	out[len] = '\0';
	r = 0;
out:
	return r;
}

/* Writes etc/agent.conf from rg. */
static int
save_agent_conf(const struct reg *rg)
{
	char path[4200], text[2048];
	int n, r;

	if (reg_path(rg, "etc/agent.conf", path, sizeof(path)) != 0)
		return -1;
	n = snprintf(text, sizeof(text), "server=%s\npin=%s\nagent_id=%s\nsecret=%s\nheartbeat=%u\n",
	             rg->server, rg->pin, rg->agent_id, rg->secret, rg->interval_s);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -1;
	r = write_private(path, text);
	explicit_bzero(text, sizeof(text));
	return r;
}

unsigned
reg_poll(struct reg *rg, const char *version)
{
	char conf[4200], url[REG_URL_MAX + 64], body[4096], where[300];
	struct reg next;
	struct enroll en;
	struct http_result res;
	unsigned again = RECHECK_S;

	memset(&en, 0, sizeof(en));
	memset(&res, 0, sizeof(res));
	memset(&next, 0, sizeof(next));
	body[0] = '\0';
	if (reg_path(rg, "etc/register.conf", conf, sizeof(conf)) != 0 || access(conf, F_OK) != 0)
		goto out;   /* nothing to do: registered, or never told to */
	snprintf(next.dir, sizeof(next.dir), "%s", rg->dir);
	if (conf_read(conf, &next, set_conf, &en) != 0) {
		log_line("cannot read %s: %s", conf, strerror(errno));
		goto out;
	}
	if (next.server[0] == '\0' || en.passphrase[0] == '\0') {
		status_set(rg, "error failed %s names no server or no passphrase", conf);
		log_line("%s names no server or no passphrase; not registering", conf);
		goto out;
	}
	url_hostport(next.server, where, sizeof(where));
	if (snprintf(url, sizeof(url), "%s%sapi/v1/agents/register", next.server,
	             next.server[strlen(next.server) - 1] == '/' ? "" : "/") >= (int)sizeof(url) ||
	    register_body(&en, version, body, sizeof(body)) != 0) {
		status_set(rg, "error failed the registration request does not fit");
		goto out;
	}
	if (http_post(&next, url, NULL, body, &res) != 0) {
		status_set(rg, "error failed cannot run curl: %s", strerror(errno));
		log_line("registration: cannot run curl: %s", strerror(errno));
		again = rg->retry_s;
		goto backoff;
	}
	if (res.curl_exit == 0 && res.status == 201 &&
	    reg_json_str(res.body, "agent_id", next.agent_id, sizeof(next.agent_id)) == 0 &&
	    reg_json_str(res.body, "secret", next.secret, sizeof(next.secret)) == 0) {
		if (reg_json_uint(res.body, "heartbeat_interval", &next.interval_s) != 0 ||
		    next.interval_s == 0)
			next.interval_s = 60;
		next.retry_s = RETRY_FIRST_S;
		if (save_agent_conf(&next) != 0) {
			log_line("registered as %s but cannot save etc/agent.conf: %s; will register again",
			         next.agent_id, strerror(errno));
			status_set(rg, "error failed cannot save etc/agent.conf: %s", strerror(errno));
			again = rg->retry_s;
			goto backoff;
		}
		/* The passphrase is no longer needed on this host. */
		if (unlink(conf) != 0)
			log_line("cannot remove %s: %s", conf, strerror(errno));
		reg_clear(rg);
		*rg = next;
		explicit_bzero(&next, sizeof(next));
		log_line("registered as %s with %s (heartbeat every %u s)", rg->agent_id, rg->server, rg->interval_s);
		status_set(rg, "registered %s", rg->agent_id);
		goto out;
	}
	if (res.curl_exit == 127) {
		status_set(rg, "error failed curl is not installed on this host (the agent uses it to reach %s)", where);
		log_line("registration: curl is not installed");
	} else if (res.curl_exit != 0) {
		status_set(rg, "error %s %s curl exit %d: %s", failure_kind(&res), where, res.curl_exit,
		           res.err[0] ? res.err : "no message");
		log_line("registration with %s failed: curl exit %d: %s", where, res.curl_exit, res.err);
	} else {
		const char *e = json_find(res.body, "error");
		char msg[300] = "";

		/* the server's errors: {"error": {"code": ..., "message": ...}} */
		if (e == NULL || reg_json_str(e, "message", msg, sizeof(msg)) != 0)
			msg[0] = '\0';
		status_set(rg, "error %s %s HTTP %d: %s", failure_kind(&res), where, res.status,
		           msg[0] ? msg : "no message");
		log_line("registration with %s refused: HTTP %d: %s", where, res.status, msg);
	}
	again = res.status == 429 ? RETRY_MAX_S : rg->retry_s;
backoff:
	rg->retry_s = rg->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : rg->retry_s * 2;
out:
	explicit_bzero(&en, sizeof(en));
	explicit_bzero(body, sizeof(body));
	explicit_bzero(&next, sizeof(next));
	explicit_bzero(&res, sizeof(res));
	return again;
}

void
reg_beat(struct reg *rg, const char *version, long uptime_s)
{
	char url[REG_URL_MAX + 128], body[512], where[300];
	struct http_result res;
	size_t len = 0;
	unsigned iv = 0;

	if (rg->agent_id[0] == '\0')
		return;
	if (snprintf(url, sizeof(url), "%s%sapi/v1/agents/%s/heartbeat", rg->server,
	             rg->server[strlen(rg->server) - 1] == '/' ? "" : "/", rg->agent_id) >= (int)sizeof(url))
		return;
	len = (size_t)snprintf(body, sizeof(body), "{\"agent_version\":");
	if (json_put_str(body, sizeof(body), &len, version) != 0)
		return;
	snprintf(body + len, sizeof(body) - len, ",\"health\":\"ok\",\"uptime_s\":%ld}",
	         uptime_s < 0 ? 0L : uptime_s);
	if (http_post(rg, url, rg->secret, body, &res) != 0) {
		log_line("heartbeat: cannot run curl: %s", strerror(errno));
		return;
	}
	if (res.curl_exit == 0 && res.status == 200) {
		if (reg_json_uint(res.body, "heartbeat_interval", &iv) == 0 && iv > 0 && iv != rg->interval_s) {
			log_line("the server asks for a heartbeat every %u s", iv);
			rg->interval_s = iv;
			(void)save_agent_conf(rg);
		}
		goto out;
	}
	url_hostport(rg->server, where, sizeof(where));
	if (res.curl_exit != 0)
		log_line("heartbeat to %s failed: curl exit %d: %s", where, res.curl_exit, res.err);
	else
		log_line("heartbeat to %s refused: HTTP %d", where, res.status);
	if (res.curl_exit == 0 && res.status == 404) {
		/* Forgotten by the server: the secret is worth nothing now. */
		log_line("the server forgot agent %s; it needs a new install to register again", rg->agent_id);
		rg->agent_id[0] = '\0';
		explicit_bzero(rg->secret, sizeof(rg->secret));
	}
out:
	explicit_bzero(&res, sizeof(res));
}
