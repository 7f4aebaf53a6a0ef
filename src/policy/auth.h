/* Authentication and authorization for the gateway and `serve`: API keys (salted SHA-256, compared in
 * constant time), JWTs verified against a JWKS file (RS*, PS*, ES*, HS* with each key bound to its kty),
 * mTLS subject/SAN rules and client CIDR allow/deny lists. A request maps to allow, 401 or 403.
 * An ig_auth is immutable after ig_auth_from_conf and may be shared by any number of threads. */
#ifndef IG_POLICY_AUTH_H
#define IG_POLICY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/conf.h"
#include "infergate/error.h"

typedef struct ig_auth ig_auth;

/* Reads the `auth:` map (section) of c. base_dir resolves a relative jwks_file (NULL: the current
 * directory). Returns NULL with a "FILE:LINE: reason" err on any invalid or unknown setting. */
ig_auth *ig_auth_from_conf(const ig_conf *c, const ig_conf_node *section, const char *base_dir,
                           ig_error *err);
void ig_auth_free(ig_auth *a);

/* What a request presents. All pointers are borrowed for the duration of ig_auth_check. */
typedef struct {
    const char *authorization;    /* "Authorization" header value or NULL */
    const char *api_key;          /* "x-api-key" header value or NULL */
    const struct sockaddr *peer;  /* client address (AF_INET or AF_INET6); NULL fails any CIDR rule */
    const char *cert_subject;     /* verified client certificate subject (RFC 2253, "CN=a,O=b") or NULL */
    const char *const *cert_sans; /* its subjectAltNames as "DNS:x", "URI:spiffe://..", "email:.." */
    size_t n_cert_sans;
    int64_t now_s; /* wall-clock seconds since the epoch (JWT exp/nbf/iat) */
} ig_auth_request;

typedef struct {
    char principal[128]; /* key name, JWT sub, cert subject/SAN, or "anonymous"; printable ASCII only */
    char method[8];      /* "key", "jwt", "mtls", "none" */
    bool admin;
} ig_auth_identity;

typedef enum { IG_AUTH_ALLOW = 0, IG_AUTH_UNAUTHENTICATED = 401, IG_AUTH_FORBIDDEN = 403 } ig_auth_result;

/* Decides one request. model: the model it targets (NULL for paths not about a model); need_admin:
 * the admin API. id (may be NULL) names who was recognised, also on 403. why (may be NULL) receives a
 * short reason for the response body and the log; it never contains a presented secret. */
ig_auth_result ig_auth_check(const ig_auth *a, const ig_auth_request *rq, const char *model, bool need_admin,
                             ig_auth_identity *id, char *why, size_t why_len);

/* "sha256$<32 hex salt>$<64 hex SHA-256(salt || key)>" with 16 fresh random salt bytes: the form the
 * config stores. out_len must be at least IG_AUTH_HASH_LEN. Returns 0, IG_EINVAL or IG_EUNAVAILABLE
 * (no randomness). */
#define IG_AUTH_HASH_LEN 105
int ig_auth_hash_key(const char *key, char *out, size_t out_len);

#endif
