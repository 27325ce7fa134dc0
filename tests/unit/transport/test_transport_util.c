/*
 * test_transport_util.c - the pure parts of the transports: connect errno to
 * ErrorID table, evidence texts, auth method lists, shell quoting, the
 * capped output buffer, the ops table and exec result release.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libssh/libssh.h>

#include "agentpush/ctx.h"
#include "agentpush/errors.h"
#include "agentpush/transport.h"
#include "transport_util.h"

static void
test_connect_map(void **state)
{
	static const struct {
		int err, id, rc;
	} cases[] = {
		{ ENETUNREACH,  AP_ERR_NETWORK_UNREACHABLE, AP_EREMOTE },
		{ ECONNREFUSED, AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
		{ EHOSTUNREACH, AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
		{ ETIMEDOUT,    AP_ERR_CONNECT_TIMEOUT,     AP_ETIMEOUT },
		{ EPERM,        AP_ERR_HOST_UNREACHABLE,    AP_EREMOTE },
		/* socket() out of descriptors: the controller, not the host */
		{ EMFILE,       AP_ERR_CONTROLLER_OUT_OF_RESOURCES, AP_EIO },
		{ ENFILE,       AP_ERR_CONTROLLER_OUT_OF_RESOURCES, AP_EIO },
		{ ENOBUFS,      AP_ERR_CONTROLLER_OUT_OF_RESOURCES, AP_EIO },
	};
	size_t i;
	int rc;

	(void)state;
	assert_int_equal(AP_ERR_NETWORK_UNREACHABLE, 95523);
	assert_int_equal(AP_ERR_HOST_UNREACHABLE, 95117);
	assert_int_equal(AP_ERR_CONNECT_TIMEOUT, 97118);
	assert_int_equal(AP_ERR_CONTROLLER_OUT_OF_RESOURCES, 800107);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = 0;
		assert_int_equal(ap_transport_connect_error_id(cases[i].err, &rc),
		                 cases[i].id);
		assert_int_equal(rc, cases[i].rc);
	}
	/* rc may be NULL */
	assert_int_equal(ap_transport_connect_error_id(ECONNREFUSED, NULL),
	                 AP_ERR_HOST_UNREACHABLE);
	/* the open() of known_hosts or of the payload */
	assert_int_equal(ap_transport_local_error_id(EMFILE),
	                 AP_ERR_CONTROLLER_OUT_OF_RESOURCES);
	assert_int_equal(ap_transport_local_error_id(ENFILE),
	                 AP_ERR_CONTROLLER_OUT_OF_RESOURCES);
	assert_int_equal(ap_transport_local_error_id(EACCES), 0);
	assert_int_equal(ap_transport_local_error_id(ENOENT), 0);
}

static void
test_connect_evidence(void **state)
{
	char b[128];

	(void)state;
	ap_transport_connect_evidence(b, sizeof(b), "198.18.1.2", 22,
	                              ECONNREFUSED, 5000);
	assert_string_equal(b, "connect to 198.18.1.2 port 22: Connection refused");
	ap_transport_connect_evidence(b, sizeof(b), "198.18.1.2", 22,
	                              ETIMEDOUT, 5000);
	assert_string_equal(b, "no answer from 198.18.1.2 port 22 within 5 s");
	ap_transport_connect_evidence(b, sizeof(b), "198.18.1.2", 2222,
	                              ETIMEDOUT, 1500);
	assert_string_equal(b, "no answer from 198.18.1.2 port 2222 within 1.5 s");
	ap_transport_connect_evidence(b, sizeof(b), "198.18.1.2", 22, EMFILE, 5000);
	assert_string_equal(b, "the controller cannot open a socket to 198.18.1.2 port 22: Too many open files");
	/* cut, never overflowed */
	ap_transport_connect_evidence(b, 10, "198.18.1.2", 22, ENETUNREACH, 0);
	assert_int_equal(strlen(b), 9);
}

static void
test_auth_methods(void **state)
{
	char b[128];

	(void)state;
	ap_transport_auth_methods_str(b, sizeof(b), 0);
	assert_string_equal(b, "none");
	ap_transport_auth_methods_str(b, sizeof(b), SSH_AUTH_METHOD_PUBLICKEY);
	assert_string_equal(b, "publickey");
	ap_transport_auth_methods_str(b, sizeof(b), SSH_AUTH_METHOD_PUBLICKEY |
	                              SSH_AUTH_METHOD_PASSWORD |
	                              SSH_AUTH_METHOD_INTERACTIVE);
	assert_string_equal(b, "publickey, password, keyboard-interactive");
	ap_transport_auth_methods_str(b, 12, SSH_AUTH_METHOD_PUBLICKEY |
	                              SSH_AUTH_METHOD_PASSWORD);
	assert_true(strlen(b) < 12);
}

static void
test_shell_quote(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "''" },
		{ "/opt/agent/x.part", "'/opt/agent/x.part'" },
		{ "a b", "'a b'" },
		{ "it's", "'it'\\''s'" },
		{ "$(rm -rf /);`x`", "'$(rm -rf /);`x`'" },
	};
	size_t i;
	char *q = NULL;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q = ap_transport_shell_quote(cases[i].in);
		assert_non_null(q);
		assert_string_equal(q, cases[i].out);
		free(q);
	}
}

static void
test_capbuf(void **state)
{
	struct ap_capbuf b;
	char chunk[1000];

	(void)state;
	memset(&b, 0, sizeof(b));
	memset(chunk, 'x', sizeof(chunk));
	b.cap = 2500;
	assert_int_equal(ap_capbuf_append(&b, "", 0), 0);
	assert_non_null(b.p);
	assert_string_equal(b.p, "");
	assert_int_equal(ap_capbuf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(ap_capbuf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.truncated, 0);
	assert_int_equal(ap_capbuf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 2500);
	assert_int_equal(b.truncated, 1);
	assert_int_equal(b.p[2500], '\0');
	/* past the cap: counted as dropped, nothing grows */
	assert_int_equal(ap_capbuf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 2500);
	assert_true(b.alloc <= b.cap + 1);
	ap_capbuf_clear(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	ap_capbuf_clear(NULL);
}

static void
test_secs(void **state)
{
	char b[32];

	(void)state;
	ap_transport_secs_str(b, sizeof(b), 120000);
	assert_string_equal(b, "120 s");
	ap_transport_secs_str(b, sizeof(b), 2500);
	assert_string_equal(b, "2.5 s");
}

static void
test_ops_and_result(void **state)
{
	struct ap_exec_result r;
	struct ap_conn *c = NULL;
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_conn_opts o;

	(void)state;
	assert_string_equal(ap_transport_ssh.name, "ssh");
	assert_non_null(ap_transport_ssh.open);
	assert_non_null(ap_transport_ssh.exec);
	assert_non_null(ap_transport_ssh.put);
	assert_non_null(ap_transport_ssh.close);
	assert_non_null(ap_transport_ssh.rename);
	assert_non_null(ap_transport_ssh.probe_transfer);
	assert_non_null(ap_transport_ssh.free_space);
	ap_transport_ssh.close(NULL);

	/* bad input is refused before any network use */
	memset(&o, 0, sizeof(o));
	assert_int_equal(ap_transport_ssh.open(&o, &c, ctx), AP_EINVAL);
	assert_null(c);
	o.host = "198.18.0.2";
	o.port = 70000;
	assert_int_equal(ap_transport_ssh.open(&o, &c, ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "70000"));
	assert_null(c);

	memset(&r, 0, sizeof(r));
	r.out = strdup("x");
	r.err = strdup("y");
	r.out_len = r.err_len = 1;
	ap_exec_result_clear(&r);
	assert_null(r.out);
	assert_null(r.err);
	assert_int_equal(r.exit_status, -1);
	ap_exec_result_clear(NULL);
	ap_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_map),
		cmocka_unit_test(test_connect_evidence),
		cmocka_unit_test(test_auth_methods),
		cmocka_unit_test(test_shell_quote),
		cmocka_unit_test(test_capbuf),
		cmocka_unit_test(test_secs),
		cmocka_unit_test(test_ops_and_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
