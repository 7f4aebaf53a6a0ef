/* Embeddable HTTP/1.1 server (on GNU libmicrohttpd; HTTPS through an OpenSSL front): keep-alive,
 * pipelining, HTTP/1.0, Expect: 100-continue, chunked request bodies, size limits answered with 4xx
 * before the body is read, replies from any thread, client-disconnect notification and graceful
 * stop.
 * Why libmicrohttpd: docs/design/http-server.md. */
#ifndef IG_NET_HTTP_SERVER_H
#define IG_NET_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "infergate/error.h"
#include "net/ssl.h"
#include "net/tls.h"

typedef struct ig_http_config {
    const char *bind_address;  /* numeric IPv4/IPv6 address; NULL or "" = 0.0.0.0 */
    int port;                  /* 0 = an ephemeral port (see ig_http_server_port) */
    int io_threads;            /* 0 = 2 */
    size_t max_body_bytes;     /* 0 = 64 MiB; larger Content-Length => 413 before the body is read */
    size_t max_header_bytes;   /* 0 = 16 KiB; sum of "name: value" lengths, else 431 */
    size_t max_uri_bytes;      /* 0 = 8 KiB; raw request target, else 414 */
    unsigned idle_timeout_ms;  /* 0 = 60 s; no bytes from a client for this long closes it (whole s) */
    unsigned max_connections;  /* 0 = 4096 */
    unsigned drain_timeout_ms; /* graceful stop waits at most this for in-flight requests; 0 = 30 s */
    /* NULL: plain HTTP. Else HTTPS (OpenSSL, TLS >= 1.2, net/tls_front.h) with the store's current
     * material at each handshake (a reload reaches new connections; open ones keep theirs); borrowed
     * until destroy. With a client CA a client certificate signed by it is required at the handshake. */
    ig_tls_store *tls;
} ig_http_config;

typedef struct ig_http_header {
    const char *name;
    const char *value;
} ig_http_header;

typedef struct ig_http_server ig_http_server;
typedef struct ig_http_req ig_http_req;

/* Called on an I/O thread once a request and its whole body have arrived. The handler (or any thread
 * it hands req to) must call ig_http_reply exactly once; replying inside the handler is cheapest. */
typedef void (*ig_http_handler)(ig_http_req *req, void *ctx);

/* Told that the client of a not-yet-answered request went away (connection closed or reset, or the
 * server stopped hard). Runs at most once, on an internal thread or on the thread that registers it
 * when the client is already gone; ig_http_reply is still owed afterwards (it then only frees). */
typedef void (*ig_http_close_cb)(ig_http_req *req, void *arg);

/* Copies cfg (bind_address included). Nothing is bound until ig_http_server_start. */
int ig_http_server_create(const ig_http_config *cfg, ig_http_handler handler, void *ctx, ig_http_server **out,
                          ig_error *err);
/* Binds and starts the I/O threads. */
int ig_http_server_start(ig_http_server *srv, ig_error *err);
/* Bound port after start (the ephemeral one when cfg.port was 0), else 0. */
int ig_http_server_port(const ig_http_server *srv);
/* graceful: stop accepting, let in-flight requests finish and their replies go out (up to
 * drain_timeout_ms; replies during the drain carry Connection: close), then close every connection.
 * Not graceful: close every connection now; unanswered requests get their close callback.
 * Must not be called from an I/O thread. Safe to call twice. */
void ig_http_server_stop(ig_http_server *srv, bool graceful);
/* Stops (hard) if needed and frees. Requests not yet answered stay valid until ig_http_reply. */
void ig_http_server_destroy(ig_http_server *srv);

/* Request accessors. Everything returned is owned by req and valid until ig_http_reply is called
 * for it; the accessors may be used from any thread until then. */
const char *ig_http_req_method(const ig_http_req *req);
const char *ig_http_req_path(const ig_http_req *req);  /* percent-decoded path, no query */
const char *ig_http_req_query(const ig_http_req *req); /* raw query after '?', "" if none */
/* First header of that name (case-insensitive), or NULL. */
const char *ig_http_req_header(const ig_http_req *req, const char *name);
const void *ig_http_req_body(const ig_http_req *req, size_t *len); /* the complete body; len 0: NULL */
const struct sockaddr *ig_http_req_client_addr(const ig_http_req *req, socklen_t *len);
/* The verified client certificate of an HTTPS connection with client certificates, or NULL. */
const ig_ssl_identity *ig_http_req_client_cert(const ig_http_req *req);
/* True once the client is known to be gone; any thread. */
bool ig_http_req_client_gone(const ig_http_req *req);
/* Registers cb for a client disconnect before the reply (replaces an earlier one). If the client is
 * already gone, cb runs now on this thread. */
void ig_http_req_on_close(ig_http_req *req, ig_http_close_cb cb, void *arg);

/* Answers req from any thread. Headers and body parts are copied before it returns, so the caller
 * may free them at once; Content-Length is always set by the server (a Content-Length or
 * Transfer-Encoding in headers is ignored). req must not be used afterwards. Returns 0, or
 * IG_EINVAL for a bad status, IG_ENOMEM; the reply is consumed either way (a failed one closes the
 * connection). A reply to a client that is gone is dropped quietly and returns 0. */
int ig_http_reply(ig_http_req *req, int status, const ig_http_header *headers, int n_headers,
                  const struct iovec *body, int n_parts);

#endif
