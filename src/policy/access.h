/* Access policy for `infergate serve`: the gateway's `auth:` and `rate_limits:` sections read from one
 * YAML file (--policy-config), applied to a request before its body is decoded, and swapped whole on
 * reload while requests are being checked (rate-limit buckets carry over). Protocol-neutral: REST and
 * gRPC fill an ig_access_request from their headers / metadata and map the decision to their codes. */
#ifndef IG_POLICY_ACCESS_H
#define IG_POLICY_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "infergate/error.h"
#include "obs/metrics.h"
#include "policy/auth.h"
#include "policy/rate_limit.h"

typedef struct ig_access ig_access;

/* A holder with no policy: every request is allowed until ig_access_load succeeds. NULL on OOM. */
ig_access *ig_access_create(void);
/* No check may be running. NULL is fine. */
void ig_access_free(ig_access *a);

/* Reads FILE (top-level keys `auth` and `rate_limits`, both optional, anything else an error) and makes
 * it the policy for the next checks; checks running on the previous policy finish on it, and its local
 * rate-limit buckets are carried into rules of the same name and shape. On any error ("FILE:LINE:
 * reason") the current policy stays. Reloads must not run concurrently with each other. */
int ig_access_load(ig_access *a, const char *path, ig_error *err);
/* Parses and validates text as a policy file named name without installing it (tests, --check). */
int ig_access_validate(const char *text, size_t len, const char *name, ig_error *err);
/* True once a policy is installed. */
bool ig_access_enabled(const ig_access *a);

/* What a request presents; pointers are borrowed for the call. */
typedef struct {
    const char *authorization;   /* Authorization header / `authorization` metadata, or NULL */
    const char *api_key;         /* x-api-key, or NULL */
    const struct sockaddr *peer; /* client address, or NULL */
    const char *cert_subject;    /* verified client certificate subject, or NULL */
    const char *const *cert_sans;
    size_t n_cert_sans;
    const char *model; /* the model the request is about, or NULL for server-level requests */
    bool need_admin;   /* repository load/unload */
    uint64_t elements; /* tensor elements when known before decoding, else 0 */
} ig_access_request;

typedef struct {
    int code;            /* 0 allowed, 401, 403 or 429 */
    char why[160];       /* reason for the body / status message when denied */
    char principal[128]; /* the rate-limit key used: authenticated principal, else the client IP */
    bool admin;
    /* Rate-limit response headers ("Name: value\r\n" lines; Retry-After when denied), or "". */
    char headers[384];
} ig_access_decision;

/* Decides one request at now_ns (CLOCK_MONOTONIC, the rate limiter's clock) and now_s (wall clock,
 * JWT times). Thread-safe and lock-free against reloads. Counts denials for ig_access_prometheus. */
void ig_access_check(ig_access *a, const ig_access_request *rq, int64_t now_ns, int64_t now_s,
                     ig_access_decision *out);

/* Appends infergate_auth_denied_total{code}, infergate_rate_limited_total{rule} and
 * infergate_policy_reloads_total{result} in the Prometheus text format. */
void ig_access_prometheus(ig_access *a, ig_buf *b);

/* Splits decision headers ("A: b\r\nC: d\r\n") in place into name/value pairs; returns how many (at most
 * max). buf is a writable copy of the lines and holds the strings. */
int ig_access_split_headers(char *buf, const char **names, const char **values, int max);

/* The client IP of addr as text ("1.2.3.4", "::1"); "" when addr is NULL or not IP. */
void ig_access_ip_string(const struct sockaddr *addr, char *out, size_t len);
/* Parses gRPC's peer string ("ipv4:1.2.3.4:5", "ipv6:[::1]:5", percent-escapes allowed) into ss.
 * false when it is another kind of peer (unix:...) or malformed. */
bool ig_access_parse_grpc_peer(const char *peer, struct sockaddr_storage *ss);

#endif
