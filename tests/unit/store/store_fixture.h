/*
 * store_fixture.h - a fresh, empty store for one test, on the backend the
 * test run names: a new SQLite file under /tmp by default, or the
 * location in AP_TEST_STORE (a postgresql:// URI of a private database,
 * emptied first) so that the same tests run against both backends.
 */
#ifndef AP_TEST_STORE_FIXTURE_H
#define AP_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store_fixture {
	char dir[64];           /* SQLite: the temporary folder, else "" */
	char location[512];     /* what ap_store_open() gets */
};

/* 0 on success. */
static int
store_fixture_new(struct store_fixture *sf)
{
	const char *env = getenv("AP_TEST_STORE");

	memset(sf, 0, sizeof(*sf));
	if (env == NULL || env[0] == '\0') {
		snprintf(sf->dir, sizeof(sf->dir), "/tmp/ap-store-XXXXXX");
		if (mkdtemp(sf->dir) == NULL)
			return -1;
		snprintf(sf->location, sizeof(sf->location), "%s/jobs.db", sf->dir);
		return 0;
	}
	/* PostgreSQL: the database of a private server (tests/lib/pg.sh),
	 * emptied.  The URI holds no password (trust on a Unix socket). */
	if (strncmp(env, "postgresql://", 13) != 0 ||
	    strchr(env, '\'') != NULL || strlen(env) + 1 > sizeof(sf->location))
		return -1;
	snprintf(sf->location, sizeof(sf->location), "%s", env);
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
		         "psql -X -q -v ON_ERROR_STOP=1 -d '%s' -c 'DROP SCHEMA public CASCADE'"
		         " -c 'CREATE SCHEMA public' >/dev/null 2>&1", env);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static void
store_fixture_free(struct store_fixture *sf)
{
	char p[128];

	if (sf->dir[0] == '\0')
		return;
	snprintf(p, sizeof(p), "%s/jobs.db-wal", sf->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/jobs.db-shm", sf->dir);
	unlink(p);
	unlink(sf->location);
	rmdir(sf->dir);
}

#endif
