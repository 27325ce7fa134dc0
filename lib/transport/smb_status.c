/*
 * smb_status.c - NTSTATUS texts to ErrorIDs for the SMB transport (see
 * smb_status.h).  The texts were printed by Samba 4.17's own
 * get_friendly_nt_error_msg() (libsamba-errors.so, from libcli/util/nterr.c)
 * on Debian 12; keep them byte-for-byte.
 *
 * Why these groups: every logon refusal that means "this credential is not
 * usable here" (wrong password, unknown user, expired password, workstation
 * or hour restrictions) is the seed's 95107; the seed gives disabled (95519),
 * locked out (95520), no logon servers (95521), Netlogon stopped (95522) and
 * broken trust (95518) their own IDs.  On the tree connect, access denied is
 * 95517 (logon fine, share refused) and a missing share 95106.
 */
#include <stdio.h>
#include <string.h>

#include "agentpush/errors.h"
#include "smb_status.h"

#define LOGON AP_SMB_PHASE_LOGON
#define TREE AP_SMB_PHASE_TREE

static const struct ap_smb_status table[] = {
	{ "NT_STATUS_LOGON_FAILURE", 0xC000006Du,
	  "The attempted logon is invalid. This is either due to a bad username or authentication information.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_WRONG_PASSWORD", 0xC000006Au,
	  "When trying to update a password, this return status indicates that the value provided as the current password is not correct.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_NO_SUCH_USER", 0xC0000064u,
	  "The specified account does not exist.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_ACCOUNT_RESTRICTION", 0xC000006Eu,
	  "Indicates a referenced user name and authentication information are valid, but some user account restriction has prevented successful authentication (such as time-of-day restrictions).",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_INVALID_LOGON_HOURS", 0xC000006Fu,
	  "The user account has time restrictions and cannot be logged onto at this time.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_INVALID_WORKSTATION", 0xC0000070u,
	  "The user account is restricted so that it cannot be used to log on from the source workstation.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_PASSWORD_EXPIRED", 0xC0000071u,
	  "The user account password has expired.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_PASSWORD_MUST_CHANGE", 0xC0000224u,
	  "The user password must be changed before logging on the first time.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_ACCOUNT_EXPIRED", 0xC0000193u,
	  "The user account has expired.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_LOGON_TYPE_NOT_GRANTED", 0xC000015Bu,
	  "A user has requested a type of logon (for example, interactive or network) that has not been granted. An administrator has control over who can logon interactively and through the network.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_AUTHENTICATION_FIREWALL_FAILED", 0xC0000413u,
	  "Logon Failure: The machine you are logging onto is protected by an authentication firewall. The specified account is not allowed to authenticate to the machine.",
	  LOGON, AP_ERR_WINDOWS_BAD_CREDENTIALS },
	{ "NT_STATUS_ACCOUNT_DISABLED", 0xC0000072u,
	  "The referenced account is currently disabled and cannot be logged on to.",
	  LOGON, AP_ERR_WINDOWS_ACCOUNT_DISABLED },
	{ "NT_STATUS_ACCOUNT_LOCKED_OUT", 0xC0000234u,
	  "The user account has been automatically locked because too many invalid logon attempts or password change attempts have been requested.",
	  LOGON, AP_ERR_WINDOWS_ACCOUNT_LOCKED },
	{ "NT_STATUS_NO_LOGON_SERVERS", 0xC000005Eu,
	  "No logon servers are currently available to service the logon request.",
	  LOGON, AP_ERR_WINDOWS_NO_LOGON_SERVERS },
	{ "NT_STATUS_NETLOGON_NOT_STARTED", 0xC0000192u,
	  "An attempt was made to logon, but the NetLogon service was not started.",
	  LOGON, AP_ERR_WINDOWS_NETLOGON_STOPPED },
	/* A Samba AD member whose DC offers no netlogon pipe answers this at
	 * session setup (tests/integration/windows/windows_domain.sh): no
	 * server can check the logon; the credential was not judged. */
	{ "NT_STATUS_CONNECTION_REFUSED", 0xC0000236u,
	  "The transport-connection attempt was refused by the remote system.",
	  LOGON, AP_ERR_WINDOWS_NO_LOGON_SERVERS },
	/* The logon did not finish: no answer in time (a member server
	 * waiting for a DC that is slow or gone answers after ours gives up,
	 * windows_domain.sh) or the connection dropped.  The credential was
	 * not judged, so it is a timeout, retried like one, and never counts
	 * against the credential. */
	{ "NT_STATUS_IO_TIMEOUT", 0xC00000B5u,
	  "{Device Timeout} The specified I/O operation on %hs was not completed before the time-out period expired.",
	  LOGON, AP_ERR_CONNECT_TIMEOUT },
	{ "NT_STATUS_CONNECTION_DISCONNECTED", 0xC000020Cu,
	  "The transport connection is now disconnected.",
	  LOGON, AP_ERR_CONNECT_TIMEOUT },
	{ "NT_STATUS_TRUSTED_RELATIONSHIP_FAILURE", 0xC000018Du,
	  "The logon request failed because the trust relationship between this workstation and the primary domain failed.",
	  LOGON, AP_ERR_WINDOWS_TRUST_FAILURE },
	{ "NT_STATUS_TRUSTED_DOMAIN_FAILURE", 0xC000018Cu,
	  "The logon request failed because the trust relationship between the primary domain and the trusted domain failed.",
	  LOGON, AP_ERR_WINDOWS_TRUST_FAILURE },
	{ "NT_STATUS_NO_TRUST_SAM_ACCOUNT", 0xC000018Bu,
	  "The SAM database on the Windows Server does not have a computer account for this workstation trust relationship.",
	  LOGON, AP_ERR_WINDOWS_TRUST_FAILURE },
	{ "NT_STATUS_ACCESS_DENIED", 0xC0000022u,
	  "{Access Denied} A process has requested access to an object but has not been granted those access rights.",
	  TREE, AP_ERR_WINDOWS_NO_ADMIN_RIGHTS },
	{ "NT_STATUS_BAD_NETWORK_NAME", 0xC00000CCu,
	  "{Network Name Not Found} The specified share name cannot be found on the remote server.",
	  TREE, AP_ERR_WINDOWS_SHARE_MISSING },
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

/* An NT_STATUS_ name must end where the identifier ends. */
static int
name_at(const char *s, const char *name)
{
	size_t n = strlen(name);
	char after;

	if (strncmp(s, name, n) != 0)
		return 0;
	after = s[n];
	return !((after >= 'A' && after <= 'Z') || after == '_' ||
	         (after >= '0' && after <= '9'));
}

const struct ap_smb_status *
ap_smb_status_find(const char *s)
{
	const struct ap_smb_status *best = NULL;
	size_t i, best_len = 0, len;
	const char *p = NULL;

	if (s == NULL)
		return NULL;
	for (i = 0; i < NTABLE; i++) {
		len = strlen(table[i].text);
		if (len > best_len && strstr(s, table[i].text) != NULL) {
			best = &table[i];
			best_len = len;
		}
		for (p = strstr(s, table[i].name); p != NULL;
		     p = strstr(p + 1, table[i].name)) {
			len = strlen(table[i].name);
			if (len > best_len && name_at(p, table[i].name)) {
				best = &table[i];
				best_len = len;
				break;
			}
		}
	}
	return best;
}

const struct ap_smb_status *
ap_smb_status_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NTABLE; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

const struct ap_smb_status *
ap_smb_log_scan(const char *log, int *session_ok, char *reason,
                size_t reason_len)
{
	const char *line = log, *end = NULL, *p = NULL;
	const struct ap_smb_status *st = NULL;
	int found = 0;
	size_t n;

	*session_ok = 0;
	if (reason_len > 0)
		reason[0] = '\0';
	if (log == NULL)
		return NULL;
	for (; *line != '\0'; line = *end != '\0' ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		n = (size_t)(end - line);
		if (n >= 17 && memmem(line, n, "session setup ok", 16) != NULL)
			*session_ok = 1;
		if (found || (p = memmem(line, n, "login failed:", 13)) == NULL)
			continue;
		found = 1;
		p += 13;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\r' ||
		                 p[n - 1] == '\t'))
			n--;
		if (reason_len > 0) {
			if (n >= reason_len)
				n = reason_len - 1;
			memcpy(reason, p, n);
			reason[n] = '\0';
			st = ap_smb_status_find(reason);
		}
	}
	return st;
}

void
ap_smb_evidence(char *buf, size_t buf_len, enum ap_smb_phase phase,
                const struct ap_smb_status *st, const char *reason, const char *addr, const char *share,
                const char *domain, const char *user, int local_account)
{
	char who[300], what[600];
	int tree = phase == AP_SMB_PHASE_TREE;

	if (domain != NULL && domain[0] != '\0')
		snprintf(who, sizeof(who), "%s\\%s", domain, user);
	else
		snprintf(who, sizeof(who), "%s", user);
	if (st != NULL)
		snprintf(what, sizeof(what), "%s", st->name);
	else
		snprintf(what, sizeof(what), "\"%s\"",
		         reason != NULL && reason[0] != '\0' ? reason :
		         "no status given");
	if (!tree) {
		snprintf(buf, buf_len, "SMB logon of %s on %s refused: %s", who,
		         addr, what);
		return;
	}
	if (st != NULL && strcmp(st->name, "NT_STATUS_ACCESS_DENIED") == 0 &&
	    local_account) {
		snprintf(buf, buf_len,
		         "tree connect to \\\\%s\\%s as %s refused: %s; for a local account remote UAC filtering removes administrator rights unless LocalAccountTokenFilterPolicy=1 is set under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System",
		         addr, share, who, what);
		return;
	}
	snprintf(buf, buf_len, "tree connect to \\\\%s\\%s as %s refused: %s",
	         addr, share, who, what);
}
