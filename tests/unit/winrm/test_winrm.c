/*
 * test_winrm.c - the WinRM transport against tests/winrm/server.py, a
 * RECORDED-RESPONSE server (not a Windows host: it replays reply documents
 * captured from Windows by other projects, see tests/winrm/SOURCES.md), plus
 * the WS-Management reply parser on hostile input.
 *
 * One server per group (group setup), HTTPS with a CA made at test time; the
 * user name picks the server's scenario.
 *
 * The winrm_ntlm group runs the same server with --auth ntlm: there the
 * NTLM handshake is judged by gss-ntlmssp (a real NTLM acceptor, through
 * python3-gssapi under Debian's /usr/bin/python3; scripts/deps.sh installs
 * both), not by the test server.  The client's NTLM is GSS-API too
 * (gss_acquire_cred_with_password with gss-ntlmssp): both ends are
 * gss-ntlmssp there, the judge is still the server's.
 *
 * winrm_ntlm_windows runs it with --offer windows: the 401 lists only
 * Negotiate and Kerberos, as a default Windows WinRM listener does;
 * winrm_ntlm_reconnect with --offer ntlm --close-after 2 (only "NTLM"
 * offered, the connection closed after two authenticated replies).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "agentpush/windows.h"
#include "winrm_xml.h"

extern char **environ;

/*
 * ASan builds: gss-ntlmssp 1.2.0 leaks about 6.3 KB of OpenSSL objects in
 * every gss_acquire_cred_with_password() (the MD4 of the password, fetched
 * through OpenSSL 3's legacy provider; one credential per NTLM open(), see
 * docs/winrm.md).  Third-party, so suppressed here, by the plugin's name:
 * LeakSanitizer sees that frame only with the slow unwinder (libcrypto has
 * no frame pointers).  An ASAN_OPTIONS or LSAN_OPTIONS from the
 * environment still overrides these defaults option by option.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:gssntlmssp.so\n";
}

static pid_t server_pid = -1;
static char workdir[256];
static int server_port;
static char ca_path[320], other_ca_path[320];

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

/* NTLM accounts of the winrm_ntlm group: gss-ntlmssp reads them from a
 * 0600 file; the passwords are test values, checked absent from outputs. */
#define NTLM_PASSWORD "Ntlm-Test-Pw-4711"
#define NTLM_WRONG "Wrong-Ntlm-Pw-0815"

/* Starts server.py with python (a path: the NTLM mode needs the Debian
 * python that has gssapi) and the extra arguments (at most 4), its
 * output to WORKDIR/server.out; waits for its port.  workdir exists. */
static int
start_server(const char *python, const char *const *extra)
{
	const char *root = getenv("AP_SOURCE_ROOT");
	char server[512], portf[320], outf[320];
	char *argv[14];
	posix_spawn_file_actions_t fa;
	FILE *f = NULL;
	int i, n = 0, r;

	if (root == NULL)
		root = ".";
	snprintf(server, sizeof(server), "%s/tests/winrm/server.py", root);
	snprintf(outf, sizeof(outf), "%s/server.out", workdir);
	argv[n++] = (char *)python;
	argv[n++] = server;
	argv[n++] = (char *)"--workdir";
	argv[n++] = workdir;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 13; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, 1, outf, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	r = posix_spawnp(&server_pid, python, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -1;
	snprintf(portf, sizeof(portf), "%s/port", workdir);
	for (i = 0; i < 300 && f == NULL; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if ((f = fopen(portf, "r")) != NULL)
			break;
		/* a server that died (a missing module) will not write it */
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = -1;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	if (f == NULL || fscanf(f, "%d", &server_port) != 1) {
		if (f != NULL)
			fclose(f);
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
		return -1;
	}
	fclose(f);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", workdir);
	snprintf(other_ca_path, sizeof(other_ca_path), "%s/other-ca.pem", workdir);
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(workdir, sizeof(workdir), "/tmp/ap-winrm-XXXXXX");
	if (mkdtemp(workdir) == NULL)
		return -1;
	return start_server("python3", NULL);
}

/* The NTLM server with extra options (at most 4 words, NULL-ended). */
static int
ntlm_server(const char *const *more)
{
	const char *args[9] = { "--auth", "ntlm", "--ntlm-user-file", NULL };
	char users[320];
	FILE *f = NULL;
	int fd, i;

	snprintf(workdir, sizeof(workdir), "/tmp/ap-winrm-ntlm-XXXXXX");
	if (mkdtemp(workdir) == NULL)
		return -1;
	snprintf(users, sizeof(users), "%s/ntlm-users", workdir);
	if ((fd = open(users, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL)
		return -1;
	fprintf(f, "WORKGROUP:ok:%s\nWORKGROUP:echo:%s\n", NTLM_PASSWORD,
	        NTLM_PASSWORD);
	if (fclose(f) != 0)
		return -1;
	args[3] = users;
	for (i = 0; more != NULL && more[i] != NULL && i < 4; i++)
		args[4 + i] = more[i];
	args[4 + i] = NULL;
	/* Debian's python3-gssapi is installed for /usr/bin/python3 only;
	 * python3 on PATH may be another one (pyenv). */
	if (start_server("/usr/bin/python3", args) != 0) {
		fprintf(stderr, "winrm_ntlm: the NTLM server did not start: are "
		        "gss-ntlmssp and python3-gssapi installed (scripts/deps.sh)?\n");
		return -1;
	}
	return 0;
}

static int
group_setup_ntlm(void **state)
{
	(void)state;
	return ntlm_server(NULL);
}

static int
group_setup_windows(void **state)
{
	static const char *const more[] = { "--offer", "windows", NULL };

	(void)state;
	return ntlm_server(more);
}

static int
group_setup_reconnect(void **state)
{
	static const char *const more[] = {
		"--offer", "ntlm", "--close-after", "2", NULL
	};

	(void)state;
	return ntlm_server(more);
}

static int
group_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
	if (workdir[0] != '\0')
		nftw(workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	workdir[0] = '\0';
	return 0;
}

static void
opts_for(struct ap_conn_opts *o, const char *user)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = server_port;
	o->user = user;
	o->password = "test-password";
	o->ca_file = ca_path;
	/* the recorded server speaks Basic only (AUTO: test_auto_mode) */
	o->winrm_auth = AP_WINRM_AUTH_BASIC;
	o->connect_timeout_ms = 5000;
	o->io_timeout_ms = 20000;
}

/* Opens a connection as user, runs cmd with in, returns exec's code. */
static int
run(const char *user, const char *cmd, const char *in,
    struct ap_exec_result *res, struct ap_ctx *ctx)
{
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	int r;

	opts_for(&o, user);
	r = ap_transport_winrm.open(&o, &c, ctx);
	if (r != AP_OK)
		return r;
	r = ap_transport_winrm.exec(c, cmd, in, in != NULL ? strlen(in) : 0,
	                            res, ctx);
	ap_transport_winrm.close(c);
	return r;
}

static char *
actions_log(void)
{
	char p[320], *buf = calloc(1, 65536);
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/actions.log", workdir);
	if (buf == NULL || (f = fopen(p, "r")) == NULL)
		return buf;
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_ok_flow(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;
	char *log = NULL;

	(void)state;
	assert_int_equal(run("ok", "hostname", NULL, &res, ctx), AP_OK);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(res.out, "hello from the recorded server\r\n");
	assert_string_equal(res.err, "");
	ap_exec_result_clear(&res);
	log = actions_log();
	assert_non_null(strstr(log, "Create\nCommand hostname\nReceive\nSignal\nDelete\n"));
	assert_null(strstr(log, "REJECTED"));
	free(log);
	ap_ctx_free(ctx);
}

static void
test_exit_codes(void **state)
{
	static const int codes[] = { 511, 517, 512, 806, 3010, 1641, 1 };
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;
	char user[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(user, sizeof(user), "exit%d", codes[i]);
		assert_int_equal(run(user, "UnifiedAgent.exe /Silent", NULL, &res, ctx), AP_OK);
		assert_int_equal(res.exit_status, codes[i]);
		assert_non_null(strstr(res.err, "installer exited with"));
		ap_exec_result_clear(&res);
	}
	ap_ctx_free(ctx);
}

static void
test_stdin_send(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;
	char *big = malloc(100001);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	big[0] = '<';
	big[1] = '&';
	assert_int_equal(run("echo", "more", big, &res, ctx), AP_OK);
	assert_int_equal(res.out_len, 100000);
	assert_memory_equal(res.out, big, 100000);
	ap_exec_result_clear(&res);
	free(big);
	ap_ctx_free(ctx);
}

static void
test_long_poll_and_chunks(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;

	(void)state;
	assert_int_equal(run("slow", "ver", NULL, &res, ctx), AP_OK);
	assert_int_equal(res.exit_status, 0);
	ap_exec_result_clear(&res);
	assert_int_equal(run("chunks", "ver", NULL, &res, ctx), AP_OK);
	assert_string_equal(res.out, "first half, second half\r\n");
	ap_exec_result_clear(&res);
	ap_ctx_free(ctx);
}

static void
test_bad_password(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;

	(void)state;
	opts_for(&o, "ok");
	o.password = "Wrong-Pass-9";
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_null(c);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "HTTP 401"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "Basic"));
	assert_null(strstr(ap_ctx_errmsg(ctx), "Wrong-Pass-9"));
	ap_ctx_free(ctx);
}

static void
test_soap_fault(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;

	(void)state;
	assert_int_equal(run("fault", "ver", NULL, &res, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "w:SchemaValidationError"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "Detail message."));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "0x80338041"));
	ap_ctx_free(ctx);
}

static void
test_tls_not_verified(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;

	(void)state;
	opts_for(&o, "ok");
	o.ca_file = other_ca_path;
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "certificate"));
	/* a host name the certificate does not name is refused too */
	ap_ctx_clear(ctx);
	opts_for(&o, "ok");
	o.host = "127.0.0.2";
	assert_int_not_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	ap_ctx_free(ctx);
}

static void
test_refused(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* a port that was just free: nothing listens there */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	opts_for(&o, "ok");
	o.port = ntohs(sa.sin_port);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "Connection refused"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "WinRM HTTPS"));
	ap_ctx_free(ctx);
}

static void
test_bad_opts(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;

	(void)state;
	opts_for(&o, "ok");
	o.password = NULL;
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EINVAL);
	opts_for(&o, "ok");
	o.host = "evil/host";
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EINVAL);
	assert_null(ap_transport_winrm.put);
	ap_ctx_free(ctx);
}

static void
test_facts_over_winrm(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_exec_result res;
	struct ap_windows_facts *f = NULL;
	char *cmd = NULL;

	(void)state;
	assert_int_equal(ap_windows_facts_command(&cmd, ctx), AP_OK);
	assert_non_null(strstr(cmd, "-EncodedCommand "));
	assert_true(strlen(cmd) < 8191);
	assert_int_equal(run("facts", cmd, NULL, &res, ctx), AP_OK);
	assert_int_equal(ap_windows_facts_parse(res.out, res.out_len, &f, ctx), AP_OK);
	assert_int_equal(f->build, 17763);
	ap_windows_facts_free(f);
	ap_exec_result_clear(&res);
	free(cmd);
	ap_ctx_free(ctx);
}

/* How many lines of actions.log start with prefix. */
static int
log_count(const char *prefix)
{
	char *log = actions_log(), *p;
	int n = 0;

	assert_non_null(log);
	for (p = log; *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : p + strlen(p))
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
	free(log);
	return n;
}

/* AUTO against the Basic-only server: libcurl must not stop at the
 * Negotiate the server lists first (it did when AUTO offered Negotiate). */
static void
test_auto_mode(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	int refused = log_count("Auth Basic refused ");

	(void)state;
	opts_for(&o, "ok");
	o.winrm_auth = AP_WINRM_AUTH_AUTO;
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
	assert_int_equal(ap_transport_winrm.exec(c, "hostname", NULL, 0, &res, ctx), AP_OK);
	assert_string_equal(res.out, "hello from the recorded server\r\n");
	ap_exec_result_clear(&res);
	ap_transport_winrm.close(c);
	c = NULL;
	/* a wrong password: one refused Basic logon, then 95107 */
	o.password = "Wrong-Pass-9";
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
	assert_null(strstr(ap_ctx_errmsg(ctx), "Wrong-Pass-9"));
	assert_int_equal(log_count("Auth Basic refused "), refused + 1);
	/* NEGOTIATE (NTLM) against a host without NTLM: no scheme in
	 * common, no password judged, so not 95107 (the credential gate
	 * would block the password for the whole run) */
	ap_ctx_clear(ctx);
	opts_for(&o, "ok");
	o.winrm_auth = AP_WINRM_AUTH_NEGOTIATE;
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "no authentication scheme in common"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "host offers: Negotiate, Basic"));
	assert_int_equal(log_count("Auth Basic refused "), refused + 1);
	ap_ctx_free(ctx);
}

/* --- NTLM, judged by gss-ntlmssp (group_setup_ntlm) ----------------------- */

static void
ntlm_opts(struct ap_conn_opts *o, const char *user, int mode)
{
	opts_for(o, user);
	o->password = NTLM_PASSWORD;
	o->winrm_auth = mode;
}

static void
test_ntlm_negotiate_mode(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	int t1 = log_count("Auth NTLM 1 "), ok = log_count("Auth NTLM 3 accepted ");
	char *log = NULL;

	(void)state;
	ntlm_opts(&o, "ok", AP_WINRM_AUTH_NEGOTIATE);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
	assert_int_equal(ap_transport_winrm.exec(c, "hostname", NULL, 0, &res, ctx), AP_OK);
	assert_int_equal(res.exit_status, 0);
	assert_string_equal(res.out, "hello from the recorded server\r\n");
	ap_exec_result_clear(&res);
	ap_transport_winrm.close(c);
	/* one handshake (NTLM authenticates the connection) for 5 requests */
	assert_int_equal(log_count("Auth NTLM 1 "), t1 + 1);
	assert_int_equal(log_count("Auth NTLM 3 accepted "), ok + 1);
	assert_int_equal(log_count("Auth NTLM 3 refused"), 0);
	log = actions_log();
	/* raw NTLMSSP under the Negotiate this host lists first */
	assert_non_null(strstr(log, "Auth NTLM 1 Negotiate\nAuth NTLM 3 accepted ok\n"
	                       "Create\nCommand hostname\nReceive\nSignal\nDelete\n"));
	assert_null(strstr(log, "REJECTED"));
	/* gss-ntlmssp on both ends: no framing fix-up (SOURCES.md) */
	assert_null(strstr(log, "Version field added"));
	free(log);
	ap_ctx_free(ctx);
}

/*
 * Opens an AUTO connection as "echo" to the NTLM server of this test,
 * sends 100 KB of fill on stdin (4 Sends) and checks it comes back.
 */
static void
ntlm_echo_100k(char fill, struct ap_ctx *ctx)
{
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	char *big = malloc(100001);

	assert_non_null(big);
	memset(big, fill, 100000);
	big[100000] = '\0';
	ntlm_opts(&o, "echo", AP_WINRM_AUTH_AUTO);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
	assert_int_equal(ap_transport_winrm.exec(c, "more", big, 100000, &res, ctx), AP_OK);
	assert_int_equal(res.out_len, 100000);
	assert_memory_equal(res.out, big, 100000);
	ap_exec_result_clear(&res);
	ap_transport_winrm.close(c);
	free(big);
}

static void
test_ntlm_auto_mode(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	int ok = log_count("Auth NTLM 3 accepted "), creates = log_count("Create");

	(void)state;
	/* AUTO picks NTLM over the Basic it also allows: this host offers
	 * Negotiate and NTLM; stdin makes 4 Sends on the same connection */
	ntlm_echo_100k('n', ctx);
	assert_int_equal(log_count("Auth NTLM 3 accepted echo"), 1);
	assert_int_equal(log_count("Auth NTLM 3 accepted "), ok + 1);
	assert_int_equal(log_count("Send"), 4);
	assert_int_equal(log_count("Create"), creates + 1);
	ap_ctx_free(ctx);
}

/*
 * A wrong password for "ok", with NEGOTIATE and with AUTO: 95107 whose
 * evidence holds every string of want (NULL-terminated) and never a
 * password, after exactly one handshake and one AUTHENTICATE message that
 * gss-ntlmssp refused (libcurl does not try again), and no shell.
 */
static void
wrong_password_refused_once(struct ap_ctx *ctx, const char *const *want)
{
	static const int modes[] = { AP_WINRM_AUTH_NEGOTIATE, AP_WINRM_AUTH_AUTO };
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	size_t i, k;
	int t1, t3, refused, creates;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		t1 = log_count("Auth NTLM 1 ");
		t3 = log_count("Auth NTLM 3 ");
		refused = log_count("Auth NTLM 3 refused");
		creates = log_count("Create");
		ap_ctx_clear(ctx);
		ntlm_opts(&o, "ok", modes[i]);
		o.password = NTLM_WRONG;
		assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
		assert_null(c);
		assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
		for (k = 0; want[k] != NULL; k++)
			assert_non_null(strstr(ap_ctx_errmsg(ctx), want[k]));
		assert_null(strstr(ap_ctx_errmsg(ctx), NTLM_WRONG));
		assert_null(strstr(ap_ctx_errmsg(ctx), NTLM_PASSWORD));
		assert_int_equal(log_count("Auth NTLM 1 "), t1 + 1);
		assert_int_equal(log_count("Auth NTLM 3 "), t3 + 1);
		assert_int_equal(log_count("Auth NTLM 3 refused"), refused + 1);
		assert_int_equal(log_count("Create"), creates);
	}
}

static void
test_ntlm_bad_password(void **state)
{
	static const char *const want[] = {
		"HTTP 401", "the logon of ok was refused", "; host offers: ", "NTLM", NULL
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;

	(void)state;
	wrong_password_refused_once(ctx, want);
	/* an unknown account is refused the same way */
	ap_ctx_clear(ctx);
	ntlm_opts(&o, "nobody", AP_WINRM_AUTH_NEGOTIATE);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
	ap_ctx_free(ctx);
}

static void
test_ntlm_basic_refused(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	int t3 = log_count("Auth NTLM 3 ");

	(void)state;
	/* BASIC against a host without Basic: the password is not judged */
	ntlm_opts(&o, "ok", AP_WINRM_AUTH_BASIC);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "no authentication scheme in common"));
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "agentpush: Basic; host offers: Negotiate, NTLM"));
	assert_int_equal(log_count("Auth NTLM 3 "), t3);
	ap_ctx_free(ctx);
}

static char *
slurp(const char *name)
{
	char p[320], *buf = calloc(1, 1 << 20);
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", workdir, name);
	if (buf == NULL || (f = fopen(p, "r")) == NULL)
		return buf;
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Neither password in what the server logged or printed (the control:
 * the user file has it, so the search can fail), after at least
 * min_refused refused logons. */
static void
passwords_absent(int min_refused)
{
	static const char *const files[] = { "actions.log", "server.out" };
	char *users = slurp("ntlm-users"), *t;
	size_t i;

	assert_non_null(strstr(users, NTLM_PASSWORD));
	free(users);
	assert_true(log_count("Auth NTLM 3 refused") >= min_refused);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		t = slurp(files[i]);
		assert_non_null(t);
		assert_null(strstr(t, NTLM_PASSWORD));
		assert_null(strstr(t, NTLM_WRONG));
		free(t);
	}
}

/* Last of the group. */
static void
test_ntlm_password_not_logged(void **state)
{
	(void)state;
	passwords_absent(3);
}

/* --- a Windows-like host: only Negotiate and Kerberos offered ------------ */

/* NEGOTIATE and AUTO log on with NTLM under "Negotiate", each open with
 * one handshake for all its requests; the user name in its three forms. */
static void
test_win_ntlm_logon(void **state)
{
	static const struct { int mode; const char *user, *name; } v[] = {
		{ AP_WINRM_AUTH_NEGOTIATE, "ok", "ok" },
		{ AP_WINRM_AUTH_AUTO, "ok", "ok" },
		{ AP_WINRM_AUTH_AUTO, "WORKGROUP\\ok", "WORKGROUP\\ok" },
		{ AP_WINRM_AUTH_NEGOTIATE, "ok@WORKGROUP", "WORKGROUP\\ok" },
	};
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	char *log = NULL, want[256];
	size_t i;
	int t1, ok, creates;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t1 = log_count("Auth NTLM 1 ");
		ok = log_count("Auth NTLM 3 accepted ");
		creates = log_count("Create");
		ap_ctx_clear(ctx);
		ntlm_opts(&o, v[i].user, v[i].mode);
		assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
		assert_int_equal(ap_transport_winrm.exec(c, "hostname", NULL, 0, &res, ctx), AP_OK);
		assert_string_equal(res.out, "hello from the recorded server\r\n");
		ap_exec_result_clear(&res);
		assert_int_equal(ap_transport_winrm.exec(c, "hostname", NULL, 0, &res, ctx), AP_OK);
		ap_exec_result_clear(&res);
		ap_transport_winrm.close(c);
		c = NULL;
		/* 9 requests (Create, 2 x Command Receive Signal, Delete),
		 * one handshake */
		assert_int_equal(log_count("Auth NTLM 1 "), t1 + 1);
		assert_int_equal(log_count("Auth NTLM 3 accepted "), ok + 1);
		assert_int_equal(log_count("Create"), creates + 1);
		snprintf(want, sizeof(want), "Auth NTLM 1 Negotiate\nAuth NTLM 3 accepted %s\n"
		         "Create\nCommand hostname\nReceive\nSignal\n"
		         "Command hostname\nReceive\nSignal\nDelete\n", v[i].name);
		log = actions_log();
		assert_non_null(strstr(log, want));
		free(log);
	}
	log = actions_log();
	assert_null(strstr(log, "REJECTED"));
	assert_null(strstr(log, "Auth none"));   /* never "NTLM" sent */
	assert_null(strstr(log, "Auth Basic"));
	assert_null(strstr(log, "refused"));
	/* gss-ntlmssp on both ends: no framing fix-up (SOURCES.md) */
	assert_null(strstr(log, "Version field added"));
	free(log);
	ap_ctx_free(ctx);
}

/* 100 KB of stdin: 4 Sends more on the one authenticated connection. */
static void
test_win_ntlm_stdin(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	int t1 = log_count("Auth NTLM 1 "), sends = log_count("Send");

	(void)state;
	ntlm_echo_100k('w', ctx);
	assert_int_equal(log_count("Auth NTLM 1 "), t1 + 1);
	assert_int_equal(log_count("Send"), sends + 4);
	ap_ctx_free(ctx);
}

/* A wrong password: 95107 after exactly one AUTHENTICATE message, no
 * Basic, no second try, no shell. */
static void
test_win_bad_password(void **state)
{
	static const char *const want[] = {
		"the logon of ok was refused", "NTLM under Negotiate",
		"host offers: Negotiate, Kerberos", NULL
	};
	struct ap_ctx *ctx = ap_ctx_new();

	(void)state;
	wrong_password_refused_once(ctx, want);
	assert_int_equal(log_count("Auth Basic"), 0);
	ap_ctx_free(ctx);
}

/* BASIC against it: nothing in common, no password judged (95103). */
static void
test_win_basic_refused(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	int t1 = log_count("Auth NTLM 1 ");

	(void)state;
	ntlm_opts(&o, "ok", AP_WINRM_AUTH_BASIC);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_WMI_BLOCKED);
	assert_non_null(strstr(ap_ctx_errmsg(ctx),
	                       "no authentication scheme in common (agentpush: Basic; "
	                       "host offers: Negotiate, Kerberos)"));
	assert_int_equal(log_count("Auth NTLM 1 "), t1);
	ap_ctx_free(ctx);
}

/* Kerberos only, no ticket (no KDC here): a clean 95107 naming Kerberos
 * before anything is sent, with or without a password, and never NTLM. */
static void
test_win_kerberos_no_ticket(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	const char *old = getenv("KRB5CCNAME");
	char *saved = old != NULL ? strdup(old) : NULL;
	char *log = actions_log(), *after = NULL;
	int pass;

	(void)state;
	assert_int_equal(setenv("KRB5CCNAME", "FILE:/nonexistent", 1), 0);
	for (pass = 0; pass < 2; pass++) {
		ap_ctx_clear(ctx);
		ntlm_opts(&o, "ok", AP_WINRM_AUTH_KERBEROS);
		o.password = pass == 0 ? NULL : NTLM_PASSWORD;
		assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
		assert_null(c);
		assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
		assert_non_null(strstr(ap_ctx_errmsg(ctx), "no Kerberos logon of ok"));
		assert_non_null(strstr(ap_ctx_errmsg(ctx), "/nonexistent"));
		assert_non_null(strstr(ap_ctx_errmsg(ctx), "Kerberos only, as asked"));
		assert_null(strstr(ap_ctx_errmsg(ctx), NTLM_PASSWORD));
		assert_null(strchr(ap_ctx_errmsg(ctx), '\n'));
	}
	/* the server saw nothing at all: no NTLM, no request */
	after = actions_log();
	assert_string_equal(after, log);
	if (saved != NULL)
		setenv("KRB5CCNAME", saved, 1);
	else
		unsetenv("KRB5CCNAME");
	free(saved);
	free(log);
	free(after);
	ap_ctx_free(ctx);
}

static void
test_win_password_not_logged(void **state)
{
	(void)state;
	passwords_absent(2);
}

/* --- only "NTLM" offered, keep-alive ending after 2 replies --------------- */

/* The first message goes under Negotiate, the bare 401 lists only NTLM:
 * the handshake starts again under "NTLM" (nothing judged yet).  The host
 * then closes the connection after every 2 authenticated replies: each new
 * connection logs on again, from the kept credential, and the request
 * that met the 401 is sent again. */
static void
test_reconnect_relogon(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;
	struct ap_conn *c = NULL;
	struct ap_exec_result res;
	char *log = NULL;

	(void)state;
	ntlm_opts(&o, "ok", AP_WINRM_AUTH_NEGOTIATE);
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_OK);
	assert_int_equal(ap_transport_winrm.exec(c, "hostname", NULL, 0, &res, ctx), AP_OK);
	assert_string_equal(res.out, "hello from the recorded server\r\n");
	ap_exec_result_clear(&res);
	ap_transport_winrm.close(c);
	log = actions_log();
	/* Create, Command | Receive, Signal | Delete: three connections */
	assert_string_equal(log,
	    "Auth none Negotiate\n"
	    "Auth NTLM 1 NTLM\nAuth NTLM 3 accepted ok\nCreate\nCommand hostname\n"
	    "Auth none -\n"
	    "Auth NTLM 1 NTLM\nAuth NTLM 3 accepted ok\nReceive\nSignal\n"
	    "Auth none -\n"
	    "Auth NTLM 1 NTLM\nAuth NTLM 3 accepted ok\nDelete\n");
	free(log);
	/* a wrong password: still one AUTHENTICATE message */
	ap_ctx_clear(ctx);
	o.password = NTLM_WRONG;
	assert_int_equal(ap_transport_winrm.open(&o, &c, ctx), AP_EREMOTE);
	assert_int_equal(ap_ctx_error_id(ctx), AP_ERR_WINDOWS_BAD_CREDENTIALS);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "agentpush: NTLM; host offers: NTLM"));
	assert_int_equal(log_count("Auth NTLM 3 refused"), 1);
	assert_int_equal(log_count("Auth NTLM 3 "), 4);
	ap_ctx_free(ctx);
}

/* --- the NTLM mechanism missing ------------------------------------------ */

/*
 * Without gss-ntlmssp, NTLM is a clear one-line error naming the package,
 * before any connection.  MIT's mechglue reads its mechanism list once per
 * process (GSS_MECH_CONFIG replaces /etc/gss/mech and mech.d), so this runs
 * in a child forked before any other test used GSS-API; the child sends its
 * result back through a pipe.
 */
static void
test_ntlm_mech_missing(void **state)
{
	struct ap_conn_opts o;
	char empty[64], msg[1024];
	int fds[2], st = 0, fd;
	ssize_t n;
	pid_t pid;

	(void)state;
	snprintf(empty, sizeof(empty), "/tmp/ap-winrm-mech-XXXXXX");
	assert_true((fd = mkstemp(empty)) >= 0);
	close(fd);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ap_ctx *ctx = ap_ctx_new();
		struct ap_conn *c = NULL;
		int r;

		close(fds[0]);
		setenv("GSS_MECH_CONFIG", empty, 1);
		memset(&o, 0, sizeof(o));
		o.host = "127.0.0.1";
		o.port = 9;   /* never reached */
		o.user = "ok";
		o.password = NTLM_PASSWORD;
		o.winrm_auth = AP_WINRM_AUTH_AUTO;
		r = ap_transport_winrm.open(&o, &c, ctx);
		n = snprintf(msg, sizeof(msg), "%d %d %s", r, ap_ctx_error_id(ctx),
		             ap_ctx_errmsg(ctx));
		if (write(fds[1], msg, (size_t)n) != n)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], msg, sizeof(msg) - 1);
	close(fds[0]);
	waitpid(pid, &st, 0);
	unlink(empty);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(n > 0);
	msg[n] = '\0';
	snprintf(empty, sizeof(empty), "%d 0 winrm: ", AP_EUNSUPP);
	assert_true(strncmp(msg, empty, strlen(empty)) == 0);
	assert_non_null(strstr(msg, "NTLM GSS-API mechanism is not installed "
	                       "(Debian package gss-ntlmssp)"));
	assert_null(strchr(msg, '\n'));
	assert_null(strstr(msg, NTLM_PASSWORD));
}

/* --- the parser alone ---------------------------------------------------- */

static int
parse(const char *xml, struct ap_winrm_reply *rep, struct ap_capbuf *out,
      char *why)
{
	return ap_winrm_parse(xml, strlen(xml), rep, out, NULL, why, 256);
}

#define ENV_OPEN "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" " \
	"xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"><s:Body>"
#define ENV_CLOSE "</s:Body></s:Envelope>"

static void
test_parser_hostile(void **state)
{
	struct ap_winrm_reply rep;
	struct ap_capbuf out = { NULL, 0, 0, 1024, 0 };
	char why[256];

	(void)state;
	assert_int_equal(parse("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>" ENV_OPEN ENV_CLOSE,
	                       &rep, &out, why), -2);
	assert_non_null(strstr(why, "DOCTYPE"));
	assert_int_equal(parse("<x/>", &rep, &out, why), -2);
	assert_int_equal(parse(ENV_OPEN, &rep, &out, why), -2);
	assert_int_equal(parse("", &rep, &out, why), -2);
	/* the right local name in the wrong namespace is not a reply */
	assert_int_equal(parse("<s:Envelope xmlns:s=\"urn:x\"><s:Body/></s:Envelope>",
	                       &rep, &out, why), -2);
	assert_int_equal(parse(ENV_OPEN "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\">"
	                       "!!notbase64</rsp:Stream></rsp:ReceiveResponse>" ENV_CLOSE,
	                       &rep, &out, why), -2);
	assert_int_equal(parse(ENV_OPEN "<rsp:ReceiveResponse><rsp:CommandState State=\""
	                       "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
	                       "CommandState/Done\"><rsp:ExitCode>12x</rsp:ExitCode>"
	                       "</rsp:CommandState></rsp:ReceiveResponse>" ENV_CLOSE,
	                       &rep, &out, why), -2);
	assert_int_equal(parse(ENV_OPEN "<rsp:CommandResponse><rsp:CommandId>a&lt;b"
	                       "</rsp:CommandId></rsp:CommandResponse>" ENV_CLOSE,
	                       &rep, &out, why), -2);
	/* DWORD exit codes come back signed, as the catalog keeps VSS errors */
	assert_int_equal(parse(ENV_OPEN "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\">"
	                       "aGk=</rsp:Stream><rsp:CommandState State=\""
	                       "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
	                       "CommandState/Done\"><rsp:ExitCode>2147943614</rsp:ExitCode>"
	                       "</rsp:CommandState></rsp:ReceiveResponse>" ENV_CLOSE,
	                       &rep, &out, why), 0);
	assert_int_equal(rep.done, 1);
	assert_int_equal(rep.exit_code, -2147023682L);
	assert_string_equal(out.p, "hi");
	ap_capbuf_clear(&out);
}

/*
 * A reply whose first bytes make libxml2 read it as UCS-4 ("<" then three
 * NULs) and whose next four bytes are no character there: libxml2's
 * encoding layer reports that through its generic error channel, which
 * XML_PARSE_NOERROR does not silence (libxml2 2.9, found by fuzz_winrm).
 * The library prints nothing: the reply is refused, with nothing on
 * stderr.
 */
static void
test_parser_silent(void **state)
{
	static const char ucs4[] = "<\0\0\0?xml version=\"1.0\"?><a/>";
	struct ap_winrm_reply rep;
	struct ap_capbuf out = { NULL, 0, 0, 1024, 0 };
	char why[256], path[] = "/tmp/ap-winrm-stderr.XXXXXX", buf[256];
	int fd, saved;
	ssize_t got;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	fflush(stderr);
	assert_true((saved = dup(2)) >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	assert_int_equal(ap_winrm_parse(ucs4, sizeof(ucs4) - 1, &rep, &out, NULL, why,
	                                sizeof(why)), -2);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	assert_string_equal(buf, "");
	ap_capbuf_clear(&out);
}

static void
test_builder_escapes(void **state)
{
	struct ap_winrm_req req;
	char *xml = NULL, why[256];

	(void)state;
	memset(&req, 0, sizeof(req));
	req.action = AP_WINRM_COMMAND;
	req.url = "https://h:5986/wsman";
	req.shell_id = "S1";
	req.command = "echo a<b & \"c\"";
	assert_int_equal(ap_winrm_build(&req, &xml, why, sizeof(why)), 0);
	assert_non_null(strstr(xml, "echo a&lt;b &amp; &quot;c&quot;"));
	assert_non_null(strstr(xml, "<w:Selector Name=\"ShellId\">S1</w:Selector>"));
	free(xml);
	req.command = "bad\001";
	assert_int_equal(ap_winrm_build(&req, &xml, why, sizeof(why)), -2);
	assert_null(xml);
	req.action = AP_WINRM_RECEIVE;
	req.command_id = NULL;
	assert_int_equal(ap_winrm_build(&req, &xml, why, sizeof(why)), -2);
}

int
main(void)
{
	const struct CMUnitTest server_tests[] = {
		cmocka_unit_test(test_ok_flow),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_stdin_send),
		cmocka_unit_test(test_long_poll_and_chunks),
		cmocka_unit_test(test_bad_password),
		cmocka_unit_test(test_soap_fault),
		cmocka_unit_test(test_tls_not_verified),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_facts_over_winrm),
		cmocka_unit_test(test_auto_mode),
	};
	const struct CMUnitTest ntlm_tests[] = {
		cmocka_unit_test(test_ntlm_negotiate_mode),
		cmocka_unit_test(test_ntlm_auto_mode),
		cmocka_unit_test(test_ntlm_bad_password),
		cmocka_unit_test(test_ntlm_basic_refused),
		cmocka_unit_test(test_ntlm_password_not_logged),
	};
	const struct CMUnitTest windows_tests[] = {
		cmocka_unit_test(test_win_ntlm_logon),
		cmocka_unit_test(test_win_ntlm_stdin),
		cmocka_unit_test(test_win_bad_password),
		cmocka_unit_test(test_win_basic_refused),
		cmocka_unit_test(test_win_kerberos_no_ticket),
		cmocka_unit_test(test_win_password_not_logged),
	};
	const struct CMUnitTest reconnect_tests[] = {
		cmocka_unit_test(test_reconnect_relogon),
	};
	const struct CMUnitTest parser_tests[] = {
		cmocka_unit_test(test_ntlm_mech_missing), /* first: see there */
		cmocka_unit_test(test_parser_hostile),
		cmocka_unit_test(test_parser_silent),
		cmocka_unit_test(test_builder_escapes),
	};
	int r;

	r = cmocka_run_group_tests_name("winrm_parser", parser_tests, NULL, NULL);
	r += cmocka_run_group_tests_name("winrm_recorded_server", server_tests,
	                                 group_setup, group_teardown);
	r += cmocka_run_group_tests_name("winrm_ntlm_gss_ntlmssp", ntlm_tests,
	                                 group_setup_ntlm, group_teardown);
	r += cmocka_run_group_tests_name("winrm_ntlm_windows_like", windows_tests,
	                                 group_setup_windows, group_teardown);
	r += cmocka_run_group_tests_name("winrm_ntlm_reconnect", reconnect_tests,
	                                 group_setup_reconnect, group_teardown);
	return r;
}
