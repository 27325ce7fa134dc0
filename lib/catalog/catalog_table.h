/* catalog_table.h - private: the generated table behind catalog.c. */
#ifndef AP_CATALOG_TABLE_H
#define AP_CATALOG_TABLE_H

#include "agentpush/catalog.h"

/* Marks a string for xgettext without translating it where it stands. */
#define N_(s) s

extern const struct ap_catalog_entry ap_catalog_table[];
extern const size_t ap_catalog_table_size;

#endif
