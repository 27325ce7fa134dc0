/*
 * linux_int.h - private to lib/linux: the compiled-in support matrix text and
 * helpers shared by facts.c, matrix.c and rules.c.
 */
#ifndef AP_LINUX_INT_H
#define AP_LINUX_INT_H

#include <stddef.h>

#include "agentpush/linux.h"

/* data/support-matrix.json, generated into the build (embed.py). */
const char *ap_linux_matrix_json(void);

/*
 * The distribution id and version of f: os-release ID/VERSION_ID, or, when
 * there is no os-release, what /etc/redhat-release or /etc/SuSE-release says
 * ("CentOS release 5.1 (Final)" gives "centos" and "5.1").  Writes into
 * id[nid] and ver[nver]; returns 0 when found, -1 when nothing identifies the
 * OS (both are then "").
 */
int ap_linux_os_ident(const struct ap_linux_facts *f, char *id, size_t nid,
                      char *ver, size_t nver);

/*
 * Compares dotted versions numerically ("5.11" > "5.2").  With prefix set,
 * only as many components as b has are compared, so "12.5" is within a
 * maximum of "12".  Returns <0, 0 or >0.
 */
int ap_linux_vercmp(const char *a, const char *b, int prefix);

#endif /* AP_LINUX_INT_H */
