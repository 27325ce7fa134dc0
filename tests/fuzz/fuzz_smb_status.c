/*
 * fuzz_smb_status.c - libFuzzer harness for the SMB status mapping
 * (lib/transport/smb_status.c): libsmbclient's debug log of one connection
 * attempt carries text the SMB server chose.  Never a crash or an
 * out-of-bounds read; the reason is NUL-terminated within its buffer; a
 * status found is a table entry; the evidence line is one line.
 * tests/unit/smb runs this over tests/fuzz/corpus/smb_status/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smb_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ap_smb_status *st = NULL, *by = NULL;
	char *log = malloc(size + 1), reason[128], ev[512];
	int ok = -1;

	if (log == NULL)
		return 0;
	memcpy(log, data, size);
	log[size] = '\0';
	st = ap_smb_log_scan(log, &ok, reason, sizeof(reason));
	if ((ok != 0 && ok != 1) || memchr(reason, '\0', sizeof(reason)) == NULL)
		abort();
	if (st != NULL && ((by = ap_smb_status_by_name(st->name)) == NULL || by != st))
		abort();
	(void)ap_smb_status_find(log);
	ap_smb_evidence(ev, sizeof(ev), AP_SMB_PHASE_TREE, st, reason, "198.18.0.2", "ADMIN$",
	                "WORKGROUP", "bob", 1);
	if (memchr(ev, '\0', sizeof(ev)) == NULL)
		abort();
	free(log);
	return 0;
}
