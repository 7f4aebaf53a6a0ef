/* TLS on the gateway's client listener (OpenSSL 3): one server SSL_CTX per config snapshot with the
 * certificate, key, optional client CA (mTLS, enforced at the handshake) and minimum version, plus
 * non-blocking read/write helpers that map OpenSSL's want-read/want-write onto errno EAGAIN. An
 * ig_gw_tls is immutable after loading and shared by all workers; each SSL holds its own reference to
 * the SSL_CTX, so connections opened before a reload keep their certificate. */
#ifndef IG_GATEWAY_TLS_H
#define IG_GATEWAY_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/conf.h"
#include "infergate/error.h"

typedef struct ig_gw_tls ig_gw_tls;

/* Reads the `tls:` map {cert, key, client_ca (optional), min_version: "1.2"|"1.3"}. Relative paths
 * resolve against base_dir (NULL: the current directory). The files are read now: an unreadable file,
 * a key that does not match the certificate or a bad CA file is a "FILE:LINE: reason" err naming the
 * path. */
ig_gw_tls *ig_gw_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map, const char *base_dir,
                               ig_error *err);
void ig_gw_tls_free(ig_gw_tls *t);
/* true when clients must present a certificate signed by client_ca. */
bool ig_gw_tls_requires_client_cert(const ig_gw_tls *t);

/* A server-side SSL for an accepted non-blocking socket, or NULL (out of memory). The handshake runs
 * inside the first reads and writes. */
SSL *ig_gw_tls_accept(ig_gw_tls *t, int fd);

/* Non-blocking I/O: >0 bytes, 0 on a clean close (close_notify, or EOF between records), or -1 with
 * errno: EAGAIN when the TLS layer waits for the socket (*want_write / *want_read say it waits for
 * the opposite direction: poll for that one too), EPROTO for a TLS failure (failed handshake,
 * refused version or certificate), or the socket's errno. */
ssize_t ig_gw_tls_read(SSL *s, void *buf, size_t len, bool *want_write);
ssize_t ig_gw_tls_write(SSL *s, const void *buf, size_t len, bool *want_read);
/* Decrypted bytes already buffered inside s (readable without waiting for the socket). */
size_t ig_gw_tls_pending(SSL *s);

/* The verified client certificate: subject in RFC 2253 form ("CN=a,O=b") into subject (""
 * when no certificate was presented) and up to max_sans subjectAltNames as "DNS:x", "URI:x",
 * "email:x", "IP:x". Returns the number of SANs written. */
size_t ig_gw_tls_peer(SSL *s, char *subject, size_t subject_cap, char (*sans)[256], size_t max_sans);

/* Best-effort close_notify (never blocks), then frees s. NULL is a no-op. */
void ig_gw_tls_close(SSL *s);

#endif
