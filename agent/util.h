/*
 * util.h - small helpers of the agent: paths and the log file.
 */
#ifndef AGENT_UTIL_H
#define AGENT_UTIL_H

/* Creates the folders leading to path (like mkdir -p, mode 0755).
 * Returns 0, or -1 with errno set. */
int util_mkparent(const char *path);

/*
 * The agent's log: one line per event, "2024-05-01T10:00:00Z [pid] text",
 * appended with a single write() so lines from two processes never mix.
 * log_open() returns 0 or -1/errno; log_line() never fails loudly (a full
 * disk must not stop the agent) and is a no-op before log_open().
 * log_reopen() closes and reopens the same path (SIGHUP, after rotation).
 */
int log_open(const char *path);
int log_reopen(void);
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_close(void);

#endif /* AGENT_UTIL_H */
