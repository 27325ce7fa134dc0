/*
 * watchdog.h - a deadline on a blocking libssh call that would otherwise
 * wait forever (internal to the transports).
 *
 * Why: libssh 0.10's SFTP calls (sftp_init, sftp_open, sftp_fsync,
 * sftp_close, ...) retry a timed-out read for as long as the channel is
 * not at end of file, so the session timeout does not bound them.  A hung
 * sftp-server (a dead NFS mount under the staging folder, a stopped
 * process) would hold a worker, and its host, forever.
 *
 * How: ap_guard_arm() puts a deadline on the connection's socket.  If the
 * guarded call has not returned by then, one watchdog thread shuts the
 * socket down (shutdown(2), never close(2): the descriptor stays valid and
 * still belongs to libssh, so nothing can reuse it).  libssh then sees the
 * connection end, the call returns an error, and ap_guard_disarm() says
 * the watchdog fired: the caller reports a timeout, and the connection is
 * dead for everything after.
 *
 * The watchdog is one thread per process, started on first use and
 * waiting on a condition variable while no guard is armed; guards are
 * armed from any thread.  The list of armed guards is this module's only
 * state.  A guard lives on the caller's stack: every armed guard must be
 * disarmed before it goes out of scope, and before its socket is closed.
 * If the thread cannot be started, a guard does nothing (the call is then
 * bounded only by libssh, as before).
 */
#ifndef AP_TRANSPORT_WATCHDOG_H
#define AP_TRANSPORT_WATCHDOG_H

struct ap_guard {
	int fd;
	long long deadline_ms;  /* CLOCK_MONOTONIC */
	int fired;              /* under the module's lock */
	int armed;              /* in the list; under the module's lock */
	struct ap_guard *next;
};

/* Arms g on socket fd for timeout_ms (> 0) from now. */
void ap_guard_arm(struct ap_guard *g, int fd, int timeout_ms);

/* Disarms g; returns 1 when the watchdog shut the socket down, else 0. */
int ap_guard_disarm(struct ap_guard *g);

#endif
