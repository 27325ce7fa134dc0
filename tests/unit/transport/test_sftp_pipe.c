/*
 * test_sftp_pipe.c - the reply parser of the pipelined SFTP upload
 * (lib/transport/sftp_pipe.c).  The upload itself runs against real sshd
 * in tests/integration/ssh/ssh_transport.sh, with a healthy sftp-server
 * and with tests/integration/ssh/fake_sftp.py misbehaving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sftp_pipe.h"

static void
status_ok(void **state)
{
	/* STATUS, id 0x01020304, code 4 (FAILURE), empty message and language */
	const unsigned char p[] = { 101, 1, 2, 3, 4, 0, 0, 0, 4,
	                            0, 0, 0, 0, 0, 0, 0, 0 };
	uint32_t id = 0, st = 0;

	(void)state;
	assert_int_equal(ap_sftp_pipe_parse_status(p, sizeof(p), &id, &st), 0);
	assert_int_equal(id, 0x01020304u);
	assert_int_equal(st, 4);
	/* version 3 servers may omit the two strings */
	assert_int_equal(ap_sftp_pipe_parse_status(p, 9, &id, &st), 0);
}

static void
not_a_status(void **state)
{
	const unsigned char handle[] = { 102, 0, 0, 0, 1, 0, 0, 0, 4, 'h' };
	const unsigned char shortst[] = { 101, 0, 0, 0, 1, 0, 0, 0 };
	uint32_t id = 7, st = 7;

	(void)state;
	assert_int_equal(ap_sftp_pipe_parse_status(handle, sizeof(handle), &id, &st), -1);
	assert_int_equal(ap_sftp_pipe_parse_status(shortst, sizeof(shortst), &id, &st), -1);
	assert_int_equal(ap_sftp_pipe_parse_status(NULL, 9, &id, &st), -1);
	assert_int_equal(ap_sftp_pipe_parse_status(handle, 0, &id, &st), -1);
	/* untouched on failure */
	assert_int_equal(id, 7);
	assert_int_equal(st, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_ok),
		cmocka_unit_test(not_a_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
