/*
 * json_in.c - strict reading of request bodies for the route handlers:
 * the body must be one JSON object, every field known, every value of the
 * right type and range; the first thing wrong becomes the 400 the client
 * gets, naming the field.
 */
#include <math.h>
#include <string.h>

#include "server_int.h"

int
ap_srv_body_object(const struct ap_srv_req *req, struct ap_srv_resp *resp,
                   cJSON **out)
{
	cJSON *j = NULL;

	*out = NULL;
	if (req->body_len == 0) {
		ap_srv_resp_error(resp, 400, "bad_json", NULL, "the request needs a JSON object as its body");
		return -1;
	}
	if (memchr(req->body, '\0', req->body_len) != NULL ||
	    (j = cJSON_ParseWithLength(req->body, req->body_len)) == NULL) {
		ap_srv_resp_error(resp, 400, "bad_json", NULL, "the body is not valid JSON");
		return -1;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		ap_srv_resp_error(resp, 400, "bad_json", NULL, "the body must be a JSON object");
		return -1;
	}
	*out = j;
	return 0;
}

int
ap_srv_fields_known(const cJSON *obj, const char *const *known,
                    struct ap_srv_resp *resp)
{
	const cJSON *it = NULL;
	size_t i;

	cJSON_ArrayForEach(it, obj) {
		int ok = 0;

		for (i = 0; known[i] != NULL; i++)
			if (it->string != NULL && strcmp(it->string, known[i]) == 0)
				ok = 1;
		if (!ok) {
			char name[64];

			ap_srv_safe_copy(it->string != NULL ? it->string : "", name, sizeof(name));
			ap_srv_resp_error(resp, 400, "unknown_field", name,
			                  "%s: this field is not part of the API (docs/api.md)", name);
			return -1;
		}
		/* the same name twice: which one counts is not obvious (a known
		 * name, so printable) */
		for (const cJSON *o = obj->child; o != it; o = o->next)
			if (o->string != NULL && strcmp(o->string, it->string) == 0) {
				ap_srv_resp_error(resp, 400, "bad_field", it->string,
				                  "%s: given twice", it->string);
				return -1;
			}
	}
	return 0;
}

void
ap_srv_safe_copy(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
}

int
ap_srv_field_string(const cJSON *obj, const char *name, int required,
                    size_t max_len, const char **out, struct ap_srv_resp *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t i, len;

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (!required)
			return 0;
		ap_srv_resp_error(resp, 400, "bad_field", name, "%s: required", name);
		return -1;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		ap_srv_resp_error(resp, 400, "bad_field", name, "%s: expected a string", name);
		return -1;
	}
	len = strlen(v->valuestring);
	if (len == 0 || len > max_len) {
		ap_srv_resp_error(resp, 400, "bad_field", name, "%s: expected 1 to %zu characters", name, max_len);
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)v->valuestring[i] < 0x20 && v->valuestring[i] != '\n' &&
		    v->valuestring[i] != '\t' && v->valuestring[i] != '\r') {
			ap_srv_resp_error(resp, 400, "bad_field", name, "%s: holds a control character", name);
			return -1;
		}
	*out = v->valuestring;
	return 0;
}

int
ap_srv_field_int(const cJSON *obj, const char *name, int min, int max,
                 int *out, struct ap_srv_resp *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (v == NULL || cJSON_IsNull(v))
		return 0;   /* *out keeps its default */
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < min || v->valuedouble > max) {
		ap_srv_resp_error(resp, 400, "bad_field", name, "%s: expected a whole number from %d to %d",
		                  name, min, max);
		return -1;
	}
	*out = (int)v->valuedouble;
	return 0;
}

int
ap_srv_param_id(const char *param, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (param == NULL || param[0] == '\0' || strlen(param) > 15)
		return -1;
	for (i = 0; param[i] != '\0'; i++) {
		if (param[i] < '0' || param[i] > '9')
			return -1;
		v = v * 10 + (param[i] - '0');
	}
	if (v <= 0)
		return -1;
	*out = v;
	return 0;
}
