/* Category encoders of ai.onnx.ml: LabelEncoder (opset 1 classes_strings form, opset 2+ keys/values
 * form), OneHotEncoder, and ZipMap, which is refused because its output is not a tensor. Keys are
 * sorted once in plan() so run() looks each element up by binary search. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ml/ml_ops.h"

enum { K_INT, K_FLOAT, K_STRING };

typedef struct kentry {
    int64_t i; /* K_INT value, or K_FLOAT bits */
    ig_string s;
    int32_t idx;
} kentry;

typedef struct keymap {
    int kind, n;
    kentry *e;
} keymap;

static int str_cmp(const ig_string *a, const ig_string *b)
{
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->ptr, b->ptr, m);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int kstr_cmp(const void *a, const void *b)
{
    return str_cmp(&((const kentry *)a)->s, &((const kentry *)b)->s);
}

static int kint_cmp(const void *a, const void *b)
{
    int64_t x = ((const kentry *)a)->i, y = ((const kentry *)b)->i;
    return (x > y) - (x < y);
}

static int64_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Builds a sorted map over n keys of one kind (exactly one array non-NULL); idx = position. */
static int keymap_build(keymap *m, int n, const int64_t *ki, const float *kf, const ig_string *ks)
{
    m->n = n;
    m->kind = ks ? K_STRING : kf ? K_FLOAT : K_INT;
    m->e = calloc((size_t)(n ? n : 1), sizeof(kentry));
    if (!m->e) return IG_ENOMEM;
    for (int j = 0; j < n; j++) {
        m->e[j].idx = j;
        if (ks)
            m->e[j].s = ks[j];
        else
            m->e[j].i = kf ? float_bits(kf[j]) : ki[j];
    }
    qsort(m->e, (size_t)n, sizeof(kentry), m->kind == K_STRING ? kstr_cmp : kint_cmp);
    return 0;
}

/* Float categories are cast to integers; values no int64 holds match nothing. */
static bool to_int(double v, int64_t *out)
{
    if (!(v > -9.2e18 && v < 9.2e18)) return false;
    *out = (int64_t)v;
    return true;
}

/* Position of element i of t among the keys, or -1. */
static int keymap_find(const keymap *m, const ig_tensor *t, int64_t i)
{
    kentry k = {0};
    switch (t->dtype) {
    case IG_DT_STRING:
        k.s = ((const ig_string *)t->data)[i];
        break;
    case IG_DT_FLOAT:
        if (m->kind == K_FLOAT) {
            k.i = float_bits(((const float *)t->data)[i]);
            break;
        }
        if (!to_int(((const float *)t->data)[i], &k.i)) return -1;
        break;
    case IG_DT_DOUBLE:
        if (!to_int(((const double *)t->data)[i], &k.i)) return -1;
        break;
    case IG_DT_INT32:
        k.i = ((const int32_t *)t->data)[i];
        break;
    default:
        k.i = ((const int64_t *)t->data)[i];
        break;
    }
    const kentry *f =
        bsearch(&k, m->e, (size_t)m->n, sizeof(kentry), m->kind == K_STRING ? kstr_cmp : kint_cmp);
    return f ? f->idx : -1;
}

typedef struct lenc {
    keymap map;
    bool v1_int_to_str; /* opset 1, int64 input: classes_strings indexed directly */
    int n_vals;
    const int64_t *vi;
    const float *vf;
    const ig_string *vs;
    int64_t di;
    float df;
    ig_string ds;
} lenc;

static void lenc_free(lenc *st)
{
    if (st) free(st->map.e);
    free(st);
}

void ig__ml_label_encoder_destroy(void *p)
{
    lenc_free(p);
}

int ig__ml_label_encoder_plan(ig_kstep *s, ig_error *err)
{
    const ig_node *nd = s->node;
    ig_dtype in = s->in[0]->dtype, out;
    lenc *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    const char *ds = ig_node_attr_str(nd, "default_string", "_Unused");
    st->ds = (ig_string){ds, strlen(ds)};
    st->di = ig_node_attr_int(nd, "default_int64", -1);
    st->df = ig_node_attr_float(nd, "default_float", -0.f);
    int r = 0;
    if (nd->opset < 2) {
        int nc;
        const ig_string *cls = ig__ml_attr_strings(nd, "classes_strings", &nc);
        if (in == IG_DT_STRING) {
            out = IG_DT_INT64;
            r = keymap_build(&st->map, nc, NULL, NULL, cls ? cls : &st->ds);
        } else if (in == IG_DT_INT64) {
            out = IG_DT_STRING;
            st->v1_int_to_str = true;
            st->vs = cls;
            st->n_vals = nc;
        } else {
            return ig_kstep_fail(s, err, IG_EDTYPE, "input must be string or int64, got %s",
                                 ig_dtype_name(in));
        }
    } else {
        int nki, nkf, nks, nvi, nvf, nvs;
        const int64_t *ki = ig_node_attr_ints(nd, "keys_int64s", &nki);
        const float *kf = ig_node_attr_floats(nd, "keys_floats", &nkf);
        const ig_string *ks = ig__ml_attr_strings(nd, "keys_strings", &nks);
        st->vi = ig_node_attr_ints(nd, "values_int64s", &nvi);
        st->vf = ig_node_attr_floats(nd, "values_floats", &nvf);
        st->vs = ig__ml_attr_strings(nd, "values_strings", &nvs);
        int nk = nki + nkf + nks;
        st->n_vals = nvi + nvf + nvs;
        if ((nki > 0) + (nkf > 0) + (nks > 0) != 1 || (nvi > 0) + (nvf > 0) + (nvs > 0) != 1)
            return ig_kstep_fail(s, err, IG_EINVAL,
                                 "exactly one keys_* and one values_* attribute are needed");
        if (nk != st->n_vals)
            return ig_kstep_fail(s, err, IG_EINVAL, "%d keys but %d values", nk, st->n_vals);
        ig_dtype kt = nks ? IG_DT_STRING : nkf ? IG_DT_FLOAT : IG_DT_INT64;
        if (kt != in)
            return ig_kstep_fail(s, err, IG_EDTYPE, "input is %s but keys are %s", ig_dtype_name(in),
                                 ig_dtype_name(kt));
        out = nvs ? IG_DT_STRING : nvf ? IG_DT_FLOAT : IG_DT_INT64;
        if (!nvi) st->vi = NULL;
        if (!nvf) st->vf = NULL;
        if (!nvs) st->vs = NULL;
        r = keymap_build(&st->map, nk, nki ? ki : NULL, nkf ? kf : NULL, nks ? ks : NULL);
    }
    if (r) return ig_kstep_fail(s, err, r, "out of memory");
    ig_kstep_set_output(s, 0, out, s->in[0]->ndim, s->in[0]->dims);
    return 0;
}

int ig__ml_label_encoder_run(ig_kstep *s)
{
    const lenc *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    int64_t n = ig_tensor_numel(x);
    if (st->v1_int_to_str) {
        for (int64_t i = 0; i < n; i++) {
            int64_t v = ((const int64_t *)x->data)[i];
            ((ig_string *)y->data)[i] = v >= 0 && v < st->n_vals ? st->vs[v] : st->ds;
        }
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        int j = keymap_find(&st->map, x, i);
        switch (y->dtype) {
        case IG_DT_STRING:
            ((ig_string *)y->data)[i] = j >= 0 ? st->vs[j] : st->ds;
            break;
        case IG_DT_FLOAT:
            ((float *)y->data)[i] = j >= 0 ? st->vf[j] : st->df;
            break;
        default:
            /* opset 1 string input maps to the class index */
            ((int64_t *)y->data)[i] = j >= 0 ? (st->vi ? st->vi[j] : j) : st->di;
            break;
        }
    }
    return 0;
}

/* ---- OneHotEncoder: Y = X.shape + [categories], 1 at the category of each element ---- */

typedef struct ohe {
    keymap map;
    bool zeros; /* unknown categories give all zeros rather than an error */
} ohe;

void ig__ml_one_hot_encoder_destroy(void *p)
{
    ohe *st = p;
    if (st) free(st->map.e);
    free(st);
}

int ig__ml_one_hot_encoder_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    ohe *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    st->zeros = ig_node_attr_int(s->node, "zeros", 1) != 0;
    int ni, ns;
    const int64_t *ci = ig_node_attr_ints(s->node, "cats_int64s", &ni);
    const ig_string *cs = ig__ml_attr_strings(s->node, "cats_strings", &ns);
    if (x->dtype == IG_DT_STRING ? ns == 0 : ni == 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "%s input needs cats_%s", ig_dtype_name(x->dtype),
                             x->dtype == IG_DT_STRING ? "strings" : "int64s");
    if (x->ndim >= IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_ESHAPE, "input rank too large");
    int r = x->dtype == IG_DT_STRING ? keymap_build(&st->map, ns, NULL, NULL, cs)
                                     : keymap_build(&st->map, ni, ci, NULL, NULL);
    if (r) return ig_kstep_fail(s, err, r, "out of memory");
    int64_t d[IG_MAX_DIMS];
    memcpy(d, x->dims, sizeof(int64_t) * (size_t)x->ndim);
    d[x->ndim] = st->map.n;
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, x->ndim + 1, d);
    return 0;
}

int ig__ml_one_hot_encoder_run(ig_kstep *s)
{
    const ohe *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t n = ig_tensor_numel(x), nc = st->map.n;
    float *y = s->out[0]->data;
    memset(y, 0, sizeof(float) * (size_t)(n * nc));
    for (int64_t i = 0; i < n; i++) {
        int j = keymap_find(&st->map, x, i);
        if (j >= 0)
            y[i * nc + j] = 1.f;
        else if (!st->zeros)
            return IG_EINVAL;
    }
    return 0;
}

/* ---- ZipMap ---- */

int ig__ml_zipmap_plan(ig_kstep *s, ig_error *err)
{
    return ig_kstep_fail(
        s, err, IG_EUNSUPPORTED,
        "ZipMap outputs a sequence of maps, which infergate does not support; export the model "
        "with zipmap disabled (skl2onnx: options={'zipmap': False}) to get a probability tensor");
}

int ig__ml_zipmap_run(ig_kstep *s)
{
    return IG_EUNSUPPORTED;
}
