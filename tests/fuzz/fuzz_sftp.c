/*
 * fuzz_sftp.c - libFuzzer harness for the SFTP reply parser of the
 * pipelined upload (lib/transport/sftp_pipe.c): the bytes come from the
 * remote sftp server.  Must never crash or read out of bounds, and a reply
 * it accepts must be a STATUS.  tests/unit/transport runs this over the
 * seed corpus (tests/fuzz/corpus/sftp/) through tests/fuzz/fuzz_driver.c
 * in every normal test run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "transport/sftp_pipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t id = 0, status = 0;

	if (ap_sftp_pipe_parse_status(data, size, &id, &status) == 0 &&
	    (size < 9 || data[0] != 101))
		abort();
	return 0;
}
