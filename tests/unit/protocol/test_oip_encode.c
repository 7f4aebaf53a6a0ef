/* Response encoding (JSON and binary outputs, round trip through the decoder), error bodies,
 * metadata/statistics/index bodies and the status mapping. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "protocol/json.h"
#include "protocol/oip.h"
#include "protocol/status.h"

static ig_arena *A;

/* Turns an encoded response into a request body ("outputs" -> "inputs") and decodes it. */
static int redecode(const ig_oip_body *b, ig_infer_request *q, ig_error *err)
{
    size_t total = b->json_len + b->binary_len;
    char *body = ig_arena_alloc(A, total + 1, 8);
    memcpy(body, b->json, b->json_len);
    char *o = strstr(body, "\"outputs\":");
    memcpy(o, "\"inputs\": ", 10);
    size_t off = b->json_len;
    for (int i = 0; i < b->n_parts; i++) {
        memcpy(body + off, b->parts[i].ptr, b->parts[i].len);
        off += b->parts[i].len;
    }
    return ig_oip_decode_infer(body, total, b->n_parts ? b->json_len : SIZE_MAX, "m", "", A, q, err);
}

static void test_round_trip(bool binary)
{
    static float f32[5] = {0.1f, -2.5f, 3.4028235e38f, 1e-45f, 123456.789f};
    static double f64[2] = {0.1, -1e300};
    static int64_t i64[2] = {INT64_MIN, INT64_MAX};
    static uint64_t u64[1] = {UINT64_MAX};
    static uint8_t bl[3] = {1, 0, 1};
    static uint16_t f16[2] = {0x3C00, 0xC000};
    static int8_t i8[2] = {-128, 127};
    static ig_string str[3] = {{"a\"b", 3}, {"", 0}, {"\n\xc3\xa9", 3}};
    ig_infer_tensor outs[8] = {
        {"f32", {IG_DT_FLOAT, 2, {1, 5}, f32}, false}, {"f64", {IG_DT_DOUBLE, 1, {2}, f64}, false},
        {"i64", {IG_DT_INT64, 1, {2}, i64}, false},    {"u64", {IG_DT_UINT64, 1, {1}, u64}, false},
        {"b", {IG_DT_BOOL, 1, {3}, bl}, false},        {"h", {IG_DT_FLOAT16, 1, {2}, f16}, false},
        {"i8", {IG_DT_INT8, 1, {2}, i8}, false},       {"s", {IG_DT_STRING, 1, {3}, str}, false},
    };
    ig_infer_request req = {.arena = A, .model_name = "m\"x", .model_version = "", .id = "id1"};
    req.binary_output = binary;
    ig_infer_response resp = {.n_outputs = 8, .outputs = outs};
    ig_oip_body b;
    ig_error err = {0};
    CHECK_EQ_INT(ig_oip_encode_infer(&req, &resp, "3", &b, &err), 0);
    CHECK(strstr(b.json, "\"model_name\":\"m\\\"x\",\"model_version\":\"3\",\"id\":\"id1\"") != NULL);
    CHECK_EQ_INT(b.n_parts, binary ? 8 : 0);
    if (binary) {
        CHECK(strstr(b.json, "\"binary_data_size\":20") != NULL);
        CHECK(b.parts[0].ptr == f32); /* not copied */
        CHECK_EQ_INT(b.parts[7].len, 4 * 3 + 6);
    }
    ig_infer_request q;
    CHECK_EQ_INT(redecode(&b, &q, &err), 0);
    if (err.code) fprintf(stderr, "%s\n%s\n", err.msg, b.json);
    if (q.n_inputs == 8) {
        CHECK(!memcmp(q.inputs[0].t.data, f32, sizeof f32));
        CHECK(!memcmp(q.inputs[1].t.data, f64, sizeof f64));
        CHECK(!memcmp(q.inputs[2].t.data, i64, sizeof i64));
        CHECK(!memcmp(q.inputs[3].t.data, u64, sizeof u64));
        CHECK(!memcmp(q.inputs[4].t.data, bl, sizeof bl));
        CHECK(!memcmp(q.inputs[5].t.data, f16, sizeof f16));
        CHECK(!memcmp(q.inputs[6].t.data, i8, sizeof i8));
        ig_string *s = q.inputs[7].t.data;
        for (int i = 0; i < 3; i++) CHECK(s[i].len == str[i].len && !memcmp(s[i].ptr, str[i].ptr, s[i].len));
        CHECK(q.inputs[0].t.ndim == 2 && q.inputs[0].t.dims[1] == 5);
    }
    ig_oip_body_free(&b);
}

static void test_per_output_binary(void)
{
    static float f[2] = {1, 2};
    ig_infer_tensor outs[2] = {{"a", {IG_DT_FLOAT, 1, {2}, f}, false},
                               {"b", {IG_DT_FLOAT, 1, {2}, f}, false}};
    ig_output_spec specs[2] = {{"b", true, true, 0}, {"a", false, true, 0}};
    ig_infer_request req = {.arena = A, .model_name = "m", .id = "", .n_outputs = 2, .outputs = specs};
    req.binary_output = true;
    ig_infer_response resp = {.n_outputs = 2, .outputs = outs};
    ig_oip_body b;
    ig_error err = {0};
    CHECK_EQ_INT(ig_oip_encode_infer(&req, &resp, "", &b, &err), 0);
    CHECK_STR(b.json,
              "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[2],"
              "\"data\":[1,2]},{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[2],"
              "\"parameters\":{\"binary_data_size\":8}}]}");
    CHECK_EQ_INT(b.n_parts, 1);
    CHECK_EQ_INT((int)b.json_len, (int)strlen(b.json));
    ig_oip_body_free(&b);
}

static void test_error_and_meta(void)
{
    size_t len;
    char *s = ig_oip_error_json("bad \"x\"\n", &len);
    CHECK_STR(s, "{\"error\":\"bad \\\"x\\\"\\n\"}");
    CHECK_EQ_INT((int)len, (int)strlen(s));
    free(s);
    const char *ext[] = {"binary_tensor_data", "statistics"};
    s = ig_oip_server_metadata_json("infergate", "0.1.0", ext, 2, &len);
    CHECK_STR(s, "{\"name\":\"infergate\",\"version\":\"0.1.0\",\"extensions\":[\"binary_tensor_data\","
                 "\"statistics\"]}");
    free(s);
    ig_cfg_tensor in = {.name = "x", .data_type = IG_CFG_TYPE_FP32, .n_dims = 2, .dims = {3, -1}};
    ig_cfg_tensor out = {.name = "y", .data_type = IG_CFG_TYPE_STRING, .n_dims = 1, .dims = {1}};
    ig_model_config cfg = {.name = "m",
                           .platform = "onnxruntime_onnx",
                           .max_batch_size = 8,
                           .n_inputs = 1,
                           .n_outputs = 1,
                           .inputs = &in,
                           .outputs = &out};
    int64_t vers[2] = {1, 3};
    s = ig_oip_model_metadata_json(&cfg, vers, 2, &len);
    CHECK_STR(
        s,
        "{\"name\":\"m\",\"versions\":[\"1\",\"3\"],\"platform\":\"onnxruntime_onnx\",\"inputs\":[{\"name\":"
        "\"x\",\"datatype\":\"FP32\",\"shape\":[-1,3,-1]}],\"outputs\":[{\"name\":\"y\",\"datatype\":"
        "\"BYTES\",\"shape\":[-1,1]}]}");
    free(s);
    cfg.max_batch_size = 0;
    cfg.platform = NULL;
    cfg.backend = "onnxruntime";
    s = ig_oip_model_metadata_json(&cfg, vers, 0, &len);
    CHECK(strstr(s, "\"versions\":[],\"platform\":\"onnxruntime\"") && strstr(s, "\"shape\":[3,-1]"));
    free(s);
    ig_oip_repo_entry re[2] = {{"a", "1", "READY", NULL}, {"b", NULL, "UNAVAILABLE", "load failed"}};
    s = ig_oip_repo_index_json(re, 2, &len);
    CHECK_STR(
        s,
        "[{\"name\":\"a\",\"version\":\"1\",\"state\":\"READY\",\"reason\":\"\"},{\"name\":\"b\",\"state\":"
        "\"UNAVAILABLE\",\"reason\":\"load failed\"}]");
    free(s);
    ig_model_stats *st = calloc(1, sizeof *st);
    atomic_store(&st->inference_count, 64);
    atomic_store(&st->execution_count, 1);
    atomic_store(&st->success.count, 64);
    atomic_store(&st->success.ns, 1000);
    atomic_store(&st->batch_compute_infer[64].count, 1);
    atomic_store(&st->batch_compute_infer[64].ns, 500);
    ig_oip_stats_entry se = {"m", "1", st};
    s = ig_oip_model_stats_json(&se, 1, &len);
    CHECK(
        strstr(
            s,
            "{\"model_stats\":[{\"name\":\"m\",\"version\":\"1\",\"last_inference\":0,\"inference_count\":64,"
            "\"execution_count\":1,\"inference_stats\":{\"success\":{\"count\":64,\"ns\":1000},") == s);
    CHECK(strstr(s, "\"batch_stats\":[{\"batch_size\":64,\"compute_input\":{\"count\":0,\"ns\":0},"
                    "\"compute_infer\":{\"count\":1,\"ns\":500}") != NULL);
    /* the statistics body is valid JSON */
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, s, len, A, &err);
    CHECK_EQ_INT(ig_json_skip(&r), 0);
    CHECK_EQ_INT(ig_json_finish(&r), 0);
    free(s);
    free(st);
    s = ig_oip_model_ready_json("m", true, &len);
    CHECK_STR(s, "{\"name\":\"m\",\"ready\":true}");
    free(s);
    s = ig_oip_live_json(false, &len);
    CHECK_STR(s, "{\"live\":false}");
    free(s);
}

static void test_status(void)
{
    CHECK_EQ_INT(ig_status_http(0), 200);
    CHECK_EQ_INT(ig_status_http(IG_EINVAL), 400);
    CHECK_EQ_INT(ig_status_http(IG_ENOMODEL), 400);
    CHECK_EQ_INT(ig_status_http(IG_ENOTFOUND), 404);
    CHECK_EQ_INT(ig_status_http(IG_EUNAVAILABLE), 503);
    CHECK_EQ_INT(ig_status_http(IG_EUNSUPPORTED), 501);
    CHECK_EQ_INT(ig_status_http(IG_ERUNTIME), 500);
    CHECK_EQ_INT(ig_status_http(-999), 500);
    CHECK_EQ_INT(ig_status_grpc(IG_EUNSUPPORTED), IG_GRPC_UNIMPLEMENTED);
    CHECK_EQ_INT(ig_status_grpc(IG_EUNAVAILABLE), IG_GRPC_UNAVAILABLE);
    CHECK_EQ_INT(ig_status_grpc(IG_ENOMODEL), IG_GRPC_INVALID_ARGUMENT);
    CHECK_EQ_INT(ig_status_grpc(IG_ECANCELED), IG_GRPC_CANCELLED);
    CHECK_STR(ig_status_reason(503), "Service Unavailable");
}

int main(void)
{
    A = ig_arena_create(0);
    test_round_trip(false);
    test_round_trip(true);
    test_per_output_binary();
    test_error_and_meta();
    test_status();
    ig_arena_free(A);
    return CHECK_DONE();
}
