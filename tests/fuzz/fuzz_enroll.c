/*
 * fuzz_enroll.c - libFuzzer harness for the two readers of registration
 * traffic: what a host sends back about its agent's registration
 * (run/register.status, read by ap_enroll_finding() in lib/engine/enroll.c)
 * and what a server answers the agent (the agent's small JSON reader,
 * reg_json_str/reg_json_uint in agent/register.c).  Neither may crash or
 * read out of bounds; the finding is always one of the two registration
 * IDs with a NUL-terminated, single-line evidence; a string the JSON reader
 * accepts fits its buffer and has no control character but those its
 * escapes make.  tests/unit/enroll runs this over tests/fuzz/corpus/enroll/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/errors.h"
#include "engine/enroll.h"
#include "register.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), ev[512], out[64];
	unsigned u = 0;
	int id;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	id = ap_enroll_finding(s, "https://198.18.0.1:8443", 120, ev, sizeof(ev));
	if ((id != AP_ERR_REGISTRATION_FAILED && id != AP_ERR_SERVER_UNREACHABLE_FROM_HOST) ||
	    memchr(ev, '\0', sizeof(ev)) == NULL || strchr(ev, '\n') != NULL)
		abort();

	if (reg_json_str(s, "agent_id", out, sizeof(out)) == 0 && strlen(out) >= sizeof(out))
		abort();
	(void)reg_json_str(s, "secret", out, sizeof(out));
	(void)reg_json_uint(s, "heartbeat_interval", &u);
	free(s);
	return 0;
}
