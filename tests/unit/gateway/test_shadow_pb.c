/* The gRPC shadow comparer (ig_shadow_compare_pb): ModelInferResponse protobufs with raw and typed
 * contents, raw against typed, outputs matched by name, tolerance, BYTES, FP16, ignored metadata, and
 * malformed messages (garbage, sizes and counts that do not add up). */
#include "gateway/shadow.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "grpc_service.pb-c.h"

typedef struct {
    const char *name, *dt;
    int64_t shape[4];
    size_t ndim;
    const void *raw; /* raw_output_contents entry (NULL: typed or none) */
    size_t raw_len;
    Inference__InferTensorContents *typed;
} spec;

typedef struct {
    uint8_t *data;
    size_t len;
} msg;

/* Packs a response; raw entries are sent when the first output has one (all or none, as on the wire,
 * unless n_raw says otherwise: -1 = as many as outputs). */
static msg pack_n(const spec *s, size_t n, int n_raw, const char *model)
{
    Inference__ModelInferResponse m = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    Inference__ModelInferResponse__InferOutputTensor t[8], *tp[8];
    ProtobufCBinaryData raw[8];
    m.model_name = (char *)model;
    m.id = (char *)"req-1";
    m.n_outputs = n;
    m.outputs = tp;
    for (size_t i = 0; i < n; i++) {
        inference__model_infer_response__infer_output_tensor__init(&t[i]);
        t[i].name = (char *)s[i].name;
        t[i].datatype = (char *)s[i].dt;
        t[i].n_shape = s[i].ndim;
        t[i].shape = (int64_t *)s[i].shape;
        t[i].contents = s[i].typed;
        tp[i] = &t[i];
        raw[i] = (ProtobufCBinaryData){s[i].raw_len, (uint8_t *)s[i].raw};
    }
    bool has_raw = n && s[0].raw;
    m.n_raw_output_contents = n_raw >= 0 ? (size_t)n_raw : has_raw ? n : 0;
    m.raw_output_contents = raw;
    msg out = {malloc(inference__model_infer_response__get_packed_size(&m) + 1), 0};
    out.len = inference__model_infer_response__pack(&m, out.data);
    return out;
}

static msg pack(const spec *s, size_t n)
{
    return pack_n(s, n, -1, "m");
}

static int cmp(msg a, msg b, double atol, double rtol)
{
    int r = ig_shadow_compare_pb(a.data, a.len, b.data, b.len, atol, rtol);
    free(a.data);
    free(b.data);
    return r;
}

static const float F4[4] = {1.0f, -2.5f, 3.25f, 0.0f};

static spec raw_f32(const char *name, const float *v)
{
    return (spec){name, "FP32", {1, 4}, 2, v, 4 * sizeof(float), NULL};
}

static void test_raw(void)
{
    spec a = raw_f32("y", F4);
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&a, 1), 0, 0), 0);
    /* model name, version and id are not compared */
    CHECK_EQ_INT(cmp(pack(&a, 1), pack_n(&a, 1, -1, "other"), 0, 0), 0);
    float g[4] = {1.0f, -2.5f, 3.25f, 0.01f};
    spec b = raw_f32("y", g);
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&b, 1), 0, 0), 1);
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&b, 1), 0.02, 0), 0);
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&b, 1), 0.005, 0), 1);
    /* another datatype, shape or name differs */
    spec c = a;
    c.dt = "INT32";
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&c, 1), 1, 1), 1);
    c = a;
    c.shape[0] = 4, c.shape[1] = 1;
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&c, 1), 1, 1), 1);
    c = a;
    c.name = "z";
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&c, 1), 1, 1), 1);
    /* outputs are matched by name, not position; a missing or extra output differs */
    int64_t i64[2] = {-7, INT64_MAX};
    spec two[2] = {a, {"idx", "INT64", {2}, 1, i64, sizeof i64, NULL}};
    spec swapped[2] = {two[1], two[0]};
    CHECK_EQ_INT(cmp(pack(two, 2), pack(swapped, 2), 0, 0), 0);
    CHECK_EQ_INT(cmp(pack(two, 2), pack(two, 1), 0, 0), 1);
    CHECK_EQ_INT(cmp(pack(two, 1), pack(two, 2), 0, 0), 1);
    /* large integers compare exactly */
    int64_t j64[2] = {-7, INT64_MAX - 1};
    spec two_b[2] = {a, {"idx", "INT64", {2}, 1, j64, sizeof j64, NULL}};
    CHECK_EQ_INT(cmp(pack(two, 2), pack(two_b, 2), 0, 0), 1);
    /* FP16: 1.0, 0.5, -2.0 against 1.0, 0.5, -2.0 and against 1.0, 0.5, -1.5 */
    uint16_t h[3] = {0x3c00, 0x3800, 0xc000}, h2[3] = {0x3c00, 0x3800, 0xbe00};
    spec fa = {"h", "FP16", {3}, 1, h, sizeof h, NULL}, fb = fa;
    fb.raw = h2;
    CHECK_EQ_INT(cmp(pack(&fa, 1), pack(&fa, 1), 0, 0), 0);
    CHECK_EQ_INT(cmp(pack(&fa, 1), pack(&fb, 1), 0.4, 0), 1);
    CHECK_EQ_INT(cmp(pack(&fa, 1), pack(&fb, 1), 0.5, 0), 0);
    /* two responses without outputs agree */
    CHECK_EQ_INT(cmp(pack(NULL, 0), pack(NULL, 0), 0, 0), 0);
}

static void test_typed(void)
{
    spec a = raw_f32("y", F4);
    Inference__InferTensorContents tc = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    float v[4] = {1.0f, -2.5f, 3.25f, 0.0f};
    tc.n_fp32_contents = 4;
    tc.fp32_contents = v;
    spec t = {"y", "FP32", {1, 4}, 2, NULL, 0, &tc};
    /* raw against typed, both ways */
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&t, 1), 0, 0), 0);
    CHECK_EQ_INT(cmp(pack(&t, 1), pack(&a, 1), 0, 0), 0);
    v[2] = 3.5f;
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&t, 1), 0, 0), 1);
    CHECK_EQ_INT(cmp(pack(&a, 1), pack(&t, 1), 0.25, 0), 0);
    /* INT8 travels in int_contents, UINT64 in uint64_contents, BOOL in bool_contents */
    Inference__InferTensorContents ic = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    int32_t iv[3] = {-128, 0, 127};
    ic.n_int_contents = 3;
    ic.int_contents = iv;
    int8_t i8[3] = {-128, 0, 127};
    spec ir = {"q", "INT8", {3}, 1, i8, sizeof i8, NULL}, it = {"q", "INT8", {3}, 1, NULL, 0, &ic};
    CHECK_EQ_INT(cmp(pack(&ir, 1), pack(&it, 1), 0, 0), 0);
    iv[0] = -127;
    CHECK_EQ_INT(cmp(pack(&ir, 1), pack(&it, 1), 0, 0), 1);
    Inference__InferTensorContents uc = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    uint64_t uv[1] = {UINT64_MAX};
    uc.n_uint64_contents = 1;
    uc.uint64_contents = uv;
    spec ur = {"u", "UINT64", {1}, 1, uv, sizeof uv, NULL}, ut = {"u", "UINT64", {1}, 1, NULL, 0, &uc};
    CHECK_EQ_INT(cmp(pack(&ur, 1), pack(&ut, 1), 0, 0), 0);
    Inference__InferTensorContents bc = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    protobuf_c_boolean bv[2] = {1, 0};
    bc.n_bool_contents = 2;
    bc.bool_contents = bv;
    uint8_t braw[2] = {1, 0};
    spec br = {"b", "BOOL", {2}, 1, braw, sizeof braw, NULL}, bt = {"b", "BOOL", {2}, 1, NULL, 0, &bc};
    CHECK_EQ_INT(cmp(pack(&br, 1), pack(&bt, 1), 0, 0), 0);
    bv[1] = 1;
    CHECK_EQ_INT(cmp(pack(&br, 1), pack(&bt, 1), 0, 0), 1);
    CHECK_EQ_INT(cmp(pack(&br, 1), pack(&bt, 1), 1, 0), 0); /* false and true are 0 and 1 */
}

static void test_bytes(void)
{
    /* raw BYTES: 4-byte little-endian length prefixes; typed: bytes_contents */
    unsigned char by[] = {2, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c'};
    spec r = {"s", "BYTES", {2}, 1, by, sizeof by, NULL};
    Inference__InferTensorContents sc = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    ProtobufCBinaryData sv[2] = {{2, (uint8_t *)"ab"}, {1, (uint8_t *)"c"}};
    sc.n_bytes_contents = 2;
    sc.bytes_contents = sv;
    spec t = {"s", "BYTES", {2}, 1, NULL, 0, &sc};
    CHECK_EQ_INT(cmp(pack(&r, 1), pack(&t, 1), 0, 0), 0);
    /* BYTES compare exactly whatever the tolerance */
    sv[1] = (ProtobufCBinaryData){1, (uint8_t *)"d"};
    CHECK_EQ_INT(cmp(pack(&r, 1), pack(&t, 1), 1e9, 1), 1);
    unsigned char bad[] = {9, 0, 0, 0, 'a'};
    spec rb = {"s", "BYTES", {1}, 1, bad, sizeof bad, NULL};
    CHECK(cmp(pack(&rb, 1), pack(&r, 1), 0, 0) < 0);
    CHECK(cmp(pack(&r, 1), pack(&rb, 1), 0, 0) < 0);
}

static void test_malformed(void)
{
    spec a = raw_f32("y", F4);
    msg good = pack(&a, 1);
    /* not protobuf: a field with wire type 7, a length past the end */
    static const uint8_t junk1[] = {0x0f, 0x01}, junk2[] = {0x2a, 0x7f, 0x01};
    CHECK(ig_shadow_compare_pb(junk1, sizeof junk1, good.data, good.len, 1, 1) < 0);
    CHECK(ig_shadow_compare_pb(good.data, good.len, junk2, sizeof junk2, 1, 1) < 0);
    CHECK(ig_shadow_compare_pb(good.data, good.len - 1, good.data, good.len, 1, 1) < 0);
    CHECK(ig_shadow_compare_pb(NULL, 5, good.data, good.len, 1, 1) < 0);
    Inference__InferTensorContents tc = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
    float v[3] = {1, 2, 3};
    tc.n_fp32_contents = 3;
    tc.fp32_contents = v;
    uint16_t h[4] = {0};
    spec bad[] = {
        {"y", "FP32", {1, 3}, 2, F4, 4 * sizeof(float), NULL},      /* raw size does not fit the shape */
        {"y", "FP32", {1, 4}, 2, NULL, 0, &tc},                     /* typed count does not fit the shape */
        {"y", "FP16", {3}, 1, NULL, 0, &tc},                        /* FP16 has no typed field */
        {"y", "FP99", {1}, 1, F4, 4, NULL},                         /* unknown datatype */
        {"y", "FP32", {-1}, 1, F4, 4, NULL},                        /* negative dimension */
        {"y", "FP32", {1 << 30, 1 << 30, 1 << 30}, 3, F4, 4, NULL}, /* too many elements */
        {"y", "FP32", {1, 4}, 2, NULL, 0, NULL},                    /* no data at all */
        {"y", "FP16", {4}, 1, h, 7, NULL},                          /* odd raw size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg m = pack(&bad[i], 1);
        CHECK(ig_shadow_compare_pb(m.data, m.len, good.data, good.len, 1, 1) < 0);
        CHECK(ig_shadow_compare_pb(good.data, good.len, m.data, m.len, 1, 1) < 0);
        free(m.data);
    }
    /* raw_output_contents must have one entry per output (or none) */
    spec two[2] = {a, a};
    two[1].name = "z";
    msg m = pack_n(two, 2, 1, "m");
    CHECK(ig_shadow_compare_pb(m.data, m.len, good.data, good.len, 1, 1) < 0);
    free(m.data);
    /* an output without data but of zero elements is fine */
    spec empty = {"e", "FP32", {0, 4}, 2, NULL, 0, NULL};
    CHECK_EQ_INT(cmp(pack(&empty, 1), pack(&empty, 1), 0, 0), 0);
    free(good.data);
}

int main(void)
{
    test_raw();
    test_typed();
    test_bytes();
    test_malformed();
    return CHECK_DONE();
}
