/* TLS on the gateway's client listener: one server SSL_CTX (net/ssl.h) per config snapshot with the
 * certificate, key, optional client CA (mTLS, enforced at the handshake) and minimum version. An
 * ig_gw_tls is immutable after loading and shared by all workers; each SSL holds its own reference to
 * the SSL_CTX, so connections opened before a reload keep their certificate. */
#ifndef IG_GATEWAY_TLS_H
#define IG_GATEWAY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/conf.h"
#include "net/ssl.h"
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
/* The certificate, key and client CA texts (for the gRPC front's credentials), and a hash of them that
 * changes when a reload changes them (0 for NULL). */
const ig_tls_pem *ig_gw_tls_pem(const ig_gw_tls *t);
uint64_t ig_gw_tls_fingerprint(const ig_gw_tls *t);

/* A server-side SSL for an accepted non-blocking socket, or NULL (out of memory); its I/O goes
 * through net/ssl.h. */
SSL *ig_gw_tls_accept(ig_gw_tls *t, int fd);

/* TLS towards a pool's upstreams, from the pool's `tls:` map: {ca (optional; default the system's
 * trusted CAs), cert and key (optional, together: the client certificate for upstreams that require
 * one), server_name (optional: the name the upstream's certificate must carry, also sent as SNI;
 * default: the pool's DNS name, else each endpoint's host or address)}. Relative paths resolve
 * against base_dir. Immutable after loading; any thread. */
typedef struct ig_gw_upstream_tls ig_gw_upstream_tls;
ig_gw_upstream_tls *ig_gw_upstream_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map,
                                                 const char *base_dir, const char *dns_host, ig_error *err);
void ig_gw_upstream_tls_free(ig_gw_upstream_tls *t);
/* A hash of the settings (CA, certificate, key and name texts): equal for maps that would open
 * connections the same way, so connections and channels outlive a reload that keeps them, and are
 * never handed to a pool with other settings. Never 0 (NULL, plain connections, gives 0). */
uint64_t ig_gw_upstream_tls_fingerprint(const ig_gw_upstream_tls *t);
/* A client SSL on a connected non-blocking socket to endpoint_address ("host:port", "[v6]:port"),
 * checking the name described above; NULL when out of memory. */
SSL *ig_gw_upstream_tls_connect(const ig_gw_upstream_tls *t, int fd, const char *endpoint_address);
/* For gRPC channels: the PEM texts (ca, cert, key may be NULL) and server_name (NULL when the target's
 * host is the name). */
const char *ig_gw_upstream_tls_ca(const ig_gw_upstream_tls *t);
const char *ig_gw_upstream_tls_cert(const ig_gw_upstream_tls *t);
const char *ig_gw_upstream_tls_key(const ig_gw_upstream_tls *t);
const char *ig_gw_upstream_tls_server_name(const ig_gw_upstream_tls *t);

#endif
