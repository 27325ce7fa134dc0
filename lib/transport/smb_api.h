/*
 * smb_api.h - private to lib/transport/: Samba's libsmbclient, loaded the
 * first time an SMB connection is opened, not when the program starts.
 *
 * Why: libsmbclient maps 112 shared libraries (Samba's own, GnuTLS,
 * Kerberos, LDAP...), 112 of the 136 the agentpush CLI would otherwise load
 * at every start.  Relocating and initialising them costs the controller
 * about 20 ms of CPU per run (bench/, docs/PERFORMANCE.md), which a run
 * over Linux hosts only does not need.  The types and prototypes still come
 * from <libsmbclient.h>; only the symbols are looked up at run time.
 *
 * Ownership: the table is process-wide, filled once (pthread_once) and never
 * freed; the library stays loaded until the process exits.
 */
#ifndef AP_TRANSPORT_SMB_API_H
#define AP_TRANSPORT_SMB_API_H

#include <stddef.h>

#include <libsmbclient.h>

struct ap_smbc_api {
#define AP_SMBC_FN(name) __typeof__(smbc_##name) *name;
#include "smb_api_list.h"
#undef AP_SMBC_FN
};

/*
 * Loads libsmbclient.so.0 and looks up every function the transport uses.
 * Returns the table, or NULL with a one-line reason in why[0..n) (the
 * library is missing, or a function is absent from it).  Thread-safe; the
 * work is done once per process, and a failure is remembered.
 */
const struct ap_smbc_api *ap_smbc_api(char *why, size_t n);

#endif
