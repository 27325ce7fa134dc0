/*
 * test_winrm.c - the WinRM transport against tests/winrm/server.py, a
 * RECORDED-RESPONSE server (not a Windows host: it replays reply documents
 * captured from Windows by other projects, see tests/winrm/SOURCES.md), plus
 * the WS-Management reply parser on hostile input.
 *
 * One server per run (group setup), HTTPS with a CA made at test time; the
 * user name picks the server's scenario.
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

static int
group_setup(void **state)
{
	const char *root = getenv("AP_SOURCE_ROOT");
	char server[512], portf[320];
	char *argv[5];
	FILE *f = NULL;
	int i;

	(void)state;
	if (root == NULL)
		root = ".";
	snprintf(workdir, sizeof(workdir), "/tmp/ap-winrm-XXXXXX");
	if (mkdtemp(workdir) == NULL)
		return -1;
	snprintf(server, sizeof(server), "%s/tests/winrm/server.py", root);
	argv[0] = (char *)"python3";
	argv[1] = server;
	argv[2] = (char *)"--workdir";
	argv[3] = workdir;
	argv[4] = NULL;
	if (posix_spawnp(&server_pid, "python3", NULL, NULL, argv, environ) != 0)
		return -1;
	snprintf(portf, sizeof(portf), "%s/port", workdir);
	for (i = 0; i < 300 && f == NULL; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if ((f = fopen(portf, "r")) == NULL)
			nanosleep(&ts, NULL);
	}
	if (f == NULL || fscanf(f, "%d", &server_port) != 1) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", workdir);
	snprintf(other_ca_path, sizeof(other_ca_path), "%s/other-ca.pem", workdir);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	if (workdir[0] != '\0')
		nftw(workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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
	/* the recorded server speaks Basic only; AUTO would pick the
	 * Negotiate it also offers, as curl prefers the strongest scheme */
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
	};
	const struct CMUnitTest parser_tests[] = {
		cmocka_unit_test(test_parser_hostile),
		cmocka_unit_test(test_builder_escapes),
	};
	int r;

	r = cmocka_run_group_tests_name("winrm_parser", parser_tests, NULL, NULL);
	r += cmocka_run_group_tests_name("winrm_recorded_server", server_tests,
	                                 group_setup, group_teardown);
	return r;
}
