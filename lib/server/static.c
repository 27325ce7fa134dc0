/*
 * static.c - the dashboard's files (placeholder until the dashboard lands:
 * no route, so "/" answers 404).
 */
#include "server_int.h"

const struct ap_srv_route ap_srv_static_routes[] = {
	{ NULL, NULL, 0, NULL }
};
