/* TLS on the gateway's client listener: one server SSL_CTX (net/ssl.h) per config snapshot with the
 * certificate, key, optional client CA (mTLS, enforced at the handshake) and minimum version. An
 * ig_gw_tls is immutable after loading and shared by all workers; each SSL holds its own reference to
 * the SSL_CTX, so connections opened before a reload keep their certificate. */
#ifndef IG_GATEWAY_TLS_H
#define IG_GATEWAY_TLS_H

#include <stdbool.h>
#include <stddef.h>
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

/* A server-side SSL for an accepted non-blocking socket, or NULL (out of memory); its I/O goes
 * through net/ssl.h. */
SSL *ig_gw_tls_accept(ig_gw_tls *t, int fd);

#endif
