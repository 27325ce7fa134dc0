/*
 * smb_api.c - loads libsmbclient on first use (smb_api.h says why).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "smb_api.h"

/* The SONAME of Debian's libsmbclient (package libsmbclient). */
#define SMBCLIENT_SONAME "libsmbclient.so.0"

static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static struct ap_smbc_api api;
static int api_ok;
static char api_why[300];

#ifdef AP_SMBC_LINKED
/*
 * Sanitizer builds link libsmbclient instead (meson.build): with it
 * dlopen'ed, LeakSanitizer's exit-time tracer crashed (SIGSEGV, "Tracer
 * caught signal 11") in tests/integration/smb under parallel load, which
 * would turn a passing run into a failure and skip its leak check.
 */
static void
api_load(void)
{
#define AP_SMBC_FN(name) api.name = smbc_##name;
#include "smb_api_list.h"
#undef AP_SMBC_FN
	api_ok = 1;
}
#else
static void
api_load(void)
{
	void *h = NULL;
	const char *err = NULL;

	/* RTLD_LOCAL: Samba's symbols stay out of the global namespace, so
	 * they cannot interpose on those of libssh, libcurl or GSS-API. */
	if ((h = dlopen(SMBCLIENT_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		err = dlerror();
		snprintf(api_why, sizeof(api_why),
		         "cannot load %s (Debian package libsmbclient): %s",
		         SMBCLIENT_SONAME, err != NULL ? err : "unknown error");
		return;
	}
	/* A function pointer from dlsym's void *: POSIX guarantees it works;
	 * the memcpy keeps ISO C's object/function pointer rule. */
#define AP_SMBC_FN(name)                                                      \
	{                                                                     \
		void *sym = dlsym(h, "smbc_" #name);                          \
		if (sym == NULL) {                                            \
			snprintf(api_why, sizeof(api_why),                    \
			         "%s has no function smbc_%s", SMBCLIENT_SONAME, \
			         #name);                                      \
			return; /* h stays loaded: harmless, and rare */      \
		}                                                             \
		memcpy(&api.name, &sym, sizeof(api.name));                    \
	}
#include "smb_api_list.h"
#undef AP_SMBC_FN
	api_ok = 1;
}
#endif

const struct ap_smbc_api *
ap_smbc_api(char *why, size_t n)
{
	pthread_once(&api_once, api_load);
	if (api_ok)
		return &api;
	if (n > 0)
		snprintf(why, n, "%s", api_why);
	return NULL;
}
