/*
 * store.h - the durable job store: every job, every target's state and
 * findings, and an event log, behind one interface.
 *
 * All SQL lives behind this interface, once (lib/store/store.c), over two
 * drivers: SQLite (the default: one file, WAL, every transition committed
 * before the engine acts on it) and PostgreSQL (libpq), which several
 * workers on several machines share.  ap_store_open() picks the driver from
 * the location: "postgresql://..." or "postgres://..." is a server, anything
 * else a file path.  Callers never see a statement, a row id type other
 * than int64_t, or a connection.  With PostgreSQL, a call that loses the
 * connection fails with AP_EIO ("connection lost: ...", the URI without
 * its password) and the next call reconnects, with a capped backoff.
 *
 * Durability: a call that records a transition returns only after the
 * transaction is committed, so a controller killed at any moment (SIGKILL)
 * loses at most the transition it was about to record.  The engine always
 * records a state BEFORE it starts the work of the next one (write-ahead),
 * which is what lets `agentpush resume` decide safely what to redo.
 *
 * Secrets: the store never receives a password.  Options are stored as the
 * JSON the caller gives, and the caller leaves secrets out.
 *
 * Threads: a store handle may be used from several threads at once; the
 * backend serialises its own access.
 *
 * Schema: versioned from the first version on; ap_store_open() applies every
 * missing migration in one transaction each, and refuses a file whose
 * version is newer than this build knows.
 *
 * Ownership: ap_store_open() returns a handle freed with ap_store_close()
 * (NULL is fine).  Structs filled by the store own their strings; free them
 * with the matching *_clear() function.  Strings passed in are copied.
 */
#ifndef AGENTPUSH_STORE_H
#define AGENTPUSH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Schema version this build writes. */
#define AP_STORE_SCHEMA_VERSION 4

enum ap_job_kind {
	AP_JOB_CHECK = 0,
	AP_JOB_INSTALL
};

enum ap_job_status {
	AP_JOB_RUNNING = 0,  /* created, or interrupted: resume carries it on */
	AP_JOB_DONE          /* every target reached a terminal state */
};

/*
 * A target's state.  The engine moves a target forward only; FAILED and
 * SKIPPED can be entered from any non-terminal state.  Terminal: DONE,
 * FAILED, SKIPPED.  See lib/engine/engine.c for the full diagram.
 */
enum ap_host_state {
	AP_HOST_PLANNED = 0,  /* in the job, nothing done yet */
	AP_HOST_CONNECTED,    /* logged in */
	AP_HOST_CHECKED,      /* probe and rules ran; no error */
	AP_HOST_COPIED,       /* payload uploaded and its sha256 verified */
	AP_HOST_INSTALLED,    /* the installer ran and its exit code was ok */
	AP_HOST_DONE,         /* check: checked; install: verify passed */
	AP_HOST_FAILED,       /* stopped by an error finding */
	AP_HOST_SKIPPED,      /* not attempted (e.g. credential blocked) */
	AP_HOST_STATE_COUNT_
};

struct ap_store;

struct ap_job_info {
	int64_t id;
	enum ap_job_kind kind;
	enum ap_job_status status;
	char *created;        /* UTC, ISO 8601 */
	char *updated;
	char *package;        /* package path, or NULL for check */
	char *package_version;
	char *options_json;   /* as given to ap_store_job_create() */
	int cancelled;        /* 1 once a cancel was requested (schema 2) */
	size_t n_targets;
	size_t n_state[AP_HOST_STATE_COUNT_]; /* targets per state */
};

struct ap_job_target {
	int64_t id;
	size_t index;         /* position in the job, from 0 */
	struct ap_target target;
	enum ap_host_state state;
	int attempts;         /* how many times the engine started this host;
	                       * an attempt is counted with its first record
	                       * (the upload's end, or the host's), so one a
	                       * kill cut short before that is not */
	int64_t lease_gen;    /* how many times a worker claimed it
	                       * (ap_store_claim); 0 without workers */
};

struct ap_job_event {
	int64_t id;
	int64_t target_id;    /* 0 for a job-level event */
	char *at;             /* UTC, ISO 8601 with milliseconds */
	char *what;           /* "state", "finding", "note", "resume" */
	char *detail;         /* e.g. "planned -> connected" */
};

/* Opens (creating, with its parent folders) and migrates the store at path,
 * a SQLite file path or a postgresql:// URI (the database must exist). */
int ap_store_open(const char *path, struct ap_store **out, struct ap_ctx *ctx);
void ap_store_close(struct ap_store *st);
/* The store's location for messages: the path, or the URI without its
 * password or query string.  Owned by the handle. */
const char *ap_store_location(const struct ap_store *st);
/* The same for a location not opened (yet): malloc'd, NULL when out of
 * memory.  What a program prints instead of --db. */
char *ap_store_location_for(const char *location);
/* The schema version of the open file (after migration). */
int ap_store_schema_version(struct ap_store *st);

/*
 * Creates a job with its targets in one transaction, all PLANNED.  On
 * success *job_id is set and target_ids (n entries, may be NULL) receive the
 * targets' ids in order.
 */
int ap_store_job_create(struct ap_store *st, enum ap_job_kind kind,
                        const char *package, const char *package_version,
                        const char *options_json,
                        const struct ap_target *targets, size_t n,
                        int64_t *job_id, int64_t *target_ids,
                        struct ap_ctx *ctx);

/*
 * Records that a target moved to state (with an event "from -> to" and an
 * optional one-line note), committed durably before returning.  A move
 * backwards is refused with AP_EINTERNAL (the engine never does that).
 */
int ap_store_target_set_state(struct ap_store *st, int64_t target_id,
                              enum ap_host_state state, const char *note,
                              struct ap_ctx *ctx);
/* Counts one more attempt of the target (engine start or retry). */
int ap_store_target_attempt(struct ap_store *st, int64_t target_id,
                            struct ap_ctx *ctx);
/* Replaces the target's findings and note with those of res. */
int ap_store_target_set_result(struct ap_store *st, int64_t target_id,
                               const struct ap_result *res, struct ap_ctx *ctx);
/*
 * Several of the above in one transaction, committed durably before
 * returning (one fsync instead of one each): counts `attempts` more
 * attempts, replaces the findings and note with res's when res is not NULL,
 * then moves the target through states[0..n_states) in order, each with its
 * event (note on the last).  All or nothing: a refused move records none of
 * it.  The three calls above are this with one part each.
 */
int ap_store_target_record(struct ap_store *st, int64_t target_id, int attempts,
                           const struct ap_result *res,
                           const enum ap_host_state *states, size_t n_states,
                           const char *note, struct ap_ctx *ctx);
/* Appends a free event (what: short word; detail: one line, no secret). */
int ap_store_event(struct ap_store *st, int64_t job_id, int64_t target_id,
                   const char *what, const char *detail, struct ap_ctx *ctx);
/* Marks the job done (or running again, for resume). */
int ap_store_job_set_status(struct ap_store *st, int64_t job_id,
                            enum ap_job_status status, struct ap_ctx *ctx);

/*
 * Lists jobs, newest first, at most limit (0: all).  *out is a malloc'd
 * array of *n entries; free with ap_store_jobs_free().
 */
int ap_store_jobs_list(struct ap_store *st, size_t limit,
                       struct ap_job_info **out, size_t *n,
                       struct ap_ctx *ctx);
void ap_store_jobs_free(struct ap_job_info *jobs, size_t n);

/* Loads one job; AP_ENOTFOUND when there is none with that id. */
int ap_store_job_get(struct ap_store *st, int64_t job_id,
                     struct ap_job_info *out, struct ap_ctx *ctx);
void ap_job_info_clear(struct ap_job_info *job);

/* The job's targets in index order; free with ap_store_targets_free(). */
int ap_store_job_targets(struct ap_store *st, int64_t job_id,
                         struct ap_job_target **out, size_t *n,
                         struct ap_ctx *ctx);
void ap_store_targets_free(struct ap_job_target *t, size_t n);

/*
 * Rebuilds the job's report (one result per target, in index order, with the
 * stored findings and notes) into report, which must be empty.
 */
int ap_store_job_report(struct ap_store *st, int64_t job_id,
                        struct ap_report *report, struct ap_ctx *ctx);
/*
 * The same two, of the targets whose ids are ids[0..n_ids) only (a
 * worker's claims; ids not of this job are left out), in index order: what
 * they cost follows n_ids, not the size of the job.  targets_in is one
 * statement and does not ask whether the job exists: a job that does not
 * has no targets.
 */
int ap_store_job_targets_in(struct ap_store *st, int64_t job_id,
                            const int64_t *ids, size_t n_ids,
                            struct ap_job_target **out, size_t *n,
                            struct ap_ctx *ctx);
int ap_store_job_report_in(struct ap_store *st, int64_t job_id,
                           const int64_t *ids, size_t n_ids,
                           struct ap_report *report, struct ap_ctx *ctx);

/* The job's events in order (target_id 0: all); free with _events_free(). */
int ap_store_job_events(struct ap_store *st, int64_t job_id, int64_t target_id,
                        struct ap_job_event **out, size_t *n,
                        struct ap_ctx *ctx);
void ap_store_events_free(struct ap_job_event *ev, size_t n);

/* ---- Job control (schema 2) ------------------------------------------------
 *
 * A cancel request is durable: it is recorded on the job (with an event
 * "cancel"), so whichever process runs the job (this one, a server, a later
 * worker) sees it, and a job cancelled before a crash stays cancelled.  The
 * engine starts no new host of a cancelled job (they end SKIPPED with the
 * note "cancelled"); a host already in flight finishes its current pipeline,
 * so no host is left half-installed.
 */
int ap_store_job_cancel(struct ap_store *st, int64_t job_id, struct ap_ctx *ctx);
/* 1 when a cancel was requested, 0 when not, negative on error.  A 0 may
 * be up to a second old: the handle asks the database at most once a
 * second per job (the engine asks before every host).  On PostgreSQL it
 * asks again only once a notice came in (a cancel sends one, seen within
 * milliseconds), or after 10 s. */
int ap_store_job_cancelled(struct ap_store *st, int64_t job_id, struct ap_ctx *ctx);

/*
 * Events with id > after_id (0: from the start), at most limit (0: all), in
 * id order; for live streams (the server's Server-Sent Events read the store,
 * not a process's memory, so a job run by any process can be followed).
 * Free with ap_store_events_free().
 */
int ap_store_job_events_after(struct ap_store *st, int64_t job_id,
                              int64_t after_id, size_t limit,
                              struct ap_job_event **out, size_t *n,
                              struct ap_ctx *ctx);

/* ---- Server secrets (schema 2) ---------------------------------------------
 *
 * Named verifier strings of the configuration server: "admin_token" (a
 * BLAKE2b hash of the API token, hex) and "registration_passphrase" (a
 * libsodium crypto_pwhash_str Argon2id string).  The store only ever holds
 * what the caller gives, which is never a cleartext secret.
 * ap_store_secret_get: AP_ENOTFOUND when the name is not set; *value is
 * malloc'd (caller frees).  ap_store_secret_put replaces.
 */
int ap_store_secret_get(struct ap_store *st, const char *name, char **value,
                        struct ap_ctx *ctx);
int ap_store_secret_put(struct ap_store *st, const char *name,
                        const char *value, struct ap_ctx *ctx);

/* ---- Agents (schema 2) -----------------------------------------------------
 *
 * An agent that registered with the configuration server.  uid is the
 * public agent id ("ag-" + 16 hex digits); secret_hash is the BLAKE2b hex
 * of its per-agent secret (the secret itself is only ever with the agent).
 * enrollment is the one-time nonce the install handed the agent, by which
 * the install that started it recognises the registration.  Times are
 * UTC ISO 8601 text (milliseconds).  "stale" is not stored: callers derive
 * it from last_heartbeat and heartbeat_s (3 missed beats).
 */
struct ap_agent {
	int64_t id;
	char *uid;
	char *machine_id;
	char *hostname;
	char *os;
	char *kernel;
	char *version;          /* agent version, last reported */
	char *health;           /* last reported health word ("ok", ...) */
	char *address;          /* source address of the last contact */
	char *enrollment;       /* nonce from the install, or NULL */
	char *secret_hash;
	char *registered;       /* when it registered */
	char *last_heartbeat;   /* NULL until the first heartbeat */
	int heartbeat_s;        /* interval agreed at registration */
};
void ap_agent_clear(struct ap_agent *a);

/*
 * Records a registration (all fields of a but id, registered and
 * last_heartbeat, which the store sets).  An agent with the same
 * machine_id is replaced (a reinstalled host keeps one row); *id_out gets
 * the row id.
 */
int ap_store_agent_register(struct ap_store *st, const struct ap_agent *a,
                            int64_t *id_out, struct ap_ctx *ctx);
/*
 * Records heartbeats: each of the n (uid, at, version, health, address)
 * updates in one transaction (the server batches the beats that arrived in
 * the last second into one commit).  Unknown uids are ignored.
 */
struct ap_agent_beat {
	const char *uid;
	const char *at;         /* UTC ISO 8601 */
	const char *version;
	const char *health;
	const char *address;
};
int ap_store_agent_beats(struct ap_store *st, const struct ap_agent_beat *beats,
                         size_t n, struct ap_ctx *ctx);
/* One agent by uid; AP_ENOTFOUND when none. */
int ap_store_agent_get(struct ap_store *st, const char *uid,
                       struct ap_agent *out, struct ap_ctx *ctx);
/* One agent by enrollment nonce (the install waiting for it); AP_ENOTFOUND. */
int ap_store_agent_by_enrollment(struct ap_store *st, const char *enrollment,
                                 struct ap_agent *out, struct ap_ctx *ctx);
/* All agents ordered by hostname; free with ap_store_agents_free(). */
int ap_store_agents_list(struct ap_store *st, struct ap_agent **out, size_t *n,
                         struct ap_ctx *ctx);
void ap_store_agents_free(struct ap_agent *a, size_t n);
/* Forgets an agent (its secret stops working); AP_ENOTFOUND when none. */
int ap_store_agent_forget(struct ap_store *st, const char *uid, struct ap_ctx *ctx);

/* ---- Credential vault (schema 3) -------------------------------------------
 *
 * The store keeps what lib/vault/ (vault.h) seals and never a key or a
 * cleartext: a key version's check value and, for a passphrase, its Argon2id
 * salt and limits; an account's user, domain and kind in clear, its
 * password as nonce and ciphertext (hex), sealed with the key of
 * key_version.  rejected_at/rejected_by: when and by which host the password
 * was refused (the lockout rule), until the password is changed.
 */
struct ap_vault_key_row {
	int version;            /* 1, 2, ...: the newest is the current key */
	char *kind;             /* "file" or "passphrase" */
	char *salt;             /* hex, passphrase only, else NULL */
	int64_t opslimit;       /* Argon2id limits, passphrase only, else 0 */
	int64_t memlimit;
	char *key_check;        /* hex: nonce and AEAD of nothing */
	char *created;          /* set by the store */
};
void ap_vault_key_row_clear(struct ap_vault_key_row *k);

struct ap_account {
	int64_t id;
	char *name;
	char *user;
	char *domain;           /* NULL: none */
	char *kind;             /* "linux" or "windows" */
	int key_version;
	char *nonce;            /* hex */
	char *secret;           /* hex ciphertext */
	char *created;          /* set by the store */
	char *updated;
	char *rejected_at;      /* NULL unless a host refused the password */
	char *rejected_by;
};
void ap_account_clear(struct ap_account *a);
void ap_store_accounts_free(struct ap_account *a, size_t n);

/* The newest key row; AP_ENOTFOUND when the vault has no key yet. */
int ap_store_vault_key_get(struct ap_store *st, struct ap_vault_key_row *out,
                           struct ap_ctx *ctx);
/* Records the first key (version 1); AP_ECONFLICT when one exists already
 * (another process made it first). */
int ap_store_vault_key_init(struct ap_store *st, const struct ap_vault_key_row *k,
                            struct ap_ctx *ctx);

/*
 * Seals an account's secret once its row id is known (the sealing binds
 * the id): sets *nonce and *secret to malloc'd hex strings the store frees.
 */
typedef int (*ap_store_seal_fn)(void *ud, int64_t account_id, char **nonce,
                                char **secret, struct ap_ctx *ctx);
/*
 * Adds account a (name, user, domain, kind, key_version; the rest is
 * ignored) and its secret from seal, in one transaction.  AP_ECONFLICT when
 * the name is taken.  *id_out (may be NULL) gets the row id.
 */
int ap_store_account_add(struct ap_store *st, const struct ap_account *a,
                         ap_store_seal_fn seal, void *ud, int64_t *id_out,
                         struct ap_ctx *ctx);
/* One account by name; AP_ENOTFOUND when none.  Clear with ap_account_clear(). */
int ap_store_account_get(struct ap_store *st, const char *name,
                         struct ap_account *out, struct ap_ctx *ctx);
/* Every account by name; free with ap_store_accounts_free(). */
int ap_store_accounts_list(struct ap_store *st, struct ap_account **out,
                           size_t *n, struct ap_ctx *ctx);
/* Replaces the secret of account id (and forgets a refusal). */
int ap_store_account_set_secret(struct ap_store *st, int64_t id, int key_version,
                                const char *nonce, const char *secret,
                                struct ap_ctx *ctx);
/* Removes account name; AP_ENOTFOUND when none. */
int ap_store_account_remove(struct ap_store *st, const char *name,
                            struct ap_ctx *ctx);
/* Records that host refused the password of account id, now (the first
 * refusal is kept until the password changes). */
int ap_store_account_mark_rejected(struct ap_store *st, int64_t id,
                                   const char *host, struct ap_ctx *ctx);
/*
 * A new key: records key row k (its version must be the next one) and every
 * account of accounts[0..n) sealed with it (id, key_version, nonce,
 * secret), in one transaction.  AP_ECONFLICT when the newest key is not
 * k->version - 1 or the accounts changed meanwhile (not n of them).
 */
int ap_store_vault_rekey(struct ap_store *st, const struct ap_vault_key_row *k,
                         const struct ap_account *accounts, size_t n,
                         struct ap_ctx *ctx);

/* ---- Workers: leases, fencing, a shared credential gate (schema 4) --------
 *
 * Several `agentpush worker` processes, on one machine or several, share
 * one store and split the targets of RUNNING jobs between them.  A worker
 * claims targets under a lease (an owner string unique to the worker, and
 * a deadline), renews the lease while it works, and gives it up when done.
 * A worker that dies or loses the database stops renewing; once its
 * lease_until has passed any other worker may claim the target, and the
 * dead one's writes are refused (fencing) from the moment the target has a
 * new owner.  Every deadline is computed and compared with the DATABASE's
 * clock (never the caller's), so workers whose clocks disagree still agree
 * on who holds what.  A submitted job is RUNNING with every target PLANNED
 * and no lease: the first claim starts it.
 */

/* A target a worker claimed (ap_store_claim); free with ap_store_claims_free. */
struct ap_claim {
	int64_t job_id;
	int64_t target_id;
	enum ap_host_state state;   /* its state when claimed: PLANNED, or further
	                             * when a dead or lost worker left it */
	int64_t lease_gen;          /* increments on every claim of this target */
};

/*
 * Claims up to max non-terminal targets of RUNNING jobs whose lease is free
 * (no owner) or expired, oldest job first, then target id: sets their
 * owner, lease_until = now + lease_ms and lease_gen + 1, in one statement.
 * *out (malloc'd, *n entries; NULL when *n is 0) is in (job, target) order.
 * Targets of cancelled jobs are claimed too (the worker skips them).
 */
int ap_store_claim(struct ap_store *st, const char *owner, int lease_ms, size_t max,
                   struct ap_claim **out, size_t *n, struct ap_ctx *ctx);
/* The same, among the targets of job_id only (a worker refilling its
 * share of that job, run.h refill), and never one whose expired lease is
 * owner's own: that host is still in owner's run (walked, or waiting for
 * a thread), and a second walk of it beside the first would clean the
 * first's upload away (a worker paused past its leases, then refilling
 * before its renewer ran, did that).  job_id 0: any job, as above. */
int ap_store_claim_job(struct ap_store *st, const char *owner, int lease_ms,
                       int64_t job_id, size_t max, struct ap_claim **out,
                       size_t *n, struct ap_ctx *ctx);
void ap_store_claims_free(struct ap_claim *c, size_t n);
/*
 * Extends by lease_ms (from now) the lease of each of target_ids[0..n)
 * still owned by owner, in one statement: held[i] = 1 when it still was
 * (renewed; an expired lease nobody took is still ours), 0 when it was lost
 * (taken by another worker, or released).  The statement covers the range
 * of the ids: a lease owner holds on an id in between that is not in the
 * list is renewed too (a worker renews all it holds at once).
 */
int ap_store_lease_renew(struct ap_store *st, const char *owner, int lease_ms,
                         const int64_t *target_ids, size_t n, int *held,
                         struct ap_ctx *ctx);
/* Gives the leases of target_ids[0..n) up (no owner) where owner still
 * holds them, in one transaction; not holding one is not an error. */
int ap_store_lease_release(struct ap_store *st, const char *owner,
                           const int64_t *target_ids, size_t n,
                           struct ap_ctx *ctx);
/*
 * Fencing.  Once an owner is set on a handle (a worker sets its unique
 * owner string), every write that touches one target (set_state, attempt,
 * set_result, record, and event with a target) succeeds only while that
 * target's lease owner equals owner; otherwise it changes nothing and
 * fails with AP_ECONFLICT and a message naming the target and the new
 * owner.  NULL (the default) = no fencing, as for the CLI's in-process
 * runs.  The string is copied.
 */
int ap_store_set_owner(struct ap_store *st, const char *owner, struct ap_ctx *ctx);
/*
 * Marks the job DONE if none of its targets is non-terminal, atomically
 * (one statement decides), with its "status" event; *done = 1 when it is
 * (or already was) DONE, 0 when targets remain.  Several workers finish
 * parts of one job and each calls this after its last target.
 */
int ap_store_job_complete_if_done(struct ap_store *st, int64_t job_id, int *done,
                                  struct ap_ctx *ctx);
/*
 * ap_store_job_complete_if_done() for every RUNNING job at once: marks
 * DONE, each with its "status" event, the jobs none of whose targets is
 * non-terminal; *n_done = how many.  What an idle worker calls, so that a
 * job whose last share ended on an error (its worker never got to
 * complete_if_done) does not stay "running" with nothing left to run.
 * One transaction; on failure nothing changed and *n_done = 0.
 */
int ap_store_jobs_complete_finished(struct ap_store *st, size_t *n_done,
                                    struct ap_ctx *ctx);

/*
 * The credential gate shared by every worker of a job, so that a refused
 * password is offered to no other host in that job (never lock an account
 * out), across processes and machines.  key identifies a credential
 * without its secret (e.g. "vault:web" or "user@domain").
 *
 * acquire: GO when the credential is GOOD (accepted somewhere already), or
 * UNTRIED, or TRYING under an expired hold or under this same owner (the
 * caller now holds the try until now + lease_ms: it must serialise its own
 * threads, as lib/engine/credgate.c does); WAIT when another owner is
 * TRYING it (poll again later); BLOCKED when REJECTED (rejected_by gets
 * the host that refused it).
 * release: outcome accepted -> GOOD (unless already REJECTED), rejected ->
 * REJECTED (final; records host), unknown (no answer: network...) ->
 * UNTRIED again if owner still held the try.
 * On PostgreSQL a handle that saw a credential GOOD answers GO again
 * without a round trip while no rejection was committed since: each
 * rejection sends a notice (LISTEN/NOTIFY) that every worker's handle
 * reads, without waiting, before it reuses the answer; and at most for 5
 * s in any case (docs/workers.md).
 */
enum ap_store_cred_verdict {
	AP_STORE_CRED_GO = 0,
	AP_STORE_CRED_WAIT,
	AP_STORE_CRED_BLOCKED
};
enum ap_store_cred_outcome {
	AP_STORE_CRED_ACCEPTED = 0,
	AP_STORE_CRED_REJECTED = 1,
	AP_STORE_CRED_UNKNOWN = 2
};
int ap_store_cred_acquire(struct ap_store *st, int64_t job_id, const char *key,
                          const char *host, const char *owner, int lease_ms,
                          enum ap_store_cred_verdict *verdict, char *rejected_by,
                          size_t size, struct ap_ctx *ctx);
int ap_store_cred_release(struct ap_store *st, int64_t job_id, const char *key,
                          const char *host, const char *owner, int outcome,
                          struct ap_ctx *ctx);
/* For the benchmark, since the handle was opened (migrations included):
 * statements sent to the database, and the times this handle waited for
 * the server's answer (PostgreSQL sends a transaction's writes with its
 * next read, so there are fewer round trips than statements; with
 * SQLite, which has no server, the two are equal). */
uint64_t ap_store_statements(const struct ap_store *st);
uint64_t ap_store_round_trips(const struct ap_store *st);

/* Stable lowercase names: "planned", "connected", ... and "check"/"install",
 * "running"/"done". */
const char *ap_host_state_name(enum ap_host_state s);
int ap_host_state_terminal(enum ap_host_state s);
const char *ap_job_kind_name(enum ap_job_kind k);
const char *ap_job_status_name(enum ap_job_status s);

/* The default store path: $AGENTPUSH_DB, else $XDG_STATE_HOME/agentpush/
 * jobs.db, else ~/.local/state/agentpush/jobs.db.  Writes into buf. */
int ap_store_default_path(char *buf, size_t size, struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_STORE_H */
