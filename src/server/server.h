/*
 * server/server.h - what the HTTP API's files share inside libloch.
 */
#ifndef LOCH_SERVER_INTERNAL_H
#define LOCH_SERVER_INTERNAL_H

/* The OpenAPI 3 description of every endpoint (server/openapi.c). */
extern const char server_openapi[];

#endif
