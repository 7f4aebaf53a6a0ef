/* Ops whose output is a shape, a count or a generated constant: Shape, Size, Constant,
 * ConstantOfShape, Range, EyeLike. Shape and Size never read input data, so they fold at plan
 * time from shapes alone. */
#include "engine/kernels/ref/shape_common.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int64_t start;
} shape_state;

int ig__shape_shape_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t r = x->ndim, b = ig_node_attr_int(s->node, "start", 0), e = ig_node_attr_int(s->node, "end", r);
    if (b < 0) b += r;
    if (e < 0) e += r;
    b = b < 0 ? 0 : b > r ? r : b;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t n = e > b ? e - b : 0;
    shape_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->start = b;
    s->state = st;
    ig__shape_set_out(s, 0, IG_DT_INT64, 1, &n);
    return 0;
}

int ig__shape_shape_run(ig_kstep *s)
{
    const shape_state *st = s->state;
    ig_tensor *y = s->out[0];
    for (int64_t k = 0; k < y->dims[0]; k++) ((int64_t *)y->data)[k] = s->in[0]->dims[st->start + k];
    return 0;
}

int ig__shape_size_plan(ig_kstep *s, ig_error *err)
{
    ig__shape_set_out(s, 0, IG_DT_INT64, 0, NULL);
    return 0;
}

int ig__shape_size_run(ig_kstep *s)
{
    *(int64_t *)s->out[0]->data = ig_tensor_numel(s->in[0]);
    return 0;
}

/* Constant: the value lives in one of several attributes; state points at it. */
typedef struct {
    const void *data;
    size_t nbytes;
} const_state;

int ig__shape_constant_plan(ig_kstep *s, ig_error *err)
{
    const ig_attr *a = NULL;
    static const char *const names[] = {"value",      "value_float",  "value_floats", "value_int",
                                        "value_ints", "value_string", "value_strings"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !a; i++) a = ig_node_attr(s->node, names[i]);
    if (!a) {
        if (ig_node_attr(s->node, "sparse_value"))
            return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "sparse_value constants are not supported");
        return ig_kstep_fail(s, err, IG_EINVAL, "no value attribute");
    }
    const_state st = {0};
    int64_t n = a->n;
    switch (a->type) {
    case IG_ATTR_TENSOR:
        if (!a->t) return ig_kstep_fail(s, err, IG_EINVAL, "empty tensor value");
        ig__shape_set_out(s, 0, a->t->dtype, a->t->ndim, a->t->dims);
        st.data = a->t->data;
        st.nbytes = ig_tensor_nbytes(a->t);
        break;
    case IG_ATTR_FLOAT:
        ig__shape_set_out(s, 0, IG_DT_FLOAT, 0, NULL);
        st.data = &a->f;
        st.nbytes = sizeof(float);
        break;
    case IG_ATTR_INT:
        ig__shape_set_out(s, 0, IG_DT_INT64, 0, NULL);
        st.data = &a->i;
        st.nbytes = sizeof(int64_t);
        break;
    case IG_ATTR_STRING:
        ig__shape_set_out(s, 0, IG_DT_STRING, 0, NULL);
        st.data = &a->s;
        st.nbytes = sizeof(ig_string);
        break;
    case IG_ATTR_FLOATS:
        ig__shape_set_out(s, 0, IG_DT_FLOAT, 1, &n);
        st.data = a->floats;
        st.nbytes = sizeof(float) * a->n;
        break;
    case IG_ATTR_INTS:
        ig__shape_set_out(s, 0, IG_DT_INT64, 1, &n);
        st.data = a->ints;
        st.nbytes = sizeof(int64_t) * a->n;
        break;
    case IG_ATTR_STRINGS:
        ig__shape_set_out(s, 0, IG_DT_STRING, 1, &n);
        st.data = a->strings;
        st.nbytes = sizeof(ig_string) * a->n;
        break;
    default:
        return ig_kstep_fail(s, err, IG_EINVAL, "attribute %s has the wrong type", a->name);
    }
    if (st.nbytes && !st.data) return ig_kstep_fail(s, err, IG_EINVAL, "value has no data");
    const_state *p = malloc(sizeof *p);
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__shape_constant_run(ig_kstep *s)
{
    const const_state *st = s->state;
    if (st->nbytes) memcpy(s->out[0]->data, st->data, st->nbytes);
    return 0;
}

typedef struct {
    unsigned char value[16];
} fill_state;

int ig__shape_constant_of_shape_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *sh = s->in[0];
    if (!sh->data) return IG_EDEFER;
    int64_t dims[IG_MAX_DIMS];
    int n = sh->ndim == 1 ? ig__shape_read_ints(sh, dims, IG_MAX_DIMS) : -1;
    if (n < 0) return ig_kstep_fail(s, err, IG_EINVAL, "shape must be a 1-D int64 tensor of at most 8 dims");
    for (int k = 0; k < n; k++)
        if (dims[k] < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "negative dim");
    fill_state *st = calloc(1, sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    ig_dtype dt = IG_DT_FLOAT;
    const ig_attr *v = ig_node_attr(s->node, "value");
    if (v) {
        if (v->type != IG_ATTR_TENSOR || !v->t || ig_tensor_numel(v->t) != 1 ||
            ig_dtype_size(v->t->dtype) > 16)
            return ig_kstep_fail(s, err, IG_EINVAL, "value must be a one-element tensor");
        dt = v->t->dtype;
        memcpy(st->value, v->t->data, ig_dtype_size(dt));
    }
    ig__shape_set_out(s, 0, dt, n, dims);
    return 0;
}

int ig__shape_constant_of_shape_run(ig_kstep *s)
{
    const fill_state *st = s->state;
    ig_tensor *y = s->out[0];
    size_t es = ig_dtype_size(y->dtype);
    int64_t n = ig_tensor_numel(y);
    char *o = y->data;
    bool zero = true;
    for (size_t b = 0; b < es; b++) zero = zero && !st->value[b];
    if (zero)
        memset(o, 0, (size_t)n * es);
    else
        for (int64_t k = 0; k < n; k++) memcpy(o + k * (int64_t)es, st->value, es);
    return 0;
}

int ig__shape_range_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *a = s->in[0], *l = ig__shape_in(s, 1), *d = ig__shape_in(s, 2);
    if (!l || !d) return ig_kstep_fail(s, err, IG_EINVAL, "missing inputs");
    if (ig_tensor_numel(a) != 1 || ig_tensor_numel(l) != 1 || ig_tensor_numel(d) != 1)
        return ig_kstep_fail(s, err, IG_ESHAPE, "start, limit and delta must be scalars");
    if (l->dtype != a->dtype || d->dtype != a->dtype)
        return ig_kstep_fail(s, err, IG_EDTYPE, "inputs differ in dtype");
    if (!a->data || !l->data || !d->data) return IG_EDEFER;
    int64_t n;
    if (ig__shape_is_int(a->dtype)) {
        int64_t b = ig__shape_get_i64(a, 0), e = ig__shape_get_i64(l, 0), st = ig__shape_get_i64(d, 0);
        if (st == 0) return ig_kstep_fail(s, err, IG_EINVAL, "delta is 0");
        int64_t span = e - b;
        n = st > 0 ? (span > 0 ? (span + st - 1) / st : 0) : (span < 0 ? (-span + (-st) - 1) / (-st) : 0);
    } else {
        double b = ig__shape_get_f64(a, 0), e = ig__shape_get_f64(l, 0), st = ig__shape_get_f64(d, 0);
        if (st == 0 || !isfinite(b) || !isfinite(e) || !isfinite(st))
            return ig_kstep_fail(s, err, IG_EINVAL, "delta is 0 or a bound is not finite");
        double c = ceil((e - b) / st);
        n = c > 0 ? (int64_t)c : 0;
    }
    ig__shape_set_out(s, 0, a->dtype, 1, &n);
    return 0;
}

int ig__shape_range_run(ig_kstep *s)
{
    const ig_tensor *a = s->in[0], *d = s->in[2];
    ig_tensor *y = s->out[0];
    int64_t n = y->dims[0];
    if (ig__shape_is_int(a->dtype)) {
        int64_t b = ig__shape_get_i64(a, 0), st = ig__shape_get_i64(d, 0);
        for (int64_t k = 0; k < n; k++) {
            int64_t v = b + k * st;
            switch (y->dtype) {
            case IG_DT_INT64:
                ((int64_t *)y->data)[k] = v;
                break;
            case IG_DT_INT32:
                ((int32_t *)y->data)[k] = (int32_t)v;
                break;
            default:
                ig__shape_put_f64(y->data, y->dtype, k, (double)v);
            }
        }
    } else if (a->dtype == IG_DT_FLOAT) {
        /* Accumulate in float like numpy's arange for float32. */
        float b = *(const float *)a->data, st = *(const float *)d->data;
        for (int64_t k = 0; k < n; k++) ((float *)y->data)[k] = b + (float)k * st;
    } else {
        double b = ig__shape_get_f64(a, 0), st = ig__shape_get_f64(d, 0);
        for (int64_t k = 0; k < n; k++) ig__shape_put_f64(y->data, y->dtype, k, b + (double)k * st);
    }
    return 0;
}

typedef struct {
    int64_t k;
} eye_state;

int ig__shape_eyelike_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (x->ndim != 2) return ig_kstep_fail(s, err, IG_ESHAPE, "input must be 2-D");
    ig_dtype dt = (ig_dtype)ig_node_attr_int(s->node, "dtype", x->dtype);
    if ((unsigned)dt >= IG_DT_COUNT || dt == IG_DT_STRING || !ig_dtype_size(dt))
        return ig_kstep_fail(s, err, IG_EDTYPE, "unsupported dtype %d", (int)dt);
    eye_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->k = ig_node_attr_int(s->node, "k", 0);
    s->state = st;
    ig__shape_set_out(s, 0, dt, 2, x->dims);
    return 0;
}

int ig__shape_eyelike_run(ig_kstep *s)
{
    const eye_state *st = s->state;
    ig_tensor *y = s->out[0];
    int64_t R = y->dims[0], C = y->dims[1];
    memset(y->data, 0, ig_tensor_nbytes(y));
    for (int64_t i = 0; i < R; i++) {
        int64_t j = i + st->k;
        if (j >= 0 && j < C) ig__shape_put_f64(y->data, y->dtype, i * C + j, 1.0);
    }
    return 0;
}
