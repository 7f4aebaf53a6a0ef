/* JSON reader and writer: grammar strictness, strings (escapes, UTF-8), numbers (ranges, huge
 * values), depth limit, skipping, streaming tensor arrays, float printing round trips. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "protocol/json.h"

static ig_arena *A;

static int skip_all(const char *s)
{
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, s, strlen(s), A, &err);
    int rc = ig_json_skip(&r);
    if (!rc) rc = ig_json_finish(&r);
    return rc;
}

static int read_str(const char *s, ig_string *out, ig_error *err)
{
    ig_json_reader r;
    ig_json_init(&r, s, strlen(s), A, err);
    return ig_json_string(&r, out);
}

static void test_grammar(void)
{
    CHECK_EQ_INT(skip_all("{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false,\"e\":\"x\"}"), 0);
    CHECK_EQ_INT(skip_all(" [ ] "), 0);
    CHECK_EQ_INT(skip_all("{}"), 0);
    CHECK_EQ_INT(skip_all("-0.5e+3"), 0);
    const char *bad[] = {"[1,]", "[,1]",  "{\"a\":1,}", "{\"a\" 1}", "{1:2}",    "[1 2]", "01",  "1.",
                         ".5",   "-",     "1e",         "+1",        "tru",      "nul",   "[1}", "{\"a\":1]",
                         "[",    "\"abc", "[1] x",      "NaN",       "Infinity", "'a'",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = skip_all(bad[i]);
        if (rc != IG_EINVAL) fprintf(stderr, "accepted bad JSON: %s\n", bad[i]);
        CHECK_EQ_INT(rc, IG_EINVAL);
    }
}

static void test_depth(void)
{
    char buf[512];
    int n = 100;
    for (int i = 0; i < n; i++) buf[i] = '[';
    for (int i = 0; i < n; i++) buf[n + i] = ']';
    buf[2 * n] = 0;
    CHECK_EQ_INT(skip_all(buf), 0);
    n = 101;
    for (int i = 0; i < n; i++) buf[i] = '[';
    for (int i = 0; i < n; i++) buf[n + i] = ']';
    buf[2 * n] = 0;
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, buf, strlen(buf), A, &err);
    CHECK_EQ_INT(ig_json_skip(&r), IG_EINVAL);
    CHECK(strstr(err.msg, "deeper than 100") != NULL);
    /* mixed objects and arrays */
    char *p = buf;
    for (int i = 0; i < 50; i++) p += sprintf(p, "{\"a\":[");
    for (int i = 0; i < 50; i++) p += sprintf(p, "]}");
    CHECK_EQ_INT(skip_all(buf), 0);
}

static void test_strings(void)
{
    ig_string s;
    ig_error err = {0};
    CHECK_EQ_INT(read_str("\"plain\"", &s, &err), 0);
    CHECK(s.len == 5 && !memcmp(s.ptr, "plain", 5));
    CHECK_EQ_INT(read_str("\"a\\n\\t\\\"\\\\\\/\\u00e9\\ud83d\\ude00\\u0000z\"", &s, &err), 0);
    CHECK(s.len == 1 + 1 + 1 + 1 + 1 + 1 + 2 + 4 + 1 + 1);
    CHECK(!memcmp(s.ptr, "a\n\t\"\\/\xc3\xa9\xf0\x9f\x98\x80\0z", s.len));
    CHECK_EQ_INT(read_str("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", &s, &err), 0);
    const char *bad[] = {"\"\xff\"",         "\"\xc3\"",         "\"\xc0\xaf\"",
                         "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
                         "\"\\ud83d\"",      "\"\\ude00\"",      "\"\\ud83dx\"",
                         "\"\\x\"",          "\"\\u12g4\"",      "\"a\nb\"",
                         "\"\x01\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ig_error e2 = {0};
        int rc = read_str(bad[i], &s, &e2);
        if (rc != IG_EINVAL) fprintf(stderr, "accepted bad string %zu\n", i);
        CHECK_EQ_INT(rc, IG_EINVAL);
    }
    ig_error e3 = {0};
    read_str("\"\xff\"", &s, &e3);
    CHECK(strstr(e3.msg, "invalid UTF-8") != NULL);
    /* cstr refuses NUL */
    ig_json_reader r;
    const char *t = "\"a\\u0000b\"";
    ig_error e4 = {0};
    ig_json_init(&r, t, strlen(t), A, &e4);
    const char *c;
    CHECK_EQ_INT(ig_json_cstr(&r, &c), IG_EINVAL);
}

static int rd_i64(const char *s, int64_t *v)
{
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, s, strlen(s), A, &err);
    return ig_json_int64(&r, v);
}

static int rd_u64(const char *s, uint64_t *v)
{
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, s, strlen(s), A, &err);
    return ig_json_uint64(&r, v);
}

static int rd_f64(const char *s, double *v)
{
    ig_json_reader r;
    ig_error err = {0};
    ig_json_init(&r, s, strlen(s), A, &err);
    return ig_json_double(&r, v);
}

static void test_numbers(void)
{
    int64_t i;
    uint64_t u;
    double d;
    CHECK_EQ_INT(rd_i64("9223372036854775807", &i), 0);
    CHECK(i == INT64_MAX);
    CHECK_EQ_INT(rd_i64("-9223372036854775808", &i), 0);
    CHECK(i == INT64_MIN);
    CHECK_EQ_INT(rd_i64("9223372036854775808", &i), IG_EINVAL);
    CHECK_EQ_INT(rd_i64("-9223372036854775809", &i), IG_EINVAL);
    CHECK_EQ_INT(rd_i64("1.0", &i), IG_EINVAL);
    CHECK_EQ_INT(rd_i64("1e3", &i), IG_EINVAL);
    CHECK_EQ_INT(rd_u64("18446744073709551615", &u), 0);
    CHECK(u == UINT64_MAX);
    CHECK_EQ_INT(rd_u64("18446744073709551616", &u), IG_EINVAL);
    CHECK_EQ_INT(rd_u64("-1", &u), IG_EINVAL);
    CHECK_EQ_INT(rd_u64("99999999999999999999999999999999", &u), IG_EINVAL);
    CHECK_EQ_INT(rd_f64("0.1", &d), 0);
    CHECK(d == 0.1);
    CHECK_EQ_INT(rd_f64("-1.5e-3", &d), 0);
    CHECK(d == -1.5e-3);
    CHECK_EQ_INT(rd_f64("0.12345678901234567890123", &d), 0);
    CHECK(d == 0.12345678901234567890123);
    CHECK_EQ_INT(rd_f64("123456789012345678901234567890", &d), 0);
    CHECK(d == 123456789012345678901234567890.0);
    CHECK_EQ_INT(rd_f64("1e400", &d), IG_EINVAL);
    CHECK_EQ_INT(rd_f64("1e-400", &d), 0);
    CHECK(d == 0);
    CHECK_EQ_INT(rd_f64("1e999999999999", &d), IG_EINVAL);
    CHECK_EQ_INT(rd_f64("2.2250738585072014e-308", &d), 0);
    CHECK(d == 2.2250738585072014e-308);
}

static int tensor(const char *s, ig_dtype dt, void *dst, size_t cap, size_t *count, ig_error *err)
{
    ig_json_reader r;
    ig_json_init(&r, s, strlen(s), A, err);
    int rc = ig_json_read_tensor(&r, dt, dst, cap, count);
    if (!rc) rc = ig_json_finish(&r);
    return rc;
}

static void test_tensor(void)
{
    float f[8];
    size_t n;
    ig_error err = {0};
    CHECK_EQ_INT(tensor("[[1, 2.5], [-3e2 ,0.1]]", IG_DT_FLOAT, f, 8, &n, &err), 0);
    CHECK(n == 4 && f[0] == 1 && f[1] == 2.5f && f[2] == -300 && f[3] == 0.1f);
    CHECK_EQ_INT(tensor("[1,2,3,4,5,6,7,8,9,10]", IG_DT_FLOAT, f, 8, &n, &err), 0);
    CHECK_EQ_INT(n, 10); /* counted past cap */
    CHECK_EQ_INT(tensor("[1,[2,[3]],4]", IG_DT_FLOAT, f, 8, &n, &err), 0);
    CHECK(n == 4 && f[2] == 3 && f[3] == 4);
    CHECK_EQ_INT(tensor("[1,2,]", IG_DT_FLOAT, f, 8, &n, &err), IG_EINVAL);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(tensor("[1,\"a\"]", IG_DT_FLOAT, f, 8, &n, &err), IG_EINVAL);
    CHECK(strstr(err.msg, "element 1 is not a number") != NULL);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(tensor("[1e39]", IG_DT_FLOAT, f, 8, &n, &err), IG_EINVAL);
    CHECK(strstr(err.msg, "out of range for FP32") != NULL);
    memset(&err, 0, sizeof err);
    int8_t i8[4];
    CHECK_EQ_INT(tensor("[127,-128]", IG_DT_INT8, i8, 4, &n, &err), 0);
    CHECK(i8[0] == 127 && i8[1] == -128);
    CHECK_EQ_INT(tensor("[128]", IG_DT_INT8, i8, 4, &n, &err), IG_EINVAL);
    memset(&err, 0, sizeof err);
    uint8_t u8[4];
    CHECK_EQ_INT(tensor("[-1]", IG_DT_UINT8, u8, 4, &n, &err), IG_EINVAL);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(tensor("[1.5]", IG_DT_INT32, u8, 1, &n, &err), IG_EINVAL);
    CHECK(strstr(err.msg, "not an integer") != NULL);
    memset(&err, 0, sizeof err);
    uint8_t b[4];
    CHECK_EQ_INT(tensor("[true,false,true]", IG_DT_BOOL, b, 4, &n, &err), 0);
    CHECK(n == 3 && b[0] == 1 && b[1] == 0 && b[2] == 1);
    CHECK_EQ_INT(tensor("[1]", IG_DT_BOOL, b, 4, &n, &err), IG_EINVAL);
    memset(&err, 0, sizeof err);
    ig_string s[2];
    CHECK_EQ_INT(tensor("[\"ab\",\"c\\u0000\"]", IG_DT_STRING, s, 2, &n, &err), 0);
    CHECK(n == 2 && s[0].len == 2 && s[1].len == 2 && s[1].ptr[1] == 0);
    uint16_t h[2];
    CHECK_EQ_INT(tensor("[1.5,-2]", IG_DT_FLOAT16, h, 2, &n, &err), 0);
    CHECK(h[0] == 0x3E00 && h[1] == 0xC000);
    CHECK_EQ_INT(tensor("[70000]", IG_DT_FLOAT16, h, 2, &n, &err), IG_EINVAL);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(tensor("[1]", IG_DT_BFLOAT16, h, 2, &n, &err), IG_EUNSUPPORTED);
    memset(&err, 0, sizeof err);
    /* scalar form */
    CHECK_EQ_INT(tensor("7", IG_DT_FLOAT, f, 1, &n, &err), 0);
    CHECK(n == 1 && f[0] == 7);
    /* deep nesting refused */
    char deep[300];
    for (int i = 0; i < 120; i++) deep[i] = '[';
    deep[120] = '1';
    for (int i = 0; i < 120; i++) deep[121 + i] = ']';
    deep[241] = 0;
    CHECK_EQ_INT(tensor(deep, IG_DT_FLOAT, f, 8, &n, &err), IG_EINVAL);
}

static void test_float_exact(void)
{
    /* The long double fast path against strtof on many random decimal strings. */
    unsigned s = 7;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        s = s * 1103515245u + 12345u;
        unsigned s2 = s * 2654435761u;
        char buf[64];
        int e = (int)(s2 % 60) - 30;
        snprintf(buf, sizeof buf, "%u.%05ue%d", s % 100000, s2 % 100000, e);
        float f;
        size_t n;
        ig_error err = {0};
        if (tensor(buf, IG_DT_FLOAT, &f, 1, &n, &err)) {
            bad++;
            continue;
        }
        if (f != strtof(buf, NULL)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_writer(void)
{
    ig_json_writer w = {0};
    ig_jw_str(&w, "a\"b\\c\n\x01\xc3\xa9\xff", 10);
    size_t len;
    char *s = ig_jw_take(&w, &len);
    CHECK_STR(s, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\ufffd\"");
    free(s);
    /* f32 round trip through the reader */
    unsigned st = 1;
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        st = st * 1103515245u + 12345u;
        uint32_t bits = st ^ (st << 7);
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f)) continue;
        ig_json_writer x = {0};
        ig_jw_f32(&x, f);
        char *t = ig_jw_take(&x, &len);
        float g;
        size_t n;
        ig_error err = {0};
        if (tensor(t, IG_DT_FLOAT, &g, 1, &n, &err) || memcmp(&f, &g, 4)) {
            if (bad++ < 5) fprintf(stderr, "f32 %a printed %s read %a (%s)\n", f, t, g, err.msg);
        }
        free(t);
    }
    CHECK_EQ_INT(bad, 0);
    bad = 0;
    for (int i = 0; i < 50000; i++) {
        st = st * 1103515245u + 12345u;
        uint64_t bits = (uint64_t)st << 32 | (st * 2654435761u);
        double d;
        memcpy(&d, &bits, 8);
        if (!isfinite(d)) continue;
        ig_json_writer x = {0};
        ig_jw_f64(&x, d);
        char *t = ig_jw_take(&x, &len);
        double g;
        if (rd_f64(t, &g) || memcmp(&d, &g, 8)) {
            if (bad++ < 5) fprintf(stderr, "f64 %a printed %s read %a\n", d, t, g);
        }
        free(t);
    }
    CHECK_EQ_INT(bad, 0);
    ig_json_writer x = {0};
    ig_jw_f32(&x, 0.5f);
    ig_jw_char(&x, ' ');
    ig_jw_f32(&x, -3.0f);
    ig_jw_char(&x, ' ');
    ig_jw_f32(&x, 1e-7f);
    ig_jw_char(&x, ' ');
    ig_jw_f32(&x, NAN);
    ig_jw_char(&x, ' ');
    ig_jw_f64(&x, 0.1);
    ig_jw_char(&x, ' ');
    ig_jw_i64(&x, INT64_MIN);
    s = ig_jw_take(&x, &len);
    CHECK_STR(s, "0.5 -3 1.00000001e-7 null 0.10000000000000001 -9223372036854775808");
    free(s);
}

int main(void)
{
    A = ig_arena_create(0);
    test_grammar();
    test_depth();
    test_strings();
    test_numbers();
    test_tensor();
    test_float_exact();
    test_writer();
    ig_arena_free(A);
    return CHECK_DONE();
}
