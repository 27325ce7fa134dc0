/*
 * fuzz_facts.c - libFuzzer harness for the Linux probe output parser, the
 * one parser here that reads text written by a remote machine.
 *
 * Each input is parsed; when it parses, the rules run on it with the default
 * requirements and the built-in matrix, so the disk resolution (which follows
 * slave links the input controls) is fuzzed too.  Must never crash, leak or
 * read out of bounds.  tests/unit/linux runs this over the seed corpus
 * (tests/fuzz/corpus/facts/) through tests/fuzz/fuzz_driver.c in every
 * normal test run.
 */
#include <stddef.h>
#include <stdint.h>

#include "agentpush/linux.h"
#include "agentpush/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ap_ctx *ctx = ap_ctx_new();
	struct ap_report *rep = ap_report_new();
	struct ap_linux_facts *f = NULL;
	struct ap_target t = {0};
	struct ap_result *res = NULL;

	if (ctx == NULL || rep == NULL)
		goto out;
	if (ap_linux_facts_parse((const char *)data, size, &f, ctx) != AP_OK)
		goto out;
	t.spec = t.host = (char *)"198.18.0.1";
	if ((res = ap_report_add_target(rep, &t)) == NULL)
		goto out;
	(void)ap_linux_rules_apply(f, NULL, res, ctx);
out:
	ap_linux_facts_free(f);
	ap_report_free(rep);
	ap_ctx_free(ctx);
	return 0;
}
