/*
 * fuzz_server_body.c - libFuzzer harness for the configuration server's
 * reading of request bodies (lib/server/json_in.c, over cJSON): any bytes
 * a client sends to POST /api/v1/jobs, /agents/register or a heartbeat.
 * The validation the register route makes is run on them; a body is
 * either accepted with every field as promised, or refused with a 400
 * whose JSON error is one line.  tests/unit/server runs this over
 * tests/fuzz/corpus/server_body/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known[] = {
	"passphrase", "machine_id", "hostname", "os", "kernel", "agent_version",
	"enrollment", "kind", "targets", "parallel", NULL
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ap_srv_req req;
	struct ap_srv_resp resp;
	const char *pass = NULL, *host = NULL;
	char *body = malloc(size + 1);
	cJSON *obj = NULL;
	int parallel = 32;

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.method = "POST";
	req.path = "/api/v1/agents/register";
	req.body = body;
	req.body_len = size;
	req.client_addr = "198.18.0.2";
	if (ap_srv_body_object(&req, &resp, &obj) == 0 &&
	    ap_srv_fields_known(obj, known, &resp) == 0 &&
	    ap_srv_field_string(obj, "passphrase", 1, 256, &pass, &resp) == 0 &&
	    ap_srv_field_string(obj, "hostname", 0, 255, &host, &resp) == 0 &&
	    ap_srv_field_int(obj, "parallel", 1, 1024, &parallel, &resp) == 0) {
		/* accepted: what the handlers then rely on */
		if (pass == NULL || strlen(pass) == 0 || strlen(pass) > 256 ||
		    (host != NULL && strlen(host) > 255) || parallel < 1 || parallel > 1024 ||
		    resp.status != 0)
			abort();
	} else {
		/* refused: a 400 whose message, once decoded, is one line */
		cJSON *e = resp.body != NULL ? cJSON_ParseWithLength(resp.body, resp.body_len) : NULL;
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "error"), "message");

		if (resp.status != 400 || !cJSON_IsString(m) || strpbrk(m->valuestring, "\r\n") != NULL)
			abort();
		cJSON_Delete(e);
	}
	cJSON_Delete(obj);
	free(resp.body);
	free(resp.content_type);
	free(resp.location);
	free(body);
	return 0;
}
