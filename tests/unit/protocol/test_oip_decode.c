/* Inference request decoding: every datatype as JSON and binary, nested/flat data, byte-size and
 * element-count mismatches, parameters, outputs, duplicates, raw binary requests. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "protocol/oip.h"

static ig_arena *A;
static ig_error E;

static int dec(const char *json, const void *bin, size_t bin_len, ig_infer_request *q)
{
    static char body[1 << 16];
    size_t jl = strlen(json);
    memcpy(body, json, jl);
    if (bin_len) memcpy(body + jl, bin, bin_len);
    memset(&E, 0, sizeof E);
    return ig_oip_decode_infer(body, jl + bin_len, bin_len ? jl : SIZE_MAX, "m", "", A, q, &E);
}

#define EXPECT_ERR(json, code, frag)                                                                         \
    do {                                                                                                     \
        ig_infer_request q_;                                                                                 \
        CHECK_EQ_INT(dec(json, NULL, 0, &q_), code);                                                         \
        if (!strstr(E.msg, frag)) fprintf(stderr, "message '%s' lacks '%s'\n", E.msg, frag);                 \
        CHECK(strstr(E.msg, frag) != NULL);                                                                  \
    } while (0)

static void test_json_types(void)
{
    ig_infer_request q;
    const char *j =
        "{\"id\":\"r1\",\"inputs\":["
        "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]},"
        "{\"name\":\"u8\",\"shape\":[2],\"datatype\":\"UINT8\",\"data\":[0,255]},"
        "{\"name\":\"u16\",\"shape\":[1],\"datatype\":\"UINT16\",\"data\":[65535]},"
        "{\"name\":\"u32\",\"shape\":[1],\"datatype\":\"UINT32\",\"data\":[4294967295]},"
        "{\"name\":\"u64\",\"shape\":[1],\"datatype\":\"UINT64\",\"data\":[18446744073709551615]},"
        "{\"name\":\"i8\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[-128]},"
        "{\"name\":\"i16\",\"shape\":[1],\"datatype\":\"INT16\",\"data\":[-32768]},"
        "{\"name\":\"i32\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[-2147483648]},"
        "{\"name\":\"i64\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[-9223372036854775808]},"
        "{\"name\":\"f16\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[0.5]},"
        "{\"name\":\"f32\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[[1,2],[3,4.5]]},"
        "{\"name\":\"f64\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0.1]},"
        "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"hi\",\"\\u00e9\"]}]}";
    CHECK_EQ_INT(dec(j, NULL, 0, &q), 0);
    if (E.code) fprintf(stderr, "%s\n", E.msg);
    CHECK_EQ_INT(q.n_inputs, 13);
    CHECK_STR(q.id, "r1");
    if (q.n_inputs != 13) return;
    CHECK(q.inputs[0].t.dtype == IG_DT_BOOL && ((uint8_t *)q.inputs[0].t.data)[0] == 1);
    CHECK(((uint8_t *)q.inputs[1].t.data)[1] == 255);
    CHECK(((uint16_t *)q.inputs[2].t.data)[0] == 65535);
    CHECK(((uint32_t *)q.inputs[3].t.data)[0] == UINT32_MAX);
    CHECK(((uint64_t *)q.inputs[4].t.data)[0] == UINT64_MAX);
    CHECK(((int8_t *)q.inputs[5].t.data)[0] == -128);
    CHECK(((int16_t *)q.inputs[6].t.data)[0] == -32768);
    CHECK(((int32_t *)q.inputs[7].t.data)[0] == INT32_MIN);
    CHECK(((int64_t *)q.inputs[8].t.data)[0] == INT64_MIN);
    CHECK(((uint16_t *)q.inputs[9].t.data)[0] == 0x3800);
    CHECK(q.inputs[10].t.ndim == 2 && ((float *)q.inputs[10].t.data)[3] == 4.5f);
    CHECK(((double *)q.inputs[11].t.data)[0] == 0.1);
    ig_string *s = q.inputs[12].t.data;
    CHECK(q.inputs[12].t.dtype == IG_DT_STRING && s[0].len == 2 && s[1].len == 2 &&
          !memcmp(s[1].ptr, "\xc3\xa9", 2));
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

static void test_binary(void)
{
    /* Spec example: UINT32[2,2] (16 B) + BOOL[3] (3 B), then BYTES and BF16. */
    unsigned char bin[64];
    uint32_t u[4] = {1, 2, 3, 4};
    memcpy(bin, u, 16);
    bin[16] = 1, bin[17] = 0, bin[18] = 1;
    put32(bin + 19, 2);
    memcpy(bin + 23, "ab", 2);
    put32(bin + 25, 0);
    uint16_t bf[2] = {0x3F80, 0xC000};
    memcpy(bin + 29, bf, 4);
    const char *j =
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"UINT32\","
        "\"parameters\":{\"binary_data_size\":16}},"
        "{\"name\":\"b\",\"shape\":[3],\"datatype\":\"BOOL\",\"parameters\":{\"binary_data_size\":3}},"
        "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":10}},"
        "{\"name\":\"h\",\"shape\":[2],\"datatype\":\"BF16\",\"parameters\":{\"binary_data_size\":4}}],"
        "\"outputs\":[{\"name\":\"o\",\"parameters\":{\"binary_data\":true}},{\"name\":\"c\","
        "\"parameters\":{\"classification\":3}}],"
        "\"parameters\":{\"binary_data_output\":true,\"priority\":2,\"timeout\":1000,\"custom\":\"x\"}}";
    ig_infer_request q;
    CHECK_EQ_INT(dec(j, bin, 33, &q), 0);
    if (E.code) fprintf(stderr, "%s\n", E.msg);
    if (q.n_inputs != 4) return;
    uint32_t got[4];
    memcpy(got, q.inputs[0].t.data, 16);
    CHECK(got[3] == 4);
    CHECK(((uint8_t *)q.inputs[1].t.data)[2] == 1);
    ig_string *s = q.inputs[2].t.data;
    CHECK(s[0].len == 2 && !memcmp(s[0].ptr, "ab", 2) && s[1].len == 0);
    uint16_t h[2];
    memcpy(h, q.inputs[3].t.data, 4);
    CHECK(h[0] == 0x3F80 && h[1] == 0xC000);
    CHECK(q.binary_output && q.priority == 2 && q.timeout_us == 1000);
    CHECK_EQ_INT(q.n_outputs, 2);
    CHECK(q.outputs[0].binary && q.outputs[0].binary_set && q.outputs[1].classification == 3);

    /* mismatches */
    const char *j1 = "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,3],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":20}}]}";
    CHECK_EQ_INT(dec(j1, bin, 20, &q), IG_EINVAL);
    CHECK(strstr(E.msg, "input 'a': FP32 [2,3] needs 24 bytes, binary_data_size is 20") != NULL);
    const char *j2 = "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":4}}]}";
    CHECK_EQ_INT(dec(j2, bin, 8, &q), IG_EINVAL); /* leftover */
    CHECK(strstr(E.msg, "4 bytes of binary data follow") != NULL);
    const char *j3 = "{\"inputs\":[{\"name\":\"a\",\"shape\":[4],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":16}}]}";
    CHECK_EQ_INT(dec(j3, bin, 8, &q), IG_EINVAL); /* missing */
    CHECK(strstr(E.msg, "exceeds the 8 binary bytes left") != NULL);
    const char *j4 = "{\"inputs\":[{\"name\":\"s\",\"shape\":[1],\"datatype\":\"BYTES\","
                     "\"parameters\":{\"binary_data_size\":6}}]}";
    unsigned char sb[8];
    put32(sb, 5);
    memcpy(sb + 4, "xy", 2);
    CHECK_EQ_INT(dec(j4, sb, 6, &q), IG_EINVAL);
    CHECK(strstr(E.msg, "length 5 exceeds") != NULL);
    put32(sb, 1);
    CHECK_EQ_INT(dec(j4, sb, 6, &q), IG_EINVAL); /* 5 bytes used of 6 */
    CHECK(strstr(E.msg, "use 5 bytes, binary_data_size is 6") != NULL);
    /* misaligned binary is copied and still correct */
    const char *j5 = "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\","
                     "\"parameters\":{\"binary_data_size\":8}}]} ";
    double dv = 2.5;
    CHECK_EQ_INT(dec(j5, &dv, 8, &q), 0);
    CHECK(((uintptr_t)q.inputs[0].t.data & 7) == 0 && *(double *)q.inputs[0].t.data == 2.5);
    /* header longer than the body */
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_infer("{}", 2, 3, "m", "", A, &q, &E), IG_EINVAL);
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_infer("{}", 2, 0, "m", "", A, &q, &E), IG_EINVAL);
}

static void test_errors(void)
{
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5]}]}",
               IG_EINVAL, "input 'x': shape [2,3] needs 6 elements, got 5");
    EXPECT_ERR(
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1000000000,1000],\"datatype\":\"FP32\",\"data\":[1]}]}",
        IG_EINVAL, "needs 1000000000000 elements, got 1");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
               IG_EINVAL, "got 3");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP33\",\"data\":[1]}]}", IG_EINVAL,
               "unknown datatype 'FP33'");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BF16\",\"data\":[1]}]}",
               IG_EUNSUPPORTED, "BFLOAT16 data has no JSON form");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[1]}]}", IG_EINVAL,
               "negative");
    EXPECT_ERR(
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,1,1,1,1,1,1,1,1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        IG_EINVAL, "more than 8 dimensions");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[4294967296,4294967296],\"datatype\":\"FP32\","
               "\"data\":[1]}]}",
               IG_EINVAL, "too large");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[200]}]}",
               IG_EINVAL, "input 'x': data: element 0 is out of range for INT8");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1e999]}]}",
               IG_EINVAL, "out of range for FP32");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}", IG_EINVAL,
               "no \"data\" and no binary_data_size");
    EXPECT_ERR("{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", IG_EINVAL,
               "inputs[0]: missing \"name\"");
    EXPECT_ERR(
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"name\":\"y\"}]}",
        IG_EINVAL, "duplicate key 'name'");
    EXPECT_ERR("{\"inputs\":[],\"inputs\":[]}", IG_EINVAL, "duplicate key 'inputs'");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
               "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}]}",
               IG_EINVAL, "input 'x' appears twice");
    EXPECT_ERR("{\"inputs\":[],\"outputs\":[{\"name\":\"o\"},{\"name\":\"o\"}]}", IG_EINVAL,
               "requested twice");
    EXPECT_ERR("{\"inputs\":[],\"parameters\":{\"triton_x\":1}}", IG_EINVAL,
               "parameter 'triton_x' is reserved");
    EXPECT_ERR("{\"inputs\":[],\"parameters\":{\"a\":1,\"a\":2}}", IG_EINVAL, "duplicate parameter 'a'");
    EXPECT_ERR("{\"inputs\":[],\"parameters\":{\"a\":[1]}}", IG_EINVAL,
               "must be a string, number or boolean");
    EXPECT_ERR("{\"inputs\":[],\"parameters\":{\"sequence_id\":5}}", IG_EUNSUPPORTED, "sequence");
    EXPECT_ERR("{\"inputs\":[],\"parameters\":{\"priority\":-1}}", IG_EINVAL, "priority");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
               "\"parameters\":{\"shared_memory_region\":\"r\"}}]}",
               IG_EUNSUPPORTED, "shared memory");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],"
               "\"parameters\":{\"binary_data_size\":4}}]}",
               IG_EINVAL, "both");
    EXPECT_ERR("{\"id\":\"a\"}", IG_EINVAL, "missing \"inputs\"");
    EXPECT_ERR("{\"inputs\":[]} x", IG_EINVAL, "trailing characters");
    EXPECT_ERR("[1]", IG_EINVAL, "expected an object");
    EXPECT_ERR("{\"id\":\"\xff\",\"inputs\":[]}", IG_EINVAL, "invalid UTF-8");
    EXPECT_ERR("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"\xc3\x28\"]}]}",
               IG_EINVAL, "invalid UTF-8");
    /* deep JSON in an ignored field */
    char deep[400];
    char *p = deep + sprintf(deep, "{\"inputs\":[],\"x\":");
    for (int i = 0; i < 150; i++) *p++ = '[';
    for (int i = 0; i < 150; i++) *p++ = ']';
    strcpy(p, "}");
    EXPECT_ERR(deep, IG_EINVAL, "deeper than 100");
}

static void test_order_and_shapes(void)
{
    ig_infer_request q;
    /* data before shape/datatype, unknown keys ignored, scalar shape, zero-sized tensor */
    const char *j = "{\"outputs\":[{\"name\":\"o\"}],\"inputs\":[{\"data\":[[1],[2]],\"extra\":{\"k\":[1]},"
                    "\"name\":\"x\",\"datatype\":\"INT64\",\"shape\":[2,1]},"
                    "{\"name\":\"s\",\"shape\":[],\"datatype\":\"FP32\",\"data\":3.5},"
                    "{\"name\":\"z\",\"shape\":[0,3],\"datatype\":\"FP32\",\"data\":[]}]}";
    CHECK_EQ_INT(dec(j, NULL, 0, &q), 0);
    if (E.code) fprintf(stderr, "%s\n", E.msg);
    if (q.n_inputs != 3) return;
    CHECK(((int64_t *)q.inputs[0].t.data)[1] == 2);
    CHECK(q.inputs[1].t.ndim == 0 && *(float *)q.inputs[1].t.data == 3.5f);
    CHECK(q.inputs[2].t.dims[0] == 0);
    CHECK_STR(q.outputs[0].name, "o");
    CHECK(!q.outputs[0].binary_set);
}

static void test_raw(void)
{
    ig_infer_request q;
    float v[6] = {1, 2, 3, 4, 5, 6};
    ig_oip_raw_input in = {.name = "x", .dtype = IG_DT_FLOAT, .ndim = 2, .dims = {1, -1}};
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_raw(v, sizeof v, &in, "m", "", A, &q, &E), 0);
    CHECK(q.n_inputs == 1 && q.inputs[0].t.dims[1] == 6 && q.binary_output);
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_raw(v, 5, &in, "m", "", A, &q, &E), IG_EINVAL);
    ig_oip_raw_input fixed = {.name = "x", .dtype = IG_DT_FLOAT, .ndim = 2, .dims = {1, 4}};
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_raw(v, sizeof v, &fixed, "m", "", A, &q, &E), IG_EINVAL);
    CHECK(strstr(E.msg, "needs 16 bytes, body has 24") != NULL);
    ig_oip_raw_input s = {.name = "t", .dtype = IG_DT_STRING, .ndim = 1, .dims = {1}};
    memset(&E, 0, sizeof E);
    CHECK_EQ_INT(ig_oip_decode_raw("hello", 5, &s, "m", "", A, &q, &E), 0);
    CHECK(((ig_string *)q.inputs[0].t.data)->len == 5);
}

int main(void)
{
    A = ig_arena_create(0);
    test_json_types();
    test_binary();
    test_errors();
    test_order_and_shapes();
    test_raw();
    ig_arena_free(A);
    return CHECK_DONE();
}
