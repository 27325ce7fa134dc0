/*
 * sftp_pipe.h - upload a local file into an open SFTP file with several
 * SSH_FXP_WRITE requests in flight (internal to the ssh transport).
 *
 * Why this exists: libssh 0.10 (Debian 12) offers only a synchronous
 * sftp_write(): one request, then wait for its reply.  Throughput is then
 * one chunk per round trip, so chunks must be large (64 KiB), and a large
 * chunk is held four or five times over per uploading host (caller's
 * buffer, SFTP packet, channel packet, encrypted copy, socket buffer):
 * ~360 KB per host in flight, measured in bench/.  Pipelining lets the
 * chunks be small (they fit one SSH channel packet) without losing
 * throughput on a slow link.  libssh 0.11 has this as sftp_aio_*; when
 * Debian ships it, this module should become a call to it.
 *
 * How: the requests are framed here and written with ssh_channel_write()
 * on the SFTP session's own channel, and their SSH_FXP_STATUS replies are
 * read back here with ssh_channel_read_timeout().  It uses fields that
 * libssh 0.10 declares public in <libssh/sftp.h>: sftp->channel,
 * sftp->id_counter (ids are taken from it, so libssh's later ids do not
 * collide) and file->handle.  libssh reads SFTP replies only inside its
 * own sftp_* calls and reads exactly one packet at a time, so while this
 * runs the reply stream is ours.
 *
 * Contract of ap_sftp_pipe_write():
 *   - No other SFTP request may be outstanding on the session when it is
 *     called (true between libssh's synchronous calls).
 *   - On AP_SFTP_PIPE_OK and AP_SFTP_PIPE_STATUS every reply has been read:
 *     libssh's own sftp_* calls (fsync, close, statvfs) may follow.
 *   - On AP_SFTP_PIPE_LOCAL every reply has been read too (the local read
 *     failed; res->err holds errno).
 *   - On AP_SFTP_PIPE_BROKEN (channel closed, timed out, or a reply that is
 *     not a STATUS for one of our ids) the reply stream is out of step: the
 *     caller must not use the SFTP session for anything but freeing it.
 *   - fd is read sequentially from its current offset; the file is written
 *     from offset 0.  Nothing here is freed or owned: the caller keeps
 *     sftp, f and fd.
 */
#ifndef AP_TRANSPORT_SFTP_PIPE_H
#define AP_TRANSPORT_SFTP_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

enum ap_sftp_pipe_rc {
	AP_SFTP_PIPE_OK = 0,
	AP_SFTP_PIPE_LOCAL,   /* reading the local file failed: res->err */
	AP_SFTP_PIPE_STATUS,  /* the server refused a write: res->status */
	AP_SFTP_PIPE_BROKEN   /* transport or protocol failure: res->msg */
};

struct ap_sftp_pipe_result {
	unsigned long long written;   /* bytes the server acknowledged */
	unsigned long long failed_at; /* STATUS: offset of the first refused write */
	uint32_t status;              /* STATUS: its SSH_FX_* code */
	int err;                      /* LOCAL: errno */
	int timed_out;                /* BROKEN: no reply within timeout_ms,
	                               * or the deadline passed */
	char msg[160];                /* BROKEN: what went wrong, for the evidence */
};

/*
 * Write requests in flight at most.  Each carries a little under 32 KiB,
 * so 16 keep 512 KiB moving: ~10 MB/s on a 50 ms round trip, and well
 * inside OpenSSH's 2 MiB channel window, so a write never waits for it.
 */
#define AP_SFTP_PIPE_WINDOW 16

/*
 * Writes all of fd into f (see the contract above).  timeout_ms bounds
 * each wait for the server (window space or a reply), like libssh's
 * session timeout bounds each of its blocking waits; deadline_ms (by
 * ap_transport_now_ms(), 0: none) bounds the whole upload: a server that
 * answers, but too slowly to finish by then, is BROKEN with timed_out set.
 * res is always filled.  Returns an enum ap_sftp_pipe_rc.
 */
int ap_sftp_pipe_write(sftp_session sftp, sftp_file f, int fd, int timeout_ms,
                       long long deadline_ms, struct ap_sftp_pipe_result *res);

/*
 * Parses one SFTP reply payload p[0..n) (the bytes after its 4-byte
 * length; n may be less than the whole payload when the caller kept only
 * its head).  Returns 0 and sets *id and *status when it is an
 * SSH_FXP_STATUS, -1 otherwise.  Exposed for the unit test and the fuzzer.
 */
int ap_sftp_pipe_parse_status(const unsigned char *p, size_t n, uint32_t *id,
                              uint32_t *status);

#endif
