/* Gemm (opset 1+): Y = alpha*op(A)*op(B) + beta*C for float and double, C broadcast to [M, N]
 * (scalar, [N], [M,1], [1,N] or [M,N]) and preloaded into Y so the blocked gemm accumulates onto it. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/gemm.h"

typedef struct gemm_state {
    int ta, tb;
    float alpha, beta;
    int64_t m, n, k;
    int64_t c_rs, c_cs; /* C strides in the broadcast [M, N] view (0 where broadcast) */
} gemm_state;

int ig__gemm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *a = s->in[0], *b = s->n_in > 1 ? s->in[1] : NULL, *c = s->n_in > 2 ? s->in[2] : NULL;
    if (!b || b->dtype != a->dtype || (c && c->dtype != a->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "A, B and C must share a dtype");
    if (a->ndim != 2 || b->ndim != 2) return ig_kstep_fail(s, err, IG_ESHAPE, "A and B must be matrices");
    gemm_state st;
    st.ta = ig_node_attr_int(s->node, "transA", 0) != 0;
    st.tb = ig_node_attr_int(s->node, "transB", 0) != 0;
    st.alpha = ig_node_attr_float(s->node, "alpha", 1.0f);
    st.beta = ig_node_attr_float(s->node, "beta", 1.0f);
    st.m = a->dims[st.ta], st.k = a->dims[!st.ta], st.n = b->dims[!st.tb];
    if (b->dims[st.tb] != st.k)
        return ig_kstep_fail(s, err, IG_ESHAPE, "inner dims differ: %lld vs %lld", (long long)st.k,
                             (long long)b->dims[st.tb]);
    st.c_rs = st.c_cs = 0;
    if (c) {
        if (c->ndim > 2) return ig_kstep_fail(s, err, IG_ESHAPE, "C must have rank <= 2");
        int64_t cm = c->ndim == 2 ? c->dims[0] : 1, cn = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
        if ((cm != 1 && cm != st.m) || (cn != 1 && cn != st.n))
            return ig_kstep_fail(s, err, IG_ESHAPE, "C does not broadcast to [%lld,%lld]", (long long)st.m,
                                 (long long)st.n);
        st.c_cs = cn == 1 ? 0 : 1;
        st.c_rs = cm == 1 ? 0 : cn;
    }
    int64_t yd[2] = {st.m, st.n};
    ig_kstep_set_output(s, 0, a->dtype, 2, yd);
    s->scratch_bytes = ig__gemm_scratch_bytes(ig_dtype_size(a->dtype), st.m, st.n, st.k, s->n_threads);
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

#define IG_GEMM_OP(NAME, T, GEMM)                                                                            \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const gemm_state *st = s->state;                                                                     \
        const T *c = s->n_in > 2 && s->in[2] ? s->in[2]->data : NULL;                                        \
        T *y = s->out[0]->data;                                                                              \
        T beta = 0;                                                                                          \
        if (c && st->beta != 0) {                                                                            \
            for (int64_t i = 0; i < st->m; i++)                                                              \
                for (int64_t j = 0; j < st->n; j++)                                                          \
                    y[i * st->n + j] = st->beta * c[i * st->c_rs + j * st->c_cs];                            \
            beta = 1;                                                                                        \
        }                                                                                                    \
        const ig_tensor *a = s->in[0], *b = s->in[1];                                                        \
        GEMM(st->ta, st->tb, st->m, st->n, st->k, st->alpha, a->data, a->dims[1], b->data, b->dims[1], beta, \
             y, st->n, s->scratch, s->n_threads);                                                            \
    }

IG_GEMM_OP(gemm_f32, float, ig__sgemm)
IG_GEMM_OP(gemm_f64, double, ig__dgemm)

int ig__gemm_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        gemm_f32(s);
    else
        gemm_f64(s);
    return 0;
}
