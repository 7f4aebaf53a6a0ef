/* serve's access policy: policy files good and bad (FILE:LINE), API keys, model and admin scopes,
 * rate limits keyed by principal or client IP with their headers, reload (invalid keeps the old
 * policy, buckets carry over), checks racing reloads, gRPC peer strings and the metrics text. */
#include "policy/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char path[64];
static char hash_a[IG_AUTH_HASH_LEN], hash_admin[IG_AUTH_HASH_LEN];

static void write_policy(const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void policy_with(char *out, size_t len, const char *models, const char *rate)
{
    snprintf(out, len,
             "auth:\n"
             "  api_keys:\n"
             "    - {name: team-a, hash: \"%s\", models: %s}\n"
             "    - {name: ops, hash: \"%s\", admin: true}\n"
             "rate_limits:\n"
             "  rules:\n"
             "    - {name: per-key, per: key, rate: %s, burst: 2}\n",
             hash_a, models, hash_admin, rate);
}

static struct sockaddr_in loopback(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(1234)};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    return in;
}

static int decide(ig_access *a, const char *key, const char *model, bool admin, int64_t now_ns,
                  ig_access_decision *d)
{
    struct sockaddr_in in = loopback();
    ig_access_request rq = {
        .api_key = key, .peer = (struct sockaddr *)&in, .model = model, .need_admin = admin};
    ig_access_check(a, &rq, now_ns, 1700000000, d);
    return d->code;
}

static void test_validate(void)
{
    ig_error err = {0};
    static const char limits_only[] = "rate_limits:\n  backend: local\n";
    CHECK_EQ_INT(ig_access_validate(limits_only, strlen(limits_only), "p.yaml", &err), 0);
    static const char empty[] = "";
    CHECK(ig_access_validate(empty, 0, "p.yaml", &err) != 0);
    err = (ig_error){0};
    static const char unknown[] = "rate_limits:\n  backend: local\nbogus: 1\n";
    CHECK(ig_access_validate(unknown, strlen(unknown), "p.yaml", &err) != 0);
    CHECK(strstr(err.msg, "p.yaml:3") != NULL);
    static const char bad_rule[] = "rate_limits:\n  rules:\n    - {name: x, rate: 10/fortnight}\n";
    err = (ig_error){0};
    CHECK(ig_access_validate(bad_rule, strlen(bad_rule), "p.yaml", &err) != 0);
    CHECK(strstr(err.msg, "p.yaml:3") != NULL);
    static const char bad_auth[] = "auth:\n  api_keys:\n    - {name: a, hash: nothex}\n";
    err = (ig_error){0};
    CHECK(ig_access_validate(bad_auth, strlen(bad_auth), "p.yaml", &err) != 0);
    CHECK(strstr(err.msg, "p.yaml:") != NULL);
    static const char seq[] = "- a\n- b\n";
    err = (ig_error){0};
    CHECK(ig_access_validate(seq, strlen(seq), "p.yaml", &err) != 0);
}

static void test_checks_and_reload(void)
{
    char text[2048];
    ig_access *a = ig_access_create();
    CHECK(a != NULL);
    ig_access_decision d;
    /* No policy yet: everything passes. */
    CHECK_EQ_INT(decide(a, NULL, "m", true, 0, &d), 0);
    CHECK(!ig_access_enabled(a));

    policy_with(text, sizeof(text), "[\"m*\"]", "2/m");
    write_policy(text);
    ig_error err = {0};
    CHECK_EQ_INT(ig_access_load(a, path, &err), 0);
    CHECK(ig_access_enabled(a));
    CHECK_EQ_INT(decide(a, NULL, "m1", false, 0, &d), 401);
    CHECK_EQ_INT(decide(a, "wrong", "m1", false, 0, &d), 401);
    CHECK_EQ_INT(decide(a, "key-a", "other", false, 0, &d), 403);
    CHECK_EQ_INT(decide(a, "key-a", NULL, true, 0, &d), 403);
    CHECK_EQ_INT(decide(a, "key-ops", NULL, true, 0, &d), 0);
    CHECK(d.admin);
    CHECK_EQ_INT(decide(a, "key-a", "m1", false, 0, &d), 0);
    CHECK_STR(d.principal, "team-a");
    CHECK(strstr(d.headers, "RateLimit-Policy:") != NULL);
    CHECK_EQ_INT(decide(a, "key-a", "m1", false, 0, &d), 0);
    CHECK_EQ_INT(decide(a, "key-a", "m1", false, 0, &d), 429);
    CHECK(strstr(d.headers, "Retry-After: ") != NULL);
    CHECK(strstr(d.why, "rate limit") != NULL);

    /* An invalid file: refused, the policy in force stays (including its buckets). */
    write_policy("auth:\n  api_keys: 3\n");
    err = (ig_error){0};
    CHECK(ig_access_load(a, path, &err) != 0);
    CHECK(strstr(err.msg, ":2") != NULL);
    CHECK_EQ_INT(decide(a, "key-a", "m1", false, 0, &d), 429);
    CHECK_EQ_INT(decide(a, NULL, "m1", false, 0, &d), 401);

    /* A valid change applies; the same rule keeps its bucket, so team-a is still limited. */
    policy_with(text, sizeof(text), "[\"*\"]", "2/m");
    write_policy(text);
    CHECK_EQ_INT(ig_access_load(a, path, &err), 0);
    CHECK_EQ_INT(decide(a, "key-a", "other", false, 0, &d), 429);
    CHECK_EQ_INT(decide(a, "key-ops", "other", false, 0, &d), 0);

    ig_buf b = {0};
    ig_access_prometheus(a, &b);
    CHECK(b.data && strstr(b.data, "infergate_auth_denied_total{code=\"401\"} 3") != NULL);
    CHECK(b.data && strstr(b.data, "infergate_auth_denied_total{code=\"403\"} 2") != NULL);
    CHECK(b.data && strstr(b.data, "infergate_rate_limited_total{rule=\"per-key\"} 3") != NULL);
    CHECK(b.data && strstr(b.data, "infergate_policy_reloads_total{result=\"failed\"} 1") != NULL);
    ig_buf_free(&b);
    ig_access_free(a);
}

/* Without auth the client IP is the rate-limit key. */
static void test_ip_key(void)
{
    write_policy("rate_limits:\n  rules:\n    - {name: per-ip, per: key, rate: 1/m, burst: 1}\n");
    ig_access *a = ig_access_create();
    ig_error err = {0};
    CHECK_EQ_INT(ig_access_load(a, path, &err), 0);
    ig_access_decision d;
    CHECK_EQ_INT(decide(a, NULL, "m", false, 0, &d), 0);
    CHECK_STR(d.principal, "127.0.0.1");
    CHECK_EQ_INT(decide(a, NULL, "m", false, 0, &d), 429);
    struct sockaddr_in other = loopback();
    inet_pton(AF_INET, "10.1.2.3", &other.sin_addr);
    ig_access_request rq = {.peer = (struct sockaddr *)&other, .model = "m"};
    ig_access_check(a, &rq, 0, 0, &d);
    CHECK_EQ_INT(d.code, 0);
    ig_access_free(a);
}

typedef struct {
    ig_access *a;
    atomic_bool stop;
    atomic_long bad;
} race;

static void *checker(void *arg)
{
    race *r = arg;
    int64_t t = 0;
    while (!atomic_load(&r->stop)) {
        ig_access_decision d;
        int code = decide(r->a, "key-ops", "m1", false, t += 1000000000, &d);
        if (code != 0 && code != 429) atomic_fetch_add(&r->bad, 1);
    }
    return NULL;
}

/* Checks keep running on whichever policy is in force while reloads swap and free policies (ASan
 * catches a check touching a freed one). */
static void test_reload_race(void)
{
    char text[2048];
    policy_with(text, sizeof(text), "[\"*\"]", "100/s");
    write_policy(text);
    race r = {.a = ig_access_create()};
    ig_error err = {0};
    CHECK_EQ_INT(ig_access_load(r.a, path, &err), 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, checker, &r);
    for (int i = 0; i < 30; i++) {
        policy_with(text, sizeof(text), i % 2 ? "[\"m*\"]" : "[\"*\"]", i % 2 ? "100/s" : "50/s");
        write_policy(text);
        CHECK_EQ_INT(ig_access_load(r.a, path, &err), 0);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT((int)atomic_load(&r.bad), 0);
    ig_access_free(r.a);
}

static void test_peers(void)
{
    struct sockaddr_storage ss;
    char ip[64];
    CHECK(ig_access_parse_grpc_peer("ipv4:192.168.1.20:5000", &ss));
    ig_access_ip_string((struct sockaddr *)&ss, ip, sizeof(ip));
    CHECK_STR(ip, "192.168.1.20");
    CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5000);
    CHECK(ig_access_parse_grpc_peer("ipv6:[::1]:443", &ss));
    ig_access_ip_string((struct sockaddr *)&ss, ip, sizeof(ip));
    CHECK_STR(ip, "::1");
    CHECK(ig_access_parse_grpc_peer("ipv6:%5B2001:db8::7%5D:80", &ss));
    ig_access_ip_string((struct sockaddr *)&ss, ip, sizeof(ip));
    CHECK_STR(ip, "2001:db8::7");
    CHECK(ig_access_parse_grpc_peer("ipv6:[::ffff:10.0.0.1]:1", &ss));
    ig_access_ip_string((struct sockaddr *)&ss, ip, sizeof(ip));
    CHECK_STR(ip, "10.0.0.1");
    CHECK(!ig_access_parse_grpc_peer("unix:/tmp/sock", &ss));
    CHECK(!ig_access_parse_grpc_peer("ipv4:999.1.1.1:1", &ss));
    CHECK(!ig_access_parse_grpc_peer("ipv6:[::1", &ss));
    CHECK(!ig_access_parse_grpc_peer(NULL, &ss));
    ig_access_ip_string(NULL, ip, sizeof(ip));
    CHECK_STR(ip, "");
}

static void test_split_headers(void)
{
    char buf[] = "RateLimit-Policy: \"a\";q=2;w=60\r\nRetry-After: 30\r\n";
    const char *n[4], *v[4];
    CHECK_EQ_INT(ig_access_split_headers(buf, n, v, 4), 2);
    CHECK_STR(n[0], "RateLimit-Policy");
    CHECK_STR(v[0], "\"a\";q=2;w=60");
    CHECK_STR(n[1], "Retry-After");
    CHECK_STR(v[1], "30");
    char none[] = "";
    CHECK_EQ_INT(ig_access_split_headers(none, n, v, 4), 0);
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/ig-access-%d.yaml", (int)getpid());
    CHECK_EQ_INT(ig_auth_hash_key("key-a", hash_a, sizeof(hash_a)), 0);
    CHECK_EQ_INT(ig_auth_hash_key("key-ops", hash_admin, sizeof(hash_admin)), 0);
    test_validate();
    test_checks_and_reload();
    test_ip_key();
    test_reload_race();
    test_peers();
    test_split_headers();
    unlink(path);
    return CHECK_DONE();
}
