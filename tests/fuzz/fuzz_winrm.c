/*
 * fuzz_winrm.c - libFuzzer harness for what a Windows host sends back: the
 * WS-Management SOAP replies (lib/transport/winrm_xml.c, libxml2 underneath),
 * the facts JSON (lib/windows/facts.c) with the rules on it, and the
 * installer log scanner (lib/windows/rules.c), and the install's readers
 * of a hash and of base64 file bytes (lib/windows/scripts.c).  Every input
 * goes to all five.  Must never crash, leak or read out of bounds.  tests/unit/winrm
 * runs it over tests/fuzz/corpus/winrm through fuzz_driver.c in every
 * normal test run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "agentpush/report.h"
#include "agentpush/windows.h"
#include "transport/winrm_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_report *rep = ap_report_new();
	struct ap_windows_facts *f = NULL;
	struct ap_winrm_reply reply;
	struct ap_capbuf out = { NULL, 0, 0, 1u << 20, 0 };
	struct ap_capbuf err = { NULL, 0, 0, 1u << 20, 0 };
	struct ap_target t = {0};
	struct ap_result *res = NULL;
	char why[256], hex[65], *bin = NULL;
	size_t bin_len = 0;

	if (ctx == NULL || rep == NULL)
		goto out;
	(void)ap_winrm_parse((const char *)data, size, &reply, &out, &err, why,
	                     sizeof(why));
	t.spec = t.host = (char *)"198.18.0.1";
	if ((res = ap_report_add_target(rep, &t)) == NULL)
		goto out;
	if (ap_windows_facts_parse((const char *)data, size, &f, ctx) == AP_OK)
		(void)ap_windows_rules_apply(f, NULL, res, ctx);
	(void)ap_windows_installer_result(511, (const char *)data, size,
	                                  "C:\\log.txt", res, NULL, ctx);
	(void)ap_windows_parse_hash((const char *)data, size, hex);
	if (ap_windows_parse_b64((const char *)data, size, &bin, &bin_len, ctx) == AP_OK)
		(void)ap_windows_installer_result(511, bin, bin_len, "C:\\log.txt", res, NULL, ctx);
out:
	free(bin);
	ap_capbuf_clear(&out);
	ap_capbuf_clear(&err);
	ap_windows_facts_free(f);
	ap_report_free(rep);
	ap_ctx_free(ctx);
	return 0;
}
