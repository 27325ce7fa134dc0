/*
 * api_errors.c - the ErrorID catalog over HTTP (docs/api.md "ErrorIDs"),
 * in the language the client asks for, and the health route.
 *
 * Language: the catalog's texts go through gettext, which follows the
 * calling thread's locale (uselocale(3)), so each request renders in its
 * own language without touching the process's locale.  Accept-Language is
 * read for fr and en, by q-value; anything else is English.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "agentpush/catalog.h"
#include "agentpush/explain.h"
#include "server_int.h"

/*
 * 1 when Accept-Language prefers French to English (q-values honoured,
 * first listed wins a tie), else 0.
 */
int
ap_srv_wants_french(const char *al)
{
	double best_fr = -1, best_en = -1;
	const char *p = al;

	if (al == NULL)
		return 0;
	while (*p != '\0') {
		char tag[32];
		size_t n = strcspn(p, ",;");
		const char *q = NULL, *end = p + strcspn(p, ",");
		double qv = 1.0;

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n >= sizeof(tag))
			n = sizeof(tag) - 1;
		memcpy(tag, p, n);
		tag[n] = '\0';
		while (n > 0 && tag[n - 1] == ' ')
			tag[--n] = '\0';
		if ((q = strstr(p, ";q=")) != NULL && q < end)
			qv = strtod(q + 3, NULL);
		if ((strncasecmp(tag, "fr", 2) == 0 && (tag[2] == '\0' || tag[2] == '-')) && qv > best_fr)
			best_fr = qv;
		if ((strncasecmp(tag, "en", 2) == 0 && (tag[2] == '\0' || tag[2] == '-')) && qv > best_en)
			best_en = qv;
		p = *end == ',' ? end + 1 : end;
	}
	return best_fr > 0 && best_fr > best_en;
}

/* Runs render in the request's language; returns what it returned. */
static cJSON *
in_language(const struct ap_srv_req *req, cJSON *(*render)(const void *),
            const void *arg)
{
	locale_t loc = (locale_t)0, old = (locale_t)0;
	cJSON *j = NULL;

	if (ap_srv_wants_french(req->accept_language))
		loc = newlocale(LC_MESSAGES_MASK | LC_CTYPE_MASK, "fr_FR.UTF-8", (locale_t)0);
	if (loc != (locale_t)0)
		old = uselocale(loc);
	j = render(arg);
	if (loc != (locale_t)0) {
		uselocale(old);
		freelocale(loc);
	}
	return j;
}

static cJSON *
render_list(const void *unused)
{
	cJSON *root = NULL, *arr = NULL;
	size_t i;

	(void)unused;
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(root, "count", (double)ap_catalog_count()) == NULL ||
	    (arr = cJSON_AddArrayToObject(root, "errors")) == NULL)
		goto fail;
	for (i = 0; i < ap_catalog_count(); i++)
		if (!cJSON_AddItemToArray(arr, ap_explain_entry_json(ap_catalog_at(i))))
			goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

static cJSON *
render_one(const void *e)
{
	return ap_explain_entry_json(e);
}

static void
errors_list(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	(void)srv;
	ap_srv_resp_json(resp, 200, in_language(req, render_list, NULL));
}

static void
errors_one(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	const struct ap_catalog_entry *e = NULL;
	char *end = NULL;
	long id;

	(void)srv;
	id = strtol(req->param, &end, 10);
	if (end != req->param && *end == '\0' && id > 0 && id < 100000000)
		e = ap_catalog_find((int)id);
	else
		e = ap_catalog_find_name(req->param);  /* by name, as explain */
	if (e == NULL) {
		ap_srv_resp_error(resp, 404, "not_found", "id", "no ErrorID %.40s in the catalog (GET /api/v1/errors lists them)",
		                  req->param);
		return;
	}
	ap_srv_resp_json(resp, 200, in_language(req, render_one, e));
}

static void
health(struct ap_srv *srv, const struct ap_srv_req *req, struct ap_srv_resp *resp)
{
	cJSON *j = cJSON_CreateObject();

	(void)srv;
	(void)req;
	if (j != NULL && cJSON_AddStringToObject(j, "status", "ok") == NULL) {
		cJSON_Delete(j);
		j = NULL;
	}
	ap_srv_resp_json(resp, 200, j);
}

const struct ap_srv_route ap_srv_error_routes[] = {
	{ "GET", "/api/v1/health", AP_SRV_AUTH_NONE, health },
	{ "GET", "/api/v1/errors", AP_SRV_AUTH_ADMIN, errors_list },
	{ "GET", "/api/v1/errors/{}", AP_SRV_AUTH_ADMIN, errors_one },
	{ NULL, NULL, 0, NULL }
};
