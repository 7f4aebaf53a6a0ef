/* The gateway's gRPC front: method table, model/version read from protobuf wire bytes (other field
 * kinds skipped, malformed messages refused), status mapping, peer parsing, `protocol:` on pools,
 * `grpc_listen` in the gateway config, and starting/stopping the server on an ephemeral port. */
#include "gateway/grpc_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "gateway/config.h"
#include "gw_test_util.h"

#define M(s) ig_gw_grpc_method_info(s, strlen(s))

static void test_methods(void)
{
    ig_gw_grpc_method m = M("/inference.GRPCInferenceService/ModelInfer");
    CHECK(m.known && !m.streaming && m.model_field == 1 && m.version_field == 2 && m.shadowable);
    m = M("/inference.GRPCInferenceService/ModelStreamInfer");
    CHECK(m.known && m.streaming && m.model_field == 1 && !m.shadowable); /* streams are never shadowed */
    m = M("/inference.GRPCInferenceService/ServerLive");
    CHECK(m.known && !m.streaming && m.model_field == 0 && !m.shadowable);
    m = M("/inference.GRPCInferenceService/RepositoryModelLoad");
    CHECK(m.known && m.model_field == 2 && m.version_field == 0);
    m = M("/inference.GRPCInferenceService/ModelInferX");
    CHECK(!m.known && m.streaming && m.model_field == 0);
    m = M("/grpc.health.v1.Health/Check");
    CHECK(!m.known && m.streaming);
    m = M("/inference.GRPCInferenceService/");
    CHECK(!m.known);
}

static void test_read_model(void)
{
    char model[16], version[8];
    /* model_name "linear" (1), model_version "1" (2), and fields of every other wire type around them */
    static const uint8_t msg[] = {0x18, 0x96, 0x01,                             /* 3: varint */
                                  0x0a, 6,    'l',  'i', 'n', 'e', 'a', 'r',    /* 1 */
                                  0x21, 1,    2,    3,   4,   5,   6,   7,   8, /* 4: fixed64 */
                                  0x2a, 2,    'a',  'b',                        /* 5: bytes */
                                  0x35, 1,    2,    3,   4,                     /* 6: fixed32 */
                                  0x12, 1,    '1'};                             /* 2 */
    CHECK(ig_gw_grpc_read_model(msg, sizeof msg, 1, 2, model, sizeof model, version, sizeof version));
    CHECK_STR(model, "linear");
    CHECK_STR(version, "1");
    /* field 2 as the model, no version field (RepositoryModelLoad) */
    CHECK(ig_gw_grpc_read_model(msg, sizeof msg, 2, 0, model, sizeof model, version, sizeof version));
    CHECK_STR(model, "1");
    CHECK_STR(version, "");
    /* empty message: no model */
    CHECK(ig_gw_grpc_read_model(msg, 0, 1, 2, model, sizeof model, version, sizeof version));
    CHECK_STR(model, "");
    /* truncated length, truncated fixed64, group wire type, field number 0 */
    static const uint8_t bad1[] = {0x0a, 9, 'l', 'i'};
    static const uint8_t bad2[] = {0x21, 1, 2};
    static const uint8_t bad3[] = {0x1b, 0x1c};
    static const uint8_t bad4[] = {0x02, 0x00};
    static const uint8_t bad5[] = {0x18, 0x80};
    CHECK(!ig_gw_grpc_read_model(bad1, sizeof bad1, 1, 2, model, sizeof model, version, sizeof version));
    CHECK(!ig_gw_grpc_read_model(bad2, sizeof bad2, 1, 2, model, sizeof model, version, sizeof version));
    CHECK(!ig_gw_grpc_read_model(bad3, sizeof bad3, 1, 2, model, sizeof model, version, sizeof version));
    CHECK(!ig_gw_grpc_read_model(bad4, sizeof bad4, 1, 2, model, sizeof model, version, sizeof version));
    CHECK(!ig_gw_grpc_read_model(bad5, sizeof bad5, 1, 2, model, sizeof model, version, sizeof version));
    /* a name longer than the buffer, a name with a NUL */
    CHECK(!ig_gw_grpc_read_model(msg + 3, 8, 1, 2, model, 4, version, sizeof version));
    static const uint8_t nul[] = {0x0a, 3, 'a', 0, 'b'};
    CHECK(!ig_gw_grpc_read_model(nul, sizeof nul, 1, 2, model, sizeof model, version, sizeof version));
}

static void test_status(void)
{
    CHECK_EQ_INT(ig_gw_grpc_http_status(0), 200);
    CHECK_EQ_INT(ig_gw_grpc_http_status(2), 500);  /* UNKNOWN */
    CHECK_EQ_INT(ig_gw_grpc_http_status(3), 400);  /* INVALID_ARGUMENT */
    CHECK_EQ_INT(ig_gw_grpc_http_status(8), 429);  /* RESOURCE_EXHAUSTED */
    CHECK_EQ_INT(ig_gw_grpc_http_status(13), 500); /* INTERNAL */
    CHECK_EQ_INT(ig_gw_grpc_http_status(14), 503); /* UNAVAILABLE */
    CHECK_EQ_INT(ig_gw_grpc_http_status(16), 401); /* UNAUTHENTICATED */
    CHECK_EQ_INT(ig_gw_grpc_http_status(99), 500);
    CHECK_EQ_INT(ig_gw_grpc_http_status(-1), 500);
}

static void test_peer(void)
{
    struct sockaddr_storage ss;
    char ip[64];
    CHECK(ig_gw_grpc_parse_peer("ipv4:10.1.2.3:5555", &ss, ip, sizeof ip));
    CHECK_STR(ip, "10.1.2.3");
    CHECK_EQ_INT(ss.ss_family, AF_INET);
    CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5555);
    CHECK(ig_gw_grpc_parse_peer("ipv6:[::1]:80", &ss, ip, sizeof ip));
    CHECK_STR(ip, "::1");
    CHECK_EQ_INT(ss.ss_family, AF_INET6);
    CHECK(ig_gw_grpc_parse_peer("ipv6:%5B2001:db8::7%5D:443", &ss, ip, sizeof ip));
    CHECK_STR(ip, "2001:db8::7");
    CHECK(!ig_gw_grpc_parse_peer("unix:/tmp/sock", &ss, ip, sizeof ip));
    CHECK(!ig_gw_grpc_parse_peer("ipv4:300.1.1.1:5", &ss, ip, sizeof ip));
    CHECK(!ig_gw_grpc_parse_peer("ipv6:[::1", &ss, ip, sizeof ip));
    CHECK(!ig_gw_grpc_parse_peer(NULL, &ss, ip, sizeof ip));
}

static void test_pool_protocol(void)
{
    ig_error err = {0};
    ig_gw_pool *p = pool_yaml("name: a\nendpoints: [\"127.0.0.1:8000\"]\n", &err);
    CHECK(p && ig_gw_pool_protocol(p) == IG_GW_PROTO_HTTP);
    ig_gw_pool_free(p);
    p = pool_yaml("name: a\nprotocol: grpc\nendpoints: [\"127.0.0.1:8001\"]\n", &err);
    CHECK(p && ig_gw_pool_protocol(p) == IG_GW_PROTO_GRPC);
    ig_gw_pool_free(p);
    p = pool_yaml("name: a\nprotocol: http\nendpoints: [\"127.0.0.1:8001\"]\n", &err);
    CHECK(p && ig_gw_pool_protocol(p) == IG_GW_PROTO_HTTP);
    ig_gw_pool_free(p);
    err = (ig_error){0};
    p = pool_yaml("name: a\nendpoints: [\"127.0.0.1:8001\"]\nprotocol: h2c\n", &err);
    CHECK(!p && strstr(err.msg, "test.yaml:3:") && strstr(err.msg, "unknown 'h2c'"));
    err = (ig_error){0};
    p = pool_yaml("name: a\nprotocol: grpc\nendpoints: [\"127.0.0.1:8001\"]\nhealth_check: {interval: 1s}\n",
                  &err);
    CHECK(!p && strstr(err.msg, "test.yaml:4:") && strstr(err.msg, "grpc pool"));
}

static ig_gw_config *config_text(const char *text, ig_error *err)
{
    char path[] = "/tmp/test_grpc_proxy_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    ig_gw_config *c = ig_gw_config_load(path, NULL, NULL, err);
    unlink(path);
    return c;
}

static void test_config_and_server(void)
{
    ig_error err = {0};
    ig_gw_config *c = config_text("listen: 127.0.0.1:0\n"
                                  "grpc_listen: 127.0.0.1:0\n"
                                  "pools:\n"
                                  "  - {name: g, protocol: grpc, endpoints: [\"127.0.0.1:9\"]}\n"
                                  "routes:\n"
                                  "  - pool: g\n",
                                  &err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(c->grpc_listen, "127.0.0.1:0");
    ig_gw_shared sh = {.config = c};
    pthread_mutex_init(&sh.lock, NULL);
    pthread_mutex_init(&sh.log_lock, NULL);
    ig_gw_grpc *g = ig_gw_grpc_start(&sh, c->grpc_listen, c->max_request_bytes, &err);
    CHECK(g != NULL);
    if (g) {
        CHECK(ig_gw_grpc_port(g) > 0);
        CHECK_EQ_INT(ig_gw_grpc_in_flight(g), 0);
        ig_gw_grpc_drain(g);
        ig_gw_grpc_free(g);
    }
    /* a port that cannot be bound is an error, not a crash */
    err = (ig_error){0};
    CHECK(ig_gw_grpc_start(&sh, "256.0.0.1:1", 0, &err) == NULL && err.code != 0);
    ig_gw_config_release(c);
    pthread_mutex_destroy(&sh.lock);
    pthread_mutex_destroy(&sh.log_lock);

    err = (ig_error){0};
    c = config_text(
        "grpc_listen: [1, 2]\npools:\n  - {name: g, endpoints: [\"127.0.0.1:9\"]}\nroutes:\n  - pool: g\n",
        &err);
    CHECK(c == NULL && strstr(err.msg, ":1:"));
    c = config_text("pools:\n  - {name: g, endpoints: [\"127.0.0.1:9\"]}\nroutes:\n  - pool: g\n", &err);
    CHECK(c && c->grpc_listen == NULL);
    ig_gw_config_release(c);
}

int main(void)
{
    test_methods();
    test_read_model();
    test_status();
    test_peer();
    test_pool_protocol();
    test_config_and_server();
    return CHECK_DONE();
}
