/*
 * hostjob.h - private to lib/engine/ and lib/pipeline/: the contract between the
 * engine and the per-host pipelines.
 *
 * The engine (engine.c) owns the worker pool, the per-host state machine, the
 * retry policy, the handshake cap and the job store.  A pipeline
 * (lib/pipeline/, called through its ops table, pipeline.h) does the
 * work of one host and tells the engine each time the host reaches a new
 * state with ap_hostjob_advance(); the engine records that durably before the
 * pipeline goes on.  A pipeline writes only into the result it was given, so
 * workers share nothing but the run, whose shared parts lock.
 *
 * Ownership: the engine owns struct ap_run and every struct ap_hostjob; a
 * pipeline borrows them for the duration of one call.
 */
#ifndef AP_ENGINE_HOSTJOB_H
#define AP_ENGINE_HOSTJOB_H

#include <pthread.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/run.h"
#include "agentpush/store.h"
#include "agentpush/target.h"
#include "credgate.h"

struct ap_package;
struct ap_linux_matrix;

struct ap_run {
	struct ap_run_opts *opts;
	struct ap_credgate *gate;
	struct ap_package *pkg;          /* install only; NULL for check */
	int install;                     /* 0: check (change nothing), 1: install */
	struct ap_linux_matrix *matrix;  /* support matrix, parsed once per run */
	void *ssh_key;                   /* opts->identity loaded once per run
	                                  * (ap_ssh_identity_load), shared by the
	                                  * workers; NULL: each host loads it */
	int max_attempts;

	/* Handshake cap: connects and logins in progress at once. */
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	int hs_busy;
	int hs_max;

	/* Serialises progress callbacks and store failures. */
	pthread_mutex_t lock;
	int store_rc;                    /* first store failure, or 0 */
	char store_msg[512];
};

struct ap_hostjob {
	struct ap_run *run;
	const struct ap_target *t;
	struct ap_result *res;
	size_t index;
	int64_t target_id;               /* 0 when the run has no store */
	int attempt;                     /* 1, 2, ... */
	enum ap_host_state state;        /* the furthest state recorded */
	enum ap_host_state reached;      /* the furthest state of this attempt:
	                                  * a resumed host walks again from
	                                  * PLANNED while state stays put */
	int attempts_unrecorded;         /* attempts the store has not counted
	                                  * yet: counted with the next record */
	enum ap_host_state deferred;     /* the last state reached but not
	                                  * recorded yet (engine.c
	                                  * deferrable()): recorded with every
	                                  * state before it and the next state
	                                  * that is; else PLANNED (none) */
	int handshake_held;
	int resumed;                     /* an earlier run may have left its
	                                    upload in the staging folder: walked
	                                    again by ap_run_resume(), or claimed
	                                    by a worker before (engine.c) */
	const struct ap_run_account *account; /* the vault account it logs in
	                                       * with, or NULL (run.h) */
	int lost;                        /* a worker's lease on it passed to
	                                  * another worker (run.h lease_owner):
	                                  * touch nothing more on the host */
};

/*
 * Records that the host reached state (if it is further than the furthest
 * state already recorded: a resumed host re-walks earlier states without
 * moving backwards), durably when the run has a store, then reports it to
 * the progress callback.  A state followed only by reading the host (an
 * install's CONNECTED and INSTALLED, a check job's CONNECTED and CHECKED)
 * is recorded later, in the same transaction as the next state that is
 * not.  Returns AP_OK, or the store's failure with its
 * reason on ctx: the pipeline must then stop, since it may not act on a
 * state it could not record.
 */
int ap_hostjob_advance(struct ap_hostjob *hj, enum ap_host_state state,
                       const char *note, struct ap_ctx *ctx);

/*
 * Whether the host was abandoned because its lease passed to another worker
 * (a record refused with AP_ECONFLICT under run.h's lease_owner).  A
 * pipeline then removes nothing from the host: the files in the staging
 * folder and register.conf may now be the new owner's.
 */
int ap_hostjob_lost(const struct ap_hostjob *hj);

/* Waits for a handshake slot; pair with ap_hostjob_handshake_end(). */
void ap_hostjob_handshake_begin(struct ap_hostjob *hj);
/* Releases the slot (no-op when not held). */
void ap_hostjob_handshake_end(struct ap_hostjob *hj);

/* The run's per-stage limit (--timeout), in milliseconds. */
int ap_hostjob_stage_timeout_ms(const struct ap_hostjob *hj);
/*
 * The install command's limit in milliseconds: the package's
 * install_timeout for os, never less than a stage's.
 */
int ap_hostjob_install_timeout_ms(const struct ap_hostjob *hj, enum ap_os os);

/* A target variable (inventory key=value), or NULL. */
const char *ap_hostjob_var(const struct ap_hostjob *hj, const char *key);

/*
 * The credentials of a host: its vault account's, else the run's.
 * ap_hostjob_user: the account's user, else the target's, --user, or dflt.
 * ap_hostjob_password: the account's password, else --password-file's.
 */
const char *ap_hostjob_user(const struct ap_hostjob *hj, const char *dflt);
const char *ap_hostjob_password(const struct ap_hostjob *hj);
/*
 * The credential gate's key for this host's login (no secret in it): the
 * account's name when it has one, else transport, user and method.
 */
void ap_hostjob_cred_key(const struct ap_hostjob *hj, const char *transport,
                         const char *user, const char *method, char *buf,
                         size_t size);
/*
 * Asks the credential gate for key (ap_credgate_acquire), and the job's
 * shared gate when workers share it.  0: offer it.  1: refused (rejected
 * earlier in this run, or the account marked refused by an earlier run);
 * the evidence for 800105 is in ev.  <0: the shared gate could not answer
 * (the store failed, or AP_ECANCELED: the run is stopping); the error is
 * on ctx, nothing was offered and the host must not be given an ErrorID
 * for it.
 */
int ap_hostjob_cred_acquire(struct ap_hostjob *hj, const char *key,
                            const char *user, char *ev, size_t size,
                            struct ap_ctx *ctx);
/* Reports the outcome to the gate; a refused account is also marked in
 * the store (best effort: the gate holds it for this run anyway). */
void ap_hostjob_cred_release(struct ap_hostjob *hj, const char *key,
                             enum ap_credgate_outcome outcome);

#endif
