/* test_inventory.c - Ansible-style INI inventories: good ones, bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "agentpush/inventory.h"

static struct ap_target *tg;
static size_t ntg;

static int
parse(const char *text, struct ap_ctx *ctx)
{
	ap_targets_free(tg, ntg);
	tg = NULL;
	ntg = 0;
	return ap_inventory_parse("inv.ini", text, strlen(text), &tg, &ntg, ctx);
}

static const char *
var(const struct ap_target *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_vars; i++)
		if (strcmp(t->vars[i].key, key) == 0)
			return t->vars[i].value;
	return NULL;
}

static const struct ap_target *
find(const char *spec)
{
	size_t i;

	for (i = 0; i < ntg; i++)
		if (strcmp(tg[i].spec, spec) == 0)
			return &tg[i];
	fail_msg("no target '%s'", spec);
	return NULL;
}

static void
bad(const char *text, const char *want)
{
	struct ap_ctx *ctx = ap_ctx_new();

	assert_int_equal(parse(text, ctx), AP_EINVAL);
	assert_null(tg);
	assert_int_equal(ntg, 0);
	if (strstr(ap_ctx_errmsg(ctx), want) == NULL)
		fail_msg("message '%s' lacks '%s'", ap_ctx_errmsg(ctx), want);
	assert_null(strchr(ap_ctx_errmsg(ctx), '\n'));
	ap_ctx_free(ctx);
}

/* An Ansible inventory as people write them, used unchanged. */
static const char ansible_ini[] =
	"# production\n"
	"; another comment style\n"
	"mail.example.com\n"
	"\n"
	"[webservers]\n"
	"foo.example.com\n"
	"bar.example.com:2222   # inline comment\n"
	"www[01:03].example.com\n"
	"\n"
	"[dbservers]\n"
	"db-[a:c].example.com ansible_user=postgres\n"
	"jumper ansible_port=5555 ansible_host=198.18.1.50 foo=\"a b\" bar='c d'\n"
	"old ansible_ssh_host=198.18.1.51 ansible_ssh_port=2200 ansible_ssh_user=legacy\n"
	"foo.example.com\n"
	"\n"
	"[windows]\n"
	"win1 ansible_host=198.18.2.1\n"
	"\n"
	"[windows:vars]\n"
	"ansible_connection=winrm\n"
	"ansible_winrm_transport = ntlm\n"
	"ansible_user=\"Administrator\"\n"
	"\n"
	"[webservers:vars]\n"
	"ansible_user=deploy\n"
	"http_port=80\n"
	"\n"
	"[prod:children]\n"
	"webservers\n"
	"dbservers\n"
	"\n"
	"[prod:vars]\n"
	"ansible_user=produser\n"
	"ntp_server=ntp.example.com\n"
	"\n"
	"[all:vars]\n"
	"ansible_python_interpreter=/usr/bin/python3\n"
	"ntp_server=ntp.all.example.com\n";

static void
test_ansible_as_is(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	const struct ap_target *t;

	assert_int_equal(parse(ansible_ini, ctx), AP_OK);
	assert_int_equal(ntg, 1 + 5 + 5 + 1);
	/* Order is the order of first appearance. */
	assert_string_equal(tg[0].spec, "mail.example.com");
	assert_null(tg[0].group);
	assert_string_equal(tg[1].spec, "foo.example.com");
	assert_string_equal(tg[3].spec, "www01.example.com");
	assert_string_equal(tg[5].spec, "www03.example.com");

	t = find("bar.example.com:2222");
	assert_string_equal(t->host, "bar.example.com");
	assert_int_equal(t->port, 2222);
	assert_string_equal(t->group, "webservers");
	/* group vars beat parent group vars */
	assert_string_equal(t->user, "deploy");
	assert_string_equal(var(t, "http_port"), "80");
	assert_string_equal(var(t, "ntp_server"), "ntp.example.com");
	assert_string_equal(var(t, "ansible_python_interpreter"), "/usr/bin/python3");

	t = find("db-b.example.com");
	assert_string_equal(t->user, "postgres"); /* host var wins */
	assert_string_equal(t->group, "dbservers");

	t = find("jumper");
	assert_string_equal(t->host, "198.18.1.50");
	assert_int_equal(t->port, 5555);
	assert_string_equal(t->user, "produser");
	assert_string_equal(var(t, "foo"), "a b");
	assert_string_equal(var(t, "bar"), "c d");

	t = find("old");
	assert_string_equal(t->host, "198.18.1.51");
	assert_int_equal(t->port, 2200);
	assert_string_equal(t->user, "legacy");

	/* a host in two groups is one target, first group kept */
	t = find("foo.example.com");
	assert_string_equal(t->group, "webservers");

	t = find("win1");
	assert_int_equal(t->os, AP_OS_WINDOWS);
	assert_string_equal(t->user, "Administrator");
	assert_string_equal(var(t, "ansible_winrm_transport"), "ntlm");
	assert_int_equal(find("mail.example.com")->os, AP_OS_AUTO);
	ap_ctx_free(ctx);
}

static void
test_plain_list(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();

	assert_int_equal(parse("root@198.18.1.2:22 os=linux\r\n"
	                       "[2001:db8::1]:2222\n"
	                       "198.18.1.3 os=windows\n"
	                       "   \n"
	                       "198.18.1.4", ctx), AP_OK);
	assert_int_equal(ntg, 4);
	assert_string_equal(tg[0].user, "root");
	assert_int_equal(tg[0].os, AP_OS_LINUX);
	assert_string_equal(tg[1].host, "2001:db8::1");
	assert_int_equal(tg[1].port, 2222);
	assert_int_equal(tg[2].os, AP_OS_WINDOWS);
	assert_string_equal(tg[3].host, "198.18.1.4");
	assert_int_equal(parse("", ctx), AP_OK);
	assert_int_equal(ntg, 0);
	assert_int_equal(parse("# only comments\n[empty]\n", ctx), AP_OK);
	assert_int_equal(ntg, 0);
	/* same host, other port: another target */
	assert_int_equal(parse("h:22\nh:2222\n", ctx), AP_OK);
	assert_int_equal(ntg, 2);
	/* group vars before the group's hosts still apply */
	assert_int_equal(parse("[g:vars]\nos=windows\n[g]\nh\n", ctx), AP_OK);
	assert_int_equal(tg[0].os, AP_OS_WINDOWS);
	/* a cycle of children does not hang */
	assert_int_equal(parse("[a:children]\nb\n[b:children]\na\n[a]\nh\n", ctx), AP_OK);
	assert_int_equal(parse("[r]\nn[0:10:5]\n", ctx), AP_OK);
	assert_int_equal(ntg, 3);
	assert_string_equal(tg[2].spec, "n10");
	ap_ctx_free(ctx);
}

static void
test_errors(void **state)
{
	bad("h1\nh;x\n", "inventory inv.ini:2: target 'h;x': host holds a character not allowed in a host name: ';'");
	bad("a\nb\na\n", "inventory inv.ini:3: host 'a' is listed twice (lines 1 and 3)");
	bad("[g]\na\n\n[g]\na\n", "inventory inv.ini:5: host 'a' is listed twice (lines 2 and 5)");
	bad("[g]\na x=1\n[h]\na x=2\n", "inventory inv.ini:4: host 'a' is given two values of 'x' (lines 2 and 4)");
	bad("[web\nh\n", "inventory inv.ini:1: '[' without a closing ']'");
	bad("[g:hosts]\n", "inventory inv.ini:1: unknown section kind ':hosts'");
	bad("[]\n", ":1: group name is empty");
	bad("[g] junk\n", ":1: text after the closing ']'");
	bad("h notkv\n", ":1: expected KEY=VALUE after the host, got 'notkv'");
	bad("h =v\n", ":1: expected KEY=VALUE");
	bad("h k='open\n", ":1: a quote is not closed");
	bad("[g:vars]\nnoequals\n", ":2: expected KEY=VALUE in a :vars section");
	bad("[g:vars]\n=v\n", ":2: variable name before '=' is empty");
	bad("[g:children]\na b\n", ":2: expected one group name");
	bad("[g:children]\ng\n", "listed as its own child");
	bad("h os=mac\n", ":1: os 'mac' is not one of linux, windows, auto");
	bad("h ansible_port=0\n", ":1: ansible_port '0' is not a number from 1 to 65535");
	bad("[g:vars]\nansible_port=x\n[g]\nh\n", ":2: ansible_port 'x'");
	bad("h ansible_host=-evil\n", ":1: ansible_host '-evil' is not a valid host name");
	bad("h ansible_user=a;b\n", ":1: ansible_user 'a;b' is not an acceptable user name");
	bad("[w:vars]\nansible_winrm_transport=credssp\n[w]\nh\n",
	    ":2: ansible_winrm_transport 'credssp' is not one of basic, ntlm, kerberos");
	bad("h ansible_winrm_transport=ntlm,kerberos\n",
	    ":1: ansible_winrm_transport 'ntlm,kerberos' is not one of basic, ntlm, kerberos");
	bad("h:0\n", ":1: target 'h:0': port '0'");
	bad("-h\n", ":1: target '-h': host may not start with '-'");
	bad("n[5:1]\n", ":1: host range must go up");
	bad("n[0:999999]\n", ":1: host range expands to more than 65536 hosts");
	bad("n[0:9][0:9][0:9][0:9][0:9]\n", "expands to more than");
	{
		static const char nul[] = "a\nb\0c\n";
		struct ap_ctx *ctx = ap_ctx_new();

		assert_int_equal(ap_inventory_parse("x", nul, sizeof(nul) - 1, &tg, &ntg, ctx), AP_EINVAL);
		assert_non_null(strstr(ap_ctx_errmsg(ctx), "inventory x:2: holds a NUL byte"));
		ap_ctx_free(ctx);
	}
}

static void
test_file(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	char path[] = "/tmp/test_inventoryXXXXXX";
	FILE *f;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("[g]\nh1\nh2 x=1\n", f);
	fclose(f);
	ap_targets_free(tg, ntg);
	assert_int_equal(ap_inventory_load(path, &tg, &ntg, ctx), AP_OK);
	assert_int_equal(ntg, 2);
	ap_targets_free(tg, ntg);
	tg = NULL;
	ntg = 0;
	remove(path);
	assert_int_equal(ap_inventory_load(path, &tg, &ntg, ctx), AP_ENOTFOUND);
	assert_null(tg);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "cannot open"));
	assert_int_equal(ap_inventory_load("/tmp", &tg, &ntg, ctx), AP_EIO);
	assert_non_null(strstr(ap_ctx_errmsg(ctx), "not a regular file"));
	ap_ctx_free(ctx);
}

/* 50000 hosts in 500 groups must parse fast: the parser is linear. */
static void
test_large(void **state)
{
	struct ap_ctx *ctx = ap_ctx_new();
	size_t cap = 4 * 1024 * 1024, n = 0, i;
	char *buf = malloc(cap);
	struct timespec a, b;

	assert_non_null(buf);
	n += (size_t)snprintf(buf + n, cap - n, "[all:vars]\nansible_user=root\n");
	for (i = 0; i < 50000; i++) {
		if (i % 100 == 0)
			n += (size_t)snprintf(buf + n, cap - n, "[g%zu]\n", i / 100);
		n += (size_t)snprintf(buf + n, cap - n, "host%zu.example.com k=%zu\n", i, i);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	ap_targets_free(tg, ntg);
	assert_int_equal(ap_inventory_parse("big", buf, n, &tg, &ntg, ctx), AP_OK);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(ntg, 50000);
	assert_string_equal(tg[49999].user, "root");
	assert_true(b.tv_sec - a.tv_sec < 5);
	free(buf);
	ap_ctx_free(ctx);
}

static int
teardown(void **state)
{
	ap_targets_free(tg, ntg);
	tg = NULL;
	ntg = 0;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ansible_as_is, teardown),
		cmocka_unit_test_teardown(test_plain_list, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_file, teardown),
		cmocka_unit_test_teardown(test_large, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
