/* ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare for every opset: axes as an
 * attribute or (ReduceSum from 13, the others from 18) an input, keepdims, noop_with_empty_axes.
 * Each op is map -> combine -> finalise; float rows reduced over trailing axes take a vectorised
 * path, everything else runs one generic strided pass in double or int64. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

typedef enum { MAP_ID, MAP_ABS, MAP_SQ, MAP_EXP } rd_map;
typedef enum { CMB_SUM, CMB_PROD, CMB_MAX, CMB_MIN } rd_cmb;
typedef enum { FIN_ID, FIN_MEAN, FIN_SQRT, FIN_LOG, FIN_LSE } rd_fin;

typedef struct {
    const char *op;
    rd_map map;
    rd_cmb cmb;
    rd_fin fin;
    int axes_input_since; /* first opset where axes is an input */
} rd_opinfo;

static const rd_opinfo opinfos[] = {
    {"ReduceSum", MAP_ID, CMB_SUM, FIN_ID, 13},         {"ReduceMean", MAP_ID, CMB_SUM, FIN_MEAN, 18},
    {"ReduceMax", MAP_ID, CMB_MAX, FIN_ID, 18},         {"ReduceMin", MAP_ID, CMB_MIN, FIN_ID, 18},
    {"ReduceProd", MAP_ID, CMB_PROD, FIN_ID, 18},       {"ReduceL1", MAP_ABS, CMB_SUM, FIN_ID, 18},
    {"ReduceL2", MAP_SQ, CMB_SUM, FIN_SQRT, 18},        {"ReduceLogSum", MAP_ID, CMB_SUM, FIN_LOG, 18},
    {"ReduceLogSumExp", MAP_EXP, CMB_SUM, FIN_LSE, 18}, {"ReduceSumSquare", MAP_SQ, CMB_SUM, FIN_ID, 18},
};

typedef struct {
    const rd_opinfo *info;
    /* Input dims merged into groups of consecutive reduced / kept dims (size-1 dims dropped). */
    int ng;
    int64_t ext[IG_MAX_DIMS];
    bool red[IG_MAX_DIMS];
    int64_t ostride[IG_MAX_DIMS]; /* stride in the compact output; 0 for reduced groups */
    int64_t numel_in, numel_out, count;
    bool int_domain; /* accumulate in int64 (integer dtype and an exact op) */
    bool flip_sign;  /* uint64 max/min compared as int64 with the sign bit flipped */
    bool fast_f32;   /* float input reduced over one trailing group: contiguous rows */
} rd_state;

static const rd_opinfo *find_info(const char *op)
{
    for (size_t i = 0; i < sizeof(opinfos) / sizeof(opinfos[0]); i++)
        if (!strcmp(opinfos[i].op, op)) return &opinfos[i];
    return NULL;
}

int ig__rd_reduce_plan(ig_kstep *s, ig_error *err)
{
    const rd_opinfo *info = find_info(s->node->op_type);
    const ig_tensor *x = s->in[0];
    if (!info) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "unknown reduction");
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    int r = x->ndim;
    int64_t keepdims = ig_node_attr_int(s->node, "keepdims", 1);
    int64_t noop = ig_node_attr_int(s->node, "noop_with_empty_axes", 0);

    int64_t axes_buf[IG_MAX_DIMS];
    const int64_t *axes = NULL;
    int n_axes = 0;
    if (s->node->opset >= info->axes_input_since) {
        const ig_tensor *a = s->n_in > 1 ? s->in[1] : NULL;
        if (a) {
            if (a->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "axes must be int64");
            int64_t n = ig_tensor_numel(a);
            if (n > 0 && !a->data) return IG_EDEFER;
            if (n > r) return ig_kstep_fail(s, err, IG_EINVAL, "more axes than input dims");
            for (int64_t i = 0; i < n; i++) axes_buf[i] = ((const int64_t *)a->data)[i];
            axes = axes_buf;
            n_axes = (int)n;
        }
    } else {
        axes = ig_node_attr_ints(s->node, "axes", &n_axes);
        if (n_axes > r) return ig_kstep_fail(s, err, IG_EINVAL, "more axes than input dims");
    }

    bool red[IG_MAX_DIMS] = {0};
    if (n_axes == 0) {
        for (int d = 0; d < r; d++) red[d] = !noop;
    } else {
        for (int i = 0; i < n_axes; i++) {
            int64_t a = axes[i];
            if (!rd_norm_axis(&a, r))
                return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range for rank %d",
                                     (long long)axes[i], r);
            if (red[a]) return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld repeated", (long long)axes[i]);
            red[a] = true;
        }
    }

    int64_t odims[IG_MAX_DIMS];
    int on = 0;
    for (int d = 0; d < r; d++) {
        if (!red[d])
            odims[on++] = x->dims[d];
        else if (keepdims)
            odims[on++] = 1;
    }

    rd_state *st = ig__rd_state(s, sizeof(rd_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->info = info;
    st->numel_in = ig_tensor_numel(x);
    st->count = 1;
    st->numel_out = 1;
    for (int d = 0; d < r; d++) {
        if (red[d])
            st->count *= x->dims[d];
        else
            st->numel_out *= x->dims[d];
        if (x->dims[d] == 1) continue;
        if (st->ng > 0 && st->red[st->ng - 1] == red[d]) {
            st->ext[st->ng - 1] *= x->dims[d];
        } else {
            st->ext[st->ng] = x->dims[d];
            st->red[st->ng] = red[d];
            st->ng++;
        }
    }
    int64_t os = 1;
    for (int g = st->ng - 1; g >= 0; g--) {
        st->ostride[g] = st->red[g] ? 0 : os;
        if (!st->red[g]) os *= st->ext[g];
    }
    bool exact = info->fin == FIN_ID && info->map != MAP_EXP;
    st->int_domain = !rd_is_float(x->dtype) && exact;
    st->flip_sign = x->dtype == IG_DT_UINT64 && (info->cmb == CMB_MAX || info->cmb == CMB_MIN);
    st->fast_f32 = x->dtype == IG_DT_FLOAT && st->ng >= 1 && st->red[st->ng - 1] &&
                   (st->ng == 1 || (st->ng == 2 && !st->red[0]));

    if (!st->fast_f32 && st->numel_in > 0) {
        int64_t L = st->ng ? st->ext[st->ng - 1] : 1;
        int64_t n = st->numel_out * (info->map == MAP_EXP ? 2 : 1) + L;
        s->scratch_bytes = (size_t)n * 8;
    }
    ig_kstep_set_output(s, 0, x->dtype, on, odims);
    return 0;
}

/* ---- float rows: y[r] = reduce(x[r*L .. r*L+L)) ---- */

static float row_f32(const float *p, int64_t L, const rd_opinfo *info)
{
    float s = 0.0f;
    switch (info->map == MAP_EXP ? -1 : (int)info->cmb) {
    case CMB_SUM:
        if (info->map == MAP_ID) {
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < L; j++) s += p[j];
        } else if (info->map == MAP_ABS) {
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < L; j++) s += fabsf(p[j]);
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t j = 0; j < L; j++) s += p[j] * p[j];
        }
        break;
    case CMB_PROD: {
        double pr = 1.0;
        for (int64_t j = 0; j < L; j++) pr *= p[j];
        return (float)pr;
    }
    case CMB_MAX: {
        float m = -INFINITY;
        bool nan = false;
#pragma omp simd reduction(max : m) reduction(| : nan)
        for (int64_t j = 0; j < L; j++) {
            m = p[j] > m ? p[j] : m;
            nan |= p[j] != p[j];
        }
        return nan ? NAN : m;
    }
    case CMB_MIN: {
        float m = INFINITY;
        bool nan = false;
#pragma omp simd reduction(min : m) reduction(| : nan)
        for (int64_t j = 0; j < L; j++) {
            m = p[j] < m ? p[j] : m;
            nan |= p[j] != p[j];
        }
        return nan ? NAN : m;
    }
    default: { /* log-sum-exp */
        float m = -INFINITY;
#pragma omp simd reduction(max : m)
        for (int64_t j = 0; j < L; j++) m = p[j] > m ? p[j] : m;
        if (isinf(m)) m = 0.0f;
        double e = 0.0;
        for (int64_t j = 0; j < L; j++) e += exp((double)p[j] - m);
        return (float)(log(e) + m);
    }
    }
    switch (info->fin) {
    case FIN_MEAN:
        return s / (float)L;
    case FIN_SQRT:
        return sqrtf(s);
    case FIN_LOG:
        return logf(s);
    default:
        return s;
    }
}

static void run_fast_f32(const rd_state *st, const float *x, float *y, int nt)
{
    int64_t L = st->ext[st->ng - 1], rows = st->numel_out;
#pragma omp parallel for num_threads(nt) if (rows > 1 && rows * L > (1 << 15))
    for (int64_t r = 0; r < rows; r++) y[r] = row_f32(x + r * L, L, st->info);
}

/* ---- generic strided pass over contiguous input rows of the innermost group ---- */

#define RD_COMBINE(a, v, cmb)                                                                                \
    do {                                                                                                     \
        switch (cmb) {                                                                                       \
        case CMB_SUM:                                                                                        \
            (a) += (v);                                                                                      \
            break;                                                                                           \
        case CMB_PROD:                                                                                       \
            (a) *= (v);                                                                                      \
            break;                                                                                           \
        case CMB_MAX:                                                                                        \
            (a) = (v) > (a) || (v) != (v) ? (v) : (a);                                                       \
            break;                                                                                           \
        case CMB_MIN:                                                                                        \
            (a) = (v) < (a) || (v) != (v) ? (v) : (a);                                                       \
            break;                                                                                           \
        }                                                                                                    \
    } while (0)

/* Walks the input row by row; for each row calls BODY with `o` = output offset of the row start,
 * `buf` = the row's L values. */
#define RD_PASS(T, LOAD, BODY)                                                                               \
    do {                                                                                                     \
        int ng_ = st->ng;                                                                                    \
        int64_t L = ng_ ? st->ext[ng_ - 1] : 1;                                                              \
        bool inner_red = ng_ ? st->red[ng_ - 1] : true;                                                      \
        int64_t rows = L ? st->numel_in / L : 0, idx[IG_MAX_DIMS] = {0}, o = 0;                              \
        for (int64_t row = 0; row < rows; row++) {                                                           \
            LOAD(x, dt, row *L, L, 1, buf);                                                                  \
            BODY;                                                                                            \
            for (int g = ng_ - 2; g >= 0; g--) {                                                             \
                o += st->ostride[g];                                                                         \
                if (++idx[g] < st->ext[g]) break;                                                            \
                o -= st->ostride[g] * st->ext[g];                                                            \
                idx[g] = 0;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
        (void)inner_red;                                                                                     \
    } while (0)

static double map_d(double v, rd_map m)
{
    switch (m) {
    case MAP_ABS:
        return fabs(v);
    case MAP_SQ:
        return v * v;
    default:
        return v;
    }
}

static void pass_d(const rd_state *st, const void *x, ig_dtype dt, rd_map map, rd_cmb cmb, double *acc,
                   const double *shift, double *buf)
{
    RD_PASS(double, ig__rd_load_d, {
        if (map == MAP_EXP) {
            for (int64_t j = 0; j < L; j++) buf[j] = exp(buf[j] - shift[inner_red ? o : o + j]);
        } else if (map != MAP_ID) {
            for (int64_t j = 0; j < L; j++) buf[j] = map_d(buf[j], map);
        }
        if (inner_red) {
            double a = acc[o];
            for (int64_t j = 0; j < L; j++) RD_COMBINE(a, buf[j], cmb);
            acc[o] = a;
        } else {
            for (int64_t j = 0; j < L; j++) RD_COMBINE(acc[o + j], buf[j], cmb);
        }
    });
}

/* Integers: no NaN, so the combine's self-comparison is always false. */
static void pass_i(const rd_state *st, const void *x, ig_dtype dt, rd_map map, rd_cmb cmb, int64_t *acc,
                   int64_t *buf)
{
    RD_PASS(int64_t, ig__rd_load_i, {
        for (int64_t j = 0; j < L; j++) {
            uint64_t u = (uint64_t)buf[j];
            if (map == MAP_ABS && buf[j] < 0)
                u = -u;
            else if (map == MAP_SQ)
                u = u * u;
            if (st->flip_sign) u ^= 1ull << 63;
            buf[j] = (int64_t)u;
        }
        if (inner_red) {
            int64_t a = acc[o];
            for (int64_t j = 0; j < L; j++) RD_COMBINE(a, buf[j], cmb);
            acc[o] = a;
        } else {
            for (int64_t j = 0; j < L; j++) RD_COMBINE(acc[o + j], buf[j], cmb);
        }
    });
}

int ig__rd_reduce_run(ig_kstep *s)
{
    const rd_state *st = s->state;
    const rd_opinfo *info = st->info;
    const void *x = s->in[0]->data;
    ig_dtype dt = s->in[0]->dtype;
    void *y = s->out[0]->data;
    int64_t no = st->numel_out;
    if (no == 0) return 0;
    if (st->fast_f32) {
        run_fast_f32(st, x, y, s->n_threads);
        return 0;
    }
    int64_t L = st->ng ? st->ext[st->ng - 1] : 1;
    if (st->int_domain) {
        int64_t *acc = s->scratch, *buf = acc + no;
        int64_t init = info->cmb == CMB_SUM    ? 0
                       : info->cmb == CMB_PROD ? 1
                       : info->cmb == CMB_MAX  ? INT64_MIN
                                               : INT64_MAX;
        for (int64_t i = 0; i < no; i++) acc[i] = init;
        if (st->numel_in > 0) pass_i(st, x, dt, info->map, info->cmb, acc, buf);
        if (st->flip_sign)
            for (int64_t i = 0; i < no; i++) acc[i] = (int64_t)((uint64_t)acc[i] ^ (1ull << 63));
        ig__rd_store_i(y, dt, 0, no, 1, acc);
        return 0;
    }
    double *acc = s->scratch;
    double *shift = info->map == MAP_EXP ? acc + no : NULL;
    double *buf = acc + no * (shift ? 2 : 1);
    if (st->numel_in == 0) {
        /* Reductions over an empty set: identities of the combine. */
        double v = info->cmb == CMB_PROD  ? 1.0
                   : info->cmb == CMB_MAX ? -INFINITY
                   : info->cmb == CMB_MIN ? INFINITY
                                          : 0.0;
        if (info->fin == FIN_MEAN)
            v = NAN;
        else if (info->fin == FIN_LOG || info->fin == FIN_LSE)
            v = -INFINITY;
        double *tmp = s->scratch;
        for (int64_t i = 0; i < no; i++) tmp[i] = v;
        ig__rd_store_d(y, dt, 0, no, 1, tmp);
        return 0;
    }
    (void)L;
    if (shift) {
        for (int64_t i = 0; i < no; i++) shift[i] = -INFINITY;
        pass_d(st, x, dt, MAP_ID, CMB_MAX, shift, NULL, buf);
        for (int64_t i = 0; i < no; i++)
            if (isinf(shift[i])) shift[i] = 0.0;
    }
    double init = info->cmb == CMB_PROD  ? 1.0
                  : info->cmb == CMB_MAX ? -INFINITY
                  : info->cmb == CMB_MIN ? INFINITY
                                         : 0.0;
    for (int64_t i = 0; i < no; i++) acc[i] = init;
    pass_d(st, x, dt, info->map, info->cmb, acc, shift, buf);
    for (int64_t i = 0; i < no; i++) {
        switch (info->fin) {
        case FIN_MEAN:
            acc[i] /= (double)st->count;
            break;
        case FIN_SQRT:
            acc[i] = sqrt(acc[i]);
            break;
        case FIN_LOG:
            acc[i] = log(acc[i]);
            break;
        case FIN_LSE:
            acc[i] = log(acc[i]) + shift[i];
            break;
        default:
            break;
        }
    }
    ig__rd_store_d(y, dt, 0, no, 1, acc);
    return 0;
}
