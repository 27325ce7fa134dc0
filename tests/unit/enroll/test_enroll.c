/*
 * test_enroll.c - what an install hands an agent and how it reads the
 * outcome (lib/engine/enroll.c), and the agent's own JSON reader
 * (agent/register.c): server URLs per host, register.conf's text, the
 * wait on a real SQLite store, the finding from a host's status line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "agentpush/errors.h"
#include "agentpush/store.h"
#include "engine/enroll.h"
#include "register.h"

static void
server_url_per_host(void **state)
{
	struct ap_run_opts o;
	struct ap_ctx *ctx = ap_ctx_new();
	char buf[128];

	(void)state;
	memset(&o, 0, sizeof(o));
	o.agent_server = "https://198.18.0.1:8443";
	assert_int_equal(ap_enroll_server_url(&o, NULL, buf, sizeof(buf), ctx), AP_OK);
	assert_string_equal(buf, "https://198.18.0.1:8443");
	o.agent_server = "https://{controller}:8443/";
	assert_int_equal(ap_enroll_server_url(&o, "198.18.0.9", buf, sizeof(buf), ctx), AP_OK);
	assert_string_equal(buf, "https://198.18.0.9:8443/");
	assert_int_equal(ap_enroll_server_url(&o, "2001:db8::1", buf, sizeof(buf), ctx), AP_OK);
	assert_string_equal(buf, "https://[2001:db8::1]:8443/");
	assert_int_equal(ap_enroll_server_url(&o, NULL, buf, sizeof(buf), ctx), AP_EINVAL);
	assert_int_equal(ap_enroll_server_url(&o, "198.18.0.9", buf, 10, ctx), AP_EINVAL);
	ap_ctx_free(ctx);
}

static void
conf_text_lines(void **state)
{
	struct ap_run_opts o;
	struct ap_ctx *ctx = ap_ctx_new();
	char *t = NULL;
	size_t n = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.agent_server = "https://198.18.0.1:8443";
	o.agent_pin = "sha256//AAAA";
	o.agent_passphrase = "Pass1234Pass1234Pass1234";
	assert_int_equal(ap_enroll_conf_text(&o, o.agent_server, "00ff", &t, &n, ctx), AP_OK);
	assert_string_equal(t, "server=https://198.18.0.1:8443\npin=sha256//AAAA\n"
	                    "passphrase=Pass1234Pass1234Pass1234\nenrollment=00ff\n");
	assert_int_equal(n, strlen(t));
	ap_enroll_text_free(t, n);
	/* a line break would forge a key of its own */
	o.agent_passphrase = "x\nserver=https://evil";
	assert_int_equal(ap_enroll_conf_text(&o, o.agent_server, "00ff", &t, &n, ctx), AP_EINVAL);
	assert_null(t);
	ap_ctx_free(ctx);
}

static void
nonce_is_fresh_hex(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	char a[AP_ENROLL_NONCE_HEX + 1], b[AP_ENROLL_NONCE_HEX + 1];

	(void)state;
	assert_int_equal(ap_enroll_nonce(a, ctx), AP_OK);
	assert_int_equal(ap_enroll_nonce(b, ctx), AP_OK);
	assert_int_equal(strlen(a), AP_ENROLL_NONCE_HEX);
	assert_int_equal(strspn(a, "0123456789abcdef"), AP_ENROLL_NONCE_HEX);
	assert_string_not_equal(a, b);
	ap_ctx_free(ctx);
}

static void
wait_on_a_real_store(void **state)
{
	char dir[] = "/tmp/ap-enroll-XXXXXX", path[64], uid[64];
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_store *st = NULL;
	struct ap_run_opts o;
	struct ap_agent a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	assert_int_equal(ap_store_open(path, &st, ctx), AP_OK);
	memset(&a, 0, sizeof(a));
	a.uid = "ag-00000000000000aa";
	a.machine_id = "m1";
	a.hostname = "web1";
	a.enrollment = "nonce-1";
	a.secret_hash = "00";
	a.heartbeat_s = 60;
	assert_int_equal(ap_store_agent_register(st, &a, NULL, ctx), AP_OK);
	memset(&o, 0, sizeof(o));
	o.store = st;
	o.register_timeout_s = 1;
	assert_int_equal(ap_enroll_wait(&o, "nonce-1", uid, sizeof(uid), ctx), AP_OK);
	assert_string_equal(uid, "ag-00000000000000aa");
	assert_int_equal(ap_enroll_wait(&o, "nonce-2", uid, sizeof(uid), ctx), AP_ETIMEOUT);
	o.store = NULL;
	assert_int_equal(ap_enroll_wait(&o, "nonce-1", uid, sizeof(uid), ctx), AP_EINVAL);
	ap_store_close(st);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
	ap_ctx_free(ctx);
}

static void
finding_from_status(void **state)
{
	const char *url = "https://198.18.0.1:8443";
	char ev[512];

	(void)state;
	assert_int_equal(ap_enroll_finding("error unreachable 198.18.0.1:8443 curl exit 7: refused\n", url, 10,
	                                   ev, sizeof(ev)), AP_ERR_SERVER_UNREACHABLE_FROM_HOST);
	assert_non_null(strstr(ev, "198.18.0.1:8443 curl exit 7"));
	assert_int_equal(ap_enroll_finding("error refused 198.18.0.1:8443 HTTP 403: wrong\n", url, 10,
	                                   ev, sizeof(ev)), AP_ERR_REGISTRATION_FAILED);
	assert_non_null(strstr(ev, "refused 198.18.0.1:8443 HTTP 403"));
	assert_int_equal(ap_enroll_finding(NULL, url, 10, ev, sizeof(ev)), AP_ERR_REGISTRATION_FAILED);
	assert_non_null(strstr(ev, "never tried"));
	/* what the host sent is not trusted: one line, no control character */
	assert_int_equal(ap_enroll_finding("error failed a\x1b[2Jb\nsecond line", url, 10,
	                                   ev, sizeof(ev)), AP_ERR_REGISTRATION_FAILED);
	assert_null(strchr(ev, '\x1b'));
	assert_null(strstr(ev, "second line"));
}

static void
agent_json_reader(void **state)
{
	char out[32];
	unsigned u = 0;

	(void)state;
	assert_int_equal(reg_json_str("{\"a\":1,\"agent_id\":\"ag-1\"}", "agent_id", out, sizeof(out)), 0);
	assert_string_equal(out, "ag-1");
	/* only top-level keys; a key inside a string or a nested object is not one */
	assert_int_equal(reg_json_str("{\"x\":{\"agent_id\":\"no\"},\"y\":\"\\\"agent_id\\\":\\\"no\\\"\"}",
	                              "agent_id", out, sizeof(out)), -1);
	assert_int_equal(reg_json_str("{\"s\":\"a\\\"b\\\\c\\u0041\\n\"}", "s", out, sizeof(out)), 0);
	assert_string_equal(out, "a\"b\\cA\n");
	assert_int_equal(reg_json_str("{\"s\":\"\\u00e9\"}", "s", out, sizeof(out)), -1);
	assert_int_equal(reg_json_str("{\"s\":\"0123456789012345678901234567890123456789\"}", "s", out, sizeof(out)), -1);
	assert_int_equal(reg_json_str("{\"s\":\"unterminated", "s", out, sizeof(out)), -1);
	assert_int_equal(reg_json_str("[\"s\",\"x\"]", "s", out, sizeof(out)), -1);
	assert_int_equal(reg_json_uint("{\"heartbeat_interval\": 60}", "heartbeat_interval", &u), 0);
	assert_int_equal(u, 60);
	assert_int_equal(reg_json_uint("{\"heartbeat_interval\":\"60\"}", "heartbeat_interval", &u), -1);
	assert_int_equal(reg_json_uint("{\"heartbeat_interval\":99999999999}", "heartbeat_interval", &u), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(server_url_per_host),
		cmocka_unit_test(conf_text_lines),
		cmocka_unit_test(nonce_is_fresh_hex),
		cmocka_unit_test(wait_on_a_real_store),
		cmocka_unit_test(finding_from_status),
		cmocka_unit_test(agent_json_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
