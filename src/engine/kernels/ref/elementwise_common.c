/* The common plan and run of elementwise kernels: dtype checks, broadcasting, folding of variadic
 * inputs, and float16/bfloat16 operands computed in float through scratch buffers. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/elementwise.h"
#include "engine/kernels/ref/half.h"

enum { IG__EW_MAX_VARIADIC = 256 };

typedef struct ew_in {
    bool promote; /* float16/bfloat16 converted to float in scratch before the loops */
    ig_dtype dt;
    size_t off; /* scratch offset when promoted */
} ew_in;

typedef struct ew_state {
    ig__ew_attrs a;
    ig__bcast_fn fn, fin;
    int n_in, n_bc;
    bool variadic, promote_out;
    size_t out_off;
    ew_in *in;
    ig__bcast *bc; /* one walk, or one per fold step; then the output alone for fin */
} ew_state;

typedef struct {
    uint64_t lo, hi;
} u128;
IG__EW_UNARY(copy1, uint8_t, uint8_t, uint64_t, , x)
IG__EW_UNARY(copy2, uint16_t, uint16_t, uint64_t, , x)
IG__EW_UNARY(copy4, uint32_t, uint32_t, uint64_t, , x)
IG__EW_UNARY(copy8, uint64_t, uint64_t, uint64_t, , x)
/* no cast to a struct type: spelled out */
static void copy16(void *o_, const void *const *in, const int64_t *st, int64_t n, const void *ctx)
{
    u128 *o = o_;
    const u128 *a = in[0];
    for (int64_t i = 0; i < n; i++) o[i] = a[st[0] ? i : 0];
}

ig__bcast_fn ig__ew_copy_fn(size_t es)
{
    switch (es) {
    case 1:
        return copy1;
    case 2:
        return copy2;
    case 4:
        return copy4;
    case 8:
        return copy8;
    case 16:
        return copy16;
    default:
        return NULL;
    }
}

static int threads_for(int64_t n, int n_threads)
{
    return n > (1 << 15) && n_threads > 1 ? n_threads : 1;
}

void ig__ew_half_to_float(ig_dtype dt, const void *src, float *dst, int64_t n, int n_threads)
{
    const uint16_t *h = src;
    if (dt == IG_DT_FLOAT16) {
#pragma omp parallel for num_threads(threads_for(n, n_threads)) if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) dst[i] = ig_half_to_float(h[i]);
    } else {
#pragma omp parallel for num_threads(threads_for(n, n_threads)) if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) dst[i] = ig_bfloat16_to_float(h[i]);
    }
}

void ig__ew_float_to_half(ig_dtype dt, const float *src, void *dst, int64_t n, int n_threads)
{
    uint16_t *h = dst;
    if (dt == IG_DT_FLOAT16) {
#pragma omp parallel for num_threads(threads_for(n, n_threads)) if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) h[i] = ig_float_to_half(src[i]);
    } else {
#pragma omp parallel for num_threads(threads_for(n, n_threads)) if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) h[i] = ig_float_to_bfloat16(src[i]);
    }
}

static size_t align64(size_t v)
{
    return (v + 63) & ~(size_t)63;
}

/* Before opset 7, binary ops broadcast B only when asked (broadcast=1), aligning B's dims with A's
 * from `axis` on, and PRelu's slope ran along the channel axis. Expresses that as a view of B with
 * the ones that numpy broadcasting needs; the data is the same. */
static bool legacy_view(const ig_kstep *s, ig_tensor *view)
{
    const ig_tensor *a = s->in[0], *b = s->in[1];
    if (s->node->opset >= 7 || b->ndim >= a->ndim) return false;
    int64_t axis;
    if (!strcmp(s->node->op_type, "PRelu")) {
        if (b->ndim != 1 || a->ndim < 2 || b->dims[0] != a->dims[1]) return false;
        axis = 1;
    } else {
        if (!ig_node_attr_int(s->node, "broadcast", 0)) return false;
        axis = ig_node_attr_int(s->node, "axis", a->ndim - b->ndim);
        if (axis < 0) axis += a->ndim;
        if (axis < 0 || axis + b->ndim > a->ndim) return false;
    }
    *view = *b;
    view->ndim = a->ndim;
    for (int k = 0; k < a->ndim; k++) view->dims[k] = k >= axis && k < axis + b->ndim ? b->dims[k - axis] : 1;
    return true;
}

int ig__ew_plan(ig_kstep *s, ig_error *err, const ig__ew_spec *spec, const ig__ew_attrs *attrs)
{
    int n = spec->n_in ? spec->n_in : s->n_in;
    if (n < 1 || n > s->n_in)
        return ig_kstep_fail(s, err, IG_EINVAL, "expected %d inputs, got %d", n, s->n_in);
    if (n > (spec->variadic ? IG__EW_MAX_VARIADIC : IG_BCAST_MAX_IN))
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "too many inputs (%d)", n);
    for (int k = 0; k < n; k++)
        if (!s->in[k]) return ig_kstep_fail(s, err, IG_EINVAL, "input %d is missing", k);
    if (s->n_out < 1 || !s->out[0]) return ig_kstep_fail(s, err, IG_EINVAL, "output 0 is missing");
    ig_dtype dt = s->in[0]->dtype;
    for (int k = 1; k < n && !spec->mixed; k++)
        if (s->in[k]->dtype != dt)
            return ig_kstep_fail(s, err, IG_EDTYPE, "input %d is %s but input 0 is %s", k,
                                 ig_dtype_name(s->in[k]->dtype), ig_dtype_name(dt));
    ig_dtype cdt = ig__ew_is_half(dt) && !spec->raw ? IG_DT_FLOAT : dt;
    ig__bcast_fn fn = (unsigned)cdt < IG_DT_COUNT && spec->fns ? spec->fns[cdt] : NULL;
    if (!fn) return ig_kstep_fail(s, err, IG_EDTYPE, "input type %s is not supported", ig_dtype_name(dt));
    ig_dtype out_dt = spec->out_dt ? spec->out_dt : dt;

    int nd;
    int64_t dims[IG_MAX_DIMS];
    char why[400];
    const ig_tensor *shp[IG__EW_MAX_VARIADIC + 1];
    ig_tensor legacy_b;
    for (int k = 0; k < n; k++) shp[k] = s->in[k];
    if (n == 2 && legacy_view(s, &legacy_b)) shp[1] = &legacy_b;
    if (spec->shape_only) shp[n] = spec->shape_only;
    if (ig__bcast_shape(shp, n + (spec->shape_only != NULL), &nd, dims, why, sizeof why))
        return ig_kstep_fail(s, err, IG_ESHAPE, "%s", why);

    int n_bc = spec->variadic ? (n > 1 ? n - 1 : 1) + 1 : 1;
    size_t bytes = sizeof(ew_state) + sizeof(ig__bcast) * (size_t)n_bc + sizeof(ew_in) * (size_t)n;
    ew_state *st = calloc(1, bytes);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->bc = (ig__bcast *)(st + 1);
    st->in = (ew_in *)(st->bc + n_bc);
    if (attrs) st->a = *attrs;
    st->fn = fn;
    st->n_in = n;
    st->n_bc = n_bc;
    st->variadic = spec->variadic;

    ig_tensor out_shape = {.dtype = out_dt, .ndim = nd};
    memcpy(out_shape.dims, dims, sizeof(int64_t) * (size_t)nd);
    int64_t out_numel = ig_tensor_numel(&out_shape);
    if (out_numel < 0) {
        free(st);
        return ig_kstep_fail(s, err, IG_EOVERFLOW, "output too large");
    }
    int rc = 0;
    if (!spec->variadic) {
        rc = ig__bcast_init(&st->bc[0], shp, n, nd, dims);
    } else if (n == 1) {
        rc = ig__bcast_init(&st->bc[0], (const ig_tensor *const *)s->in, 1, nd, dims);
        st->fn = ig__ew_copy_fn(cdt == IG_DT_FLOAT ? 4 : ig_dtype_size(dt));
    } else {
        rc = ig__bcast_init(&st->bc[0], (const ig_tensor *const *)s->in, 2, nd, dims);
        for (int k = 2; k < n && !rc; k++) {
            const ig_tensor *pair[2] = {&out_shape, s->in[k]};
            rc = ig__bcast_init(&st->bc[k - 1], pair, 2, nd, dims);
        }
    }
    if (spec->variadic) {
        const ig_tensor *self = &out_shape;
        if (!rc) rc = ig__bcast_init(&st->bc[n_bc - 1], &self, 1, nd, dims);
        st->fin = spec->fin && n > 1 ? spec->fin[cdt] : NULL;
        st->a.d[0] = 1.0 / n;
    }
    if (rc || !st->fn) {
        free(st);
        return ig_kstep_fail(s, err, rc ? rc : IG_EDTYPE, "cannot plan the elementwise walk");
    }

    size_t scratch = 0;
    for (int k = 0; k < n; k++) {
        st->in[k].dt = s->in[k]->dtype;
        if (ig__ew_is_half(s->in[k]->dtype) && !spec->raw) {
            st->in[k].promote = true;
            st->in[k].off = scratch;
            scratch += align64((size_t)ig_tensor_numel(s->in[k]) * sizeof(float));
        }
    }
    if (ig__ew_is_half(out_dt) && !spec->raw) {
        st->promote_out = true;
        st->out_off = scratch;
        scratch += align64((size_t)out_numel * sizeof(float));
    }
    s->scratch_bytes = scratch;
    s->state = st;
    ig_kstep_set_output(s, 0, out_dt, nd, dims);
    return 0;
}

const ig__ew_attrs *ig__ew_planned_attrs(const void *state)
{
    return &((const ew_state *)state)->a;
}

int ig__ew_run(ig_kstep *s)
{
    return ig__ew_run_with(s, &((ew_state *)s->state)->a);
}

int ig__ew_run_with(ig_kstep *s, const ig__ew_attrs *a)
{
    ew_state *st = s->state;
    const void *ip[IG_BCAST_MAX_IN];
    size_t es[IG_BCAST_MAX_IN];
    const void *all[IG__EW_MAX_VARIADIC];
    int n = st->n_in, nt = s->n_threads;
    for (int k = 0; k < n; k++) {
        if (st->in[k].promote) {
            float *f = (float *)((char *)s->scratch + st->in[k].off);
            ig__ew_half_to_float(st->in[k].dt, s->in[k]->data, f, ig_tensor_numel(s->in[k]), nt);
            all[k] = f;
        } else {
            all[k] = s->in[k]->data;
        }
    }
    ig_tensor *out = s->out[0];
    void *op = st->promote_out ? (char *)s->scratch + st->out_off : out->data;
    size_t oes = st->promote_out ? sizeof(float) : ig_dtype_size(out->dtype);
    size_t ces = st->in[0].promote ? sizeof(float) : ig_dtype_size(st->in[0].dt);

    if (!st->variadic) {
        for (int k = 0; k < n; k++) {
            ip[k] = all[k];
            es[k] = st->in[k].promote ? sizeof(float) : ig_dtype_size(st->in[k].dt);
        }
        ig__bcast_run(&st->bc[0], op, oes, ip, es, st->fn, a, nt);
    } else if (n == 1) {
        ip[0] = all[0];
        es[0] = ces;
        ig__bcast_run(&st->bc[0], op, oes, ip, es, st->fn, a, nt);
    } else {
        ip[0] = all[0];
        ip[1] = all[1];
        es[0] = es[1] = ces;
        ig__bcast_run(&st->bc[0], op, oes, ip, es, st->fn, a, nt);
        for (int k = 2; k < n; k++) {
            ip[0] = op;
            ip[1] = all[k];
            ig__bcast_run(&st->bc[k - 1], op, oes, ip, es, st->fn, a, nt);
        }
    }
    if (st->fin) {
        ip[0] = op;
        es[0] = oes;
        ig__bcast_run(&st->bc[st->n_bc - 1], op, oes, ip, es, st->fin, a, nt);
    }
    if (st->promote_out) ig__ew_float_to_half(out->dtype, op, out->data, ig_tensor_numel(out), nt);
    return 0;
}

void ig__ew_destroy(void *state)
{
    free(state);
}
