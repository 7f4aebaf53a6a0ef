/* The Redis rate limit backend against a private redis-server on a free loopback port: two limiters
 * (two gateway replicas) share one budget under a driven clock, exact GCRA values, denials charge no
 * rule, keys expire, a flushed script is reloaded, Redis's own clock, a threaded pool, and on_error
 * allow/deny once Redis is gone. Prints SKIP and passes only when redis-server is not installed. */
#include "policy/rate_limit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define REDIS_BIN "/usr/bin/redis-server"
#define MS 1000000ll
#define S 1000000000ll
#define BASE (5000 * S)

static int port;
static pid_t redis_pid = -1;
static char prefix[64];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int p = -1;
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        p = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return p;
}

static redisContext *direct(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static bool start_redis(void)
{
    port = free_port();
    if (port <= 0) return false;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    redis_pid = fork();
    if (redis_pid < 0) return false;
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
        execl(REDIS_BIN, "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly",
              "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        redisContext *c = direct();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return true;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

static ig_ratelimit *load(const char *on_error, const char *clock, const char *rules)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "rate_limits:\n"
             "  backend: redis\n"
             "  redis:\n"
             "    address: 127.0.0.1:%d\n"
             "    timeout: 2s\n"
             "    on_error: %s\n"
             "    clock: %s\n"
             "    prefix: \"%s\"\n"
             "  rules:\n%s",
             port, on_error, clock, prefix, rules);
    ig_error err = {0};
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "redis.yaml", &err);
    ig_ratelimit *rl =
        c ? ig_ratelimit_from_conf(c, ig_conf_get(ig_conf_root(c), "rate_limits"), &err) : NULL;
    ig_conf_free(c);
    if (!rl) fprintf(stderr, "load: %s\n", err.msg);
    return rl;
}

static ig_rl_decision check(ig_ratelimit *rl, const char *key, int64_t now)
{
    ig_rl_request rq = {key, "m", 0};
    ig_rl_decision d;
    ig_ratelimit_check(rl, &rq, now, &d);
    return d;
}

static void test_shared_budget(ig_ratelimit *a, ig_ratelimit *b)
{
    /* Exact values through the script: 10/s, burst 10 -> T = 100 ms. */
    ig_rl_decision d = check(a, "team", BASE);
    CHECK(d.allowed && !d.backend_error);
    CHECK_STR(d.rule, "shared");
    CHECK_EQ_INT(d.remaining, 9);
    CHECK_EQ_INT(d.reset_s, 1);
    CHECK_STR(d.headers, "RateLimit-Policy: \"shared\";q=10;w=1\r\nRateLimit: \"shared\";r=9;t=1\r\n");
    d = check(b, "team", BASE);
    CHECK(d.allowed);
    CHECK_EQ_INT(d.remaining, 8);
    int allowed = 2;
    /* Both replicas hammer one key over a simulated 2 s: burst 10 plus 20 more in total. */
    for (int64_t t = BASE; t <= BASE + 2 * S; t += 10 * MS) {
        for (int k = 0; k < 2; k++) {
            allowed += check(a, "team", t).allowed;
            allowed += check(b, "team", t).allowed;
        }
    }
    CHECK_EQ_INT(allowed, 30);
    d = check(b, "team", BASE + 2 * S + 30 * MS);
    CHECK(!d.allowed && !d.backend_error);
    CHECK_EQ_INT(d.retry_after_ms, 70);
    CHECK_STR(d.headers,
              "RateLimit-Policy: \"shared\";q=10;w=1\r\nRateLimit: \"shared\";r=0;t=1\r\nRetry-After: 1\r\n");
    ig_rl_stats sa, sb;
    ig_ratelimit_stats(a, 0, &sa);
    ig_ratelimit_stats(b, 0, &sb);
    CHECK_EQ_INT(sa.allowed + sb.allowed, 30);
    CHECK_EQ_INT(sa.redis_errors + sb.redis_errors, 0);
    CHECK_EQ_INT(sa.buckets, 0);

    /* The key expires with its TAT. */
    redisContext *c = direct();
    CHECK(c != NULL);
    if (c) {
        redisReply *r = redisCommand(c, "PTTL %sshared:team", prefix);
        CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 1100);
        if (r) freeReplyObject(r);
        redisFree(c);
    }
}

static void test_denial_charges_nothing(ig_ratelimit *a, ig_ratelimit *b)
{
    /* rules "g" (global 100/s burst 2) and "k" (per key 1/s burst 1) in one script call. */
    int64_t t = BASE;
    CHECK(check(a, "x", t).allowed);
    for (int i = 0; i < 3; i++) {
        ig_rl_decision d = check(i & 1 ? a : b, "x", t);
        CHECK(!d.allowed);
        CHECK_STR(d.rule, "k");
        CHECK_EQ_INT(d.retry_after_ms, 1000);
    }
    ig_rl_decision d = check(b, "y", t);
    CHECK(d.allowed);
    CHECK_STR(d.rule, "g");
    CHECK_EQ_INT(d.remaining, 0);
    d = check(a, "z", t);
    CHECK(!d.allowed);
    CHECK_STR(d.rule, "g");
    CHECK_EQ_INT(d.retry_after_ms, 10);
    CHECK(check(b, "z", t + 10 * MS).allowed);
}

static void test_noscript_reload(ig_ratelimit *a)
{
    redisContext *c = direct();
    CHECK(c != NULL);
    if (!c) return;
    redisReply *r = redisCommand(c, "SCRIPT FLUSH");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
    redisFree(c);
    ig_rl_decision d = check(a, "after-flush", BASE);
    CHECK(d.allowed && !d.backend_error);
    CHECK_EQ_INT(d.remaining, 9);
}

static void test_server_clock(void)
{
    ig_ratelimit *rl = load("deny", "server", "    - {name: slow, rate: 1/m, burst: 2}\n");
    CHECK(rl != NULL);
    if (!rl) return;
    /* now_ns is ignored: Redis's TIME decides. The third request waits ~60 s (T). */
    CHECK(check(rl, "s", 0).allowed);
    CHECK(check(rl, "s", 0).allowed);
    ig_rl_decision d = check(rl, "s", 0);
    CHECK(!d.allowed && !d.backend_error);
    CHECK(d.retry_after_ms > 59000 && d.retry_after_ms <= 60000);
    ig_ratelimit_free(rl);
}

typedef struct {
    ig_ratelimit *rl;
    int allowed;
} mt_arg;

static void *mt(void *p)
{
    mt_arg *a = p;
    for (int i = 0; i < 50; i++) {
        ig_rl_decision d = check(a->rl, "mt", BASE);
        a->allowed += d.allowed && !d.backend_error;
    }
    return NULL;
}

static void test_threads(ig_ratelimit *a, ig_ratelimit *b)
{
    pthread_t th[8];
    mt_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (mt_arg){i & 1 ? a : b, 0};
        pthread_create(&th[i], NULL, mt, &args[i]);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += args[i].allowed;
    }
    CHECK_EQ_INT(total, 10);
}

static void test_redis_down(ig_ratelimit *open_rl, ig_ratelimit *closed_rl)
{
    stop_redis();
    ig_rl_decision d = check(open_rl, "team", BASE + 100 * S);
    CHECK(d.allowed && d.backend_error);
    CHECK(d.rule == NULL);
    CHECK_STR(d.headers, "");
    d = check(open_rl, "team", BASE + 100 * S); /* the refused reconnect is backed off, still counted */
    CHECK(d.allowed && d.backend_error);
    d = check(closed_rl, "team", BASE + 100 * S);
    CHECK(!d.allowed && d.backend_error);
    CHECK_EQ_INT(d.retry_after_ms, 1000);
    CHECK_STR(d.headers, "Retry-After: 1\r\n");
    ig_rl_stats st;
    ig_ratelimit_stats(open_rl, 0, &st);
    CHECK_EQ_INT(st.redis_errors, 2);
    ig_ratelimit_stats(closed_rl, 0, &st);
    CHECK_EQ_INT(st.redis_errors, 1);
}

int main(void)
{
    if (access(REDIS_BIN, X_OK) != 0) {
        printf("SKIP: %s is not installed\n", REDIS_BIN);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(prefix, sizeof(prefix), "igtest:%d:", (int)getpid());
    if (!start_redis()) {
        stop_redis();
        CHECK(!"redis-server did not start");
        return CHECK_DONE();
    }
    const char *shared = "    - {name: shared, per: key, rate: 10/s, burst: 10}\n";
    ig_ratelimit *a = load("allow", "caller", shared), *b = load("deny", "caller", shared);
    CHECK(a && b);
    if (a && b) {
        test_shared_budget(a, b);
        test_noscript_reload(a);
        test_threads(a, b);
    }
    const char *two = "    - {name: g, per: global, rate: 100/s, burst: 2}\n"
                      "    - {name: k, per: key, rate: 1/s, burst: 1}\n";
    ig_ratelimit *a2 = load("allow", "caller", two), *b2 = load("deny", "caller", two);
    CHECK(a2 && b2);
    if (a2 && b2) test_denial_charges_nothing(a2, b2);
    test_server_clock();
    if (a && b) test_redis_down(a, b);
    stop_redis();
    ig_ratelimit_free(a);
    ig_ratelimit_free(b);
    ig_ratelimit_free(a2);
    ig_ratelimit_free(b2);
    return CHECK_DONE();
}
