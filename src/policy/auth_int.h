/* Internals shared by the auth files: model glob lists, CIDR lists, API keys, the JWT verifier and
 * the verdict each credential kind returns to the dispatcher in auth.c. */
#ifndef IG_POLICY_AUTH_INT_H
#define IG_POLICY_AUTH_INT_H

#include "policy/auth.h"

/* Globs (fnmatch) of allowed models; all = true when the setting or claim was absent. */
typedef struct {
    char **globs;
    size_t n;
    bool all;
} ig__auth_models;

bool ig__auth_models_parse(const ig_conf *c, const ig_conf_node *map, ig__auth_models *m, ig_error *err);
bool ig__auth_models_allow(const ig__auth_models *m, const char *model);
void ig__auth_models_free(ig__auth_models *m);

typedef struct {
    int family; /* AF_INET or AF_INET6 (v4-mapped v6 rules are stored as AF_INET) */
    unsigned char addr[16];
    int prefix;
} ig__auth_cidr;

/* Parses a list of "ADDR/PREFIX" or "ADDR" (host) entries from seq. */
bool ig__auth_cidrs_parse(const ig_conf *c, const ig_conf_node *seq, ig__auth_cidr **out, size_t *n,
                          ig_error *err);
/* true when peer (v4, v6 or v4-mapped v6) falls in one of the entries. */
bool ig__auth_cidrs_match(const ig__auth_cidr *v, size_t n, const struct sockaddr *peer);

/* What one verified credential grants for this request. */
typedef struct {
    char principal[128];
    bool admin;
    bool model_ok;
} ig__auth_grant;

typedef struct {
    char name[128];
    unsigned char salt[16];
    unsigned char digest[32];
    ig__auth_models models;
    bool admin;
} ig__auth_key;

bool ig__auth_keys_parse(const ig_conf *c, const ig_conf_node *seq, ig__auth_key **out, size_t *n,
                         ig_error *err);
void ig__auth_keys_free(ig__auth_key *v, size_t n);
/* Index of the key whose salted hash matches, or -1. Hashes and compares against every key. */
long ig__auth_key_find(const ig__auth_key *v, size_t n, const char *key, size_t key_len);

typedef struct ig__auth_jwt ig__auth_jwt;
ig__auth_jwt *ig__auth_jwt_parse(const ig_conf *c, const ig_conf_node *map, const char *base_dir,
                                 ig_error *err);
void ig__auth_jwt_free(ig__auth_jwt *j);
/* Verifies token (len bytes) at now_s and, when it verifies, fills g for model. Returns true when
 * valid; false with why set otherwise. */
bool ig__auth_jwt_verify(const ig__auth_jwt *j, const char *token, size_t len, int64_t now_s,
                         const char *model, ig__auth_grant *g, char *why, size_t why_len);

/* Copies s into dst as printable ASCII (others become '?'), truncated to dst_len - 1. */
void ig__auth_copy_printable(char *dst, size_t dst_len, const char *s, size_t n);

#endif
