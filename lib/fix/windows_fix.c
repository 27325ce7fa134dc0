/*
 * windows_fix.c - the Windows remedies of `agentpush fix` (fix_int.h).
 *
 * Each remedy is a PowerShell script, run over WinRM as an -EncodedCommand
 * (fix.c) when a channel still reaches the host, else printed for an
 * administrator to run on it.  The channel follows from the finding:
 *
 *   95105 SMB (File and Printer Sharing) blocked  WinRM, the check's account
 *   95517 remote UAC filters the account's token  WinRM, another admin
 *   95519 the check's account is disabled         WinRM, another admin
 *   95103 WinRM blocked                           none: printed
 *
 * "Another admin" is the account given to ap_fix_plan() (the CLI's
 * --fix-account, a vault account such as the built-in Administrator, which
 * UAC never filters); without one, or when it is the check's own login,
 * the remedy is printed with the reason.
 *
 * Each script changes one thing and, on failure, leaves it as it was and
 * exits non-zero: the firewall remedy notes which rules of the group were
 * disabled and disables them again if enabling fails; net user and
 * New-ItemProperty change in one step or not at all.  Firewall rule groups
 * are named by their resource strings, which every language of Windows
 * shares (the display names are translated).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fix_int.h"

#define NO_CHANNEL N_("WinRM itself is blocked and agentpush runs Windows commands over WinRM only: " \
	"run this PowerShell script as an administrator on the host")
#define NEED_ADMIN N_("the check's own account cannot apply it: give --fix-account NAME (another " \
	"administrator account of the vault, such as the built-in Administrator), or run this " \
	"PowerShell script as an administrator on the host")
#define SAME_ADMIN N_("the --fix-account account is the check's own login: give another " \
	"administrator account, or run this PowerShell script as an administrator on the host")

/* The local name of login user u ("HOST\\name", ".\\name" or "name");
 * NULL for an account of another domain or a UPN (user@domain). */
static const char *
local_name(const struct ap_target *t, const char *u)
{
	const char *p = NULL;

	if (u == NULL || strchr(u, '@') != NULL)
		return NULL;
	if ((p = strchr(u, '\\')) == NULL)
		return u;
	if ((p - u == 1 && u[0] == '.') ||
	    (t->host != NULL && (size_t)(p - u) == strlen(t->host) &&
	     strncasecmp(u, t->host, (size_t)(p - u)) == 0))
		return p + 1;
	return NULL;
}

/* The name part of a login (after a backslash, before an @). */
static size_t
bare(const char *u, const char **start)
{
	const char *p = u != NULL ? strrchr(u, '\\') : NULL;

	*start = p != NULL ? p + 1 : u != NULL ? u : "";
	return strcspn(*start, "@");
}

/* Whether admin logs on as the check's own account (same bare name). */
static int
same_login(const struct ap_fix_input *in)
{
	const char *a = NULL, *b = NULL;
	size_t na = bare(in->admin->user, &a), nb = bare(in->user != NULL ? in->user : "Administrator", &b);

	return na == nb && strncasecmp(a, b, na) == 0;
}

/*
 * Sets the scripts and the channel: remote over WinRM as the check's
 * account (as_admin 0), as the admin account (1, when one is given that
 * is not the check's login), or printed with a reason (-1: never remote).
 */
static int
set_ps(const struct ap_fix_input *in, struct ap_fix_remedy *r, char *commands, char *undo,
       int as_admin, struct ap_ctx *ctx)
{
	const char *why = NULL;

	r->commands = commands;
	r->undo = undo;
	r->shell = strdup("powershell");
	if (as_admin < 0)
		why = NO_CHANNEL;
	else if (as_admin && in->admin == NULL)
		why = NEED_ADMIN;
	else if (as_admin && same_login(in))
		why = SAME_ADMIN;
	if (commands == NULL || undo == NULL || r->shell == NULL ||
	    (why != NULL && (r->advice = strdup(why)) == NULL))
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	r->remote = why == NULL;
	r->as_admin = why == NULL && as_admin > 0;
	return AP_OK;
}

/* 95517: a local administrator gets its full token over the network. */
static int
build_token(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	return set_ps(in, r,
		strdup("# agentpush fix 95517: LocalAccountTokenFilterPolicy = 1 (a privilege change:\n"
		       "# local administrators keep their rights when they log on over the network)\n"
		       "$k = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'\n"
		       "New-ItemProperty -Path $k -Name LocalAccountTokenFilterPolicy -PropertyType DWord -Value 1 -Force -ErrorAction Stop | Out-Null\n"
		       "\"LocalAccountTokenFilterPolicy = 1 in $k\"\n"),
		strdup("# agentpush fix --undo 95517: back to the default (no value: 0)\n"
		       "$k = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'\n"
		       "Remove-ItemProperty -Path $k -Name LocalAccountTokenFilterPolicy -ErrorAction Stop\n"
		       "\"LocalAccountTokenFilterPolicy removed from $k\"\n"),
		1, ctx);
}

/*
 * Enables the firewall rule group whose resource string is group (what
 * names it in a comment); on failure disables again the rules it found
 * disabled, exit 11.
 */
static int
build_fw(const struct ap_fix_input *in, struct ap_fix_remedy *r, int id, const char *group,
         const char *what, int as_admin, struct ap_ctx *ctx)
{
	return set_ps(in, r,
		ap_fix_strf("# agentpush fix %d: enable the firewall rule group %s\n"
		            "# (if that fails, the rules of the group found disabled are disabled again)\n"
		            "$g = '%s'\n"
		            "$off = @(Get-NetFirewallRule -Group $g -ErrorAction Stop | Where-Object { $_.Enabled -eq 'False' })\n"
		            "try {\n"
		            "\tEnable-NetFirewallRule -Group $g -ErrorAction Stop\n"
		            "} catch {\n"
		            "\t$off | Disable-NetFirewallRule -ErrorAction SilentlyContinue\n"
		            "\t[Console]::Error.WriteLine(\"agentpush: Enable-NetFirewallRule failed: $_; the group's rules were left as they were\")\n"
		            "\texit 11\n"
		            "}\n"
		            "\"firewall rule group $g enabled ($($off.Count) of its rules were disabled)\"\n",
		            id, what, group),
		ap_fix_strf("# agentpush fix --undo %d: disable the firewall rule group %s\n"
		            "$g = '%s'\n"
		            "Disable-NetFirewallRule -Group $g -ErrorAction Stop\n"
		            "\"firewall rule group $g disabled\"\n",
		            id, what, group),
		as_admin, ctx);
}

/* 95103: the firewall rule group "Windows Remote Management": WinRM is
 * what is blocked, so no channel of ours reaches the host. */
static int
build_fw_winrm(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	return build_fw(in, r, 95103, "@FirewallAPI.dll,-30267", "Windows Remote Management", -1, ctx);
}

/* 95105: the firewall rule group "File and Printer Sharing", over WinRM. */
static int
build_fw_smb(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	return build_fw(in, r, 95105, "@FirewallAPI.dll,-28502", "File and Printer Sharing", 0, ctx);
}

/* 95519: a disabled local account enabled, by another administrator. */
static int
build_account(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	const char *u = local_name(in->t, in->user);

	if (u == NULL || !ap_fix_word_ok(u, 20, 1, "._-")) {
		r->advice = strdup(N_("a domain account is enabled in Active Directory, not on the host"));
		return r->advice != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return set_ps(in, r,
		ap_fix_strf("# agentpush fix 95519: enable the local account %s (a privilege change)\n"
		            "net user %s /active:yes\n"
		            "if ($LASTEXITCODE -ne 0) {\n"
		            "\t[Console]::Error.WriteLine(\"agentpush: net user exited $LASTEXITCODE; the account is unchanged\")\n"
		            "\texit 11\n"
		            "}\n", u, u),
		ap_fix_strf("# agentpush fix --undo 95519: disable the local account %s again\n"
		            "net user %s /active:no\n"
		            "exit $LASTEXITCODE\n", u, u),
		1, ctx);
}

const struct ap_fix_entry ap_fix_windows_table[] = {
	{ 95517, "token-filter-policy", 1, build_token, NULL },
	{ 95103, "firewall-winrm", 0, build_fw_winrm, NULL },
	{ 95105, "firewall-file-sharing", 0, build_fw_smb, NULL },
	{ 95519, "enable-account", 1, build_account, NULL },
	{ 95518, "domain-trust", 0, NULL, N_("rejoining the domain needs a restart: agentpush never restarts a host") },
	{ 95224, "restart", 0, NULL, N_("needs a restart: agentpush never restarts a host") },
};
const size_t ap_fix_windows_table_n = sizeof(ap_fix_windows_table) / sizeof(ap_fix_windows_table[0]);
