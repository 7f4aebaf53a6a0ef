/* gRPC core server creation with the shared limits, TLS credentials and client certificates (see
 * grpc_core.h). */
#include "net/grpc_core.h"

#include <grpc/support/time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

grpc_server *ig_grpc_core_server(size_t max_message_bytes, grpc_completion_queue **cq)
{
    if (max_message_bytes > INT32_MAX) max_message_bytes = INT32_MAX;
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = (int)max_message_bytes}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 2}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, {.integer = 10000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_CONCURRENT_STREAMS, {.integer = 100}},
    };
    grpc_channel_args ca = {sizeof args / sizeof args[0], args};
    grpc_server *server = grpc_server_create(&ca, NULL);
    *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, *cq, NULL);
    return server;
}

void ig_grpc_core_server_discard(grpc_server *server, grpc_completion_queue *cq)
{
    grpc_server_destroy(server);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

/* gRPC core asks before each handshake whether the certificate changed. */
static grpc_ssl_certificate_config_reload_status fetch_tls(void *arg,
                                                           grpc_ssl_server_certificate_config **config)
{
    ig_grpc_tls_source *src = arg;
    if (src->generation(src->arg) == atomic_load(&src->served))
        return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    ig_tls_pem p;
    unsigned long gen = src->get(src->arg, &p);
    if (!gen) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
    grpc_ssl_pem_key_cert_pair pair = {p.key, p.cert};
    /* gRPC core (1.51) asserts on a fetched config without root certificates even when it asks for no
     * client certificate; it never uses them then, so the server's own chain stands in. */
    *config = grpc_ssl_server_certificate_config_create(p.client_ca ? p.client_ca : p.cert, &pair,
                                                        1); /* copies the strings */
    ig_tls_free(&p);
    if (!*config) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
    atomic_store(&src->served, gen);
    return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

grpc_server_credentials *ig_grpc_core_tls_credentials(ig_grpc_tls_source *src, bool require_client_cert)
{
    /* min_tls_version defaults to TLS 1.2 in gRPC core's SSL server credentials (1.51). */
    grpc_ssl_server_credentials_options *o = grpc_ssl_server_credentials_create_options_using_config_fetcher(
        require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        fetch_tls, src);
    return o ? grpc_ssl_server_credentials_create_with_options(o) : NULL;
}

static void add_san(ig_grpc_cert *c, const char *prefix, const grpc_auth_property *p)
{
    if (c->n_sans >= sizeof(c->sans) / sizeof(c->sans[0])) return;
    size_t n = strlen(prefix) + p->value_length + 1;
    char *s = malloc(n);
    if (!s) return;
    snprintf(s, n, "%s%.*s", prefix, (int)p->value_length, p->value);
    c->sans[c->n_sans++] = s;
}

void ig_grpc_cert_read(grpc_call *call, ig_grpc_cert *out)
{
    memset(out, 0, sizeof *out);
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (!ctx) return;
    /* Only a certificate the TLS stack verified against the client CA carries these properties. */
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_SUBJECT_PROPERTY_NAME);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (p && p->value_length && (out->subject = malloc(p->value_length + 1))) {
        memcpy(out->subject, p->value, p->value_length);
        out->subject[p->value_length] = 0;
    }
    static const struct {
        const char *prop, *prefix;
    } kinds[] = {{GRPC_PEER_DNS_PROPERTY_NAME, "DNS:"},
                 {GRPC_PEER_URI_PROPERTY_NAME, "URI:"},
                 {GRPC_PEER_EMAIL_PROPERTY_NAME, "email:"}};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        it = grpc_auth_context_find_properties_by_name(ctx, kinds[k].prop);
        while ((p = grpc_auth_property_iterator_next(&it))) add_san(out, kinds[k].prefix, p);
    }
    grpc_auth_context_release(ctx);
}

void ig_grpc_cert_free(ig_grpc_cert *c)
{
    free(c->subject);
    for (size_t i = 0; i < c->n_sans; i++) free(c->sans[i]);
    memset(c, 0, sizeof *c);
}
