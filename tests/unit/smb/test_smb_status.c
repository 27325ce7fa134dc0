/*
 * test_smb_status - the NTSTATUS table of the SMB transport
 * (lib/transport/smb_status.c): Samba 4.17's friendly texts and the
 * NT_STATUS_* names map to the seed's ErrorIDs, libsmbclient log excerpts
 * are read the way open() reads them, and evidence lines have their format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agentpush/errors.h"
#include "smb_status.h"

static const struct {
	const char *text;   /* as get_friendly_nt_error_msg() prints it */
	const char *name;
	int id;
} cases[] = {
	{ "The attempted logon is invalid. This is either due to a bad username or authentication information.",
	  "NT_STATUS_LOGON_FAILURE", 95107 },
	{ "The referenced account is currently disabled and cannot be logged on to.",
	  "NT_STATUS_ACCOUNT_DISABLED", 95519 },
	{ "The user account has been automatically locked because too many invalid logon attempts or password change attempts have been requested.",
	  "NT_STATUS_ACCOUNT_LOCKED_OUT", 95520 },
	{ "No logon servers are currently available to service the logon request.",
	  "NT_STATUS_NO_LOGON_SERVERS", 95521 },
	{ "An attempt was made to logon, but the NetLogon service was not started.",
	  "NT_STATUS_NETLOGON_NOT_STARTED", 95522 },
	{ "The transport-connection attempt was refused by the remote system.",
	  "NT_STATUS_CONNECTION_REFUSED", 95521 },
	{ "The logon request failed because the trust relationship between this workstation and the primary domain failed.",
	  "NT_STATUS_TRUSTED_RELATIONSHIP_FAILURE", 95518 },
	{ "The SAM database on the Windows Server does not have a computer account for this workstation trust relationship.",
	  "NT_STATUS_NO_TRUST_SAM_ACCOUNT", 95518 },
	{ "{Access Denied} A process has requested access to an object but has not been granted those access rights.",
	  "NT_STATUS_ACCESS_DENIED", 95517 },
	{ "{Network Name Not Found} The specified share name cannot be found on the remote server.",
	  "NT_STATUS_BAD_NETWORK_NAME", 95106 },
	{ "The user account password has expired.",
	  "NT_STATUS_PASSWORD_EXPIRED", 95107 },
	{ "{Device Timeout} The specified I/O operation on %hs was not completed before the time-out period expired.",
	  "NT_STATUS_IO_TIMEOUT", 97118 },
	{ "The transport connection is now disconnected.",
	  "NT_STATUS_CONNECTION_DISCONNECTED", 97118 },
};

static void
test_text_and_name(void **state)
{
	size_t i;
	const struct ap_smb_status *st = NULL;
	char line[512];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "SPNEGO login failed: %s", cases[i].text);
		st = ap_smb_status_find(line);
		assert_non_null(st);
		assert_string_equal(st->name, cases[i].name);
		assert_int_equal(st->error_id, cases[i].id);
		st = ap_smb_status_find(cases[i].name);
		assert_non_null(st);
		assert_int_equal(st->error_id, cases[i].id);
		assert_ptr_equal(ap_smb_status_by_name(cases[i].name), st);
	}
}

static void
test_ids_are_the_catalog_constants(void **state)
{
	(void)state;
	assert_int_equal(AP_ERR_WINDOWS_BAD_CREDENTIALS, 95107);
	assert_int_equal(AP_ERR_WINDOWS_NO_ADMIN_RIGHTS, 95517);
	assert_int_equal(AP_ERR_WINDOWS_TRUST_FAILURE, 95518);
	assert_int_equal(AP_ERR_WINDOWS_ACCOUNT_DISABLED, 95519);
	assert_int_equal(AP_ERR_WINDOWS_ACCOUNT_LOCKED, 95520);
	assert_int_equal(AP_ERR_WINDOWS_NO_LOGON_SERVERS, 95521);
	assert_int_equal(AP_ERR_WINDOWS_NETLOGON_STOPPED, 95522);
	assert_int_equal(AP_ERR_WINDOWS_SHARE_MISSING, 95106);
}

static void
test_no_false_match(void **state)
{
	(void)state;
	assert_null(ap_smb_status_find("Connecting to 198.18.0.2 at port 445"));
	assert_null(ap_smb_status_find(NULL));
	/* a longer name that merely starts like a known one */
	assert_null(ap_smb_status_find("NT_STATUS_LOGON_FAILURE_X"));
	assert_null(ap_smb_status_by_name("NT_STATUS_NOPE"));
	/* longest wins: TRUSTED_DOMAIN_FAILURE is not TRUSTED_RELATIONSHIP */
	assert_string_equal(ap_smb_status_find("x NT_STATUS_TRUSTED_DOMAIN_FAILURE")->name,
	                    "NT_STATUS_TRUSTED_DOMAIN_FAILURE");
}

static void
test_log_scan(void **state)
{
	int ok = -1;
	char reason[256];
	const struct ap_smb_status *st = NULL;

	(void)state;
	/* wrong password: no session, a login-failed line */
	st = ap_smb_log_scan("Connecting to 198.18.0.2 at port 445\n"
	                     "SPNEGO login failed: The attempted logon is invalid. This is either due to a bad username or authentication information.\n",
	                     &ok, reason, sizeof(reason));
	assert_int_equal(ok, 0);
	assert_non_null(st);
	assert_int_equal(st->error_id, 95107);
	assert_string_equal(reason, "The attempted logon is invalid. This is either due to a bad username or authentication information.");
	/* share refused: the session worked, no login-failed line */
	st = ap_smb_log_scan("Connecting to 198.18.0.2 at port 445\n session setup ok\n",
	                     &ok, reason, sizeof(reason));
	assert_int_equal(ok, 1);
	assert_null(st);
	assert_string_equal(reason, "");
	/* unknown reason: kept for the evidence, truncated to the buffer */
	st = ap_smb_log_scan("SPNEGO login failed: Something new  \r\n", &ok, reason, 10);
	assert_null(st);
	assert_string_equal(reason, "Something");
	st = ap_smb_log_scan(NULL, &ok, reason, sizeof(reason));
	assert_null(st);
	assert_int_equal(ok, 0);
}

static void
test_evidence(void **state)
{
	char buf[600];

	(void)state;
	ap_smb_evidence(buf, sizeof(buf), AP_SMB_PHASE_LOGON,
	                ap_smb_status_by_name("NT_STATUS_LOGON_FAILURE"), NULL,
	                "198.18.0.2", "ADMIN$", "CORP", "bob", 0);
	assert_string_equal(buf, "SMB logon of CORP\\bob on 198.18.0.2 refused: NT_STATUS_LOGON_FAILURE");
	ap_smb_evidence(buf, sizeof(buf), AP_SMB_PHASE_LOGON, NULL, "Odd text",
	                "198.18.0.2", "ADMIN$", NULL, "bob", 1);
	assert_string_equal(buf, "SMB logon of bob on 198.18.0.2 refused: \"Odd text\"");
	ap_smb_evidence(buf, sizeof(buf), AP_SMB_PHASE_TREE,
	                ap_smb_status_by_name("NT_STATUS_ACCESS_DENIED"), NULL,
	                "198.18.0.2", "ADMIN$", "CORP", "bob", 0);
	assert_string_equal(buf, "tree connect to \\\\198.18.0.2\\ADMIN$ as CORP\\bob refused: NT_STATUS_ACCESS_DENIED");
	ap_smb_evidence(buf, sizeof(buf), AP_SMB_PHASE_TREE,
	                ap_smb_status_by_name("NT_STATUS_ACCESS_DENIED"), NULL,
	                "198.18.0.2", "ADMIN$", "", "admin", 1);
	assert_non_null(strstr(buf, "NT_STATUS_ACCESS_DENIED; for a local account remote UAC"));
	assert_non_null(strstr(buf, "LocalAccountTokenFilterPolicy=1"));
	/* tiny buffer: still terminated */
	ap_smb_evidence(buf, 8, AP_SMB_PHASE_LOGON, NULL, NULL, "a", "b", NULL, "c", 0);
	assert_int_equal(strlen(buf), 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_and_name),
		cmocka_unit_test(test_ids_are_the_catalog_constants),
		cmocka_unit_test(test_no_false_match),
		cmocka_unit_test(test_log_scan),
		cmocka_unit_test(test_evidence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
