/*
 * test_watchdog.c - the deadline on blocking libssh calls
 * (lib/transport/watchdog.c), on a socketpair: a guard that expires shuts
 * the socket down, so a blocked reader wakes with end of file; a guard
 * disarmed in time leaves the socket alone.  The same watchdog cutting a
 * hung sftp-server runs against real sshd in ssh_transport.sh (10d).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "transport_util.h"
#include "watchdog.h"

static void
expired_guard_cuts_the_socket(void **state)
{
	struct ap_guard g;
	struct pollfd p;
	char c;
	int sv[2];
	long long t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t0 = ap_transport_now_ms();
	ap_guard_arm(&g, sv[0], 100);
	/* a blocked reader, as libssh's poll() + recv() */
	p.fd = sv[0];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(sv[0], &c, 1), 0);
	assert_true(ap_transport_now_ms() - t0 >= 90);
	assert_true(ap_transport_now_ms() - t0 < 4000);
	assert_int_equal(ap_guard_disarm(&g), 1);
	close(sv[0]);
	close(sv[1]);
}

static void
disarmed_guard_leaves_the_socket(void **state)
{
	struct ap_guard g, later;
	char c = 'x';
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* a far deadline armed first, then an earlier one: both disarmed */
	ap_guard_arm(&later, sv[0], 60000);
	ap_guard_arm(&g, sv[0], 200);
	assert_int_equal(ap_guard_disarm(&g), 0);
	assert_int_equal(ap_guard_disarm(&later), 0);
	/* twice is harmless */
	assert_int_equal(ap_guard_disarm(&g), 0);
	usleep(400 * 1000);
	assert_int_equal(write(sv[1], &c, 1), 1);
	assert_int_equal(read(sv[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(sv[0]);
	close(sv[1]);
}

static void
no_socket_no_guard(void **state)
{
	struct ap_guard g;

	(void)state;
	ap_guard_arm(&g, -1, 10);
	usleep(50 * 1000);
	assert_int_equal(ap_guard_disarm(&g), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expired_guard_cuts_the_socket),
		cmocka_unit_test(disarmed_guard_leaves_the_socket),
		cmocka_unit_test(no_socket_no_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
