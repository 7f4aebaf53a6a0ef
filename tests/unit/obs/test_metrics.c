/* Histograms, the text buffer, label escaping and the exposition format (checked by promtool). */
#include "obs/metrics.h"

#include <math.h>

#include "check.h"
#include "promtool.h"

static void test_histogram(void)
{
    ig_histogram h;
    static const double b[] = {1, 5, 10};
    ig_histogram_init(&h, b, 3);
    CHECK_EQ_INT(h.n_bounds, 3);
    ig_histogram_observe(&h, 0.5);
    ig_histogram_observe(&h, 1); /* le: equal to a bound counts in that bucket */
    ig_histogram_observe(&h, 5.5);
    ig_histogram_observe(&h, 100);
    ig_histogram_observe(&h, NAN); /* ignored */
    CHECK_EQ_INT(h.counts[0], 2);
    CHECK_EQ_INT(h.counts[1], 0);
    CHECK_EQ_INT(h.counts[2], 1);
    CHECK_EQ_INT(h.counts[3], 1);
    CHECK_EQ_INT(h.sum_milli, 107000);

    ig_buf buf = {0};
    ig_prom_histogram(&buf, "x", "a=\"b\"", &h);
    CHECK_STR(buf.data, "x_bucket{a=\"b\",le=\"1\"} 2\n"
                        "x_bucket{a=\"b\",le=\"5\"} 2\n"
                        "x_bucket{a=\"b\",le=\"10\"} 3\n"
                        "x_bucket{a=\"b\",le=\"+Inf\"} 4\n"
                        "x_sum{a=\"b\"} 107\n"
                        "x_count{a=\"b\"} 4\n");
    ig_buf_free(&buf);
    ig_prom_histogram(&buf, "y", "", &h);
    CHECK(strstr(buf.data, "y_bucket{le=\"+Inf\"} 4\ny_sum 107\ny_count 4\n") != NULL);
    ig_buf_free(&buf);

    /* Unsorted, duplicate and non-finite bounds are dropped, too many are cut. */
    static const double bad[] = {2, 1, 2, INFINITY, 3};
    ig_histogram_init(&h, bad, 5);
    CHECK_EQ_INT(h.n_bounds, 2);
    CHECK(h.bounds[0] == 2 && h.bounds[1] == 3);
    double many[40];
    for (int i = 0; i < 40; i++) many[i] = i;
    ig_histogram_init(&h, many, 40);
    CHECK_EQ_INT(h.n_bounds, IG_HIST_MAX_BUCKETS);

    ig_histogram_init_latency_us(&h);
    CHECK(h.bounds[0] == 100 && h.bounds[h.n_bounds - 1] == 60e6);
    ig_histogram_observe(&h, 1e12); /* beyond every bound: +Inf */
    CHECK_EQ_INT(h.counts[h.n_bounds], 1);
    ig_histogram_observe(&h, -5); /* counted in the first bucket, adds nothing to the sum */
    CHECK_EQ_INT(h.counts[0], 1);
    ig_histogram_init_batch(&h);
    CHECK(h.bounds[0] == 1 && h.bounds[h.n_bounds - 1] == 1024);
}

static void test_buf(void)
{
    ig_buf b = {0};
    for (int i = 0; i < 1000; i++) ig_buf_printf(&b, "%d,", i);
    CHECK(!b.oom);
    CHECK(b.len == strlen(b.data));
    CHECK(!strncmp(b.data, "0,1,2,", 6));
    CHECK(strstr(b.data, ",999,") != NULL);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    size_t before = b.len;
    ig_buf_printf(&b, "%s", big); /* longer than the free space: the retry path */
    CHECK_EQ_INT(b.len, before + 4999);
    ig_buf_append(&b, "yz", 2);
    CHECK_EQ_INT(b.data[b.len - 1], 'z');
    CHECK_EQ_INT(b.data[b.len], 0);
    ig_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
}

static void test_escape(void)
{
    char out[64];
    ig_prom_escape("a\"b\\c\nd", out, sizeof(out));
    CHECK_STR(out, "a\\\"b\\\\c\\nd");
    ig_prom_escape("abc\"", out, 5); /* the escape would not fit: cut before it */
    CHECK_STR(out, "abc");
    ig_prom_escape("h\xc3\xa9llo", out, 3); /* never split a UTF-8 character */
    CHECK_STR(out, "h");
    ig_prom_escape("a\xff"
                   "b",
                   out, sizeof(out)); /* not UTF-8: replaced */
    CHECK_STR(out, "a\xef\xbf\xbd"
                   "b");
    ig_prom_escape("\xed\xa0\x80", out, sizeof(out)); /* a surrogate is not valid UTF-8 */
    CHECK_STR(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    ig_prom_escape(NULL, out, sizeof(out));
    CHECK_STR(out, "");
}

static void test_values(void)
{
    ig_buf b = {0};
    ig_prom_family(&b, "m", "gauge", "help with \\ and\nnewline");
    ig_prom_value(&b, "m", "", 3);
    ig_prom_value(&b, "m", "k=\"v\"", 0.1);
    ig_prom_value(&b, "m", "k=\"w\"", 1.5e300);
    ig_prom_value(&b, "m", "k=\"i\"", INFINITY);
    ig_prom_value(&b, "m", "k=\"n\"", NAN);
    ig_prom_value(&b, "m", "k=\"big\"", 18446744073709551615.0);
    CHECK_STR(b.data, "# HELP m help with \\\\ and\\nnewline\n# TYPE m gauge\n"
                      "m 3\nm{k=\"v\"} 0.1\nm{k=\"w\"} 1.5e+300\nm{k=\"i\"} +Inf\nm{k=\"n\"} NaN\n"
                      "m{k=\"big\"} 1.8446744073709552e+19\n");
    CHECK_EQ_INT(promtool_check(b.data, b.len), 0);
    ig_buf_free(&b);
}

static void test_exposition_promtool(void)
{
    ig_buf b = {0};
    ig_histogram h;
    ig_histogram_init_latency_us(&h);
    for (int i = 0; i < 1000; i++) ig_histogram_observe(&h, i * 37.5);
    char v[64], lab[160];
    ig_prom_escape("we\"ird\\na\nme \xe2\x9c\x93", v, sizeof(v));
    snprintf(lab, sizeof(lab), "model=\"%s\"", v);
    ig_prom_family(&b, "demo_latency_seconds", "histogram", "A histogram");
    ig_prom_histogram(&b, "demo_latency_seconds", lab, &h);
    ig_prom_histogram(&b, "demo_latency_seconds", "", &h);
    CHECK(!b.oom);
    CHECK_EQ_INT(promtool_check(b.data, b.len), 0);
    /* and promtool does reject broken text, so the check above means something */
    const char *broken = "# TYPE x counter\nx{a=\"unterminated} 1\n";
    fprintf(stderr, "(a promtool complaint follows on purpose)\n");
    CHECK(promtool_check(broken, strlen(broken)) != 0);
    ig_buf_free(&b);
}

static void test_process(void)
{
    ig_process_stats ps;
    ig_process_stats_read(&ps);
    CHECK(ps.rss_bytes > 1024 * 1024 && ps.rss_bytes < (1ull << 40));
    CHECK(ps.cpu_seconds >= 0 && ps.cpu_seconds < 1e6);
    CHECK(ps.start_time_seconds > 1.5e9 && ps.start_time_seconds < 5e9);
    CHECK(ps.open_fds >= 3 && ps.open_fds < 100000);
    FILE *f = fopen("/dev/null", "r");
    ig_process_stats ps2;
    ig_process_stats_read(&ps2);
    CHECK_EQ_INT(ps2.open_fds, ps.open_fds + 1);
    if (f) fclose(f);
    volatile double x = 0; /* burns CPU time the process counter must see */
    for (long i = 0; i < 30000000; i++) x += i * 0.5;
    CHECK(x > 0);
    ig_process_stats_read(&ps2);
    CHECK(ps2.cpu_seconds > ps.cpu_seconds);
    CHECK(fabs(ps2.start_time_seconds - ps.start_time_seconds) < 0.02);
}

int main(void)
{
    test_histogram();
    test_buf();
    test_escape();
    test_values();
    test_exposition_promtool();
    test_process();
    return CHECK_DONE();
}
