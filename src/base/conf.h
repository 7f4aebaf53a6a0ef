/* Declarative configuration files (YAML) as a tree of nodes that remember their line, so every
 * module can read its own section and report "FILE:LINE: reason" without knowing YAML.
 *
 *   ig_conf *c = ig_conf_load_file("gateway.yaml", &err);
 *   const ig_conf_node *r = ig_conf_root(c);
 *   int64_t port;
 *   if (!ig_conf_int(c, r, "port", 1, 65535, 8080, &port, &err)) ...   // absent -> 8080
 *   ...
 *   if (!ig_conf_no_unknown(c, r, &err)) ...   // a misspelt key is an error, not a silent default
 *
 * A tree is immutable once loaded except for the `used` marks the getters set; it belongs to one
 * thread while it is being read. Anchors and aliases are refused (a config should read top down). */
#ifndef IG_BASE_CONF_H
#define IG_BASE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infergate/error.h"

typedef enum { IG_CONF_SCALAR, IG_CONF_MAP, IG_CONF_SEQ } ig_conf_kind;

typedef struct ig_conf_node ig_conf_node;
struct ig_conf_node {
    ig_conf_kind kind;
    int line;            /* 1-based line of the node in its file */
    const char *key;     /* the key when the node is a map member, else NULL */
    const char *value;   /* the text of a scalar, else NULL */
    ig_conf_node *child; /* first member of a map or item of a sequence */
    ig_conf_node *next;  /* next sibling */
    size_t count;        /* members or items */
    bool used;           /* read by a getter (for ig_conf_no_unknown) */
};

typedef struct ig_conf ig_conf;

/* Parses a file or a buffer; on failure returns NULL and err says "NAME:LINE: reason". */
ig_conf *ig_conf_load_file(const char *path, ig_error *err);
ig_conf *ig_conf_load_string(const char *text, size_t len, const char *name, ig_error *err);
void ig_conf_free(ig_conf *c);
const ig_conf_node *ig_conf_root(const ig_conf *c);
const char *ig_conf_name(const ig_conf *c);

/* Sets err to "NAME:LINE: <formatted reason>" for node `at` (the root's line when at is NULL) and
 * returns false, so callers can write `return ig_conf_fail(...)`. */
bool ig_conf_fail(const ig_conf *c, const ig_conf_node *at, ig_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The member `key` of a map (marked used), or NULL when map is NULL, not a map, or lacks it. */
const ig_conf_node *ig_conf_get(const ig_conf_node *map, const char *key);

/* Typed members. Each returns true and writes *out when the member is present and valid, or
 * absent (then *out = dflt); false with a line-numbered err when it has the wrong type or range. */
bool ig_conf_str(const ig_conf *c, const ig_conf_node *map, const char *key, const char *dflt,
                 const char **out, ig_error *err);
bool ig_conf_int(const ig_conf *c, const ig_conf_node *map, const char *key, int64_t min, int64_t max,
                 int64_t dflt, int64_t *out, ig_error *err);
bool ig_conf_double(const ig_conf *c, const ig_conf_node *map, const char *key, double min, double max,
                    double dflt, double *out, ig_error *err);
bool ig_conf_bool(const ig_conf *c, const ig_conf_node *map, const char *key, bool dflt, bool *out,
                  ig_error *err);
/* Durations as "250ms", "10s", "2m", "1h" or a bare number of seconds; out in milliseconds. */
bool ig_conf_duration_ms(const ig_conf *c, const ig_conf_node *map, const char *key, int64_t dflt,
                         int64_t *out, ig_error *err);
/* A member that must exist: sets err ("missing key 'x'") when absent. */
const ig_conf_node *ig_conf_require(const ig_conf *c, const ig_conf_node *map, const char *key,
                                    ig_conf_kind kind, ig_error *err);
/* Checks a node's kind: err "key 'x': expected a map" otherwise. */
bool ig_conf_expect(const ig_conf *c, const ig_conf_node *n, ig_conf_kind kind, ig_error *err);

/* Parses a scalar node's text. Same rules as the getters above; for items of sequences. */
bool ig_conf_scalar_int(const ig_conf *c, const ig_conf_node *n, int64_t min, int64_t max, int64_t *out,
                        ig_error *err);
bool ig_conf_scalar_double(const ig_conf *c, const ig_conf_node *n, double min, double max, double *out,
                           ig_error *err);

/* false with "NAME:LINE: unknown key 'x'" when a member of map was never read by a getter. */
bool ig_conf_no_unknown(const ig_conf *c, const ig_conf_node *map, ig_error *err);

#endif
