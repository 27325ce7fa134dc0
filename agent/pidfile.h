/*
 * pidfile.h - a locked pid file: the agent's "one instance only" guard.
 *
 * The pid file is held open with an exclusive flock() for the agent's whole
 * life.  The lock, not the file's existence, says "running": a pid file left
 * behind by a crash (or a power cut) is unlocked, so the next start takes it
 * over instead of refusing to run.  The lock belongs to the open file
 * description, so it survives the forks of daemonizing.
 */
#ifndef AGENT_PIDFILE_H
#define AGENT_PIDFILE_H

#include <sys/types.h>

struct pidfile {
	int fd;           /* open and locked, or -1 */
	const char *path; /* not owned */
};

/*
 * Opens and locks path (creating it and its parent folders when missing).  Returns 0 with pf filled, -1 when another instance holds
 * the lock (its pid, when readable, in *other, else 0), or -2 on another
 * error (errno set).
 */
int pidfile_acquire(struct pidfile *pf, const char *path, pid_t *other);
/* Writes pid into the locked file (replacing its content).  0 or -1/errno. */
int pidfile_write(struct pidfile *pf, pid_t pid);
/* Removes the file, then drops the lock.  Safe on a never-acquired pf. */
void pidfile_release(struct pidfile *pf);

#endif /* AGENT_PIDFILE_H */
