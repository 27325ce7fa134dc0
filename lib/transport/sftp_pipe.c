/*
 * sftp_pipe.c - pipelined SFTP upload (sftp_pipe.h says why and the
 * contract).  SFTP version 3 framing, draft-ietf-secsh-filexfer-02:
 *
 *   WRITE:  uint32 length, byte 6, uint32 id, string handle,
 *           uint64 offset, string data
 *   STATUS: uint32 length, byte 101, uint32 id, uint32 code,
 *           [string message, string language]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sftp_pipe.h"
#include "transport_util.h"

#define FXP_WRITE 6
#define FXP_STATUS 101
/*
 * Size of one WRITE request, header included.  OpenSSH's session channels
 * take at most 32 KiB of data per SSH packet, so a request this size goes
 * out as one packet (one MAC, one encryption call).  The 512 bytes spare
 * leave room for the SSH packet's own framing, padding and MAC: libssh
 * grows its packet and socket buffers to the next power of two and keeps
 * them, so a packet even a few bytes over 32 KiB would hold 64 KiB twice
 * over per uploading host (measured with massif: 128 KiB a host).
 */
#define REQUEST_SIZE (32768 - 512)
#define MAX_HANDLE 256          /* the SFTP draft's limit on a handle */
#define WRITE_HEAD(hlen) (4 + 1 + 4 + 4 + (hlen) + 8 + 4)
#define CLOSED_MID_UPLOAD "the sftp server closed its channel in the middle of the upload"
/* A STATUS is 13 bytes plus two short strings; more is read and dropped. */
#define REPLY_KEEP 256
#define REPLY_MAX (256 * 1024)

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
ap_sftp_pipe_parse_status(const unsigned char *p, size_t n, uint32_t *id,
                          uint32_t *status)
{
	if (p == NULL || n < 9 || p[0] != FXP_STATUS)
		return -1;
	*id = get32(p + 1);
	*status = get32(p + 5);
	return 0;
}

static int
broken(struct ap_sftp_pipe_result *res, const char *what)
{
	snprintf(res->msg, sizeof(res->msg), "%s", what);
	return AP_SFTP_PIPE_BROKEN;
}

/* How long a wait may be: each one timeout_ms, and none past deadline. */
struct waits {
	int timeout_ms;
	long long deadline_ms;   /* 0: none */
};

#define TOO_SLOW "the upload was too slow to finish within its limit"

/* Reads exactly n bytes of the channel; each wait bounded by w. */
static int
read_full(ssh_channel ch, unsigned char *buf, size_t n, const struct waits *w,
          struct ap_sftp_pipe_result *res)
{
	size_t got = 0;
	long long left = 0;
	int k, wait_ms;

	while (got < n) {
		wait_ms = w->timeout_ms;
		if (w->deadline_ms != 0) {
			left = w->deadline_ms - ap_transport_now_ms();
			if (left <= 0) {
				res->timed_out = 1;
				return broken(res, TOO_SLOW);
			}
			if (left < wait_ms)
				wait_ms = (int)left;
		}
		k = ssh_channel_read_timeout(ch, buf + got, (uint32_t)(n - got),
		                             0, wait_ms);
		if (k == SSH_ERROR)
			return broken(res, "the connection failed while waiting for the sftp server");
		if (k == 0) {
			if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))
				return broken(res, CLOSED_MID_UPLOAD);
			res->timed_out = 1;
			if (wait_ms < w->timeout_ms)
				return broken(res, TOO_SLOW);
			return broken(res, "the sftp server stopped answering in the middle of the upload");
		}
		got += (size_t)k;
	}
	return AP_SFTP_PIPE_OK;
}

/* One request sent and not yet answered. */
struct slot {
	uint32_t id;
	uint32_t len;
	uint64_t offset;
	int used;
};

/*
 * Reads one reply and finds the request it answers in slots[]: sets
 * *which to its index and *status to its code.
 */
static int
read_reply(ssh_channel ch, const struct slot *slots, const struct waits *w,
           unsigned int *which, uint32_t *status, struct ap_sftp_pipe_result *res)
{
	unsigned char head[4], keep[REPLY_KEEP];
	uint32_t len, id;
	size_t want, left;
	unsigned int i;
	int r;

	if ((r = read_full(ch, head, sizeof(head), w, res)) != AP_SFTP_PIPE_OK)
		return r;
	len = get32(head);
	if (len < 9 || len > REPLY_MAX)
		return broken(res, "the sftp server sent a reply of impossible length");
	want = len < sizeof(keep) ? len : sizeof(keep);
	if ((r = read_full(ch, keep, want, w, res)) != AP_SFTP_PIPE_OK)
		return r;
	for (left = len - want; left > 0; left -= want) {
		unsigned char drop[REPLY_KEEP];

		want = left < sizeof(drop) ? left : sizeof(drop);
		if ((r = read_full(ch, drop, want, w, res)) != AP_SFTP_PIPE_OK)
			return r;
	}
	if (ap_sftp_pipe_parse_status(keep, len < sizeof(keep) ? len : sizeof(keep),
	                              &id, status) < 0)
		return broken(res, "the sftp server answered a write with something other than a status");
	for (i = 0; i < AP_SFTP_PIPE_WINDOW; i++)
		if (slots[i].used && slots[i].id == id) {
			*which = i;
			return AP_SFTP_PIPE_OK;
		}
	return broken(res, "the sftp server answered a write that was not outstanding");
}

int
ap_sftp_pipe_write(sftp_session sftp, sftp_file f, int fd, int timeout_ms,
                   long long deadline_ms, struct ap_sftp_pipe_result *res)
{
	struct waits w = { timeout_ms, deadline_ms };
	struct slot slots[AP_SFTP_PIPE_WINDOW];
	unsigned char *buf = NULL;
	const unsigned char *handle = NULL;
	size_t hlen, head, chunk;
	uint64_t offset = 0;
	uint32_t status = 0;
	unsigned int inflight = 0, i;
	int r = AP_SFTP_PIPE_OK, k, stop = 0;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	memset(slots, 0, sizeof(slots));
	if (sftp == NULL || f == NULL || f->handle == NULL || sftp->channel == NULL)
		return broken(res, "no open sftp file");
	hlen = ssh_string_len(f->handle);
	handle = ssh_string_data(f->handle);
	if (hlen == 0 || hlen > MAX_HANDLE || handle == NULL)
		return broken(res, "the sftp server gave an unusable file handle");
	head = WRITE_HEAD(hlen);
	chunk = REQUEST_SIZE - head;
	if ((buf = malloc(head + chunk)) == NULL) {
		res->err = ENOMEM;
		return AP_SFTP_PIPE_LOCAL;
	}
	/* The parts of the header that do not change between requests. */
	buf[4] = FXP_WRITE;
	put32(buf + 9, (uint32_t)hlen);
	memcpy(buf + 13, handle, hlen);

	while (!stop || inflight > 0) {
		if (!stop && inflight < AP_SFTP_PIPE_WINDOW) {
			n = read(fd, buf + head, chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				if (n < 0) {
					res->err = errno;
					r = AP_SFTP_PIPE_LOCAL;
				}
				stop = 1;   /* end of file, or no more to send */
				continue;
			}
			for (i = 0; slots[i].used; i++)
				;
			/* Same id source as libssh's own requests. */
			slots[i].id = ++sftp->id_counter;
			slots[i].offset = offset;
			slots[i].len = (uint32_t)n;
			put32(buf, (uint32_t)(head - 4 + (size_t)n));
			put32(buf + 5, slots[i].id);
			put32(buf + 13 + hlen, (uint32_t)(offset >> 32));
			put32(buf + 17 + hlen, (uint32_t)offset);
			put32(buf + 21 + hlen, (uint32_t)n);
			if (ssh_channel_write(sftp->channel, buf, (uint32_t)(head + (size_t)n))
			    != (int)(head + (size_t)n)) {
				/* A server that quit is seen here or at the next
				 * read, whichever comes first: same words. */
				if (ssh_is_connected(sftp->session) &&
				    (ssh_channel_is_eof(sftp->channel) ||
				     ssh_channel_is_closed(sftp->channel)))
					r = broken(res, CLOSED_MID_UPLOAD);
				else
					r = broken(res, "the connection failed while sending the file");
				goto out;
			}
			slots[i].used = 1;
			inflight++;
			offset += (uint64_t)n;
			continue;
		}
		k = read_reply(sftp->channel, slots, &w, &i, &status, res);
		if (k != AP_SFTP_PIPE_OK) {
			r = k;
			goto out;
		}
		slots[i].used = 0;
		inflight--;
		if (status == SSH_FX_OK) {
			res->written += slots[i].len;
			continue;
		}
		/* Stop sending; report the lowest refused offset. */
		stop = 1;
		if (res->status == SSH_FX_OK || slots[i].offset < res->failed_at) {
			res->status = status;
			res->failed_at = slots[i].offset;
		}
		if (r == AP_SFTP_PIPE_OK)
			r = AP_SFTP_PIPE_STATUS;
	}
out:
	free(buf);
	return r;
}
