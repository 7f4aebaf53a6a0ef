/* Auth config validation, API keys (Bearer and x-api-key, model globs, admin), CIDR allow/deny for
 * IPv4, IPv6 and v4-mapped peers, mTLS subject/SAN rules, and how several credentials combine. JWTs
 * are covered in test_auth_jwt.c. */
#include "policy/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static char hash_a[IG_AUTH_HASH_LEN], hash_b[IG_AUTH_HASH_LEN], hash_adm[IG_AUTH_HASH_LEN];

static ig_auth *load(const char *yaml, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "t.yaml", err);
    if (!c) return NULL;
    ig_auth *a = ig_auth_from_conf(c, ig_conf_get(ig_conf_root(c), "auth"), NULL, err);
    ig_conf_free(c);
    return a;
}

/* Loading yaml fails and the message contains want. */
static void bad(const char *yaml, const char *want)
{
    ig_error err;
    ig_auth *a = load(yaml, &err);
    CHECK(a == NULL);
    if (!strstr(err.msg, want)) fprintf(stderr, "  message was: %s (wanted %s)\n", err.msg, want);
    CHECK(strstr(err.msg, want) != NULL);
    ig_auth_free(a);
}

static struct sockaddr_in v4(const char *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, s, &sa.sin_addr);
    return sa;
}

static struct sockaddr_in6 v6(const char *s)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, s, &sa.sin6_addr);
    return sa;
}

static void test_hash_key(void)
{
    char h1[IG_AUTH_HASH_LEN], h2[IG_AUTH_HASH_LEN], small[50];
    CHECK_EQ_INT(ig_auth_hash_key("secret", h1, sizeof(h1)), 0);
    CHECK_EQ_INT(ig_auth_hash_key("secret", h2, sizeof(h2)), 0);
    CHECK_EQ_INT(strlen(h1), IG_AUTH_HASH_LEN - 1);
    CHECK(!strncmp(h1, "sha256$", 7) && h1[39] == '$');
    CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
    CHECK(strstr(h1, "secret") == NULL);
    CHECK_EQ_INT(ig_auth_hash_key("secret", small, sizeof(small)), IG_EINVAL);
    CHECK_EQ_INT(ig_auth_hash_key("", h1, sizeof(h1)), IG_EINVAL);
}

static void test_config_errors(void)
{
    char y[2048];
    bad("auth:\n  api_keys:\n    - name: a\n      hash: \"plainsecretkey\"\n", "t.yaml:4:");
    bad("auth:\n  api_keys:\n    - name: a\n      hash: \"plainsecretkey\"\n", "plain keys are not accepted");
    {
        ig_error err;
        CHECK(!load("auth:\n  api_keys:\n    - name: a\n      hash: \"plainsecretkey\"\n", &err));
        CHECK(strstr(err.msg, "plainsecretkey") == NULL); /* never echoed */
    }
    bad("auth:\n  api_keys:\n    - name: a\n      hash: \"sha256$00$11\"\n", "t.yaml:4:");
    snprintf(y, sizeof(y), "auth:\n  api_keys:\n    - name: a\n      hash: \"%s\"\n      colour: red\n",
             hash_a);
    bad(y, "t.yaml:5: unknown key 'colour'");
    snprintf(y, sizeof(y), "auth:\n  api_keys:\n    - name: a\n      hash: \"%s\"\n  requierd: true\n",
             hash_a);
    bad(y, "t.yaml:5: unknown key 'requierd'");
    snprintf(y, sizeof(y),
             "auth:\n  api_keys:\n    - name: a\n      hash: \"%s\"\n    - name: a\n      hash: \"%s\"\n",
             hash_a, hash_b);
    bad(y, "used twice");
    snprintf(y, sizeof(y), "auth:\n  api_keys:\n    - name: a\n      hash: \"%s\"\n      admin: maybe\n",
             hash_a);
    bad(y, "t.yaml:5:");
    bad("auth:\n  allow_cidrs: [10.0.0.0/33]\n", "t.yaml:2:");
    bad("auth:\n  allow_cidrs: [\"10.1.2.3/8\"]\n", "bits set past");
    bad("auth:\n  deny_cidrs: [\"banana\"]\n", "not an IPv4 or IPv6");
    bad("auth:\n  deny_cidrs: [\"::1/129\"]\n", "bad prefix");
    bad("auth:\n  required: true\n  allow_cidrs: [127.0.0.0/8]\n", "nobody could get in");
    bad("auth:\n  mtls:\n    - subject: CN=a\n      san: DNS:a\n", "exactly one");
    bad("auth:\n  mtls:\n    - san: a.example\n", "san must look like");
    bad("auth:\n  mtls:\n    - subject: CN=a\n      models: {a: b}\n", "t.yaml:4:");
    bad("auth:\n  jwt:\n    jwks_file: /nonexistent/keys.jwks\n    algorithms: [RS256]\n", "cannot open");
    bad("auth:\n  jwt:\n    jwks_file: k\n    algorithms: [none]\n", "can never be allowed");
    bad("auth:\n  jwt:\n    jwks_file: k\n    algorithms: [XS256]\n", "unsupported 'XS256'");
    bad("auth:\n  jwt:\n    jwks_file: k\n", "missing key 'algorithms'");
    bad("auth:\n  jwt:\n    jwks_file: k\n    algorithms: [RS256]\n    leeway: 5m\n", "at most 60s");
    bad("auth:\n  jwt:\n    algorithms: [RS256]\n", "missing key 'jwks_file'");
    bad("auth:\n  jwt:\n    jwks_file: k\n    algorithms: [RS256]\n    issuer: x\n    isuser: y\n",
        "unknown key");
}

static ig_auth_result chk(const ig_auth *a, const ig_auth_request *rq, const char *model, bool admin,
                          ig_auth_identity *id, char *why)
{
    return ig_auth_check(a, rq, model, admin, id, why, 128);
}

static void test_api_keys(void)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "auth:\n"
             "  api_keys:\n"
             "    - name: team-a\n"
             "      hash: \"%s\"\n"
             "      models: [\"mlp\", \"resnet*\"]\n"
             "    - name: team-b\n"
             "      hash: \"%s\"\n"
             "      models: [\"bert\"]\n"
             "    - name: ops\n"
             "      hash: \"%s\"\n"
             "      admin: true\n",
             hash_a, hash_b, hash_adm);
    ig_error err;
    ig_auth *a = load(y, &err);
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    struct sockaddr_in peer = v4("192.0.2.1");
    ig_auth_identity id;
    char why[128];
    ig_auth_request rq = {.authorization = "Bearer key-a-secret", .peer = (struct sockaddr *)&peer};
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.principal, "team-a");
    CHECK_STR(id.method, "key");
    CHECK(!id.admin);
    CHECK_EQ_INT(chk(a, &rq, "resnet50", false, &id, why), IG_AUTH_ALLOW);
    CHECK_EQ_INT(chk(a, &rq, NULL, false, &id, why), IG_AUTH_ALLOW); /* server metadata */
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_FORBIDDEN);
    CHECK_STR(id.principal, "team-a");
    CHECK_EQ_INT(chk(a, &rq, "mlp", true, &id, why), IG_AUTH_FORBIDDEN);
    CHECK_STR(why, "admin access required");
    /* Scheme is case-insensitive; surrounding blanks are trimmed. */
    rq.authorization = "bearer   key-a-secret  ";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_ALLOW);
    rq.authorization = "Basic a2V5LWEtc2VjcmV0";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    rq.authorization = "Bearer ";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    /* Unknown key: 401 and the reason never repeats it. */
    rq.authorization = "Bearer key-a-secreT";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    CHECK(strstr(why, "secre") == NULL);
    CHECK_STR(id.method, "none");
    /* x-api-key header. */
    rq.authorization = NULL;
    rq.api_key = "key-b-secret";
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.principal, "team-b");
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_FORBIDDEN);
    rq.api_key = "nope";
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    rq.api_key = "";
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    /* Admin key. */
    rq.api_key = "ops-secret";
    CHECK_EQ_INT(chk(a, &rq, "anything", true, &id, why), IG_AUTH_ALLOW);
    CHECK(id.admin);
    CHECK_STR(id.principal, "ops");
    /* No credentials: required defaults to true once keys are configured. */
    rq.api_key = NULL;
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    CHECK_STR(why, "credentials required");
    /* A valid key plus an invalid one: the invalid one decides (401), never the valid one. */
    rq.authorization = "Bearer key-a-secret";
    rq.api_key = "wrong";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    /* Two valid keys: either granting the model is enough. */
    rq.api_key = "key-b-secret";
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.principal, "team-b");
    ig_auth_free(a);
}

static void test_cidr(void)
{
    ig_error err;
    ig_auth *a = load("auth:\n"
                      "  allow_cidrs: [127.0.0.0/8, \"::1/128\", 10.0.0.0/8, \"2001:db8::/32\"]\n"
                      "  deny_cidrs: [10.9.0.0/16, \"2001:db8:bad::/48\"]\n",
                      &err);
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    ig_auth_identity id;
    char why[128];
    struct {
        int v6;
        const char *addr;
        ig_auth_result want;
    } cases[] = {
        {0, "127.0.0.1", IG_AUTH_ALLOW},
        {0, "10.1.2.3", IG_AUTH_ALLOW},
        {0, "10.9.1.1", IG_AUTH_FORBIDDEN}, /* deny wins over allow */
        {0, "192.168.1.1", IG_AUTH_FORBIDDEN},
        {1, "::1", IG_AUTH_ALLOW},
        {1, "::2", IG_AUTH_FORBIDDEN},
        {1, "2001:db8:1::5", IG_AUTH_ALLOW},
        {1, "2001:db8:bad::1", IG_AUTH_FORBIDDEN},
        {1, "2001:db9::1", IG_AUTH_FORBIDDEN},
        {1, "::ffff:127.0.0.1", IG_AUTH_ALLOW}, /* v4-mapped matches v4 rules */
        {1, "::ffff:10.9.3.3", IG_AUTH_FORBIDDEN},
        {1, "::ffff:192.168.1.1", IG_AUTH_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_in s4 = v4(cases[i].addr);
        struct sockaddr_in6 s6 = v6(cases[i].addr);
        ig_auth_request rq = {.peer = cases[i].v6 ? (struct sockaddr *)&s6 : (struct sockaddr *)&s4};
        ig_auth_result r = chk(a, &rq, "m", false, &id, why);
        if (r != cases[i].want) fprintf(stderr, "  cidr case %s\n", cases[i].addr);
        CHECK_EQ_INT(r, cases[i].want);
        if (r == IG_AUTH_ALLOW) CHECK_STR(id.method, "none"); /* anonymous: required defaults to false */
    }
    ig_auth_request none = {0};
    CHECK_EQ_INT(chk(a, &none, "m", false, &id, why), IG_AUTH_FORBIDDEN); /* unknown peer fails closed */
    ig_auth_free(a);

    /* A v4-mapped rule covers plain IPv4 peers too. */
    a = load("auth:\n  deny_cidrs: [\"::ffff:192.168.0.0/112\"]\n", &err);
    CHECK(a != NULL);
    if (a) {
        struct sockaddr_in s4 = v4("192.168.7.7"), o4 = v4("192.169.0.1");
        ig_auth_request rq = {.peer = (struct sockaddr *)&s4};
        CHECK_EQ_INT(chk(a, &rq, "m", false, &id, why), IG_AUTH_FORBIDDEN);
        rq.peer = (struct sockaddr *)&o4;
        CHECK_EQ_INT(chk(a, &rq, "m", false, &id, why), IG_AUTH_ALLOW);
        ig_auth_free(a);
    }
}

static void test_mtls_and_mixed(void)
{
    char y[2048];
    snprintf(y, sizeof(y),
             "auth:\n"
             "  allow_cidrs: [127.0.0.0/8]\n"
             "  api_keys:\n"
             "    - name: team-a\n"
             "      hash: \"%s\"\n"
             "      models: [mlp]\n"
             "  mtls:\n"
             "    - subject: \"CN=client-a,O=Acme\"\n"
             "      models: [\"*\"]\n"
             "      admin: true\n"
             "    - san: \"URI:spiffe://acme/ns/x\"\n"
             "      models: [\"bert\"]\n",
             hash_a);
    ig_error err;
    ig_auth *a = load(y, &err);
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    struct sockaddr_in lo = v4("127.0.0.1"), far = v4("8.8.8.8");
    ig_auth_identity id;
    char why[128];
    ig_auth_request rq = {.peer = (struct sockaddr *)&lo, .cert_subject = "CN=client-a,O=Acme"};
    CHECK_EQ_INT(chk(a, &rq, "resnet", true, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.method, "mtls");
    CHECK_STR(id.principal, "CN=client-a,O=Acme");
    CHECK(id.admin);
    /* The CIDR check comes first, whatever the credentials. */
    rq.peer = (struct sockaddr *)&far;
    CHECK_EQ_INT(chk(a, &rq, "resnet", false, &id, why), IG_AUTH_FORBIDDEN);
    rq.peer = (struct sockaddr *)&lo;
    /* Subject match is exact. */
    rq.cert_subject = "CN=client-a,O=Acme2";
    CHECK_EQ_INT(chk(a, &rq, "resnet", false, &id, why), IG_AUTH_FORBIDDEN);
    CHECK_STR(why, "client certificate not authorized");
    /* SAN rule. */
    const char *sans[] = {"DNS:x.acme", "URI:spiffe://acme/ns/x"};
    rq.cert_subject = "CN=other";
    rq.cert_sans = sans;
    rq.n_cert_sans = 2;
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.principal, "URI:spiffe://acme/ns/x");
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_FORBIDDEN);
    CHECK_EQ_INT(chk(a, &rq, "bert", true, &id, why), IG_AUTH_FORBIDDEN);
    /* Cert grants bert, key grants mlp: any verified credential that grants the model is enough. */
    rq.api_key = "key-a-secret";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.method, "key");
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.method, "mtls");
    CHECK_EQ_INT(chk(a, &rq, "gpt", false, &id, why), IG_AUTH_FORBIDDEN);
    /* A presented but invalid key is 401 even with a good certificate. */
    rq.api_key = "bad";
    CHECK_EQ_INT(chk(a, &rq, "bert", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    /* A key authenticates although the certificate matches no rule. */
    rq.api_key = "key-a-secret";
    rq.cert_sans = NULL;
    rq.n_cert_sans = 0;
    rq.cert_subject = "CN=stranger";
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_ALLOW);
    /* No certificate and nothing else: 401. */
    rq.api_key = NULL;
    rq.cert_subject = NULL;
    CHECK_EQ_INT(chk(a, &rq, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
    ig_auth_free(a);

    /* required: false lets requests without credentials through, never ones with bad credentials. */
    snprintf(y, sizeof(y), "auth:\n  required: false\n  api_keys:\n    - name: a\n      hash: \"%s\"\n",
             hash_a);
    a = load(y, &err);
    CHECK(a != NULL);
    if (a) {
        ig_auth_request r2 = {.peer = (struct sockaddr *)&lo};
        CHECK_EQ_INT(chk(a, &r2, "mlp", false, &id, why), IG_AUTH_ALLOW);
        CHECK_STR(id.principal, "anonymous");
        CHECK_STR(id.method, "none");
        CHECK_EQ_INT(chk(a, &r2, NULL, true, &id, why), IG_AUTH_UNAUTHENTICATED);
        r2.api_key = "wrong";
        CHECK_EQ_INT(chk(a, &r2, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
        r2.api_key = NULL;
        r2.authorization = "Bearer wrong";
        CHECK_EQ_INT(chk(a, &r2, "mlp", false, &id, why), IG_AUTH_UNAUTHENTICATED);
        r2.authorization = "Bearer key-a-secret";
        CHECK_EQ_INT(chk(a, &r2, "mlp", false, &id, why), IG_AUTH_ALLOW);
        CHECK_STR(id.method, "key");
        ig_auth_free(a);
    }
}

int main(void)
{
    CHECK_EQ_INT(ig_auth_hash_key("key-a-secret", hash_a, sizeof(hash_a)), 0);
    CHECK_EQ_INT(ig_auth_hash_key("key-b-secret", hash_b, sizeof(hash_b)), 0);
    CHECK_EQ_INT(ig_auth_hash_key("ops-secret", hash_adm, sizeof(hash_adm)), 0);
    test_hash_key();
    test_config_errors();
    test_api_keys();
    test_cidr();
    test_mtls_and_mixed();
    return CHECK_DONE();
}
