/* Auth config and the per-request decision: the CIDR lists first (403), then every presented
 * credential (API key, bearer JWT, client certificate rule). A presented credential that does not
 * verify is 401 even when another would pass, so a bad token never degrades to anonymous access.
 * The request is allowed when any verified credential grants the model (and admin when needed). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/auth_int.h"

typedef struct {
    char *subject; /* exactly one of subject and san */
    char *san;
    ig__auth_models models;
    bool admin;
} mtls_rule;

struct ig_auth {
    bool required;
    ig__auth_cidr *allow, *deny;
    size_t n_allow, n_deny;
    bool has_allow;
    ig__auth_key *keys;
    size_t n_keys;
    ig__auth_jwt *jwt;
    mtls_rule *mtls;
    size_t n_mtls;
};

void ig__auth_copy_printable(char *dst, size_t dst_len, const char *s, size_t n)
{
    if (!dst_len) return;
    size_t i = 0;
    for (; i < n && i + 1 < dst_len; i++) dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = 0;
}

bool ig__auth_models_parse(const ig_conf *c, const ig_conf_node *map, ig__auth_models *m, ig_error *err)
{
    memset(m, 0, sizeof(*m));
    const ig_conf_node *seq = ig_conf_get(map, "models");
    if (!seq) {
        m->all = true;
        return true;
    }
    if (seq->kind == IG_CONF_MAP) return ig_conf_fail(c, seq, err, "models: expected a list of model globs");
    size_t n = seq->kind == IG_CONF_SEQ ? seq->count : 1;
    m->globs = calloc(n ? n : 1, sizeof(*m->globs));
    if (!m->globs) return ig_conf_fail(c, seq, err, "out of memory");
    const ig_conf_node *it = seq->kind == IG_CONF_SEQ ? seq->child : seq;
    for (; it; it = seq->kind == IG_CONF_SEQ ? it->next : NULL) {
        if (!ig_conf_expect(c, it, IG_CONF_SCALAR, err)) return false;
        if (!*it->value) return ig_conf_fail(c, it, err, "models: empty pattern");
        if (!(m->globs[m->n] = strdup(it->value))) return ig_conf_fail(c, it, err, "out of memory");
        m->n++;
    }
    return true;
}

bool ig__auth_models_allow(const ig__auth_models *m, const char *model)
{
    if (m->all || !model) return true;
    for (size_t i = 0; i < m->n; i++)
        if (fnmatch(m->globs[i], model, 0) == 0) return true;
    return false;
}

void ig__auth_models_free(ig__auth_models *m)
{
    for (size_t i = 0; i < m->n; i++) free(m->globs[i]);
    free(m->globs);
    memset(m, 0, sizeof(*m));
}

void ig_auth_free(ig_auth *a)
{
    if (!a) return;
    free(a->allow);
    free(a->deny);
    ig__auth_keys_free(a->keys, a->n_keys);
    ig__auth_jwt_free(a->jwt);
    for (size_t i = 0; i < a->n_mtls; i++) {
        free(a->mtls[i].subject);
        free(a->mtls[i].san);
        ig__auth_models_free(&a->mtls[i].models);
    }
    free(a->mtls);
    free(a);
}

static bool parse_mtls_rule(const ig_conf *c, const ig_conf_node *n, mtls_rule *r, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_MAP, err)) return false;
    const char *subject = NULL, *san = NULL;
    if (!ig_conf_str(c, n, "subject", NULL, &subject, err) || !ig_conf_str(c, n, "san", NULL, &san, err))
        return false;
    if (!subject == !san)
        return ig_conf_fail(c, n, err, "mtls rule: give exactly one of 'subject' and 'san'");
    if (subject && !*subject) return ig_conf_fail(c, n, err, "mtls rule: empty subject");
    if (san) {
        static const char *const kinds[] = {"DNS:", "URI:", "email:", "IP:"};
        bool ok = false;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            ok |= !strncmp(san, kinds[i], strlen(kinds[i])) && san[strlen(kinds[i])];
        if (!ok)
            return ig_conf_fail(c, n, err, "mtls rule: san must look like DNS:x, URI:x, email:x or IP:x");
    }
    r->subject = subject ? strdup(subject) : NULL;
    r->san = san ? strdup(san) : NULL;
    if ((subject && !r->subject) || (san && !r->san)) return ig_conf_fail(c, n, err, "out of memory");
    if (!ig__auth_models_parse(c, n, &r->models, err) || !ig_conf_bool(c, n, "admin", false, &r->admin, err))
        return false;
    return ig_conf_no_unknown(c, n, err);
}

static bool parse_mtls(const ig_conf *c, const ig_conf_node *seq, ig_auth *a, ig_error *err)
{
    if (!ig_conf_expect(c, seq, IG_CONF_SEQ, err)) return false;
    if (seq->count == 0) return ig_conf_fail(c, seq, err, "mtls: empty list");
    a->mtls = calloc(seq->count, sizeof(*a->mtls));
    if (!a->mtls) return ig_conf_fail(c, seq, err, "out of memory");
    for (const ig_conf_node *it = seq->child; it; it = it->next)
        if (!parse_mtls_rule(c, it, &a->mtls[a->n_mtls++], err)) return false;
    return true;
}

ig_auth *ig_auth_from_conf(const ig_conf *c, const ig_conf_node *section, const char *base_dir, ig_error *err)
{
    if (!section || !ig_conf_expect(c, section, IG_CONF_MAP, err)) {
        if (!section) ig_conf_fail(c, NULL, err, "auth: missing section");
        return NULL;
    }
    ig_auth *a = calloc(1, sizeof(*a));
    if (!a) {
        ig_conf_fail(c, section, err, "out of memory");
        return NULL;
    }
    const ig_conf_node *n;
    if ((n = ig_conf_get(section, "allow_cidrs"))) {
        if (!ig__auth_cidrs_parse(c, n, &a->allow, &a->n_allow, err)) goto fail;
        a->has_allow = true;
    }
    if ((n = ig_conf_get(section, "deny_cidrs")) && !ig__auth_cidrs_parse(c, n, &a->deny, &a->n_deny, err))
        goto fail;
    if ((n = ig_conf_get(section, "api_keys")) && !ig__auth_keys_parse(c, n, &a->keys, &a->n_keys, err))
        goto fail;
    if ((n = ig_conf_get(section, "jwt")) && !(a->jwt = ig__auth_jwt_parse(c, n, base_dir, err))) goto fail;
    if ((n = ig_conf_get(section, "mtls")) && !parse_mtls(c, n, a, err)) goto fail;
    bool any = a->n_keys || a->jwt || a->n_mtls;
    if (!ig_conf_bool(c, section, "required", any, &a->required, err)) goto fail;
    if (a->required && !any) {
        ig_conf_fail(c, ig_conf_get(section, "required"), err,
                     "required: true but no api_keys, jwt or mtls is configured (nobody could get in)");
        goto fail;
    }
    if (!ig_conf_no_unknown(c, section, err)) goto fail;
    return a;
fail:
    ig_auth_free(a);
    return NULL;
}

/* Running decision over the credentials a request presents. */
typedef struct {
    bool need_admin;
    const char *model;
    bool any;                   /* some credential verified */
    bool permitted;             /* ... and one of them grants this request */
    ig__auth_grant first, pass; /* the first verified one, the first permitting one */
    const char *first_method, *pass_method;
} verdict;

static void add_grant(verdict *v, const ig__auth_grant *g, const char *method)
{
    if (!v->any) {
        v->any = true;
        v->first = *g;
        v->first_method = method;
    }
    if (!v->permitted && g->model_ok && (!v->need_admin || g->admin)) {
        v->permitted = true;
        v->pass = *g;
        v->pass_method = method;
    }
}

static void grant_key(const ig_auth *a, long idx, const char *model, verdict *v)
{
    const ig__auth_key *k = &a->keys[idx];
    ig__auth_grant g = {.admin = k->admin, .model_ok = ig__auth_models_allow(&k->models, model)};
    ig__auth_copy_printable(g.principal, sizeof(g.principal), k->name, strlen(k->name));
    add_grant(v, &g, "key");
}

static void set_why(char *why, size_t why_len, const char *s)
{
    if (why && why_len) snprintf(why, why_len, "%s", s);
}

/* A bearer token: an API key when one matches (all keys are always hashed), else a JWT. */
static bool check_bearer(const ig_auth *a, const char *tok, size_t len, const ig_auth_request *rq, verdict *v,
                         char *why, size_t why_len)
{
    long idx = a->n_keys ? ig__auth_key_find(a->keys, a->n_keys, tok, len) : -1;
    if (idx >= 0) {
        grant_key(a, idx, v->model, v);
        return true;
    }
    if (a->jwt && memchr(tok, '.', len)) {
        ig__auth_grant g = {0};
        if (!ig__auth_jwt_verify(a->jwt, tok, len, rq->now_s, v->model, &g, why, why_len)) return false;
        add_grant(v, &g, "jwt");
        return true;
    }
    set_why(why, why_len, a->n_keys ? "unknown API key" : "bearer token is not a valid JWT");
    return false;
}

static void fill_id(ig_auth_identity *id, const ig__auth_grant *g, const char *method)
{
    if (!id) return;
    memcpy(id->principal, g->principal, sizeof(id->principal));
    snprintf(id->method, sizeof(id->method), "%s", method);
    id->admin = g->admin;
}

ig_auth_result ig_auth_check(const ig_auth *a, const ig_auth_request *rq, const char *model, bool need_admin,
                             ig_auth_identity *id, char *why, size_t why_len)
{
    if (id) {
        memset(id, 0, sizeof(*id));
        strcpy(id->method, "none");
    }
    set_why(why, why_len, "");
    if (a->n_deny && ig__auth_cidrs_match(a->deny, a->n_deny, rq->peer)) {
        set_why(why, why_len, "client address denied");
        return IG_AUTH_FORBIDDEN;
    }
    if (a->has_allow && !ig__auth_cidrs_match(a->allow, a->n_allow, rq->peer)) {
        set_why(why, why_len, "client address not allowed");
        return IG_AUTH_FORBIDDEN;
    }
    verdict v = {.need_admin = need_admin, .model = model};
    if (rq->authorization) {
        const char *p = rq->authorization;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "Bearer", 6) || (p[6] != ' ' && p[6] != '\t')) {
            set_why(why, why_len, "unsupported Authorization scheme (use Bearer)");
            return IG_AUTH_UNAUTHENTICATED;
        }
        p += 6;
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (!len) {
            set_why(why, why_len, "empty bearer token");
            return IG_AUTH_UNAUTHENTICATED;
        }
        if (!check_bearer(a, p, len, rq, &v, why, why_len)) return IG_AUTH_UNAUTHENTICATED;
    }
    if (rq->api_key) {
        long idx = a->n_keys ? ig__auth_key_find(a->keys, a->n_keys, rq->api_key, strlen(rq->api_key)) : -1;
        if (idx < 0) {
            set_why(why, why_len, "unknown API key");
            return IG_AUTH_UNAUTHENTICATED;
        }
        grant_key(a, idx, model, &v);
    }
    bool cert = rq->cert_subject || rq->n_cert_sans;
    bool cert_matched = false;
    for (size_t i = 0; cert && i < a->n_mtls; i++) {
        const mtls_rule *r = &a->mtls[i];
        const char *hit = NULL;
        if (r->subject && rq->cert_subject && !strcmp(r->subject, rq->cert_subject)) hit = rq->cert_subject;
        for (size_t s = 0; r->san && !hit && s < rq->n_cert_sans; s++)
            if (rq->cert_sans[s] && !strcmp(r->san, rq->cert_sans[s])) hit = rq->cert_sans[s];
        if (!hit) continue;
        cert_matched = true;
        ig__auth_grant g = {.admin = r->admin, .model_ok = ig__auth_models_allow(&r->models, model)};
        ig__auth_copy_printable(g.principal, sizeof(g.principal), hit, strlen(hit));
        add_grant(&v, &g, "mtls");
    }
    if (v.permitted) {
        fill_id(id, &v.pass, v.pass_method);
        set_why(why, why_len, "ok");
        return IG_AUTH_ALLOW;
    }
    if (v.any) {
        fill_id(id, &v.first, v.first_method);
        set_why(why, why_len, need_admin && v.first.model_ok ? "admin access required" : "model not allowed");
        return IG_AUTH_FORBIDDEN;
    }
    if (cert && a->n_mtls && !cert_matched) {
        set_why(why, why_len, "client certificate not authorized");
        return IG_AUTH_FORBIDDEN;
    }
    if (a->required) {
        set_why(why, why_len, "credentials required");
        return IG_AUTH_UNAUTHENTICATED;
    }
    if (need_admin) {
        set_why(why, why_len, "admin credentials required");
        return IG_AUTH_UNAUTHENTICATED;
    }
    if (id) snprintf(id->principal, sizeof(id->principal), "anonymous");
    set_why(why, why_len, "anonymous");
    return IG_AUTH_ALLOW;
}
