/*
 * test_vault.c - the credential vault (vault.h) over a real job store:
 * round trip, a ciphertext moved to another row refused, tampering refused,
 * a wrong or missing key refused with nothing decrypted or changed, the
 * passphrase key, rekey, no core dump while a secret is held, and the
 * canary password absent from the store file and its WAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentpush/store.h"
#include "agentpush/vault.h"

#define CANARY "canary-Vx7-pw-4c1d"

struct fx {
	char dir[64];
	char db[128];
	char key[128];
	char pass[128];
	struct ap_ctx *ctx;
	struct ap_store *st;
	struct ap_vault *v;
};

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = NULL;

	unlink(path);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ap-vault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/jobs.db", f->dir);
	snprintf(f->pass, sizeof(f->pass), "%s/pass", f->dir);
	assert_non_null(f->ctx = ap_ctx_new());
	assert_int_equal(ap_vault_key_path(f->db, f->key, sizeof(f->key), f->ctx), AP_OK);
	assert_int_equal(ap_store_open(f->db, &f->st, f->ctx), AP_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "jobs.db", "jobs.db-wal", "jobs.db-shm", "vault.key",
	                        "vault.key.new", "pass", "other.key" };
	char p[200];
	size_t i;

	ap_vault_close(f->v);
	ap_store_close(f->st);
	ap_ctx_free(f->ctx);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct ap_secret *
secret(const char *text)
{
	struct ap_secret *s = NULL;

	assert_int_equal(ap_secret_new(strlen(text) + 1, &s, NULL), AP_OK);
	memcpy(s->data, text, strlen(text) + 1);
	s->len = strlen(text);
	return s;
}

static void
vault_open(struct fx *f, const char *pass, int flags)
{
	int r = ap_vault_open(f->st, f->key, pass, flags, &f->v, f->ctx);

	if (r != AP_OK)
		fail_msg("vault open: %s", ap_ctx_errmsg(f->ctx));
}

static void
add(struct fx *f, const char *name, const char *user, const char *pw)
{
	struct ap_secret *s = secret(pw);

	if (ap_vault_account_add(f->v, name, user, NULL, "linux", s, f->ctx) != AP_OK)
		fail_msg("add %s: %s", name, ap_ctx_errmsg(f->ctx));
	ap_secret_free(s);
}

/* The password of name, which must open. */
static void
expect_password(struct fx *f, const char *name, const char *pw)
{
	struct ap_vault_account a;

	if (ap_vault_account_open(f->v, name, &a, f->ctx) != AP_OK)
		fail_msg("open %s: %s", name, ap_ctx_errmsg(f->ctx));
	assert_string_equal(a.password->data, pw);
	assert_int_equal(a.password->len, strlen(pw));
	ap_vault_account_clear(&a);
}

/* name must not open (rc), and nothing is handed out. */
static void
expect_refused(struct fx *f, const char *name, int rc)
{
	struct ap_vault_account a;

	assert_int_equal(ap_vault_account_open(f->v, name, &a, f->ctx), rc);
	assert_null(a.password);
	assert_null(a.row.name);
	assert_null(strstr(ap_ctx_errmsg(f->ctx), CANARY));
}

static void
sql(struct fx *f, const char *text)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", text, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Whether the file at path holds needle. */
static int
file_has(const char *path, const char *needle)
{
	char *buf = NULL;
	size_t n = 0, cap = 0, k, len = strlen(needle);
	FILE *fp = fopen(path, "rb");
	int found = 0;

	if (fp == NULL)
		return 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			assert_non_null(buf = realloc(buf, cap));
		}
		if ((k = fread(buf + n, 1, cap - n, fp)) == 0)
			break;
		n += k;
	}
	fclose(fp);
	for (k = 0; k + len <= n && !found; k++)
		found = memcmp(buf + k, needle, len) == 0;
	free(buf);
	return found;
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct ap_account *list = NULL;
	struct ap_secret *s = NULL;
	struct stat sb;
	size_t n = 0;

	/* no key yet and no create: nothing is made */
	assert_int_equal(ap_vault_open(f->st, f->key, NULL, 0, &f->v, f->ctx), AP_ENOTFOUND);
	assert_int_equal(access(f->key, F_OK), -1);
	vault_open(f, NULL, AP_VAULT_CREATE);
	assert_int_equal(stat(f->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(ap_vault_key_version(f->v), 1);
	assert_string_equal(ap_vault_key_kind(f->v), "file");
	add(f, "web", "deploy", CANARY);
	s = secret("other");
	assert_int_equal(ap_vault_account_add(f->v, "web", "x", NULL, "linux", s, f->ctx), AP_ECONFLICT);
	assert_int_equal(ap_vault_account_add(f->v, "bad name", "x", NULL, "linux", s, f->ctx), AP_EINVAL);
	assert_int_equal(ap_vault_account_add(f->v, "-x", "x", NULL, "linux", s, f->ctx), AP_EINVAL);
	assert_int_equal(ap_vault_account_add(f->v, "ok", "x", NULL, "macos", s, f->ctx), AP_EINVAL);
	assert_int_equal(ap_vault_account_add(f->v, "dc", "Administrator", "CORP", "windows", s, f->ctx), AP_OK);
	ap_secret_free(s);
	expect_password(f, "web", CANARY);
	expect_password(f, "dc", "other");
	expect_refused(f, "nobody", AP_ENOTFOUND);

	/* again from a fresh open: the key file alone opens them */
	ap_vault_close(f->v);
	f->v = NULL;
	ap_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ap_store_open(f->db, &f->st, f->ctx), AP_OK);
	vault_open(f, NULL, 0);
	expect_password(f, "web", CANARY);

	/* passwd replaces it; a refusal is forgotten */
	assert_int_equal(ap_store_account_mark_rejected(f->st, 1, "198.18.0.9", f->ctx), AP_OK);
	s = secret("new-" CANARY);
	assert_int_equal(ap_vault_account_passwd(f->v, "web", s, f->ctx), AP_OK);
	ap_secret_free(s);
	expect_password(f, "web", "new-" CANARY);
	assert_int_equal(ap_store_accounts_list(f->st, &list, &n, f->ctx), AP_OK);
	assert_int_equal(n, 2);
	assert_null(list[1].rejected_at);
	ap_store_accounts_free(list, n);

	assert_int_equal(ap_vault_account_remove(f->v, "dc", f->ctx), AP_OK);
	expect_refused(f, "dc", AP_ENOTFOUND);

	/* the canary is nowhere in the store's files */
	ap_vault_close(f->v);
	f->v = NULL;
	assert_false(file_has(f->db, CANARY));
	{
		char wal[160];

		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		assert_false(file_has(wal, CANARY));
	}
	assert_false(file_has(f->key, CANARY));
}

/* The ciphertexts of two rows swapped: neither opens. */
static void
test_swap_refused(void **state)
{
	struct fx *f = *state;

	vault_open(f, NULL, AP_VAULT_CREATE);
	add(f, "a", "alice", "pw-a");
	add(f, "b", "bob", "pw-b");
	sql(f, "CREATE TEMP TABLE t AS SELECT name, nonce, secret FROM accounts;"
	       " UPDATE accounts SET nonce = (SELECT nonce FROM t WHERE t.name <> accounts.name),"
	       " secret = (SELECT secret FROM t WHERE t.name <> accounts.name);");
	expect_refused(f, "a", AP_EINVAL);
	expect_refused(f, "b", AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "account b does not open"));
	/* nothing changes with a row that does not open */
	{
		struct ap_secret *s = secret("pw-new");

		assert_int_equal(ap_vault_account_passwd(f->v, "a", s, f->ctx), AP_EINVAL);
		assert_int_equal(ap_vault_account_remove(f->v, "a", f->ctx), AP_EINVAL);
		assert_int_equal(ap_vault_rekey(f->v, NULL, f->ctx), AP_EINVAL);
		assert_int_equal(ap_vault_key_version(f->v), 1);
		ap_secret_free(s);
	}
	/* swapped back, both open again */
	sql(f, "CREATE TEMP TABLE t AS SELECT name, nonce, secret FROM accounts;"
	       " UPDATE accounts SET nonce = (SELECT nonce FROM t WHERE t.name <> accounts.name),"
	       " secret = (SELECT secret FROM t WHERE t.name <> accounts.name);");
	expect_password(f, "a", "pw-a");
	expect_password(f, "b", "pw-b");
	/* a row given another id (the ad binds it) does not open */
	sql(f, "UPDATE accounts SET id = 77 WHERE name = 'b';");
	expect_refused(f, "b", AP_EINVAL);
	/* nor one claiming another key version */
	sql(f, "UPDATE accounts SET key_version = 2 WHERE name = 'a';");
	expect_refused(f, "a", AP_EINVAL);
}

static void
test_tamper_refused(void **state)
{
	struct fx *f = *state;

	vault_open(f, NULL, AP_VAULT_CREATE);
	add(f, "a", "alice", CANARY);
	/* one hex digit of the ciphertext flipped */
	sql(f, "UPDATE accounts SET secret = substr(secret, 1, 10) ||"
	       " (CASE substr(secret, 11, 1) WHEN '0' THEN '1' ELSE '0' END) || substr(secret, 12);");
	expect_refused(f, "a", AP_EINVAL);
	add(f, "b", "bob", CANARY);
	sql(f, "UPDATE accounts SET nonce = substr(nonce, 2) || '0' WHERE name = 'b';");
	expect_refused(f, "b", AP_EINVAL);
	add(f, "c", "carol", CANARY);
	sql(f, "UPDATE accounts SET secret = 'zz' || substr(secret, 3) WHERE name = 'c';");
	expect_refused(f, "c", AP_EINVAL);
	add(f, "d", "dave", CANARY);
	sql(f, "UPDATE accounts SET secret = substr(secret, 1, 20) WHERE name = 'd';");
	expect_refused(f, "d", AP_EINVAL);
}

static void
test_wrong_key_refused(void **state)
{
	struct fx *f = *state;
	char other[160];

	vault_open(f, NULL, AP_VAULT_CREATE);
	add(f, "a", "alice", CANARY);
	ap_vault_close(f->v);
	f->v = NULL;

	/* another vault's key file, same version */
	snprintf(other, sizeof(other), "%s/other.key", f->dir);
	assert_int_equal(rename(f->key, other), 0);
	{
		struct ap_store *st2 = NULL;
		struct ap_vault *v2 = NULL;
		char db2[160];

		snprintf(db2, sizeof(db2), "%s/jobs2/jobs.db", f->dir);
		assert_int_equal(ap_store_open(db2, &st2, f->ctx), AP_OK);
		assert_int_equal(ap_vault_open(st2, f->key, NULL, AP_VAULT_CREATE, &v2, f->ctx), AP_OK);
		ap_vault_close(v2);
		ap_store_close(st2);
		unlink(db2);
		snprintf(db2, sizeof(db2), "%s/jobs2/jobs.db-wal", f->dir);
		unlink(db2);
		snprintf(db2, sizeof(db2), "%s/jobs2/jobs.db-shm", f->dir);
		unlink(db2);
		snprintf(db2, sizeof(db2), "%s/jobs2", f->dir);
		rmdir(db2);
	}
	assert_int_equal(ap_vault_open(f->st, f->key, NULL, AP_VAULT_CREATE, &f->v, f->ctx), AP_EINVAL);
	assert_null(f->v);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "is not the key of this job store"));

	/* missing: refused, and not made again even with create */
	unlink(f->key);
	assert_int_equal(ap_vault_open(f->st, f->key, NULL, AP_VAULT_CREATE, &f->v, f->ctx), AP_ENOTFOUND);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "is missing"));
	assert_int_equal(access(f->key, F_OK), -1);

	/* readable by others: refused */
	assert_int_equal(rename(other, f->key), 0);
	assert_int_equal(chmod(f->key, 0644), 0);
	assert_int_equal(ap_vault_open(f->st, f->key, NULL, 0, &f->v, f->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "chmod 600"));
	assert_int_equal(chmod(f->key, 0600), 0);

	/* not a key */
	rename(f->key, other);
	write_file(f->key, "hello\n", 0600);
	assert_int_equal(ap_vault_open(f->st, f->key, NULL, 0, &f->v, f->ctx), AP_EINVAL);
	rename(other, f->key);

	/* a passphrase for a key-file vault */
	write_file(f->pass, "whatever\n", 0600);
	assert_int_equal(ap_vault_open(f->st, f->key, f->pass, 0, &f->v, f->ctx), AP_EINVAL);

	vault_open(f, NULL, 0);
	expect_password(f, "a", CANARY);
}

static void
test_passphrase(void **state)
{
	struct fx *f = *state;
	struct ap_vault_key_row k;

	write_file(f->pass, "correct horse battery\n", 0600);
	vault_open(f, f->pass, AP_VAULT_CREATE);
	assert_string_equal(ap_vault_key_kind(f->v), "passphrase");
	assert_int_equal(access(f->key, F_OK), -1);   /* no key file */
	add(f, "a", "alice", CANARY);
	ap_vault_close(f->v);
	f->v = NULL;
	assert_int_equal(ap_store_vault_key_get(f->st, &k, f->ctx), AP_OK);
	assert_string_equal(k.kind, "passphrase");
	assert_non_null(k.salt);
	assert_true(k.opslimit > 0 && k.memlimit > 0);
	ap_vault_key_row_clear(&k);

	assert_int_equal(ap_vault_open(f->st, f->key, NULL, 0, &f->v, f->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "--vault-passphrase-file"));
	write_file(f->pass, "correct horse battery staple\n", 0600);
	assert_int_equal(ap_vault_open(f->st, f->key, f->pass, 0, &f->v, f->ctx), AP_EINVAL);
	assert_non_null(strstr(ap_ctx_errmsg(f->ctx), "wrong vault passphrase"));
	assert_null(f->v);
	write_file(f->pass, "correct horse battery\r\n", 0600);
	vault_open(f, f->pass, 0);
	expect_password(f, "a", CANARY);
}

static void
test_rekey(void **state)
{
	struct fx *f = *state;
	char next[160];
	struct stat sb1, sb2;

	vault_open(f, NULL, AP_VAULT_CREATE);
	add(f, "a", "alice", "pw-a");
	add(f, "b", "bob", CANARY);
	assert_int_equal(ap_store_account_mark_rejected(f->st, 2, "198.18.0.3", f->ctx), AP_OK);
	assert_int_equal(stat(f->key, &sb1), 0);
	assert_int_equal(ap_vault_rekey(f->v, NULL, f->ctx), AP_OK);
	assert_int_equal(ap_vault_key_version(f->v), 2);
	assert_int_equal(stat(f->key, &sb2), 0);
	assert_true(sb1.st_ino != sb2.st_ino);
	assert_int_equal(sb2.st_mode & 0777, 0600);
	snprintf(next, sizeof(next), "%s.new", f->key);
	assert_int_equal(access(next, F_OK), -1);
	expect_password(f, "a", "pw-a");
	expect_password(f, "b", CANARY);
	ap_vault_close(f->v);
	f->v = NULL;
	vault_open(f, NULL, 0);
	expect_password(f, "b", CANARY);
	{
		struct ap_vault_account a;

		assert_int_equal(ap_vault_account_open(f->v, "b", &a, f->ctx), AP_OK);
		assert_string_equal(a.row.rejected_by, "198.18.0.3");   /* kept */
		ap_vault_account_clear(&a);
	}

	/* a rekey cut short after the commit: the .new key is taken */
	assert_int_equal(ap_vault_rekey(f->v, NULL, f->ctx), AP_OK);
	ap_vault_close(f->v);
	f->v = NULL;
	assert_int_equal(rename(f->key, next), 0);
	write_file(f->key, "agentpush-vault-key 1 2 "
	           "0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
	vault_open(f, NULL, 0);
	assert_int_equal(ap_vault_key_version(f->v), 3);
	assert_int_equal(access(next, F_OK), -1);
	expect_password(f, "a", "pw-a");

	/* to a passphrase: the old key file goes */
	write_file(f->pass, "a passphrase\n", 0600);
	assert_int_equal(ap_vault_rekey(f->v, f->pass, f->ctx), AP_OK);
	assert_int_equal(access(f->key, F_OK), -1);
	ap_vault_close(f->v);
	f->v = NULL;
	vault_open(f, f->pass, 0);
	assert_int_equal(ap_vault_key_version(f->v), 4);
	expect_password(f, "b", CANARY);
	/* and back to a key file */
	assert_int_equal(ap_vault_rekey(f->v, NULL, f->ctx), AP_OK);
	ap_vault_close(f->v);
	f->v = NULL;
	vault_open(f, NULL, 0);
	expect_password(f, "a", "pw-a");
}

/* No core dump while a secret is held; restored after the last one. */
static void
test_no_core_dump(void **state)
{
	struct ap_secret *a = NULL, *b = NULL;
	struct rlimit rl, before;
	int dumpable;

	(void)state;
	dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &before), 0);
	a = secret("x");
	b = secret("y");
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	ap_secret_free(a);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	ap_secret_free(b);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, before.rlim_cur);
}

static void
test_secret_file(void **state)
{
	struct fx *f = *state;
	struct ap_secret *s = NULL;
	char big[AP_SECRET_MAX + 8];

	write_file(f->pass, "line one\nline two\n", 0600);
	assert_int_equal(ap_secret_read_file(f->pass, "password file", &s, f->ctx), AP_OK);
	assert_string_equal(s->data, "line one");
	ap_secret_free(s);
	write_file(f->pass, "\n", 0600);
	assert_int_equal(ap_secret_read_file(f->pass, "password file", &s, f->ctx), AP_EINVAL);
	assert_null(s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(f->pass, big, 0600);
	assert_int_equal(ap_secret_read_file(f->pass, "password file", &s, f->ctx), AP_EINVAL);
	assert_int_equal(ap_secret_read_file(f->dir, "password file", &s, f->ctx), AP_EINVAL);
	assert_int_equal(ap_secret_read_file("/nonexistent/x", "password file", &s, f->ctx), AP_EIO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
		cmocka_unit_test(test_no_core_dump),
		cmocka_unit_test_setup_teardown(test_secret_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
