/*
 * agents_load.c - N agents against one `agentpush serve`, on loopback.
 *
 * A load generator for the configuration server (bench/server.sh runs it;
 * docs/PERFORMANCE.md has the figures).  It speaks the API as the real agent
 * does (agent/register.c): HTTPS with the server's public key pinned, one
 * registration per agent with the registration passphrase, then one
 * heartbeat per agent every interval, each on a new TLS connection (what an
 * agent whose last beat was a minute ago costs the server).
 *
 * Agent i sends from its own loopback address (127.2.X.Y), as a fleet does:
 * the server's registration limit (5 tries per source address per minute)
 * applies per address, so N agents on one address could not register.
 *
 *   phase 1: register all N (at most --reg-parallel in flight);
 *   phase 2: for --duration seconds, every agent beats every --interval
 *            seconds, at a random phase (spread) or all at once (--burst);
 *            each beat's latency (request sent to answer read, TLS
 *            handshake included) is kept; with --server-pid, the server's
 *            CPU time (utime + stime of /proc/PID/stat) is read at the start
 *            and end of phase 2.  With --both, phase 2 runs twice on the
 *            same registered agents, spread then burst (registering 1,000
 *            agents takes minutes: one Argon2id check each, one at a time);
 *            --repeat R does all of phase 2 R times.
 *
 * Prints one JSON object on stdout per phase 2: agents, interval, beats,
 * errors, p50, p90, p99, max (milliseconds), server_cpu_pct and
 * client_cpu_pct (this program's own, both in % of one core), register_s
 * (how long phase 1 took).  Anything wrong with the run itself:
 * a line on stderr and exit 1; failed beats are counted in errors, and make
 * the exit status 1 too.  The passphrase is read from a file and never
 * printed.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct agent {
	char src[32];          /* source address */
	char id[64];
	char secret[160];
	int64_t next_us;       /* due time of the next beat, monotonic */
	int busy;
};

struct xfer {
	struct agent *ag;
	CURL *h;
	struct curl_slist *hdr;
	char body[4096];       /* the answer */
	size_t len;
	int64_t sent_us;
	int is_beat;
};

static const char *url_base = NULL;
static const char *pin = NULL;
static char passphrase[256];

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = sz * n;

	if (x->len + len >= sizeof(x->body))
		len = sizeof(x->body) - 1 - x->len;
	memcpy(x->body + x->len, p, len);
	x->len += len;
	x->body[x->len] = '\0';
	return sz * n;
}

/* The string value of "key" in a flat JSON object (our own answers only). */
static int
json_str(const char *json, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p = NULL, *e = NULL;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	if ((p = strstr(json, pat)) == NULL || (p = strchr(p + strlen(pat), '"')) == NULL)
		return -1;
	p++;
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= size)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static struct xfer *
xfer_new(struct agent *ag, int is_beat)
{
	struct xfer *x = calloc(1, sizeof(*x));
	char url[512], auth[256];
	static char reg_body[1024];

	if (x == NULL)
		return NULL;
	x->ag = ag;
	x->is_beat = is_beat;
	x->h = curl_easy_init();
	if (x->h == NULL) {
		free(x);
		return NULL;
	}
	x->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (is_beat) {
		snprintf(url, sizeof(url), "%s/api/v1/agents/%s/heartbeat", url_base, ag->id);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ag->secret);
		x->hdr = curl_slist_append(x->hdr, auth);
		curl_easy_setopt(x->h, CURLOPT_COPYPOSTFIELDS,
		                 "{\"agent_version\":\"0.1.0\",\"health\":\"ok\",\"uptime_s\":1}");
	} else {
		snprintf(url, sizeof(url), "%s/api/v1/agents/register", url_base);
		snprintf(reg_body, sizeof(reg_body),
		         "{\"passphrase\":\"%s\",\"machine_id\":\"bench-%s\",\"hostname\":\"bench-%s\","
		         "\"os\":\"Debian GNU/Linux 12\",\"kernel\":\"6.1.0\",\"agent_version\":\"0.1.0\","
		         "\"enrollment\":\"bench-%s\"}", passphrase, ag->src, ag->src, ag->src);
		curl_easy_setopt(x->h, CURLOPT_COPYPOSTFIELDS, reg_body);
		explicit_bzero(reg_body, sizeof(reg_body));
	}
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdr);
	curl_easy_setopt(x->h, CURLOPT_INTERFACE, ag->src);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	/* A registration waits its turn for the server's one-at-a-time
	 * Argon2id check, seconds each on a loaded machine. */
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, is_beat ? 30L : 300L);
	curl_easy_setopt(x->h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(x->h, CURLOPT_FORBID_REUSE, 1L);
	if (pin != NULL) {
		/* As the agent does: the server's key is pinned, the name and
		 * the chain are not what identifies it. */
		curl_easy_setopt(x->h, CURLOPT_PINNEDPUBLICKEY, pin);
		curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	x->sent_us = now_us();
	ag->busy = 1;
	return x;
}

static void
xfer_free(struct xfer *x)
{
	curl_slist_free_all(x->hdr);
	curl_easy_cleanup(x->h);
	explicit_bzero(x, sizeof(*x));
	free(x);
}

/* The next finished transfer of m (NULL: none now), its result and HTTP
 * status. */
static struct xfer *
next_done(CURLM *m, CURLcode *res, long *code)
{
	CURLMsg *msg = NULL;
	struct xfer *x = NULL;
	int q;

	while ((msg = curl_multi_info_read(m, &q)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		*code = 0;
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, code);
		*res = msg->data.result;
		return x;
	}
	return NULL;
}

/* A transfer is over: its agent is free again. */
static void
xfer_done(CURLM *m, struct xfer *x, int *running)
{
	x->ag->busy = 0;
	curl_multi_remove_handle(m, x->h);
	xfer_free(x);
	(*running)--;
}

static double
cpu_s(long pid)
{
	char path[64], buf[2048], *p = NULL;
	unsigned long ut = 0, st = 0;
	FILE *f = NULL;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's own CPU seconds (user + system). */
static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Phase 2: every agent beats every interval seconds for duration seconds,
 * from a random phase or (burst) all at once.  Prints its JSON line; adds
 * the failed beats to *n_err.  -1 when the run itself failed.
 */
static int
beat_phase(CURLM *m, struct agent *ags, long n, long interval, long duration,
           int burst, long server_pid, double register_s, size_t *n_err)
{
	int64_t *lat = NULL;
	size_t n_lat = 0, cap_lat = 0, errs = 0;
	double cpu0 = -1, cpu1 = -1, self0 = self_cpu_s(), wall;
	int64_t t0, t_end;
	int running = 0;

	t0 = now_us();
	t_end = t0 + (int64_t)duration * 1000000;
	for (long i = 0; i < n; i++)
		ags[i].next_us = t0 + (burst ? 0 : (int64_t)((double)rand() / RAND_MAX * interval * 1e6));
	if (server_pid > 0)
		cpu0 = cpu_s(server_pid);
	for (;;) {
		int64_t now = now_us();
		struct xfer *x = NULL;
		CURLcode res;
		long code;
		int q;

		for (long i = 0; i < n && now < t_end; i++) {
			if (ags[i].busy || ags[i].next_us > now)
				continue;
			if ((x = xfer_new(&ags[i], 1)) == NULL)
				return -1;
			ags[i].next_us += (int64_t)interval * 1000000;
			curl_multi_add_handle(m, x->h);
			running++;
		}
		if (now >= t_end && running == 0)
			break;
		curl_multi_perform(m, &q);
		curl_multi_poll(m, NULL, 0, 5, NULL);
		while ((x = next_done(m, &res, &code)) != NULL) {
			if (res != CURLE_OK || code != 200) {
				if (errs < 5)
					fprintf(stderr, "agents_load: beat from %s failed: %s (HTTP %ld)\n",
					        x->ag->src, curl_easy_strerror(res), code);
				errs++;
			} else {
				if (n_lat == cap_lat) {
					cap_lat = cap_lat ? cap_lat * 2 : 4096;
					if ((lat = realloc(lat, cap_lat * sizeof(*lat))) == NULL)
						return -1;
				}
				lat[n_lat++] = now_us() - x->sent_us;
			}
			xfer_done(m, x, &running);
		}
	}
	if (server_pid > 0)
		cpu1 = cpu_s(server_pid);
	*n_err += errs;
	if (n_lat == 0) {
		fprintf(stderr, "agents_load: no heartbeat succeeded (%zu errors)\n", errs);
		return -1;
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_i64);
	printf("{\"agents\":%ld,\"interval\":%ld,\"duration\":%ld,\"mode\":\"%s\",\"beats\":%zu,"
	       "\"errors\":%zu,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f",
	       n, interval, duration, burst ? "burst" : "spread", n_lat, errs,
	       lat[n_lat / 2] / 1e3, lat[n_lat * 9 / 10] / 1e3, lat[n_lat * 99 / 100] / 1e3,
	       lat[n_lat - 1] / 1e3);
	wall = (now_us() - t0) / 1e6;
	if (cpu0 >= 0 && cpu1 >= 0)
		printf(",\"server_cpu_pct\":%.2f", 100.0 * (cpu1 - cpu0) / wall);
	printf(",\"client_cpu_pct\":%.2f,\"register_s\":%.1f}\n", 100.0 * (self_cpu_s() - self0) / wall,
	       register_s);
	fflush(stdout);
	free(lat);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: agents_load --url URL [--pin sha256//...] --passphrase-file F\n"
	                "       [-n AGENTS] [--interval S] [--duration S] [--burst]\n"
	                "       [--both] [--repeat R] [--reg-parallel N] [--server-pid PID]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "pin", required_argument, NULL, 'p' },
		{ "passphrase-file", required_argument, NULL, 'f' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "burst", no_argument, NULL, 'b' },
		{ "both", no_argument, NULL, 'B' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "reg-parallel", required_argument, NULL, 'r' },
		{ "server-pid", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *pass_file = NULL;
	struct agent *ags = NULL;
	size_t n_err = 0, registered = 0, next_reg = 0;
	long n = 1000, interval = 60, duration = 180, reg_par = 8, server_pid = 0, repeat = 1;
	int burst = 0, both = 0, c, running = 0;
	double register_s = 0;
	int64_t t_reg;
	CURLM *m = NULL;
	FILE *f = NULL;

	while ((c = getopt_long(argc, argv, "n:", lopts, NULL)) != -1) {
		switch (c) {
		case 'u': url_base = optarg; break;
		case 'p': pin = optarg; break;
		case 'f': pass_file = optarg; break;
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'i': interval = strtol(optarg, NULL, 10); break;
		case 'd': duration = strtol(optarg, NULL, 10); break;
		case 'b': burst = 1; break;
		case 'B': both = 1; break;
		case 'R': repeat = strtol(optarg, NULL, 10); break;
		case 'r': reg_par = strtol(optarg, NULL, 10); break;
		case 's': server_pid = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (url_base == NULL || pass_file == NULL || n < 1 || n > 60000 || interval < 1 ||
	    duration < 1 || reg_par < 1 || repeat < 1)
		usage();
	if ((f = fopen(pass_file, "r")) == NULL || fgets(passphrase, sizeof(passphrase), f) == NULL) {
		fprintf(stderr, "agents_load: cannot read the passphrase file %s\n", pass_file);
		return 1;
	}
	fclose(f);
	passphrase[strcspn(passphrase, "\r\n")] = '\0';
	srand((unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	ags = calloc((size_t)n, sizeof(*ags));
	if (m == NULL || ags == NULL)
		return 1;
	for (long i = 0; i < n; i++)
		snprintf(ags[i].src, sizeof(ags[i].src), "127.2.%ld.%ld", i / 250, i % 250 + 1);

	/* Phase 1: every agent registers once. */
	t_reg = now_us();
	while (registered < (size_t)n) {
		struct xfer *x = NULL;
		CURLcode res;
		long code;
		int q;

		while (running < reg_par && next_reg < (size_t)n) {
			if ((x = xfer_new(&ags[next_reg++], 0)) == NULL)
				return 1;
			curl_multi_add_handle(m, x->h);
			running++;
		}
		curl_multi_perform(m, &q);
		curl_multi_poll(m, NULL, 0, 100, NULL);
		while ((x = next_done(m, &res, &code)) != NULL) {
			if (res != CURLE_OK || code != 201 ||
			    json_str(x->body, "agent_id", x->ag->id, sizeof(x->ag->id)) != 0 ||
			    json_str(x->body, "secret", x->ag->secret, sizeof(x->ag->secret)) != 0) {
				fprintf(stderr, "agents_load: registration from %s failed: %s (HTTP %ld)\n",
				        x->ag->src, curl_easy_strerror(res), code);
				return 1;
			}
			registered++;
			xfer_done(m, x, &running);
		}
	}
	explicit_bzero(passphrase, sizeof(passphrase));

	register_s = (now_us() - t_reg) / 1e6;
	for (long r = 0; r < repeat; r++) {
		if (both && beat_phase(m, ags, n, interval, duration, 0, server_pid, register_s, &n_err) != 0)
			return 1;
		if (beat_phase(m, ags, n, interval, duration, both || burst, server_pid, register_s,
		               &n_err) != 0)
			return 1;
	}
	curl_multi_cleanup(m);
	free(ags);
	curl_global_cleanup();
	return n_err == 0 ? 0 : 1;
}
