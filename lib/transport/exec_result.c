/*
 * exec_result.c - release of an ap_exec_result (see transport.h), shared by
 * every backend.
 */
#include <stdlib.h>
#include <string.h>

#include "agentpush/transport.h"

void
ap_exec_result_clear(struct ap_exec_result *res)
{
	if (res == NULL)
		return;
	free(res->out);
	free(res->err);
	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
}
