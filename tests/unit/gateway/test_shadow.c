/* The shadow comparer: JSON and binary OIP responses, tolerance edges, FP16/BF16 decoding, BYTES,
 * mismatching names, shapes and datatypes, ignored metadata, and garbage input. */
#include "gateway/shadow.h"

#include <stdint.h>

#include "check.h"

static int cmp_json(const char *a, const char *b, double atol, double rtol)
{
    return ig_shadow_compare(a, strlen(a), strlen(a), b, strlen(b), strlen(b), atol, rtol);
}

#define ONE(dt, shape, data)                                                                                 \
    "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"y\",\"datatype\":\"" dt "\",\"shape\":" shape            \
    ",\"data\":" data "}]}"

/* JSON header announcing one binary output of `size` bytes, followed by the bytes. */
static size_t binary(char *buf, const char *dt, const char *shape, const void *data, size_t size,
                     size_t *json_len)
{
    int n = snprintf(
        buf, 512,
        "{\"model_name\":\"m\",\"model_version\":\"7\",\"outputs\":[{\"name\":\"y\",\"datatype\":\"%s\","
        "\"shape\":%s,\"parameters\":{\"binary_data_size\":%zu}}]}",
        dt, shape, size);
    *json_len = (size_t)n;
    memcpy(buf + n, data, size);
    return (size_t)n + size;
}

static void test_json(void)
{
    const char *a = ONE("FP32", "[2,2]", "[[1.0,2.0],[3.0,4.0]]");
    CHECK_EQ_INT(cmp_json(a, a, 0, 0), 0);
    /* Flat and nested data of the same shape agree; metadata is ignored. */
    CHECK_EQ_INT(
        cmp_json(a,
                 "{\"model_name\":\"other\",\"model_version\":\"3\",\"id\":\"x\",\"parameters\":{\"k\":1},"
                 "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[2,2],"
                 "\"parameters\":{\"q\":2},\"data\":[1,2,3,4]}]}",
                 0, 0),
        0);
    CHECK_EQ_INT(cmp_json(a, ONE("FP32", "[2,2]", "[1,2,3,4.5]"), 0, 0), 1);
    CHECK_EQ_INT(cmp_json(a, ONE("FP32", "[4]", "[1,2,3,4]"), 1, 1), 1);
    CHECK_EQ_INT(cmp_json(a, ONE("FP64", "[2,2]", "[1,2,3,4]"), 1, 1), 1);
    CHECK_EQ_INT(
        cmp_json(a,
                 "{\"outputs\":[{\"name\":\"z\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2,3,4]}]}",
                 1, 1),
        1);
    CHECK_EQ_INT(cmp_json(a, "{\"outputs\":[]}", 0, 0), 1);
    /* Outputs are matched by name, not position. */
    const char *two = "{\"outputs\":[{\"name\":\"a\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[5]},"
                      "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[true,false]}]}";
    const char *two_swapped =
        "{\"outputs\":[{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[true,false]},"
        "{\"name\":\"a\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[5]}]}";
    CHECK_EQ_INT(cmp_json(two, two_swapped, 0, 0), 0);
    /* BYTES compare exactly whatever the tolerance. */
    CHECK_EQ_INT(cmp_json(ONE("BYTES", "[2]", "[\"ab\",\"c\"]"), ONE("BYTES", "[2]", "[\"ab\",\"c\"]"), 1, 1),
                 0);
    CHECK_EQ_INT(
        cmp_json(ONE("BYTES", "[2]", "[\"ab\",\"c\"]"), ONE("BYTES", "[2]", "[\"ab\",\"d\"]"), 1e9, 1), 1);
}

static void test_tolerance(void)
{
    /* |a - b| <= atol + rtol * |a|: with atol 0.5 and rtol 0.25 at a = 2 the bound is exactly 1. */
    const char *a = ONE("FP64", "[1]", "[2.0]");
    CHECK_EQ_INT(cmp_json(a, ONE("FP64", "[1]", "[3.0]"), 0.5, 0.25), 0);
    CHECK_EQ_INT(cmp_json(a, ONE("FP64", "[1]", "[1.0]"), 0.5, 0.25), 0);
    CHECK_EQ_INT(cmp_json(a, ONE("FP64", "[1]", "[3.001]"), 0.5, 0.25), 1);
    CHECK_EQ_INT(cmp_json(a, ONE("FP64", "[1]", "[0.999]"), 0.5, 0.25), 1);
    /* The reference is the first response: rtol scales with |a|, not |b|. */
    CHECK_EQ_INT(cmp_json(ONE("FP64", "[1]", "[10]"), ONE("FP64", "[1]", "[11]"), 0, 0.1), 0);
    CHECK_EQ_INT(cmp_json(ONE("FP64", "[1]", "[11]"), ONE("FP64", "[1]", "[10]"), 0, 0.09), 1);
    CHECK_EQ_INT(cmp_json(ONE("FP32", "[1]", "[1e-6]"), ONE("FP32", "[1]", "[2e-6]"), 1e-5, 0), 0);
    CHECK_EQ_INT(cmp_json(ONE("FP32", "[1]", "[1e-6]"), ONE("FP32", "[1]", "[2e-5]"), 1e-5, 0), 1);
    /* Large integers compare exactly. */
    CHECK_EQ_INT(cmp_json(ONE("INT32", "[1]", "[2147483647]"), ONE("INT32", "[1]", "[2147483646]"), 0, 0), 1);
}

static void test_binary(void)
{
    char a[1024], b[1024];
    size_t aj, bj;
    float f[4] = {1.0f, -2.5f, 3.25f, 0.0f};
    size_t al = binary(a, "FP32", "[1,4]", f, sizeof(f), &aj);
    const char *j = ONE("FP32", "[1,4]", "[1.0,-2.5,3.25,0]");
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0), 0);
    CHECK_EQ_INT(ig_shadow_compare(j, strlen(j), strlen(j), a, al, aj, 0, 0), 0);
    float g[4] = {1.0f, -2.5f, 3.25f, 0.01f};
    size_t bl = binary(b, "FP32", "[1,4]", g, sizeof(g), &bj);
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, b, bl, bj, 0, 0), 1);
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, b, bl, bj, 0.02, 0), 0);
    /* FP16: 1.0, 0.5, -2.0, 65504, smallest subnormal; BF16: 1.0, -3.0. */
    uint16_t h[5] = {0x3c00, 0x3800, 0xc000, 0x7bff, 0x0001};
    al = binary(a, "FP16", "[5]", h, sizeof(h), &aj);
    j = ONE("FP16", "[5]", "[1,0.5,-2,65504,5.960464477539063e-08]");
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 1e-12), 0);
    uint16_t bf[2] = {0x3f80, 0xc040};
    al = binary(a, "BF16", "[2]", bf, sizeof(bf), &aj);
    j = ONE("BF16", "[2]", "[1,-3]");
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0), 0);
    int16_t i16[2] = {-3, 300};
    al = binary(a, "INT16", "[2]", i16, sizeof(i16), &aj);
    j = ONE("INT16", "[2]", "[-3,300]");
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0), 0);
    uint64_t u64[1] = {UINT64_MAX};
    al = binary(a, "UINT64", "[1]", u64, sizeof(u64), &aj);
    uint64_t u64b[1] = {UINT64_MAX - 1};
    bl = binary(b, "UINT64", "[1]", u64b, sizeof(u64b), &bj);
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, b, bl, bj, 0, 0), 1);
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, a, al, aj, 0, 0), 0);
    /* BYTES in binary form: 4-byte length prefixes. */
    unsigned char by[] = {2, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c'};
    al = binary(a, "BYTES", "[2]", by, sizeof(by), &aj);
    j = ONE("BYTES", "[2]", "[\"ab\",\"c\"]");
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0), 0);
    by[10] = 'x';
    al = binary(a, "BYTES", "[2]", by, sizeof(by), &aj);
    CHECK_EQ_INT(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0), 1);
    /* Sizes that do not add up are malformed. */
    al = binary(a, "FP32", "[1,3]", f, sizeof(f), &aj);
    CHECK(ig_shadow_compare(a, al, aj, j, strlen(j), strlen(j), 0, 0) < 0);
    al = binary(a, "FP32", "[1,4]", f, sizeof(f), &aj);
    CHECK(ig_shadow_compare(a, al - 1, aj, a, al, aj, 0, 0) < 0);
    CHECK(ig_shadow_compare(a, aj - 1, aj, a, al, aj, 0, 0) < 0);
    unsigned char bad[] = {9, 0, 0, 0, 'a'};
    al = binary(a, "BYTES", "[1]", bad, sizeof(bad), &aj);
    CHECK(ig_shadow_compare(a, al, aj, a, al, aj, 0, 0) < 0);
}

static void test_garbage(void)
{
    const char *good = ONE("FP32", "[1]", "[1]");
    const char *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"outputs\":{}}",
        "{\"outputs\":[1]}",
        "{\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1]}]}",
        ONE("FP99", "[1]", "[1]"),
        ONE("FP32", "[2]", "[1]"),
        ONE("FP32", "[-1]", "[1]"),
        ONE("FP32", "[1.5]", "[1]"),
        ONE("FP32", "[1]", "[\"x\"]"),
        ONE("BYTES", "[1]", "[1]"),
        ONE("FP32", "[1]", "[{}]"),
        ONE("FP32", "[100000000000,100000000000,100000000000]", "[1]"),
        /* announces binary data that never follows */
        ("{\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1],\"parameters\":{\"binary_data_"
         "size\":4}}]}"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(cmp_json(bad[i], good, 1, 1) < 0);
        CHECK(cmp_json(good, bad[i], 1, 1) < 0);
    }
    CHECK(ig_shadow_compare(good, strlen(good), strlen(good) + 1, good, strlen(good), strlen(good), 0, 0) <
          0);
    CHECK(ig_shadow_compare(NULL, 0, 0, good, strlen(good), strlen(good), 0, 0) < 0);
}

int main(void)
{
    test_json();
    test_tolerance();
    test_binary();
    test_garbage();
    return CHECK_DONE();
}
