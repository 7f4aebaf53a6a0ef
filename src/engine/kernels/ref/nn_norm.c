/* Normalisation kernels for float and double: BatchNormalization (inference, and training mode
 * with running statistics), InstanceNormalization, LayerNormalization (with Mean/InvStdDev
 * outputs), MeanVarianceNormalization, LRN and LpNormalization. Statistics accumulate in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

typedef struct norm_state {
    int64_t outer, chans, inner; /* X viewed as [outer, chans, inner] */
    float eps, momentum;
    int training;
    int64_t scale_n, bias_n; /* LayerNormalization: element counts of Scale and B (1 or inner) */
    /* MVN: reduced[d] per dim */
    int ndim, reduced[IG_MAX_DIMS];
    int64_t dims[IG_MAX_DIMS];
    /* LRN */
    int64_t size;
    float alpha, beta, bias;
    int p; /* LpNormalization */
} norm_state;

static int finish(ig_kstep *s, ig_error *err, const norm_state *st)
{
    if (!(s->state = malloc(sizeof(*st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, st, sizeof(*st));
    return 0;
}

static int float_input(ig_kstep *s, ig_error *err, int first, int last)
{
    ig_dtype dt = s->in[0]->dtype;
    if (dt != IG_DT_FLOAT && dt != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "unsupported dtype %s", ig_dtype_name(dt));
    for (int i = first; i <= last && i < s->n_in; i++)
        if (s->in[i] && s->in[i]->dtype != dt)
            return ig_kstep_fail(s, err, IG_EDTYPE, "input %d must have X's dtype", i);
    return 0;
}

static int vec_of(const ig_tensor *t, int64_t n)
{
    return t && ig_tensor_numel(t) == n && t->ndim >= 1;
}

/* ---- BatchNormalization ---- */

int ig__batchnorm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 1, 4);
    if (rc) return rc;
    if (s->n_in < 5) return ig_kstep_fail(s, err, IG_EINVAL, "needs X, scale, B, mean and var");
    if (x->ndim < 2) return ig_kstep_fail(s, err, IG_ESHAPE, "X must have rank >= 2");
    if (s->node->opset < 9 && ig_node_attr_int(s->node, "spatial", 1) == 0)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "spatial=0 is not supported");
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.outer = x->dims[0], st.chans = x->dims[1], st.inner = 1;
    for (int i = 2; i < x->ndim; i++) st.inner *= x->dims[i];
    for (int i = 1; i < 5; i++)
        if (!vec_of(s->in[i], st.chans))
            return ig_kstep_fail(s, err, IG_ESHAPE, "input %d must hold C=%lld values", i,
                                 (long long)st.chans);
    st.eps = ig_node_attr_float(s->node, "epsilon", 1e-5f);
    st.momentum = ig_node_attr_float(s->node, "momentum", 0.9f);
    if (s->node->opset >= 14)
        st.training = ig_node_attr_int(s->node, "training_mode", 0) != 0;
    else
        for (int i = 1; i < s->n_out; i++)
            if (s->out[i]) st.training = 1;
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    for (int i = 1; i < s->n_out; i++) {
        if (!s->out[i]) continue;
        if (!st.training) return ig_kstep_fail(s, err, IG_EINVAL, "statistics outputs need training mode");
        ig_kstep_set_output(s, i, x->dtype, 1, &st.chans);
    }
    return finish(s, err, &st);
}

#define IG_BN_RUN(NAME, T)                                                                                   \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const norm_state *st = s->state;                                                                     \
        const T *x = s->in[0]->data, *sc = s->in[1]->data, *bi = s->in[2]->data;                             \
        const T *mean = s->in[3]->data, *var = s->in[4]->data;                                               \
        T *y = s->out[0]->data;                                                                              \
        int64_t C = st->chans, S = st->inner, N = st->outer;                                                 \
        for (int64_t c = 0; c < C; c++) {                                                                    \
            double mu = mean[c], v = var[c];                                                                 \
            if (st->training) {                                                                              \
                double sum = 0, sq = 0, cnt = (double)(N * S);                                               \
                for (int64_t n = 0; n < N; n++)                                                              \
                    for (int64_t i = 0; i < S; i++) sum += x[(n * C + c) * S + i];                           \
                mu = cnt ? sum / cnt : 0;                                                                    \
                for (int64_t n = 0; n < N; n++)                                                              \
                    for (int64_t i = 0; i < S; i++) {                                                        \
                        double d = x[(n * C + c) * S + i] - mu;                                              \
                        sq += d * d;                                                                         \
                    }                                                                                        \
                v = cnt ? sq / cnt : 0;                                                                      \
                double mom = st->momentum;                                                                   \
                if (s->n_out > 1 && s->out[1])                                                               \
                    ((T *)s->out[1]->data)[c] = (T)(mean[c] * mom + mu * (1 - mom));                         \
                if (s->n_out > 2 && s->out[2])                                                               \
                    ((T *)s->out[2]->data)[c] = (T)(var[c] * mom + v * (1 - mom));                           \
                if (s->n_out > 3 && s->out[3]) ((T *)s->out[3]->data)[c] = (T)mu;                            \
                if (s->n_out > 4 && s->out[4]) ((T *)s->out[4]->data)[c] = (T)v;                             \
            }                                                                                                \
            double a = sc[c] / sqrt(v + st->eps), b = bi[c] - mu * a;                                        \
            for (int64_t n = 0; n < N; n++) {                                                                \
                const T *xp = x + (n * C + c) * S;                                                           \
                T *yp = y + (n * C + c) * S;                                                                 \
                T af = (T)a, bf = (T)b;                                                                      \
                for (int64_t i = 0; i < S; i++) yp[i] = xp[i] * af + bf;                                     \
            }                                                                                                \
        }                                                                                                    \
    }

IG_BN_RUN(bn_f32, float)
IG_BN_RUN(bn_f64, double)

int ig__batchnorm_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        bn_f32(s);
    else
        bn_f64(s);
    return 0;
}

/* ---- InstanceNormalization and LayerNormalization: normalise rows of an [outer, inner] view ---- */

int ig__instancenorm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 1, 2);
    if (rc) return rc;
    if (x->ndim < 3 || s->n_in < 3)
        return ig_kstep_fail(s, err, IG_ESHAPE, "needs X of rank >= 3, scale and B");
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.outer = x->dims[0], st.chans = x->dims[1], st.inner = 1;
    for (int i = 2; i < x->ndim; i++) st.inner *= x->dims[i];
    if (!vec_of(s->in[1], st.chans) || !vec_of(s->in[2], st.chans))
        return ig_kstep_fail(s, err, IG_ESHAPE, "scale and B must hold C values");
    st.eps = ig_node_attr_float(s->node, "epsilon", 1e-5f);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    return finish(s, err, &st);
}

int ig__layernorm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 1, 2);
    if (rc) return rc;
    if (s->n_in < 2 || !s->in[1]) return ig_kstep_fail(s, err, IG_EINVAL, "Scale is required");
    int64_t axis = ig_node_attr_int(s->node, "axis", -1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.outer = 1, st.chans = 1, st.inner = 1;
    for (int i = 0; i < axis; i++) st.outer *= x->dims[i];
    for (int i = (int)axis; i < x->ndim; i++) st.inner *= x->dims[i];
    st.scale_n = ig_tensor_numel(s->in[1]);
    st.bias_n = s->n_in > 2 && s->in[2] ? ig_tensor_numel(s->in[2]) : 0;
    if ((st.scale_n != 1 && st.scale_n != st.inner) || (st.bias_n > 1 && st.bias_n != st.inner))
        return ig_kstep_fail(s, err, IG_ESHAPE, "Scale and B must broadcast to the normalised shape");
    st.eps = ig_node_attr_float(s->node, "epsilon", 1e-5f);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    int64_t sd[IG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) sd[i] = i < axis ? x->dims[i] : 1;
    for (int i = 1; i < 3 && i < s->n_out; i++)
        if (s->out[i]) ig_kstep_set_output(s, i, IG_DT_FLOAT, x->ndim, sd);
    return finish(s, err, &st);
}

/* Row r of [outer*chans, inner]: scale/bias index is the channel (instance norm) or the element
 * (layer norm, per_elem). */
#define IG_ROWNORM_RUN(NAME, T)                                                                              \
    static void NAME(ig_kstep *s, int per_elem)                                                              \
    {                                                                                                        \
        const norm_state *st = s->state;                                                                     \
        const T *x = s->in[0]->data, *sc = s->in[1]->data;                                                   \
        const T *bi = s->n_in > 2 && s->in[2] ? s->in[2]->data : NULL;                                       \
        T *y = s->out[0]->data;                                                                              \
        float *mo = s->n_out > 1 && s->out[1] ? s->out[1]->data : NULL;                                      \
        float *io = s->n_out > 2 && s->out[2] ? s->out[2]->data : NULL;                                      \
        int64_t rows = st->outer * st->chans, S = st->inner;                                                 \
        int nt = rows * S > (1 << 15) && rows > 1 ? s->n_threads : 1;                                        \
        _Pragma("omp parallel for num_threads(nt) if(nt > 1)") for (int64_t r = 0; r < rows; r++)            \
        {                                                                                                    \
            const T *xp = x + r * S;                                                                         \
            T *yp = y + r * S;                                                                               \
            double sum = 0, sq = 0;                                                                          \
            for (int64_t i = 0; i < S; i++) sum += xp[i];                                                    \
            double mu = S ? sum / S : 0;                                                                     \
            for (int64_t i = 0; i < S; i++) sq += (xp[i] - mu) * (xp[i] - mu);                               \
            double inv = 1.0 / sqrt((S ? sq / S : 0) + st->eps);                                             \
            if (mo) mo[r] = (float)mu;                                                                       \
            if (io) io[r] = (float)inv;                                                                      \
            if (!per_elem) {                                                                                 \
                int64_t c = r % st->chans;                                                                   \
                double a = sc[c] * inv, b = bi[c] - mu * a;                                                  \
                for (int64_t i = 0; i < S; i++) yp[i] = (T)(xp[i] * a + b);                                  \
            } else {                                                                                         \
                T m = (T)mu, iv = (T)inv;                                                                    \
                for (int64_t i = 0; i < S; i++) {                                                            \
                    T v = (xp[i] - m) * iv * sc[st->scale_n > 1 ? i : 0];                                    \
                    yp[i] = bi ? v + bi[st->bias_n > 1 ? i : 0] : v;                                         \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

IG_ROWNORM_RUN(rownorm_f32, float)
IG_ROWNORM_RUN(rownorm_f64, double)

int ig__instancenorm_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        rownorm_f32(s, 0);
    else
        rownorm_f64(s, 0);
    return 0;
}

/* The common float case, normalising rows with a full scale (and bias) vector: single-precision
 * sums, which the simd reductions vectorise; rows are short enough (a model's width) that float
 * accumulation stays within 1e-6 relative. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
layernorm_row_f32(const float *restrict x, float *restrict y, const float *restrict sc, const float *restrict bi,
                  int64_t n, float eps, float *mean, float *inv_std)
{
    float sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; i++) sum += x[i];
    float mu = sum / (float)n;
#pragma omp simd reduction(+ : sq)
    for (int64_t i = 0; i < n; i++) sq += (x[i] - mu) * (x[i] - mu);
    float inv = 1.0f / sqrtf(sq / (float)n + eps);
    if (bi) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mu) * inv * sc[i] + bi[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mu) * inv * sc[i];
    }
    *mean = mu;
    *inv_std = inv;
}

static bool layernorm_fast(ig_kstep *s)
{
    const norm_state *st = s->state;
    if (s->in[0]->dtype != IG_DT_FLOAT || st->inner < 1 || st->scale_n != st->inner ||
        (st->bias_n && st->bias_n != st->inner))
        return false;
    const float *x = s->in[0]->data, *sc = s->in[1]->data;
    const float *bi = st->bias_n ? s->in[2]->data : NULL;
    float *y = s->out[0]->data;
    float *mo = s->n_out > 1 && s->out[1] ? s->out[1]->data : NULL;
    float *io = s->n_out > 2 && s->out[2] ? s->out[2]->data : NULL;
    int64_t rows = st->outer, n = st->inner;
    int nt = rows * n > (1 << 16) && rows > 1 ? s->n_threads : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        float m, iv;
        layernorm_row_f32(x + r * n, y + r * n, sc, bi, n, st->eps, &m, &iv);
        if (mo) mo[r] = m;
        if (io) io[r] = iv;
    }
    return true;
}

int ig__layernorm_run(ig_kstep *s)
{
    if (layernorm_fast(s)) return 0;
    if (s->in[0]->dtype == IG_DT_FLOAT)
        rownorm_f32(s, 1);
    else
        rownorm_f64(s, 1);
    return 0;
}

/* ---- MeanVarianceNormalization: statistics over any set of axes ---- */

int ig__mvn_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 0, 0);
    if (rc) return rc;
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.ndim = x->ndim;
    memcpy(st.dims, x->dims, sizeof(int64_t) * x->ndim);
    int cnt;
    const int64_t *axes = ig_node_attr_ints(s->node, "axes", &cnt);
    static const int64_t dflt[3] = {0, 2, 3};
    if (!axes) {
        if (s->node->opset < 9 && ig_node_attr_int(s->node, "across_channels", 0)) {
            static const int64_t all[4] = {0, 1, 2, 3};
            axes = all, cnt = 4;
        } else {
            axes = dflt, cnt = 3;
        }
    }
    for (int i = 0; i < cnt; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + x->ndim : axes[i];
        if (a < 0 || a >= x->ndim)
            return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range", (long long)axes[i]);
        st.reduced[a] = 1;
    }
    if (s->node->opset < 9 && !ig_node_attr_int(s->node, "normalize_variance", 1))
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "normalize_variance=0 is not supported");
    st.outer = 1; /* number of groups */
    for (int i = 0; i < x->ndim; i++)
        if (!st.reduced[i]) st.outer *= x->dims[i];
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    s->scratch_bytes = sizeof(double) * 3 * (size_t)(st.outer ? st.outer : 1);
    return finish(s, err, &st);
}

static int64_t mvn_group(const norm_state *st, int64_t i)
{
    int64_t g = 0, scale = 1;
    for (int d = st->ndim - 1; d >= 0; d--) {
        int64_t c = i % st->dims[d];
        i /= st->dims[d];
        if (!st->reduced[d]) g += c * scale, scale *= st->dims[d];
    }
    return g;
}

#define IG_MVN_RUN(NAME, T)                                                                                  \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const norm_state *st = s->state;                                                                     \
        const T *x = s->in[0]->data;                                                                         \
        T *y = s->out[0]->data;                                                                              \
        int64_t n = ig_tensor_numel(s->in[0]), groups = st->outer;                                           \
        double *sum = s->scratch, *sq = sum + groups, *cnt = sq + groups;                                    \
        memset(sum, 0, sizeof(double) * 3 * groups);                                                         \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            int64_t g = mvn_group(st, i);                                                                    \
            sum[g] += x[i], sq[g] += (double)x[i] * x[i], cnt[g] += 1;                                       \
        }                                                                                                    \
        for (int64_t g = 0; g < groups; g++) {                                                               \
            double mu = cnt[g] ? sum[g] / cnt[g] : 0, var = cnt[g] ? sq[g] / cnt[g] - mu * mu : 0;           \
            sum[g] = mu, sq[g] = 1.0 / (sqrt(var > 0 ? var : 0) + 1e-9);                                     \
        }                                                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            int64_t g = mvn_group(st, i);                                                                    \
            y[i] = (T)((x[i] - sum[g]) * sq[g]);                                                             \
        }                                                                                                    \
    }

IG_MVN_RUN(mvn_f32, float)
IG_MVN_RUN(mvn_f64, double)

int ig__mvn_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        mvn_f32(s);
    else
        mvn_f64(s);
    return 0;
}

/* ---- LRN: across channels of [N, C, ...] ---- */

int ig__lrn_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 0, 0);
    if (rc) return rc;
    if (x->ndim < 3) return ig_kstep_fail(s, err, IG_ESHAPE, "X must have rank >= 3");
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.outer = x->dims[0], st.chans = x->dims[1], st.inner = 1;
    for (int i = 2; i < x->ndim; i++) st.inner *= x->dims[i];
    st.size = ig_node_attr_int(s->node, "size", 0);
    if (st.size < 1) return ig_kstep_fail(s, err, IG_EINVAL, "size must be positive");
    st.alpha = ig_node_attr_float(s->node, "alpha", 1e-4f);
    st.beta = ig_node_attr_float(s->node, "beta", 0.75f);
    st.bias = ig_node_attr_float(s->node, "bias", 1.0f);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    return finish(s, err, &st);
}

#define IG_LRN_RUN(NAME, T)                                                                                  \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const norm_state *st = s->state;                                                                     \
        const T *x = s->in[0]->data;                                                                         \
        T *y = s->out[0]->data;                                                                              \
        int64_t C = st->chans, S = st->inner, lo = (st->size - 1) / 2, hi = st->size / 2;                    \
        for (int64_t n = 0; n < st->outer; n++)                                                              \
            for (int64_t c = 0; c < C; c++) {                                                                \
                int64_t c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi > C - 1 ? C - 1 : c + hi;                  \
                for (int64_t i = 0; i < S; i++) {                                                            \
                    double sq = 0;                                                                           \
                    for (int64_t k = c0; k <= c1; k++) {                                                     \
                        double v = x[(n * C + k) * S + i];                                                   \
                        sq += v * v;                                                                         \
                    }                                                                                        \
                    int64_t at = (n * C + c) * S + i;                                                        \
                    y[at] = (T)(x[at] / pow(st->bias + st->alpha / st->size * sq, st->beta));                \
                }                                                                                            \
            }                                                                                                \
    }

IG_LRN_RUN(lrn_f32, float)
IG_LRN_RUN(lrn_f64, double)

int ig__lrn_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        lrn_f32(s);
    else
        lrn_f64(s);
    return 0;
}

/* ---- LpNormalization: along one axis, viewed as [outer, len, inner] ---- */

int ig__lpnorm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int rc = float_input(s, err, 0, 0);
    if (rc) return rc;
    int64_t axis = ig_node_attr_int(s->node, "axis", -1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    norm_state st;
    memset(&st, 0, sizeof(st));
    st.p = (int)ig_node_attr_int(s->node, "p", 2);
    if (st.p != 1 && st.p != 2) return ig_kstep_fail(s, err, IG_EINVAL, "p must be 1 or 2");
    st.outer = st.inner = 1;
    for (int i = 0; i < axis; i++) st.outer *= x->dims[i];
    for (int i = (int)axis + 1; i < x->ndim; i++) st.inner *= x->dims[i];
    st.chans = x->dims[axis];
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    return finish(s, err, &st);
}

#define IG_LPN_RUN(NAME, T)                                                                                  \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const norm_state *st = s->state;                                                                     \
        const T *x = s->in[0]->data;                                                                         \
        T *y = s->out[0]->data;                                                                              \
        int64_t L = st->chans, S = st->inner;                                                                \
        for (int64_t o = 0; o < st->outer; o++)                                                              \
            for (int64_t i = 0; i < S; i++) {                                                                \
                const T *xp = x + o * L * S + i;                                                             \
                T *yp = y + o * L * S + i;                                                                   \
                double nrm = 0;                                                                              \
                for (int64_t k = 0; k < L; k++)                                                              \
                    nrm += st->p == 1 ? fabs((double)xp[k * S]) : (double)xp[k * S] * xp[k * S];             \
                if (st->p == 2) nrm = sqrt(nrm);                                                             \
                for (int64_t k = 0; k < L; k++) yp[k * S] = nrm > 0 ? (T)(xp[k * S] / nrm) : (T)0;           \
            }                                                                                                \
    }

IG_LPN_RUN(lpn_f32, float)
IG_LPN_RUN(lpn_f64, double)

int ig__lpnorm_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        lpn_f32(s);
    else
        lpn_f64(s);
    return 0;
}
