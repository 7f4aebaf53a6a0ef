/* Redis backend of the rate limiter: the GCRA of every matching rule runs in one Lua script (EVALSHA,
 * loaded again on NOSCRIPT), so replicas sharing a Redis see one budget and a denial charges no rule.
 * Time is Redis's own TIME by default (one clock for all replicas, none of their skew); `clock: caller`
 * passes the caller's now_ns instead (tests, or callers that pass one shared wall clock). Keys expire
 * when their TAT passes, so idle buckets vanish. Connections come from a small mutex-guarded pool. */
#include "policy/rate_limit.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_REDIS_IDLE_MAX 64
#define RL_REDIS_BACKOFF_NS 1000000000ll /* after a failed connect, wait this long before the next */

/* TAT values are microseconds as doubles (exact below 2^53 us, i.e. for centuries of TIME); they are
 * stored with %.17g because Lua's tostring keeps only 14 digits. Lua numbers returned to Redis become
 * integers, so every returned value is rounded explicitly. */
static const char rl_script[] =
    "local now\n"
    "if ARGV[1] == '' then\n"
    "  local t = redis.call('TIME')\n"
    "  now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "else\n"
    "  now = tonumber(ARGV[1])\n"
    "end\n"
    "local n = #KEYS\n"
    "local base, nxt, inc, tau, t = {}, {}, {}, {}, {}\n"
    "local ok = 1\n"
    "for i = 1, n do\n"
    "  local a = 2 + (i - 1) * 3\n"
    "  inc[i] = tonumber(ARGV[a]); tau[i] = tonumber(ARGV[a + 1]); t[i] = tonumber(ARGV[a + 2])\n"
    "  local tat = tonumber(redis.call('GET', KEYS[i]) or 0) or 0\n"
    "  if tat < now then tat = now end\n"
    "  base[i] = tat\n"
    "  nxt[i] = tat + inc[i]\n"
    "  if inc[i] > tau[i] or nxt[i] - tau[i] > now then ok = 0 end\n"
    "end\n"
    "local out = {ok}\n"
    "for i = 1, n do\n"
    "  local allowed, retry, b = 1, 0, base[i]\n"
    "  if inc[i] > tau[i] then allowed = 0; retry = -1\n"
    "  elseif nxt[i] - tau[i] > now then allowed = 0; retry = math.ceil(nxt[i] - tau[i] - now) end\n"
    "  if ok == 1 then\n"
    "    b = nxt[i]\n"
    "    redis.call('SET', KEYS[i], string.format('%.17g', b), 'PX', math.max(1, math.ceil((b - now) / "
    "1000)))\n"
    "  end\n"
    "  out[#out + 1] = allowed\n"
    "  out[#out + 1] = retry\n"
    "  out[#out + 1] = math.max(0, math.floor((now + tau[i] - b) / t[i]))\n"
    "  out[#out + 1] = math.max(0, math.ceil(b - now))\n"
    "end\n"
    "return out\n";

struct ig__rl_redis {
    char *host; /* or a unix socket path when port == 0 */
    int port;
    struct timeval timeout;
    bool fail_open, server_clock;
    char *prefix;
    char sha[41];
    pthread_mutex_t mu; /* guards idle */
    redisContext *idle[RL_REDIS_IDLE_MAX];
    int nidle;
    _Atomic int64_t retry_connect_ns;
};

bool ig__rl_redis_fail_open(const ig__rl_redis *r)
{
    return r->fail_open;
}

void ig__rl_redis_free(ig__rl_redis *r)
{
    if (!r) return;
    for (int i = 0; i < r->nidle; i++) redisFree(r->idle[i]);
    pthread_mutex_destroy(&r->mu);
    free(r->host);
    free(r->prefix);
    free(r);
}

static bool parse_address(const ig_conf *c, const ig_conf_node *at, const char *a, ig__rl_redis *r,
                          ig_error *err)
{
    if (!strncmp(a, "unix:", 5) && a[5]) {
        r->port = 0;
        return (r->host = strdup(a + 5)) != NULL || (ig_error_set(err, IG_ENOMEM, "out of memory"), false);
    }
    const char *colon = strrchr(a, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == a || !colon[1] || *end || port < 1 || port > 65535)
        return ig_conf_fail(c, at, err, "address: expected HOST:PORT or unix:/PATH, got '%s'", a);
    const char *h = a;
    size_t hl = (size_t)(colon - a);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') h++, hl -= 2; /* [::1]:6379 */
    if (!(r->host = strndup(h, hl))) return ig_error_set(err, IG_ENOMEM, "out of memory"), false;
    r->port = (int)port;
    return true;
}

ig__rl_redis *ig__rl_redis_from_conf(const ig_conf *c, const ig_conf_node *map, ig_error *err)
{
    if (!ig_conf_expect(c, map, IG_CONF_MAP, err)) return NULL;
    ig__rl_redis *r = calloc(1, sizeof(*r));
    if (!r) return ig_error_set(err, IG_ENOMEM, "out of memory"), NULL;
    pthread_mutex_init(&r->mu, NULL);
    const char *addr, *on_error, *prefix, *clock;
    int64_t timeout_ms;
    if (!ig_conf_str(c, map, "address", "127.0.0.1:6379", &addr, err)) goto fail;
    if (!parse_address(c, ig_conf_get(map, "address") ? ig_conf_get(map, "address") : map, addr, r, err))
        goto fail;
    if (!ig_conf_duration_ms(c, map, "timeout", 50, &timeout_ms, err)) goto fail;
    if (timeout_ms < 1 || timeout_ms > 60000) {
        ig_conf_fail(c, ig_conf_get(map, "timeout"), err, "timeout: must be between 1ms and 60s");
        goto fail;
    }
    r->timeout.tv_sec = timeout_ms / 1000;
    r->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    if (!ig_conf_str(c, map, "on_error", "allow", &on_error, err)) goto fail;
    if (!strcmp(on_error, "allow"))
        r->fail_open = true;
    else if (strcmp(on_error, "deny")) {
        ig_conf_fail(c, ig_conf_get(map, "on_error"), err, "on_error: expected allow or deny, got '%s'",
                     on_error);
        goto fail;
    }
    if (!ig_conf_str(c, map, "clock", "server", &clock, err)) goto fail;
    if (!strcmp(clock, "server"))
        r->server_clock = true;
    else if (strcmp(clock, "caller")) {
        ig_conf_fail(c, ig_conf_get(map, "clock"), err, "clock: expected server or caller, got '%s'", clock);
        goto fail;
    }
    if (!ig_conf_str(c, map, "prefix", "infergate:rl:", &prefix, err)) goto fail;
    if (!(r->prefix = strdup(prefix))) {
        ig_error_set(err, IG_ENOMEM, "out of memory");
        goto fail;
    }
    if (!ig_conf_no_unknown(c, map, err)) goto fail;

    /* EVALSHA needs the script's SHA-1, which Redis computes the same way. */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(rl_script, strlen(rl_script), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20) {
        ig_error_set(err, IG_ERUNTIME, "SHA-1 of the rate limit script failed");
        goto fail;
    }
    for (unsigned i = 0; i < 20; i++) snprintf(r->sha + 2 * i, 3, "%02x", md[i]);
    return r;
fail:
    ig__rl_redis_free(r);
    return NULL;
}

static redisContext *conn_get(ig__rl_redis *r, int64_t now_ns)
{
    pthread_mutex_lock(&r->mu);
    redisContext *ctx = r->nidle ? r->idle[--r->nidle] : NULL;
    pthread_mutex_unlock(&r->mu);
    if (ctx) return ctx;
    /* While Redis is down every check would otherwise pay a connect attempt (up to the timeout). */
    if (now_ns < atomic_load(&r->retry_connect_ns)) return NULL;
    ctx = r->port ? redisConnectWithTimeout(r->host, r->port, r->timeout)
                  : redisConnectUnixWithTimeout(r->host, r->timeout);
    if (!ctx || ctx->err || redisSetTimeout(ctx, r->timeout) != REDIS_OK) {
        if (ctx) redisFree(ctx);
        atomic_store(&r->retry_connect_ns, now_ns + RL_REDIS_BACKOFF_NS);
        return NULL;
    }
    return ctx;
}

static void conn_put(ig__rl_redis *r, redisContext *ctx)
{
    pthread_mutex_lock(&r->mu);
    if (r->nidle < RL_REDIS_IDLE_MAX) {
        r->idle[r->nidle++] = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (ctx) redisFree(ctx);
}

static bool reply_ok(const redisReply *rep, size_t n)
{
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 + 4 * n) return false;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER) return false;
    return true;
}

int ig__rl_redis_check(ig__rl_redis *r, ig__rl_item *items, size_t n, int64_t now_ns)
{
    if (n == 0) return 0;
    size_t argc = 4 + n + 3 * n;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char *nums = calloc(1 + 3 * n, 32);
    char **keys = calloc(n, sizeof(*keys));
    int rc = IG_ENOMEM;
    redisReply *rep = NULL;
    redisContext *ctx = NULL;
    if (!argv || !lens || !nums || !keys) goto out;
    char numkeys[24];
    snprintf(numkeys, sizeof(numkeys), "%zu", n);
    argv[0] = "EVALSHA";
    argv[1] = r->sha;
    argv[2] = numkeys;
    size_t plen = strlen(r->prefix);
    for (size_t i = 0; i < n; i++) {
        size_t bl = strlen(items[i].bucket);
        if (!(keys[i] = malloc(plen + bl + 1))) goto out;
        memcpy(keys[i], r->prefix, plen);
        memcpy(keys[i] + plen, items[i].bucket, bl + 1);
        argv[3 + i] = keys[i];
    }
    char *now = nums;
    if (r->server_clock)
        now[0] = 0;
    else
        snprintf(now, 32, "%lld", (long long)(now_ns / 1000));
    argv[3 + n] = now;
    for (size_t i = 0; i < n; i++) {
        /* Microseconds: n*T, tau = B*T and T. */
        double per_us = (double)items[i].period_ns / 1000.0 / (double)items[i].rate;
        char *p = nums + 32 * (1 + 3 * i);
        snprintf(p, 32, "%.17g", (double)items[i].cost * per_us);
        snprintf(p + 32, 32, "%.17g", (double)items[i].burst * per_us);
        snprintf(p + 64, 32, "%.17g", per_us);
        argv[4 + n + 3 * i] = p;
        argv[5 + n + 3 * i] = p + 32;
        argv[6 + n + 3 * i] = p + 64;
    }
    for (size_t i = 0; i < argc; i++) lens[i] = strlen(argv[i]);

    rc = IG_EUNAVAILABLE;
    if (!(ctx = conn_get(r, now_ns))) goto out;
    rep = redisCommandArgv(ctx, (int)argc, argv, lens);
    if (rep && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
        /* A restarted or flushed Redis lost the script: load it and try once more. */
        freeReplyObject(rep);
        rep = redisCommand(ctx, "SCRIPT LOAD %s", rl_script);
        if (rep && rep->type == REDIS_REPLY_STRING) {
            freeReplyObject(rep);
            rep = redisCommandArgv(ctx, (int)argc, argv, lens);
        }
    }
    if (!rep) { /* I/O error or timeout: the connection is in an unknown state */
        redisFree(ctx);
        ctx = NULL;
        goto out;
    }
    if (!reply_ok(rep, n)) goto out;
    for (size_t i = 0; i < n; i++) {
        redisReply **e = rep->element + 1 + 4 * i;
        items[i].allowed = e[0]->integer != 0;
        items[i].retry_ns = e[1]->integer < 0 ? -1 : e[1]->integer * 1000;
        items[i].remaining = e[2]->integer;
        items[i].reset_ns = e[3]->integer * 1000;
    }
    rc = 0;
out:
    if (rep) freeReplyObject(rep);
    if (ctx) conn_put(r, ctx);
    if (keys)
        for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    free(nums);
    free(lens);
    free(argv);
    return rc;
}
