/*
 * windows_fix.c - the Windows remedies of `agentpush fix` (fix_int.h).
 *
 * This version applies no Windows remedy over the network: each is printed
 * as a PowerShell script for an administrator to run on the host (remote =
 * 0), with its undo.  Firewall rule groups are named by their resource
 * strings, which every language of Windows shares (the display names are
 * translated).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fix_int.h"

#define PRINTED N_("Windows: run this PowerShell script as an administrator on the host " \
	"(agentpush applies no Windows remedy over the network yet)")

static int
set_ps(struct ap_fix_remedy *r, char *commands, char *undo, struct ap_ctx *ctx)
{
	r->commands = commands;
	r->undo = undo;
	r->shell = strdup("powershell");
	r->advice = strdup(PRINTED);
	if (commands == NULL || undo == NULL || r->shell == NULL || r->advice == NULL)
		return ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	r->remote = 0;
	return AP_OK;
}

/* 95517: a local administrator gets its full token over the network. */
static int
build_token(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	(void)in;
	return set_ps(r,
		strdup("# agentpush fix 95517: LocalAccountTokenFilterPolicy = 1 (a privilege change:\n"
		       "# local administrators keep their rights when they log on over the network)\n"
		       "$k = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'\n"
		       "New-ItemProperty -Path $k -Name LocalAccountTokenFilterPolicy -PropertyType DWord -Value 1 -Force | Out-Null\n"),
		strdup("$k = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'\n"
		       "Remove-ItemProperty -Path $k -Name LocalAccountTokenFilterPolicy\n"),
		ctx);
}

/* 95103: the firewall rule group "Windows Remote Management". */
static int
build_fw_winrm(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	(void)in;
	return set_ps(r,
		strdup("# agentpush fix 95103: enable the firewall rule group Windows Remote Management\n"
		       "Enable-NetFirewallRule -Group '@FirewallAPI.dll,-30267'\n"),
		strdup("Disable-NetFirewallRule -Group '@FirewallAPI.dll,-30267'\n"), ctx);
}

/* 95105: the firewall rule group "File and Printer Sharing". */
static int
build_fw_smb(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	(void)in;
	return set_ps(r,
		strdup("# agentpush fix 95105: enable the firewall rule group File and Printer Sharing\n"
		       "Enable-NetFirewallRule -Group '@FirewallAPI.dll,-28502'\n"),
		strdup("Disable-NetFirewallRule -Group '@FirewallAPI.dll,-28502'\n"), ctx);
}

/* Whether s is a plain local account name (no domain, no quoting needed). */
static int
plain_account(const char *s)
{
	return ap_fix_word_ok(s, 20, 1, "._-");
}

/* 95519: a disabled local account enabled. */
static int
build_account(const struct ap_fix_input *in, struct ap_fix_remedy *r, struct ap_ctx *ctx)
{
	const char *u = in->user, *p = NULL;

	/* HOST\name or .\name is local; another domain is Active Directory's */
	if (u != NULL && (p = strchr(u, '\\')) != NULL) {
		if (!(p - u == 1 && u[0] == '.') &&
		    !(in->t->host != NULL && (size_t)(p - u) == strlen(in->t->host) &&
		      strncasecmp(u, in->t->host, (size_t)(p - u)) == 0))
			u = NULL;
		else
			u = p + 1;
	}
	if (u == NULL || strchr(u, '@') != NULL || !plain_account(u)) {
		r->advice = strdup(N_("a domain account is enabled in Active Directory, not on the host"));
		return r->advice != NULL ? AP_OK : ap_ctx_fail(ctx, AP_ENOMEM, 0, "out of memory");
	}
	return set_ps(r,
		ap_fix_strf("# agentpush fix 95519: enable the local account %s (a privilege change)\n"
		            "net user %s /active:yes\n", u, u),
		ap_fix_strf("net user %s /active:no\n", u), ctx);
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
