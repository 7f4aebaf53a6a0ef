/* Auth and rate limits on gRPC calls: credentials from the `authorization` / `x-api-key` metadata,
 * the client address from the call's peer and, over mutual TLS, the verified certificate's subject and
 * SANs from the call's auth context; the model from field 1 of the request message, read from the
 * protobuf wire bytes without decoding the message. */
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "net/grpc_int.h"
#include "protocol/pb_peek.h"

static char *slice_dup(grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, GRPC_SLICE_START_PTR(s), n);
    p[n] = 0;
    return p;
}

static bool slice_is(grpc_slice s, const char *name)
{
    size_t n = strlen(name);
    return GRPC_SLICE_LENGTH(s) == n && !strncasecmp((const char *)GRPC_SLICE_START_PTR(s), name, n);
}

void ig__grpc_creds_read(grpc_call *call, const grpc_metadata_array *md, ig__grpc_creds *cr)
{
    memset(cr, 0, sizeof(*cr));
    for (size_t i = 0; md && i < md->count; i++) {
        if (!cr->authorization && slice_is(md->metadata[i].key, "authorization"))
            cr->authorization = slice_dup(md->metadata[i].value);
        else if (!cr->api_key && slice_is(md->metadata[i].key, "x-api-key"))
            cr->api_key = slice_dup(md->metadata[i].value);
    }
    char *peer = grpc_call_get_peer(call);
    cr->has_peer = peer && ig_access_parse_grpc_peer(peer, &cr->peer);
    gpr_free(peer);
    ig_grpc_cert_read(call, &cr->cert);
}

void ig__grpc_creds_free(ig__grpc_creds *cr)
{
    free(cr->authorization);
    free(cr->api_key);
    ig_grpc_cert_free(&cr->cert);
    memset(cr, 0, sizeof(*cr));
}

int ig__grpc_access_check(ig_grpc_server *g, const ig__grpc_creds *cr, const char *model, bool need_admin,
                          char *msg, size_t len)
{
    if (!ig_access_enabled(g->opts.access)) return GRPC_STATUS_OK;
    ig_access_request rq = {.authorization = cr->authorization,
                            .api_key = cr->api_key,
                            .peer = cr->has_peer ? (const struct sockaddr *)&cr->peer : NULL,
                            .cert_subject = cr->cert.subject,
                            .cert_sans = (const char *const *)cr->cert.sans,
                            .n_cert_sans = cr->cert.n_sans,
                            .model = model && *model ? model : NULL,
                            .need_admin = need_admin};
    ig_access_decision d;
    ig_access_check(g->opts.access, &rq, (int64_t)ig_now_ns(), (int64_t)time(NULL), &d);
    if (!d.code) return GRPC_STATUS_OK;
    snprintf(msg, len, "%s", d.why[0] ? d.why : "access denied");
    return d.code == 401   ? GRPC_STATUS_UNAUTHENTICATED
           : d.code == 403 ? GRPC_STATUS_PERMISSION_DENIED
                           : GRPC_STATUS_RESOURCE_EXHAUSTED;
}

bool ig__grpc_peek_string(const uint8_t *buf, size_t len, uint32_t field, char *out, size_t out_len)
{
    return ig_pb_peek_strings(buf, len, field, out, out_len, 0, NULL, 0);
}
