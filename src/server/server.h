/*
 * server/server.h - what the HTTP API's files share inside libloch.
 */
#ifndef LOCH_SERVER_INTERNAL_H
#define LOCH_SERVER_INTERNAL_H

/* The OpenAPI 3 description of every endpoint (server/openapi.c). */
extern const char server_openapi[];

/* The model servers' APIs (OpenAI's, Ollama's) over the server's embedded models
 * (server/models_api.c). */
#include "adapters/http.h"
#include "loch/lake.h"
typedef struct models_api models_api;
int models_api_open(models_api **out, const loch_lake_options *lake_options);
void models_api_free(models_api *m);
/* The route a path is, if it is one of them (NULL: not), and the methods it takes. */
const char *models_api_match(const char *path, const char **methods);
void models_api_handle(models_api *m, const char *route, http_request *req, http_response *out);

#endif
