/*
 * pipeline.c - the table of host pipelines (pipeline.h).
 */
#include <stddef.h>

#include "pipeline.h"

static const struct ap_pipeline_ops *const pipelines[] = {
	&ap_pipeline_linux,
	&ap_pipeline_windows,
};

const struct ap_pipeline_ops *
ap_pipeline_for(enum ap_os os)
{
	size_t i;

	for (i = 0; i < sizeof(pipelines) / sizeof(pipelines[0]); i++)
		if (pipelines[i]->os == os)
			return pipelines[i];
	return NULL;
}
