/*
 * store_int.h - internals shared by the files of lib/store/.
 *
 * The schema lives in migrations.c as an ordered array of SQL scripts:
 * entry i takes a store from version i to version i + 1.  A released entry
 * is never edited; a change of schema is a new entry appended at the end
 * (and AP_STORE_SCHEMA_VERSION in store.h goes up by one).
 */
#ifndef AP_STORE_INT_H
#define AP_STORE_INT_H

#include <stddef.h>

/* ap_store_migrations[i] migrates version i to version i + 1. */
extern const char *const ap_store_migrations[];
extern const size_t ap_store_n_migrations;

#endif
