/* AttributeProto import. Lists are counted in a first pass and filled in a second so each lands in
 * one exactly-sized arena array; ints and floats may be packed or not. Old models omit `type`, so it
 * is inferred from whichever value field is present. */
#include <string.h>

#include "engine/onnx/import.h"

enum {
    A_NAME = 1,
    A_F = 2,
    A_I = 3,
    A_S = 4,
    A_T = 5,
    A_G = 6,
    A_FLOATS = 7,
    A_INTS = 8,
    A_STRINGS = 9,
    A_TENSORS = 10,
    A_GRAPHS = 11,
    A_TP = 14,
    A_TYPE_PROTOS = 15,
    A_TYPE = 20,
    A_SPARSE = 22,
    A_SPARSES = 23,
};

typedef struct counts {
    size_t floats, ints, strings, tensors, graphs, sparses, type_protos;
    bool f, i, s, t, g, sp, tp;
} counts;

static ig_attr_type infer_type(const counts *k)
{
    if (k->g) return IG_ATTR_GRAPH;
    if (k->t) return IG_ATTR_TENSOR;
    if (k->sp) return IG_ATTR_SPARSE_TENSOR;
    if (k->s) return IG_ATTR_STRING;
    if (k->i) return IG_ATTR_INT;
    if (k->f) return IG_ATTR_FLOAT;
    if (k->floats) return IG_ATTR_FLOATS;
    if (k->ints) return IG_ATTR_INTS;
    if (k->strings) return IG_ATTR_STRINGS;
    if (k->tensors) return IG_ATTR_TENSORS;
    if (k->graphs) return IG_ATTR_GRAPHS;
    if (k->sparses) return IG_ATTR_SPARSE_TENSORS;
    if (k->tp) return IG_ATTR_TYPE_PROTO;
    if (k->type_protos) return IG_ATTR_TYPE_PROTOS;
    return IG_ATTR_UNDEFINED;
}

static int bad(ig__onnx_ctx *c, const char *node, const ig_attr *a, const char *why)
{
    return ig_error_set(c->err, IG_EFORMAT, "node '%s' attribute '%s': %s", node, a->name ? a->name : "?",
                        why);
}

static int count_pass(ig__onnx_ctx *c, const char *node, const uint8_t *p, size_t len, ig_attr *a, counts *k)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        size_t n;
        switch (f.num) {
        case A_NAME:
            if (f.wt != IG_PB_LEN) return bad(c, node, a, "name has the wrong wire type");
            if (!(a->name = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            break;
        case A_TYPE:
            if (f.wt != IG_PB_VARINT) return bad(c, node, a, "type has the wrong wire type");
            if (f.u < 1 || f.u > IG_ATTR_TYPE_PROTOS) return bad(c, node, a, "unknown attribute type");
            a->type = (ig_attr_type)f.u;
            break;
        case A_F:
            if (f.wt != IG_PB_FIXED32) return bad(c, node, a, "f has the wrong wire type");
            a->f = ig__pb_f32(f.u);
            k->f = true;
            break;
        case A_I:
            if (f.wt != IG_PB_VARINT) return bad(c, node, a, "i has the wrong wire type");
            a->i = (int64_t)f.u;
            k->i = true;
            break;
        case A_S:
            if (f.wt != IG_PB_LEN) return bad(c, node, a, "s has the wrong wire type");
            if (!(a->s.ptr = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            a->s.len = f.len;
            k->s = true;
            break;
        case A_FLOATS:
        case A_INTS:
            if (ig__pb_rep_count(&f, f.num == A_FLOATS ? IG_PB_FIXED32 : IG_PB_VARINT, &n, &why))
                return bad(c, node, a, why);
            *(f.num == A_FLOATS ? &k->floats : &k->ints) += n;
            break;
        case A_T:
        case A_G:
        case A_SPARSE:
        case A_TP:
        case A_STRINGS:
        case A_TENSORS:
        case A_GRAPHS:
        case A_SPARSES:
        case A_TYPE_PROTOS:
            if (f.wt != IG_PB_LEN) return bad(c, node, a, "field has the wrong wire type");
            if (f.num == A_T) k->t = true;
            if (f.num == A_G) k->g = true;
            if (f.num == A_SPARSE) k->sp = true;
            if (f.num == A_TP) k->tp = true;
            if (f.num == A_STRINGS) k->strings++;
            if (f.num == A_TENSORS) k->tensors++;
            if (f.num == A_GRAPHS) k->graphs++;
            if (f.num == A_SPARSES) k->sparses++;
            if (f.num == A_TYPE_PROTOS) k->type_protos++;
            break;
        default:
            break;
        }
    }
    if (rc < 0) return bad(c, node, a, why);
    return 0;
}

static int list_count(ig_attr_type t, const counts *k, size_t *n)
{
    switch (t) {
    case IG_ATTR_FLOATS:
        *n = k->floats;
        return A_FLOATS;
    case IG_ATTR_INTS:
        *n = k->ints;
        return A_INTS;
    case IG_ATTR_STRINGS:
        *n = k->strings;
        return A_STRINGS;
    case IG_ATTR_TENSORS:
        *n = k->tensors;
        return A_TENSORS;
    case IG_ATTR_GRAPHS:
        *n = k->graphs;
        return A_GRAPHS;
    case IG_ATTR_SPARSE_TENSORS:
        *n = k->sparses;
        return A_SPARSES;
    case IG_ATTR_TYPE_PROTOS:
        *n = k->type_protos;
        return A_TYPE_PROTOS;
    default:
        *n = 0;
        return 0;
    }
}

int ig__onnx_attr(ig__onnx_ctx *c, struct ig__gbuild *parent, const char *node, const uint8_t *p, size_t len,
                  ig_attr *a)
{
    counts k = {0};
    int rc;
    memset(a, 0, sizeof(*a));
    if ((rc = count_pass(c, node, p, len, a, &k))) return rc;
    if (!a->name || !a->name[0]) return bad(c, node, a, "attribute without a name");
    if (a->type == IG_ATTR_UNDEFINED) a->type = infer_type(&k);
    if (a->type == IG_ATTR_UNDEFINED) return bad(c, node, a, "attribute has no value");

    size_t n;
    int list_field = list_count(a->type, &k, &n);
    if (n > (size_t)INT32_MAX) return bad(c, node, a, "list too long");
    a->n = (int)n;
    if (list_field) {
        size_t es = a->type == IG_ATTR_FLOATS    ? sizeof(float)
                    : a->type == IG_ATTR_INTS    ? sizeof(int64_t)
                    : a->type == IG_ATTR_STRINGS ? sizeof(ig_string)
                                                 : sizeof(void *);
        void *arr = ig_arena_array(c->a, n ? n : 1, es, 16);
        if (!arr) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
        if (a->type == IG_ATTR_FLOATS) a->floats = arr;
        if (a->type == IG_ATTR_INTS) a->ints = arr;
        if (a->type == IG_ATTR_STRINGS) a->strings = arr;
        if (a->type == IG_ATTR_TENSORS || a->type == IG_ATTR_SPARSE_TENSORS) a->tensors = arr;
        if (a->type == IG_ATTR_GRAPHS) a->graphs = arr;
    }

    /* Second pass: the values that need the arena or recursion, for the declared type only. */
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    size_t i = 0;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == A_T && a->type == IG_ATTR_TENSOR) {
            if (!(a->t = ig_arena_alloc(c->a, sizeof(ig_tensor), 16)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            if ((rc = ig__onnx_tensor(c, f.data, f.len, a->t, NULL)))
                return ig_error_prefix(c->err, rc, "node '%s' attribute '%s': ", node, a->name);
        } else if (f.num == A_SPARSE && a->type == IG_ATTR_SPARSE_TENSOR) {
            if (!(a->t = ig_arena_alloc(c->a, sizeof(ig_tensor), 16)))
                return ig_error_set(c->err, IG_ENOMEM, "out of memory");
            if ((rc = ig__onnx_sparse_tensor(c, f.data, f.len, a->t, NULL)))
                return ig_error_prefix(c->err, rc, "node '%s' attribute '%s': ", node, a->name);
        } else if (f.num == A_G && a->type == IG_ATTR_GRAPH) {
            if ((rc = ig__onnx_graph(c, parent, f.data, f.len, &a->g)))
                return ig_error_prefix(c->err, rc, "node '%s' attribute '%s': ", node, a->name);
        } else if (list_field && f.num == (uint32_t)list_field && i < n) {
            if (a->type == IG_ATTR_FLOATS || a->type == IG_ATTR_INTS) {
                ig__pb_rep it;
                uint64_t v;
                if (ig__pb_rep_init(&it, &f, a->type == IG_ATTR_FLOATS ? IG_PB_FIXED32 : IG_PB_VARINT, &why))
                    return bad(c, node, a, why);
                while (i < n && (rc = ig__pb_rep_next(&it, &v, &why)) > 0) {
                    if (a->type == IG_ATTR_FLOATS)
                        a->floats[i++] = ig__pb_f32(v);
                    else
                        a->ints[i++] = (int64_t)v;
                }
                if (rc < 0) return bad(c, node, a, why);
            } else if (a->type == IG_ATTR_STRINGS) {
                if (!(a->strings[i].ptr = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
                    return ig_error_set(c->err, IG_ENOMEM, "out of memory");
                a->strings[i++].len = f.len;
            } else if (a->type == IG_ATTR_TENSORS || a->type == IG_ATTR_SPARSE_TENSORS) {
                ig_tensor *t = ig_arena_alloc(c->a, sizeof(ig_tensor), 16);
                if (!t) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
                rc = a->type == IG_ATTR_TENSORS ? ig__onnx_tensor(c, f.data, f.len, t, NULL)
                                                : ig__onnx_sparse_tensor(c, f.data, f.len, t, NULL);
                if (rc) return ig_error_prefix(c->err, rc, "node '%s' attribute '%s': ", node, a->name);
                a->tensors[i++] = t;
            } else if (a->type == IG_ATTR_GRAPHS) {
                if ((rc = ig__onnx_graph(c, parent, f.data, f.len, &a->graphs[i])))
                    return ig_error_prefix(c->err, rc, "node '%s' attribute '%s': ", node, a->name);
                i++;
            } else {
                i++; /* TYPE_PROTOS: counted, contents not imported */
            }
        }
    }
    if (rc < 0) return bad(c, node, a, why);
    if (a->type == IG_ATTR_TENSOR && !a->t) return bad(c, node, a, "TENSOR attribute without t");
    if (a->type == IG_ATTR_SPARSE_TENSOR && !a->t)
        return bad(c, node, a, "SPARSE_TENSOR attribute without value");
    if (a->type == IG_ATTR_GRAPH && !a->g) return bad(c, node, a, "GRAPH attribute without g");
    if (a->type == IG_ATTR_STRING && !a->s.ptr) {
        a->s.ptr = "";
        a->s.len = 0;
    }
    return 0;
}
