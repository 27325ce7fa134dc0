/*
 * run.h - one run of `check` or `install` over a set of targets.
 *
 * ap_run_check() diagnoses every target and changes nothing on any of them;
 * ap_run_install() checks, copies, installs and verifies.  Both fill one
 * result per target into the caller's report, in the order the targets were
 * given, and return AP_OK when the run itself worked (whatever the targets'
 * outcomes; see ap_report_exit_status()).  A failure of the run itself (bad
 * package, unreadable known_hosts, out of memory) returns a negative code
 * with its reason on ctx.
 *
 * No globals: everything a run needs is in struct ap_run_opts and the
 * objects passed in, so several runs may go on in one process.
 *
 * Ownership: all pointers in ap_run_opts are borrowed for the call.  The
 * password is never copied into a report, log or store.
 */
#ifndef AGENTPUSH_RUN_H
#define AGENTPUSH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "agentpush/ctx.h"
#include "agentpush/report.h"
#include "agentpush/target.h"
#include "agentpush/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ap_store;

/*
 * One step of one target, as the engine sees it.  Delivered to the progress
 * callback from worker threads: the callback must be thread-safe and quick
 * (it runs on the host's worker).  Pointers are valid during the call only.
 */
struct ap_run_event {
	size_t index;                  /* the target's position in the run */
	const struct ap_target *target;
	int state;                     /* enum ap_host_state (store.h) */
	int error_id;                  /* first error finding when failed, else 0 */
	int attempt;                   /* 1 for the first try, 2.. for retries */
	int abandoned;                 /* 1: a worker gave the host up, its
	                                * lease having passed to another worker
	                                * (lease_owner); state is not terminal;
	                                * attempt 0: before it was started */
};
typedef void (*ap_run_progress_fn)(void *ud, const struct ap_run_event *ev);

/*
 * An account of the vault (vault.h) the run may log in with: what a target
 * naming it (agentpush_account=NAME, or ap_run_opts.account) logs in as,
 * instead of user and password.  The credential gate knows it by name, and
 * a password a host refuses is recorded on the account in opts->store
 * (ap_store_account_mark_rejected), so later runs do not offer it again.
 * An account already marked (rejected_at set) is not offered at all: its
 * hosts get 800105.  All strings are the caller's, borrowed for the run.
 */
struct ap_run_account {
	int64_t id;                    /* its row in the store */
	const char *name;
	const char *user;
	const char *domain;            /* Windows; NULL: none */
	const char *password;          /* decrypted: a secret, like password */
	const char *rejected_at;       /* refused in an earlier run, or NULL */
	const char *rejected_by;
};

struct ap_run_opts {
	enum ap_os os;                 /* --os: auto, linux or windows */
	const char *user;              /* --user, or NULL */
	const char *password;          /* from --password-file or the environment */
	const char *identity;          /* --identity */
	const char *known_hosts;       /* --known-hosts */
	enum ap_hostkey_policy hostkey_policy;
	int parallel;                  /* --parallel; 0: default */
	int timeout_s;                 /* --timeout per stage; 0: default */
	const char *package_path;      /* install: --package */
	const char *db_path;           /* --db: the job store */
	int max_handshakes;            /* connects+logins in flight; 0: default */
	ap_run_progress_fn progress;   /* optional, see struct ap_run_event */
	void *progress_ud;
	struct ap_store *store;        /* optional: record the job durably */
	int64_t job_id;                /* out: the job's id when store is set */
	const char *options_json;      /* recorded with the job; no secret */
	/* Windows targets (SMB + WinRM). */
	const char *ca_file;           /* --ca-file: CA of the WinRM certificates */
	int winrm_insecure_http;       /* --winrm-insecure-http: plain HTTP 5985 */
	int winrm_auth;                /* --winrm-auth: enum ap_winrm_auth */
	const int *stop;               /* optional: once *stop is non-zero
	                                * (read atomically), no new host is
	                                * started and the job is not marked
	                                * done, so it stays resumable (the
	                                * server's graceful shutdown) */
	int kerberos;                  /* --kerberos: Kerberos only, SMB and
	                                * WinRM (Negotiate); never NTLM.  Per
	                                * host also ansible_winrm_transport */
	/* install: the configuration server each agent registers with
	 * (lib/engine/enroll.h).  With agent_server set, a host is done only
	 * once its agent registered in opts->store (which must be the
	 * server's).  NULL: agents are not told of any server. */
	const char *agent_server;      /* URL; "{controller}" as its host is
	                                * replaced per host by the controller's
	                                * address on the host's connection */
	const char *agent_pin;         /* "sha256//..." of the server's TLS
	                                * key; NULL for http:// */
	const char *agent_passphrase;  /* registration passphrase: a secret,
	                                * like password */
	int register_timeout_s;        /* 0: AP_DEFAULT_REGISTER_TIMEOUT_S */
	/* The vault's accounts the targets name (see struct ap_run_account). */
	const char *account;           /* --account: for targets naming none */
	const struct ap_run_account *accounts;
	size_t n_accounts;
	/* `agentpush worker` (worker.h): several processes share one job.
	 * With lease_owner set, the store handle must be fenced with the same
	 * owner (ap_store_set_owner); the credential gate is the store's
	 * (ap_store_cred_acquire) as well as this process's, so a credential
	 * refused on one worker's host is not tried by any other; and a host
	 * whose lease passed to another worker (a record refused with
	 * AP_ECONFLICT) is abandoned: nothing more is done on it, no cleanup
	 * that could touch the new owner's files, and the run goes on with the
	 * others.  lease_ms: how long a shared credential trial is held. */
	const char *lease_owner;
	int lease_ms;
	/* ap_run_resume(): only these targets of the job (the ones this
	 * worker claimed); the job's status is then left to
	 * ap_store_job_complete_if_done().  NULL: every non-terminal one. */
	const int64_t *only_targets;
	size_t n_only_targets;
	/* With only_targets: once the pool has started every target it has,
	 * a thread out of work calls refill (one thread at a time) for more
	 * targets of the same job that the caller has just claimed: up to max
	 * ids into ids; it returns how many, and 0 or < 0 when there are no
	 * more (refill is then not called again in this run).  The new targets
	 * are read from the store and walked like the first ones; the report
	 * holds only the first ones (the store has them all).  A worker so
	 * keeps its --parallel slots busy instead of waiting for its slowest
	 * host before it claims again.  NULL: the run ends with its targets. */
	int (*refill)(void *ud, int64_t *ids, size_t max);
	void *refill_ud;
	/* With lease_owner: called before a host is started (its first
	 * attempt), to say whether this process still holds the target's
	 * lease: 1 yes, 0 no (the host is then abandoned untouched: a worker
	 * that was paused, or whose claim came back late, must not upload to
	 * a host another worker now installs), < 0 the store failed (ctx
	 * says why; the run stops as on a failed record).  The records' guard
	 * is what fences; this only spares the host a stale worker's work.
	 * NULL: every host is started. */
	int (*lease_check)(void *ud, int64_t target_id, struct ap_ctx *ctx);
	void *lease_ud;
};

/*
 * The name of the account target t logs in with: its variable
 * agentpush_account, else opts->account; NULL when none.
 */
const char *ap_run_account_name(const struct ap_run_opts *opts,
                                const struct ap_target *t);
/* The opened account of opts->accounts that t logs in with (its name as
 * above), or NULL; borrowed from opts. */
const struct ap_run_account *ap_run_account_for(const struct ap_run_opts *opts,
                                                const struct ap_target *t);

/* Default seconds an install waits for its agent to register. */
#define AP_DEFAULT_REGISTER_TIMEOUT_S 120

/* Default number of hosts in flight when --parallel is not given. */
#define AP_DEFAULT_PARALLEL 32
/* Default per-stage timeout in seconds. */
#define AP_DEFAULT_TIMEOUT_S 30

/* Default cap on SSH handshakes in progress at once. */
#define AP_DEFAULT_MAX_HANDSHAKES 16

int ap_run_check(struct ap_run_opts *opts, const struct ap_target *targets,
                 size_t n_targets, struct ap_report *report, struct ap_ctx *ctx);
int ap_run_install(struct ap_run_opts *opts,
                   const struct ap_target *targets, size_t n_targets,
                   struct ap_report *report, struct ap_ctx *ctx);

/*
 * The options recorded with a job (options_json): what a person reading
 * `agentpush show` later needs to know about how the run was made, as a
 * malloc'd JSON object.  Never the password (only whether one was given).
 * NULL when out of memory.
 */
char *ap_run_options_json(const struct ap_run_opts *opts);

/*
 * Records a new job of opts->store (check, or install when install is set)
 * with every target PLANNED, and runs nothing; opts->job_id receives its id.
 * ap_run_resume() then runs it (the configuration server answers a job
 * submission once the job is durable, then runs it).  An install's package
 * is opened here, so a bad one is refused before anything is recorded.
 */
int ap_run_plan(struct ap_run_opts *opts, int install,
                const struct ap_target *targets, size_t n, struct ap_ctx *ctx);

/*
 * Carries on an interrupted job of opts->store: every target not in a
 * terminal state is probed again from the start (its state says how far it
 * got, but only a fresh probe says what is true on the host now), and
 * targets already terminal keep their stored result.  The report receives
 * every target of the job.  opts->job_id names the job; the package, for an
 * install job, comes from opts->package_path (the CLI passes the stored one)
 * and must have the version the job was created with.  A job whose cancel
 * was requested (ap_store_job_cancel) starts no new host: those end SKIPPED
 * with the note "cancelled"; the same holds for ap_run_check/install.
 */
int ap_run_resume(struct ap_run_opts *opts, struct ap_report *report,
                  struct ap_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* AGENTPUSH_RUN_H */
