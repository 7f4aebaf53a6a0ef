/* libFuzzer target for the YAML config reader: parse, then read every scalar through the typed
 * getters. Any crash, sanitizer report or leak is a bug; errors are expected. */
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

static void walk(const ig_conf *c, const ig_conf_node *n)
{
    ig_error err;
    for (const ig_conf_node *m = n->child; m; m = m->next) {
        if (m->kind != IG_CONF_SCALAR) {
            walk(c, m);
            continue;
        }
        int64_t i;
        double d;
        bool b;
        if (n->kind == IG_CONF_MAP) {
            ig_conf_int(c, n, m->key, INT64_MIN, INT64_MAX, 0, &i, &err);
            ig_conf_duration_ms(c, n, m->key, 0, &i, &err);
            ig_conf_bool(c, n, m->key, false, &b, &err);
        }
        ig_conf_scalar_double(c, m, -1e300, 1e300, &d, &err);
    }
    ig_conf_no_unknown(c, n, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_error err = {0};
    ig_conf *c = ig_conf_load_string((const char *)data, size, "fuzz.yaml", &err);
    if (c) walk(c, ig_conf_root(c));
    ig_conf_free(c);
    return 0;
}
