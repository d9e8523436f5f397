/*
 * server/openapi.c - the OpenAPI 3 description of the HTTP API (src/server/openapi.json,
 * turned into a C string at build time), served at /v1/openapi.json.
 * tests/py/test_server.py validates it, checks that the server's routes and this
 * document list the same endpoints, and runs schemathesis against it.
 */
#include "server/server.h"

const char server_openapi[] =
#include "openapi.inc"
    ;
