/* TLS material for the REST and gRPC ports: PEM files read once at start-up and checked (the key
 * matches the certificate, the client CA holds at least one certificate) so that a bad file stops
 * serve with a reason instead of failing every handshake later. */
#ifndef IG_NET_TLS_H
#define IG_NET_TLS_H

#include "infergate/error.h"

typedef struct ig_tls_pem {
    char *cert;      /* server certificate chain, PEM */
    char *key;       /* its private key, PEM */
    char *client_ca; /* NULL: no client certificates; else they are required and verified against it */
} ig_tls_pem;

/* Reads and checks the files (client_ca_path may be NULL). On error nothing is left allocated. */
int ig_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path, ig_tls_pem *out,
                ig_error *err);
void ig_tls_free(ig_tls_pem *t);

/* GnuTLS priority string for the REST port: TLS 1.2 and 1.3 only. */
#define IG_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

#endif
