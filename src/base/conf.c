/* YAML to ig_conf_node tree with libyaml's event parser. Nodes and strings live in one arena that
 * the tree frees at once. */
#include "base/conf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/arena.h"

/* Deep nesting is never a real config; the bound keeps a hostile file from using the stack. */
#define CONF_MAX_DEPTH 64

struct ig_conf {
    ig_arena *arena;
    char *name;
    ig_conf_node *root;
};

bool ig_conf_fail(const ig_conf *c, const ig_conf_node *at, ig_error *err, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    int line = at ? at->line : (c && c->root ? c->root->line : 1);
    ig_error_set(err, IG_EINVAL, "%s:%d: %s", c ? c->name : "config", line, reason);
    return false;
}

typedef struct {
    ig_conf *c;
    yaml_parser_t parser;
    ig_error *err;
} builder;

static bool builder_fail(builder *b, int line, const char *fmt, const char *detail)
{
    ig_conf_node at = {.line = line};
    return ig_conf_fail(b->c, &at, b->err, fmt, detail);
}

static bool next_event(builder *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev)) return true;
    return builder_fail(b, (int)b->parser.problem_mark.line + 1, "%s",
                        b->parser.problem ? b->parser.problem : "YAML syntax error");
}

static ig_conf_node *new_node(builder *b, ig_conf_kind kind, const yaml_event_t *ev)
{
    ig_conf_node *n = ig_arena_alloc(b->c->arena, sizeof *n, _Alignof(ig_conf_node));
    if (!n) {
        ig_error_set(b->err, IG_ENOMEM, "out of memory reading %s", b->c->name);
        return NULL;
    }
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    return n;
}

static void append(ig_conf_node *parent, ig_conf_node **tail, ig_conf_node *n)
{
    if (*tail)
        (*tail)->next = n;
    else
        parent->child = n;
    *tail = n;
    parent->count++;
}

/* Builds the node that starts with event ev (already consumed); takes ownership of ev. */
static ig_conf_node *build(builder *b, yaml_event_t *ev, int depth)
{
    if (depth > CONF_MAX_DEPTH) {
        builder_fail(b, (int)ev->start_mark.line + 1, "%s", "nesting too deep");
        yaml_event_delete(ev);
        return NULL;
    }
    ig_conf_node *n = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if ((n = new_node(b, IG_CONF_SCALAR, ev))) {
            n->value =
                ig_arena_strndup(b->c->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
            if (!n->value)
                n = NULL;
            else if (strlen(n->value) != ev->data.scalar.length) {
                builder_fail(b, n->line, "%s", "NUL byte in a value");
                n = NULL;
            }
        }
        yaml_event_delete(ev);
        return n;
    case YAML_ALIAS_EVENT:
        builder_fail(b, (int)ev->start_mark.line + 1, "%s", "aliases are not supported; write the value out");
        yaml_event_delete(ev);
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool is_map = ev->type == YAML_MAPPING_START_EVENT;
        bool anchored =
            is_map ? ev->data.mapping_start.anchor != NULL : ev->data.sequence_start.anchor != NULL;
        n = new_node(b, is_map ? IG_CONF_MAP : IG_CONF_SEQ, ev);
        yaml_event_delete(ev);
        if (!n) return NULL;
        if (anchored) {
            builder_fail(b, n->line, "%s", "anchors are not supported; write the value out");
            return NULL;
        }
        ig_conf_node *tail = NULL;
        for (;;) {
            yaml_event_t e;
            if (!next_event(b, &e)) return NULL;
            if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return n;
            }
            const char *key = NULL;
            if (is_map) {
                if (e.type != YAML_SCALAR_EVENT) {
                    builder_fail(b, (int)e.start_mark.line + 1, "%s", "map keys must be plain text");
                    yaml_event_delete(&e);
                    return NULL;
                }
                int kline = (int)e.start_mark.line + 1;
                key = ig_arena_strndup(b->c->arena, (const char *)e.data.scalar.value, e.data.scalar.length);
                yaml_event_delete(&e);
                if (!key) return NULL;
                for (ig_conf_node *m = n->child; m; m = m->next)
                    if (!strcmp(m->key, key)) {
                        builder_fail(b, kline, "duplicate key '%s'", key);
                        return NULL;
                    }
                if (!next_event(b, &e)) return NULL;
            }
            ig_conf_node *item = build(b, &e, depth + 1);
            if (!item) return NULL;
            item->key = key;
            append(n, &tail, item);
        }
    }
    default:
        builder_fail(b, (int)ev->start_mark.line + 1, "%s", "unexpected YAML structure");
        yaml_event_delete(ev);
        return NULL;
    }
}

ig_conf *ig_conf_load_string(const char *text, size_t len, const char *name, ig_error *err)
{
    ig_conf *c = calloc(1, sizeof *c);
    if (!c || !(c->arena = ig_arena_create(16384)) || !(c->name = strdup(name ? name : "config"))) {
        ig_conf_free(c);
        ig_error_set(err, IG_ENOMEM, "out of memory reading %s", name ? name : "config");
        return NULL;
    }
    builder b = {.c = c, .err = err};
    if (!yaml_parser_initialize(&b.parser)) {
        ig_conf_free(c);
        ig_error_set(err, IG_ENOMEM, "out of memory reading %s", name);
        return NULL;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    bool ok = false;
    yaml_event_t ev;
    /* stream start, document start (or stream end for an empty file), the root node, document end */
    if (next_event(&b, &ev)) {
        yaml_event_delete(&ev);
        if (next_event(&b, &ev)) {
            if (ev.type == YAML_STREAM_END_EVENT) {
                yaml_event_delete(&ev);
                builder_fail(&b, 1, "%s", "the file is empty");
            } else {
                yaml_event_delete(&ev);
                if (next_event(&b, &ev) && (c->root = build(&b, &ev, 0)) && next_event(&b, &ev)) {
                    yaml_event_delete(&ev); /* document end */
                    if (next_event(&b, &ev)) {
                        if (ev.type != YAML_STREAM_END_EVENT)
                            builder_fail(&b, (int)ev.start_mark.line + 1, "%s",
                                         "only one YAML document is allowed");
                        else if (c->root->kind != IG_CONF_MAP)
                            builder_fail(&b, c->root->line, "%s", "the top level must be a map of keys");
                        else
                            ok = true;
                        yaml_event_delete(&ev);
                    }
                }
            }
        }
    }
    yaml_parser_delete(&b.parser);
    if (!ok) {
        ig_conf_free(c);
        return NULL;
    }
    return c;
}

ig_conf *ig_conf_load_file(const char *path, ig_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ig_error_set(err, IG_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(text, cap);
            if (!t) break;
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool read_error = ferror(f) || !text;
    fclose(f);
    if (read_error) {
        free(text);
        ig_error_set(err, IG_EIO, "%s: cannot read the file", path);
        return NULL;
    }
    ig_conf *c = ig_conf_load_string(text, len, path, err);
    free(text);
    return c;
}

void ig_conf_free(ig_conf *c)
{
    if (!c) return;
    ig_arena_free(c->arena);
    free(c->name);
    free(c);
}

const ig_conf_node *ig_conf_root(const ig_conf *c)
{
    return c->root;
}
const char *ig_conf_name(const ig_conf *c)
{
    return c->name;
}

const ig_conf_node *ig_conf_get(const ig_conf_node *map, const char *key)
{
    if (!map || map->kind != IG_CONF_MAP) return NULL;
    for (ig_conf_node *m = map->child; m; m = m->next)
        if (!strcmp(m->key, key)) {
            m->used = true;
            return m;
        }
    return NULL;
}

static const char *kind_name(ig_conf_kind k)
{
    return k == IG_CONF_MAP ? "a map" : k == IG_CONF_SEQ ? "a list" : "a single value";
}

bool ig_conf_expect(const ig_conf *c, const ig_conf_node *n, ig_conf_kind kind, ig_error *err)
{
    if (n->kind == kind) return true;
    if (n->key) return ig_conf_fail(c, n, err, "key '%s': expected %s", n->key, kind_name(kind));
    return ig_conf_fail(c, n, err, "expected %s", kind_name(kind));
}

const ig_conf_node *ig_conf_require(const ig_conf *c, const ig_conf_node *map, const char *key,
                                    ig_conf_kind kind, ig_error *err)
{
    const ig_conf_node *n = ig_conf_get(map, key);
    if (!n) {
        ig_conf_fail(c, map, err, "missing key '%s'", key);
        return NULL;
    }
    return ig_conf_expect(c, n, kind, err) ? n : NULL;
}

/* The scalar member key, or NULL (absent: *present = false). */
static const ig_conf_node *scalar_member(const ig_conf *c, const ig_conf_node *map, const char *key, bool *ok,
                                         ig_error *err)
{
    const ig_conf_node *n = ig_conf_get(map, key);
    *ok = true;
    if (n && !ig_conf_expect(c, n, IG_CONF_SCALAR, err)) {
        *ok = false;
        return NULL;
    }
    return n;
}

static const char *label(const ig_conf_node *n)
{
    return n->key ? n->key : "value";
}

bool ig_conf_str(const ig_conf *c, const ig_conf_node *map, const char *key, const char *dflt,
                 const char **out, ig_error *err)
{
    bool ok;
    const ig_conf_node *n = scalar_member(c, map, key, &ok, err);
    if (!ok) return false;
    *out = n ? n->value : dflt;
    return true;
}

bool ig_conf_scalar_int(const ig_conf *c, const ig_conf_node *n, int64_t min, int64_t max, int64_t *out,
                        ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_SCALAR, err)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(n->value, &end, 10);
    if (errno || end == n->value || *end)
        return ig_conf_fail(c, n, err, "%s: expected a whole number, got '%s'", label(n), n->value);
    if (v < min || v > max)
        return ig_conf_fail(c, n, err, "%s: %lld is out of range [%lld, %lld]", label(n), v, (long long)min,
                            (long long)max);
    *out = v;
    return true;
}

bool ig_conf_scalar_double(const ig_conf *c, const ig_conf_node *n, double min, double max, double *out,
                           ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_SCALAR, err)) return false;
    char *end;
    errno = 0;
    double v = strtod(n->value, &end);
    if (errno || end == n->value || *end || !isfinite(v))
        return ig_conf_fail(c, n, err, "%s: expected a number, got '%s'", label(n), n->value);
    if (v < min || v > max)
        return ig_conf_fail(c, n, err, "%s: %g is out of range [%g, %g]", label(n), v, min, max);
    *out = v;
    return true;
}

bool ig_conf_int(const ig_conf *c, const ig_conf_node *map, const char *key, int64_t min, int64_t max,
                 int64_t dflt, int64_t *out, ig_error *err)
{
    bool ok;
    const ig_conf_node *n = scalar_member(c, map, key, &ok, err);
    if (!ok) return false;
    if (!n) {
        *out = dflt;
        return true;
    }
    return ig_conf_scalar_int(c, n, min, max, out, err);
}

bool ig_conf_double(const ig_conf *c, const ig_conf_node *map, const char *key, double min, double max,
                    double dflt, double *out, ig_error *err)
{
    bool ok;
    const ig_conf_node *n = scalar_member(c, map, key, &ok, err);
    if (!ok) return false;
    if (!n) {
        *out = dflt;
        return true;
    }
    return ig_conf_scalar_double(c, n, min, max, out, err);
}

bool ig_conf_bool(const ig_conf *c, const ig_conf_node *map, const char *key, bool dflt, bool *out,
                  ig_error *err)
{
    bool ok;
    const ig_conf_node *n = scalar_member(c, map, key, &ok, err);
    if (!ok) return false;
    if (!n)
        *out = dflt;
    else if (!strcmp(n->value, "true") || !strcmp(n->value, "yes") || !strcmp(n->value, "on"))
        *out = true;
    else if (!strcmp(n->value, "false") || !strcmp(n->value, "no") || !strcmp(n->value, "off"))
        *out = false;
    else
        return ig_conf_fail(c, n, err, "%s: expected true or false, got '%s'", key, n->value);
    return true;
}

bool ig_conf_duration_ms(const ig_conf *c, const ig_conf_node *map, const char *key, int64_t dflt,
                         int64_t *out, ig_error *err)
{
    bool ok;
    const ig_conf_node *n = scalar_member(c, map, key, &ok, err);
    if (!ok) return false;
    if (!n) {
        *out = dflt;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(n->value, &end);
    double scale = !strcmp(end, "ms")             ? 1
                   : (!strcmp(end, "s") || !*end) ? 1e3
                   : !strcmp(end, "m")            ? 60e3
                   : !strcmp(end, "h")            ? 3600e3
                                                  : -1;
    if (errno || end == n->value || scale < 0 || !isfinite(v) || v < 0 || v * scale > 1e15)
        return ig_conf_fail(c, n, err, "%s: expected a duration such as 250ms, 10s or 2m, got '%s'", key,
                            n->value);
    *out = (int64_t)llround(v * scale);
    return true;
}

bool ig_conf_no_unknown(const ig_conf *c, const ig_conf_node *map, ig_error *err)
{
    if (!map || map->kind != IG_CONF_MAP) return true;
    for (const ig_conf_node *m = map->child; m; m = m->next)
        if (!m->used) return ig_conf_fail(c, m, err, "unknown key '%s'", m->key);
    return true;
}
