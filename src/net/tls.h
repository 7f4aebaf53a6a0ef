/* TLS material for the REST and gRPC ports: PEM files read and checked (the key matches the
 * certificate, the client CA holds at least one certificate) so that a bad file stops serve with a
 * reason instead of failing every handshake later; a store that rereads them on demand (SIGHUP), which
 * the servers consult at each new handshake. */
#ifndef IG_NET_TLS_H
#define IG_NET_TLS_H

#include <stdbool.h>

#include "infergate/error.h"

typedef struct ig_tls_pem {
    char *cert;      /* server certificate chain, PEM */
    char *key;       /* its private key, PEM */
    char *client_ca; /* NULL: no client certificates; else they are required and verified against it */
} ig_tls_pem;

/* Reads one PEM file (at most 1 MiB, not empty) into *out (malloc'd, NUL-terminated); errors name
 * it as "WHAT 'PATH': reason". */
int ig_tls_read_pem(const char *what, const char *path, char **out, ig_error *err);
/* Reads and checks the files (client_ca_path may be NULL). On error nothing is left allocated. */
int ig_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path, ig_tls_pem *out,
                ig_error *err);
void ig_tls_free(ig_tls_pem *t);
/* Copies the texts of from into out; false (out left empty) when out of memory. */
bool ig_tls_pem_copy(const ig_tls_pem *from, ig_tls_pem *out);

/* The current material for the files given, with a generation that grows on each successful reload. */
typedef struct ig_tls_store ig_tls_store;
int ig_tls_store_create(const char *cert_path, const char *key_path, const char *client_ca_path,
                        ig_tls_store **out, ig_error *err);
/* Rereads the files; on any error the current material stays and err says why. Any thread. */
int ig_tls_store_reload(ig_tls_store *s, ig_error *err);
unsigned long ig_tls_store_generation(ig_tls_store *s);
/* Copies the current material into out (free with ig_tls_free); returns its generation, 0 on OOM. */
unsigned long ig_tls_store_get(ig_tls_store *s, ig_tls_pem *out);
/* Whether client certificates are required (fixed for the store's life). */
bool ig_tls_store_client_auth(const ig_tls_store *s);
void ig_tls_store_free(ig_tls_store *s);

#endif
