/* What every gRPC listener (serve's endpoint and the gateway's gRPC front) shares: a gRPC core server
 * with infergate's HTTP/2 limits (the largest message accepted, ping strikes: keepalive pings without
 * calls at most every 10 s, the connection closed after two strikes, which bounds ping floods; at most
 * 100 concurrent streams per connection), TLS credentials whose certificate follows reloads, and the
 * client certificate a call was verified with. */
#ifndef IG_NET_GRPC_CORE_H
#define IG_NET_GRPC_CORE_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "net/tls.h"

/* A new server (not started) with one completion queue for `next` registered; grpc_init is the
 * caller's. max_message_bytes above INT32_MAX is clamped. */
grpc_server *ig_grpc_core_server(size_t max_message_bytes, grpc_completion_queue **cq);
/* Frees a server that never started (its port could not be bound) and drains and frees its queue. */
void ig_grpc_core_server_discard(grpc_server *server, grpc_completion_queue *cq);

/* Where TLS material comes from: gRPC core asks before each handshake, and a generation other than the
 * one it holds hands it the current material (open connections keep theirs). */
typedef struct ig_grpc_tls_source {
    unsigned long (*generation)(void *arg);           /* cheap; never 0 */
    unsigned long (*get)(void *arg, ig_tls_pem *out); /* copies (freed here); its generation, 0 on failure */
    void *arg;
    atomic_ulong served; /* the generation gRPC core holds (0 before the first handshake) */
} ig_grpc_tls_source;

/* Server credentials for TLS >= 1.2 from src (which must outlive the server); with
 * require_client_cert, clients need a certificate that verifies against the material's client CA.
 * NULL on failure. */
grpc_server_credentials *ig_grpc_core_tls_credentials(ig_grpc_tls_source *src, bool require_client_cert);

/* The certificate gRPC core verified for call's client (TLS with client certificates), as auth rules
 * take it: subject (RFC 2253) and SANs "DNS:x", "URI:x", "email:x". Empty when there is none. */
typedef struct ig_grpc_cert {
    char *subject;
    char *sans[16];
    size_t n_sans;
} ig_grpc_cert;
void ig_grpc_cert_read(grpc_call *call, ig_grpc_cert *out);
void ig_grpc_cert_free(ig_grpc_cert *c);

#endif
