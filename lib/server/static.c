/*
 * static.c - the dashboard's files: GET / (index.html) and GET /NAME for
 * each file of lib/server/dashboard/ compiled in (dashboard.h), with no
 * token (AP_SRV_AUTH_NONE: the page itself asks for the token and sends it
 * on each API call; nothing secret is in these files).
 *
 * Contract: a known name answers 200 with its Content-Type; any other path
 * under / answers 404 (the HTTP layer answers an unknown multi-segment path
 * the same).  The HTTP layer adds the headers every page needs
 * (Content-Security-Policy "default-src 'self'", Cache-Control: no-cache;
 * http.c, send_resp) because these routes come from this table.
 *
 * Ownership: the files are static strings; each answer gets its own copy
 * (the response owns and frees its body).
 */
#include <stdlib.h>
#include <string.h>

#include "server_int.h"
#include "server/dashboard/dashboard.h"

struct dash_file {
	const char *name;            /* the path's last segment */
	const char *content_type;
	const char *(*text)(void);
};

static const struct dash_file dash_files[] = {
	{ "index.html", "text/html; charset=utf-8", ap_srv_dash_index_html },
	{ "app.css", "text/css; charset=utf-8", ap_srv_dash_app_css },
	{ "app.js", "text/javascript; charset=utf-8", ap_srv_dash_app_js },
	{ "favicon.svg", "image/svg+xml", ap_srv_dash_favicon_svg },
};

static void
static_file(struct ap_srv *srv, const struct ap_srv_req *req,
            struct ap_srv_resp *resp)
{
	const char *name = req->param != NULL ? req->param : "index.html";
	const char *text = NULL;
	size_t i;

	(void)srv;
	for (i = 0; i < sizeof(dash_files) / sizeof(dash_files[0]); i++)
		if (strcmp(dash_files[i].name, name) == 0)
			break;
	if (i == sizeof(dash_files) / sizeof(dash_files[0])) {
		ap_srv_resp_error(resp, 404, "not_found", NULL, "no such file");
		return;
	}
	text = dash_files[i].text();
	if ((resp->body = strdup(text)) == NULL ||
	    (resp->content_type = strdup(dash_files[i].content_type)) == NULL) {
		ap_srv_resp_error(resp, 500, "internal", NULL, "out of memory");
		return;
	}
	resp->status = 200;
	resp->body_len = strlen(text);
}

const struct ap_srv_route ap_srv_static_routes[] = {
	{ "GET", "/", AP_SRV_AUTH_NONE, static_file },
	{ "GET", "/{}", AP_SRV_AUTH_NONE, static_file },
	{ NULL, NULL, 0, NULL }
};
