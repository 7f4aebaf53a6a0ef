/* Random generators: RandomUniform, RandomNormal (opset 1+), their *Like forms and Bernoulli
 * (opset 15+). A counter-based generator (splitmix64 of seed + index) makes every element
 * independent of the thread that computes it; without a seed attribute each run draws a fresh seed. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/kernels/kernel.h"

enum { R_UNIFORM, R_NORMAL, R_BERNOULLI };

typedef struct rnd_state {
    int kind, has_seed;
    double a, b; /* low/high or mean/scale */
    uint64_t seed;
} rnd_state;

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double unif(uint64_t seed, uint64_t i)
{
    return (double)(mix(seed ^ mix(i)) >> 11) * (1.0 / 9007199254740992.0);
}

static bool out_type_ok(ig_dtype dt, bool bern)
{
    if (dt == IG_DT_FLOAT || dt == IG_DT_DOUBLE) return true;
    return bern && (dt == IG_DT_INT32 || dt == IG_DT_INT64 || dt == IG_DT_BOOL || dt == IG_DT_UINT8 ||
                    dt == IG_DT_INT8 || dt == IG_DT_INT16 || dt == IG_DT_UINT16);
}

static int rnd_plan(ig_kstep *s, ig_error *err, int kind, bool like)
{
    const ig_node *n = s->node;
    rnd_state st = {kind, 0, 0, 0, 0};
    ig_dtype dt;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
    if (like || kind == R_BERNOULLI) {
        if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "input is required");
        const ig_tensor *x = s->in[0];
        if (kind == R_BERNOULLI && x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
            return ig_kstep_fail(s, err, IG_EDTYPE, "input must be float or double");
        dt = (ig_dtype)ig_node_attr_int(n, "dtype", x->dtype);
        ndim = x->ndim;
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)ndim);
    } else {
        dt = (ig_dtype)ig_node_attr_int(n, "dtype", IG_DT_FLOAT);
        int cnt = 0;
        const int64_t *shape = ig_node_attr_ints(n, "shape", &cnt);
        if (!shape && !ig_node_attr(n, "shape"))
            return ig_kstep_fail(s, err, IG_EINVAL, "shape attribute is required");
        if (cnt > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "rank %d too large", cnt);
        for (int i = 0; i < cnt; i++)
            if (shape[i] < 0) return ig_kstep_fail(s, err, IG_EINVAL, "negative dimension in shape");
        ndim = cnt;
        if (cnt) memcpy(dims, shape, sizeof(int64_t) * (size_t)cnt);
    }
    if (!out_type_ok(dt, kind == R_BERNOULLI))
        return ig_kstep_fail(s, err, IG_EDTYPE, "output dtype %s is not supported", ig_dtype_name(dt));
    if (kind == R_UNIFORM) {
        st.a = ig_node_attr_float(n, "low", 0.0f);
        st.b = ig_node_attr_float(n, "high", 1.0f);
    } else if (kind == R_NORMAL) {
        st.a = ig_node_attr_float(n, "mean", 0.0f);
        st.b = ig_node_attr_float(n, "scale", 1.0f);
    }
    const ig_attr *seed = ig_node_attr(n, "seed");
    if (seed) {
        float f = seed->f;
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        st.has_seed = 1;
        st.seed = mix(bits);
    }
    ig_kstep_set_output(s, 0, dt, ndim, dims);
    rnd_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__misc_runiform_plan(ig_kstep *s, ig_error *err)
{
    return rnd_plan(s, err, R_UNIFORM, false);
}

int ig__misc_rnormal_plan(ig_kstep *s, ig_error *err)
{
    return rnd_plan(s, err, R_NORMAL, false);
}

int ig__misc_runiform_like_plan(ig_kstep *s, ig_error *err)
{
    return rnd_plan(s, err, R_UNIFORM, true);
}

int ig__misc_rnormal_like_plan(ig_kstep *s, ig_error *err)
{
    return rnd_plan(s, err, R_NORMAL, true);
}

int ig__misc_bernoulli_plan(ig_kstep *s, ig_error *err)
{
    return rnd_plan(s, err, R_BERNOULLI, false);
}

static void put(ig_tensor *y, int64_t i, double v)
{
    switch (y->dtype) {
    case IG_DT_FLOAT:
        ((float *)y->data)[i] = (float)v;
        break;
    case IG_DT_DOUBLE:
        ((double *)y->data)[i] = v;
        break;
    case IG_DT_INT32:
        ((int32_t *)y->data)[i] = (int32_t)v;
        break;
    case IG_DT_INT64:
        ((int64_t *)y->data)[i] = (int64_t)v;
        break;
    case IG_DT_INT16:
        ((int16_t *)y->data)[i] = (int16_t)v;
        break;
    case IG_DT_UINT16:
        ((uint16_t *)y->data)[i] = (uint16_t)v;
        break;
    case IG_DT_INT8:
        ((int8_t *)y->data)[i] = (int8_t)v;
        break;
    default:
        ((uint8_t *)y->data)[i] = (uint8_t)v;
        break;
    }
}

int ig__misc_random_run(ig_kstep *s)
{
    static _Atomic uint64_t counter;
    const rnd_state *st = s->state;
    ig_tensor *y = s->out[0];
    uint64_t seed = st->seed;
    if (!st->has_seed)
        seed = mix(atomic_fetch_add(&counter, 1) ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock());
    int64_t n = ig_tensor_numel(y);
    const ig_tensor *x = s->n_in > 0 ? s->in[0] : NULL;
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (st->kind == R_UNIFORM) {
            v = st->a + (st->b - st->a) * unif(seed, (uint64_t)i);
        } else if (st->kind == R_NORMAL) {
            double u1 = unif(seed, 2 * (uint64_t)i), u2 = unif(seed, 2 * (uint64_t)i + 1);
            v = st->a + st->b * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
        } else {
            double p = x->dtype == IG_DT_DOUBLE ? ((const double *)x->data)[i] : ((const float *)x->data)[i];
            v = unif(seed, (uint64_t)i) < p ? 1 : 0;
        }
        put(y, i, v);
    }
    return 0;
}
