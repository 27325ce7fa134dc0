/* test_target.c - [user@]host[:port] parsing, good and bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agentpush/target.h"

static void
good(const char *spec, const char *user, const char *host, int port)
{
	struct ap_target t;
	struct ap_ctx *ctx = ap_ctx_new();

	assert_int_equal(ap_target_parse(spec, &t, ctx), AP_OK);
	assert_string_equal(t.spec, spec);
	if (user == NULL)
		assert_null(t.user);
	else
		assert_string_equal(t.user, user);
	assert_string_equal(t.host, host);
	assert_int_equal(t.port, port);
	assert_int_equal(t.os, AP_OS_AUTO);
	ap_target_clear(&t);
	assert_null(t.host);
	ap_ctx_free(ctx);
}

/* Expects a failure whose message holds want. */
static void
bad(const char *spec, const char *want)
{
	struct ap_target t;
	struct ap_ctx *ctx = ap_ctx_new();

	assert_int_equal(ap_target_parse(spec, &t, ctx), AP_EINVAL);
	assert_null(t.host);
	assert_null(t.user);
	assert_null(t.spec);
	if (strstr(ap_ctx_errmsg(ctx), want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", spec, ap_ctx_errmsg(ctx), want);
	assert_null(strchr(ap_ctx_errmsg(ctx), '\n'));
	ap_ctx_free(ctx);
}

static void
test_good(void **state)
{
	good("198.18.1.2", NULL, "198.18.1.2", 0);
	good("root@198.18.1.2:22", "root", "198.18.1.2", 22);
	good("host.example.com:65535", NULL, "host.example.com", 65535);
	good("a:1", NULL, "a", 1);
	good("[2001:db8::1]", NULL, "2001:db8::1", 0);
	good("[2001:db8::1]:2222", NULL, "2001:db8::1", 2222);
	good("admin@[::1]:22", "admin", "::1", 22);
	good("2001:db8::1", NULL, "2001:db8::1", 0);
	good("[fe80::1%eth0]:22", NULL, "fe80::1%eth0", 22);
	good("admin@corp.example@win1", "admin@corp.example", "win1", 0);
	good("CORP\\admin@win1", "CORP\\admin", "win1", 0);
	good("under_score-host", NULL, "under_score-host", 0);
}

static void
test_bad(void **state)
{
	bad("", "empty");
	bad("h:0", "port '0'");
	bad("h:65536", "port '65536'");
	bad("h:abc", "port 'abc'");
	bad("h:", "port ''");
	bad("h:+22", "port");
	bad("h:-1", "port");
	bad("h:0022x", "port");
	bad("-host", "may not start with '-'");
	bad("root@-oProxyCommand=x", "may not start with '-'");
	bad("a b", "a space");
	bad("h;x", "';'");
	bad("x;rm", "host holds a character not allowed in a host name: ';'");
	bad("$(id)", "'$'");
	bad("`id`", "'`'");
	bad("h|x", "'|'");
	bad("h&", "'&'");
	bad("h>x", "'>'");
	bad("h\tx", "a tab");
	bad("h\nx", "control character 0x0a");
	bad("h\x1b[31m", "control character 0x1b");
	bad("user@", "host is empty");
	bad("@host", "user before '@' is empty");
	bad("ro ot@h", "user holds");
	bad("r;m@h", "user holds");
	bad("-u@h", "user may not start");
	bad("[::1", "closing ']'");
	bad("[::1]x", "only ':PORT'");
	bad("[::1]:0", "port");
	bad("[host]", "only for IPv6");
	bad("1:2:3", "not an IPv6 address");
	bad("h%x", "'%'");
	bad("h\xc3\xa9", "non-ASCII");
}

static void
test_message_escapes(void **state)
{
	struct ap_target t;
	struct ap_ctx *ctx = ap_ctx_new();

	assert_int_equal(ap_target_parse("a\nb", &t, ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "'a\\x0ab'"));
	ap_ctx_free(ctx);
}

static void
test_helpers(void **state)
{
	enum ap_os os;
	int port = 7;
	char buf[8];

	assert_true(ap_target_host_valid("198.18.0.1"));
	assert_true(ap_target_host_valid("::1"));
	assert_false(ap_target_host_valid("-x"));
	assert_false(ap_target_host_valid(""));
	assert_false(ap_target_host_valid(NULL));
	assert_int_equal(ap_os_parse("windows", &os), AP_OK);
	assert_int_equal(os, AP_OS_WINDOWS);
	assert_int_equal(ap_os_parse("Linux", &os), AP_EINVAL);
	assert_string_equal(ap_os_name(AP_OS_LINUX), "linux");
	assert_int_equal(ap_target_port_parse("65535", &port), AP_OK);
	assert_int_equal(port, 65535);
	assert_int_equal(ap_target_port_parse("123456", &port), AP_EINVAL);
	assert_int_equal(port, 65535);
	ap_target_quote("abcdefghijkl", buf, sizeof(buf));
	assert_true(strlen(buf) < sizeof(buf));
	ap_target_clear(NULL);
	ap_targets_free(NULL, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_message_escapes),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
