/*
 * windows_int.h - internal to lib/windows: the compiled-in support list.
 */
#ifndef AGENTPUSH_WINDOWS_INT_H
#define AGENTPUSH_WINDOWS_INT_H

/* data/windows-support.json as text (static, NUL-terminated). */
const char *ap_windows_support_json(void);

#endif /* AGENTPUSH_WINDOWS_INT_H */
