/* OpenSSL in front of a plain HTTP server (serve's REST port): threads with their own event loops
 * accept on the port, complete the TLS handshake (TLS >= 1.2; with a client CA, a verified client
 * certificate is required), then hand the server one end of a socketpair as an ordinary connection
 * and relay bytes between it and the TLS connection. Each new handshake uses the TLS store's current
 * material, so a reload reaches new connections while open ones keep theirs. The verified client
 * certificate of each relayed connection can be looked up by the server end's descriptor, which is
 * how requests learn it for mTLS subject/SAN rules. */
#ifndef IG_NET_TLS_FRONT_H
#define IG_NET_TLS_FRONT_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "infergate/error.h"
#include "net/ssl.h"
#include "net/tls.h"

/* Gives the server a decrypted connection: fd (non-blocking) is the server's from now on, to close
 * even when this fails; addr is the TLS client's address. Returns 0, or -1 when it was refused. */
typedef int (*ig_tls_front_handoff)(void *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen);

typedef struct ig_tls_front_config {
    const struct sockaddr *addr; /* where to listen (port 0: an ephemeral one) */
    socklen_t addrlen;
    ig_tls_store *tls; /* borrowed until ig_tls_front_free */
    int threads;       /* 0 = 1 */
    unsigned handshake_timeout_ms;
    unsigned max_connections; /* TLS connections at once, handshaking ones included; 0 = no limit */
    ig_tls_front_handoff handoff;
    void *ctx;
} ig_tls_front_config;

typedef struct ig_tls_front ig_tls_front;

/* A verified client certificate, shared by the relay and the requests that ran on it. */
typedef struct ig_tls_peer {
    atomic_int refs;
    ig_ssl_identity id;
} ig_tls_peer;
void ig_tls_peer_unref(ig_tls_peer *p);

/* Binds, listens and starts the threads. */
int ig_tls_front_start(const ig_tls_front_config *cfg, ig_tls_front **out, ig_error *err);
int ig_tls_front_port(const ig_tls_front *f);
/* The client certificate behind the server end fd of a relayed connection (a reference), or NULL
 * when none was asked for or the connection is gone. Any thread. */
ig_tls_peer *ig_tls_front_peer(ig_tls_front *f, int fd);
/* Stops accepting: the listener is closed, relayed connections go on. Not from a front thread. */
void ig_tls_front_quiesce(ig_tls_front *f);
/* Quiesces, waits up to linger_ms for the relays to deliver what the server wrote before it closed
 * its ends, then closes the rest and frees. NULL is a no-op. */
void ig_tls_front_free(ig_tls_front *f, unsigned linger_ms);

#endif
