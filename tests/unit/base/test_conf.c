/* The YAML config tree: nodes and their lines, typed getters with defaults and ranges, durations,
 * unknown-key detection, and the line-numbered errors of malformed files. */
#include "base/conf.h"

#include "check.h"

static ig_conf *load(const char *text, ig_error *err)
{
    *err = (ig_error){0};
    return ig_conf_load_string(text, strlen(text), "t.yaml", err);
}

static void test_values(void)
{
    ig_error err;
    ig_conf *c = load("listen: 127.0.0.1:8080\n"
                      "workers: 2\n"
                      "ratio: 0.25\n"
                      "tls: off\n"
                      "timeout: 250ms\n"
                      "pools:\n"
                      "  - name: a\n"
                      "    endpoints: [x, y]\n",
                      &err);
    CHECK(c != NULL);
    if (!c) return;
    const ig_conf_node *r = ig_conf_root(c);
    const char *s;
    int64_t i;
    double d;
    bool b;
    CHECK(ig_conf_str(c, r, "listen", NULL, &s, &err));
    CHECK_STR(s, "127.0.0.1:8080");
    CHECK(ig_conf_int(c, r, "workers", 1, 64, 1, &i, &err) && i == 2);
    CHECK(ig_conf_int(c, r, "absent", 1, 64, 7, &i, &err) && i == 7);
    CHECK(ig_conf_double(c, r, "ratio", 0, 1, 0, &d, &err) && d == 0.25);
    CHECK(ig_conf_bool(c, r, "tls", true, &b, &err) && !b);
    CHECK(ig_conf_duration_ms(c, r, "timeout", 0, &i, &err) && i == 250);
    const ig_conf_node *pools = ig_conf_require(c, r, "pools", IG_CONF_SEQ, &err);
    CHECK(pools && pools->count == 1 && pools->line == 7);
    const ig_conf_node *p = pools->child;
    CHECK(ig_conf_str(c, p, "name", NULL, &s, &err));
    const ig_conf_node *eps = ig_conf_get(p, "endpoints");
    CHECK(eps && eps->kind == IG_CONF_SEQ && eps->count == 2 && eps->line == 8);
    CHECK_STR(eps->child->next->value, "y");
    CHECK(ig_conf_no_unknown(c, p, &err));
    CHECK(ig_conf_no_unknown(c, r, &err));
    ig_conf_free(c);
}

static void test_errors(void)
{
    ig_error err;
    ig_conf *c = load("a: 1\nworkers: two\nb: 5s\nc: 3x\nnested:\n  x: 1\n  typo: 2\n", &err);
    CHECK(c != NULL);
    const ig_conf_node *r = ig_conf_root(c);
    int64_t i;
    err = (ig_error){0};
    CHECK(!ig_conf_int(c, r, "workers", 1, 8, 1, &i, &err));
    CHECK(strstr(err.msg, "t.yaml:2:") && strstr(err.msg, "two"));
    err = (ig_error){0};
    CHECK(!ig_conf_int(c, r, "a", 2, 8, 1, &i, &err));
    CHECK(strstr(err.msg, "t.yaml:1:") && strstr(err.msg, "out of range"));
    CHECK(ig_conf_duration_ms(c, r, "b", 0, &i, &err) && i == 5000);
    err = (ig_error){0};
    CHECK(!ig_conf_duration_ms(c, r, "c", 0, &i, &err) && strstr(err.msg, "t.yaml:4:"));
    const ig_conf_node *n = ig_conf_get(r, "nested");
    CHECK(ig_conf_int(c, n, "x", 0, 9, 0, &i, &err));
    err = (ig_error){0};
    CHECK(!ig_conf_no_unknown(c, n, &err) && strstr(err.msg, "t.yaml:7: unknown key 'typo'"));
    err = (ig_error){0};
    CHECK(!ig_conf_require(c, r, "missing", IG_CONF_MAP, &err) && strstr(err.msg, "missing key 'missing'"));
    err = (ig_error){0};
    CHECK(!ig_conf_require(c, r, "a", IG_CONF_MAP, &err) && strstr(err.msg, "expected a map"));
    ig_conf_free(c);

    struct {
        const char *text, *want;
    } bad[] = {
        {"", "t.yaml:1: the file is empty"},
        {"a: 1\na: 2\n", "t.yaml:2: duplicate key 'a'"},
        {"- 1\n- 2\n", "top level must be a map"},
        {"a: [1, 2\nb: 3\n", "t.yaml:"},
        {"a: &x 1\nb: *x\n", "t.yaml:2: aliases are not supported"},
        {"a: 1\n---\nb: 2\n", "only one YAML document"},
        {"? [1]\n: 2\n", "map keys must be plain text"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ig_conf *b = load(bad[k].text, &err);
        CHECK(b == NULL);
        if (!strstr(err.msg, bad[k].want)) fprintf(stderr, "case %zu: got '%s'\n", k, err.msg);
        CHECK(strstr(err.msg, bad[k].want) != NULL);
        ig_conf_free(b);
    }
    char deep[400] = "a: ";
    for (int k = 0; k < 100; k++) strcat(deep, "[");
    CHECK(load(deep, &err) == NULL && strstr(err.msg, "nesting too deep"));
    CHECK(ig_conf_load_file("/nonexistent/x.yaml", &err) == NULL);
}

int main(void)
{
    test_values();
    test_errors();
    return CHECK_DONE();
}
