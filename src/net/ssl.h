/* OpenSSL on the server ports that speak HTTP/1.1 (serve's REST port, the gateway's listener): a
 * server SSL_CTX built from PEM text (TLS >= 1.2, no renegotiation, ALPN http/1.1, and with a client
 * CA a verified client certificate required at the handshake), and non-blocking read/write helpers
 * that map OpenSSL's want-read/want-write onto errno EAGAIN. Each SSL holds its own reference to its
 * SSL_CTX, so connections opened before a reload keep the certificate they were offered. */
#ifndef IG_NET_SSL_H
#define IG_NET_SSL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net/tls.h"

/* Which input a context could not be built from. */
typedef enum { IG_SSL_BAD_NONE, IG_SSL_BAD_CERT, IG_SSL_BAD_KEY, IG_SSL_BAD_CA } ig_ssl_bad;

/* Builds a server context from pem (client_ca NULL: no client certificates). min_version is
 * TLS1_2_VERSION or TLS1_3_VERSION. On failure returns NULL, *bad names the input at fault
 * (IG_SSL_BAD_NONE: out of memory or the like) and why holds a one-line reason. An encrypted key is
 * refused, never prompted for. */
SSL_CTX *ig_ssl_server_ctx(const ig_tls_pem *pem, int min_version, ig_ssl_bad *bad, char *why,
                           size_t why_cap);

/* A client context for connections to upstream servers: their certificates are verified against
 * ca_pem (NULL: the system's trusted CAs); cert_pem and key_pem (both or neither) are the client
 * certificate offered when a server asks (mTLS). Failure as for ig_ssl_server_ctx (IG_SSL_BAD_CA
 * for ca_pem). */
SSL_CTX *ig_ssl_client_ctx(const char *ca_pem, const char *cert_pem, const char *key_pem, ig_ssl_bad *bad,
                           char *why, size_t why_cap);
/* A client-side SSL on a connected (or connecting) non-blocking socket that checks the server's
 * certificate names `name` (a DNS name, also sent as SNI, or an IP address), or NULL. The
 * handshake runs inside the first reads and writes, or ig_ssl_handshake. */
SSL *ig_ssl_connect(SSL_CTX *ctx, int fd, const char *name);

/* A server-side SSL for an accepted non-blocking socket, or NULL (out of memory). The handshake runs
 * inside the first reads and writes. */
SSL *ig_ssl_accept(SSL_CTX *ctx, int fd);

/* Drives the handshake on a non-blocking socket: 1 when it is done, else -1 with errno as for
 * ig_ssl_read (EAGAIN: wait for the socket, for writing when *want_write). */
int ig_ssl_handshake(SSL *s, bool *want_write);

/* Non-blocking I/O: >0 bytes, 0 on a clean close (close_notify, or EOF between records), or -1 with
 * errno: EAGAIN when the TLS layer waits for the socket (*want_write / *want_read say it waits for
 * the opposite direction: poll for that one too), EPROTO for a TLS failure (failed handshake,
 * refused version or certificate), or the socket's errno. */
ssize_t ig_ssl_read(SSL *s, void *buf, size_t len, bool *want_write);
ssize_t ig_ssl_write(SSL *s, const void *buf, size_t len, bool *want_read);
/* Decrypted bytes already buffered inside s (readable without waiting for the socket). */
size_t ig_ssl_pending(SSL *s);

enum { IG_SSL_MAX_SANS = 8, IG_SSL_SAN_BYTES = 256 };

/* The verified client certificate: subject in RFC 2253 form ("CN=a,O=b") into subject (""
 * when no certificate was presented) and up to max_sans subjectAltNames as "DNS:x", "URI:x",
 * "email:x", "IP:x". Returns the number of SANs written. */
size_t ig_ssl_peer(SSL *s, char *subject, size_t subject_cap, char (*sans)[IG_SSL_SAN_BYTES],
                   size_t max_sans);

/* A client certificate as auth rules see it (policy/auth.h takes subject and san_ptrs). */
typedef struct ig_ssl_identity {
    char subject[512]; /* "" when no verified certificate was presented */
    char sans[IG_SSL_MAX_SANS][IG_SSL_SAN_BYTES];
    const char *san_ptrs[IG_SSL_MAX_SANS];
    size_t n_sans;
} ig_ssl_identity;
/* Fills id from s's verified peer certificate (after the handshake). */
void ig_ssl_identity_read(SSL *s, ig_ssl_identity *id);

/* Best-effort close_notify (never blocks), then frees s. NULL is a no-op. */
void ig_ssl_close(SSL *s);

#endif
