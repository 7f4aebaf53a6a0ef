/* The gateway's access log: one JSON object per line for every finished REST request and gRPC call,
 * written whole under the shared log lock. The REST data plane (proxy_request.c) and the gRPC front
 * (grpc_proxy.c) fill the same entry, so both kinds of line carry the same fields where they apply. */
#ifndef IG_GATEWAY_ACCESS_LOG_H
#define IG_GATEWAY_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/proxy.h"

typedef struct {
    const char *protocol;    /* NULL: REST (no field); "grpc" */
    const char *request_id;  /* NULL: not logged */
    const char *traceparent; /* NULL: not logged */
    const char *client, *principal;
    const char *method; /* the HTTP method, or the gRPC method path */
    const char *path;   /* NULL: not logged (gRPC) */
    size_t path_len;    /* bytes of path logged (the caller bounds it) */
    const char *model, *version, *route;
    const char *pool;     /* NULL: not logged */
    const char *upstream; /* the last try's endpoint address, "" when none */
    int status;           /* HTTP status; < 0: not logged */
    int grpc_status;      /* gRPC status code; < 0: not logged */
    uint64_t tries, bytes_in, bytes_out, duration_us;
} ig_gw_access_entry;

/* Appends the entry's line to sh->access_log (no-op when the log is off). Strings are escaped, so a
 * line is one JSON object whatever a path or name holds. Any thread. */
void ig_gw_access_log_write(ig_gw_shared *sh, const ig_gw_access_entry *e);

#endif
