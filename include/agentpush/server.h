/*
 * server.h - the configuration server (`agentpush serve`) as a library.
 *
 * The server is the CLI's library behind HTTPS: it submits jobs to the same
 * engine, reads the same store, explains the same catalog.  Its files (TLS
 * key and certificate, the admin token, the registration passphrase) live in
 * one state folder, 0700, each file 0600.
 *
 * Ownership: strings passed in are borrowed for the call; output buffers
 * belong to the caller.
 */
#ifndef AGENTPUSH_SERVER_H
#define AGENTPUSH_SERVER_H

#include <stddef.h>

#include "agentpush/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default listen address of `agentpush serve`. */
#define AP_SERVER_DEFAULT_LISTEN "127.0.0.1:8443"

/*
 * The server's state folder: state_dir when it is not NULL, else the folder
 * that holds the job store file db_path (so the default store,
 * ~/.local/state/agentpush/jobs.db, puts them in ~/.local/state/agentpush).
 * The folder is created 0700 when missing.  Writes into buf.
 */
int ap_server_state_dir(const char *state_dir, const char *db_path, char *buf,
                        size_t size, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_SERVER_H */
