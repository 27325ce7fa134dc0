/*
 * credgate.h - never lock an account out.
 *
 * A credential (an account name with the secret or key that goes with it)
 * that a server rejected is not offered again, to that host or any other,
 * for the rest of the run.  Until some server has accepted a credential, only
 * one host at a time may try it: the others wait for that first answer.  So a
 * wrong password against any number of hosts costs exactly one failed logon
 * in total, however many hosts are in flight.
 *
 * States of one credential:
 *
 *   UNTRIED --acquire--> TRYING --accepted--> GOOD   (others now go at once)
 *                          |  \--rejected--> REJECTED (host recorded; final)
 *                          \----other failure (network...)--> UNTRIED
 *
 * Invariants: at most one holder while TRYING; REJECTED is final for the
 * run; a GOOD credential later rejected by another host becomes REJECTED.
 *
 * Ownership: the gate copies keys; ap_credgate_free() releases everything.
 * Keys hold no secret: callers pass an identifier of the secret (e.g.
 * "password" or the key file path), never the secret itself.
 */
#ifndef AP_ENGINE_CREDGATE_H
#define AP_ENGINE_CREDGATE_H

#include <stddef.h>

struct ap_credgate;

enum ap_credgate_verdict {
	AP_CREDGATE_GO = 0,     /* try it */
	AP_CREDGATE_BLOCKED     /* rejected earlier: do not try */
};

enum ap_credgate_outcome {
	AP_CREDGATE_ACCEPTED = 0,
	AP_CREDGATE_REJECTED,
	AP_CREDGATE_UNKNOWN     /* the attempt did not reach authentication */
};

/* A new gate, or NULL when out of memory. */
struct ap_credgate *ap_credgate_new(void);
void ap_credgate_free(struct ap_credgate *g);

/*
 * Asks to use credential key against host.  May block while another host is
 * trying the same untried credential.  On AP_CREDGATE_BLOCKED, the host that
 * rejected it is copied into rejected_by (at most size bytes, NUL-terminated).
 * Every GO must be followed by exactly one ap_credgate_release().  Returns
 * AP_CREDGATE_GO also when the gate cannot allocate (fails open only for the
 * bookkeeping, never for a rejected credential).
 */
enum ap_credgate_verdict ap_credgate_acquire(struct ap_credgate *g,
                                             const char *key, const char *host,
                                             char *rejected_by, size_t size);
/* Reports what became of the attempt that acquire() allowed. */
void ap_credgate_release(struct ap_credgate *g, const char *key,
                         const char *host, enum ap_credgate_outcome outcome);

#endif
