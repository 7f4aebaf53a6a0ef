/* MatMul (numpy semantics: 1-D operands, broadcast batch dims), MatMulInteger and QLinearMatMul.
 * Float and double go straight to the blocked gemm, folding the batch into M when B is shared;
 * the integer forms subtract zero points into double buffers (exact below 2^53) and use dgemm. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/gemm.h"
#include "engine/kernels/ref/quant.h"

enum { MM_FLOAT, MM_INTEGER, MM_QLINEAR };

typedef struct mm_state {
    int kind;
    int64_t m, n, k, batch;
    int nb; /* batch rank of the output */
    int64_t bdims[IG_MAX_DIMS], a_str[IG_MAX_DIMS], b_str[IG_MAX_DIMS];
    int fold;                   /* B shared by every batch and A contiguous: one gemm with batch*m rows */
    int batch_parallel;         /* small gemms: threads take whole batches, each with its own scratch */
    size_t gemm_bytes;          /* scratch for one gemm call (per thread when batch_parallel) */
    size_t a_off, b_off, y_off; /* integer forms: double copies of A, B and Y inside scratch */
    int64_t a_numel, b_numel, y_numel;
} mm_state;

static size_t align64(size_t v)
{
    return (v + 63) / 64 * 64;
}

static int mm_shapes(ig_kstep *s, ig_error *err, const ig_tensor *a, const ig_tensor *b, mm_state *st,
                     int64_t *ydims, int *yndim)
{
    if (a->ndim < 1 || b->ndim < 1)
        return ig_kstep_fail(s, err, IG_ESHAPE, "MatMul operands must have rank >= 1");
    int64_t ad[IG_MAX_DIMS + 1], bd[IG_MAX_DIMS + 1];
    int an = a->ndim, bn = b->ndim;
    memcpy(ad, a->dims, sizeof(int64_t) * an);
    memcpy(bd, b->dims, sizeof(int64_t) * bn);
    if (an == 1) ad[1] = ad[0], ad[0] = 1, an = 2;
    if (bn == 1) bd[1] = 1, bn = 2;
    st->m = ad[an - 2], st->k = ad[an - 1], st->n = bd[bn - 1];
    if (bd[bn - 2] != st->k)
        return ig_kstep_fail(s, err, IG_ESHAPE, "inner dims differ: %lld vs %lld", (long long)st->k,
                             (long long)bd[bn - 2]);
    int nb = (an > bn ? an : bn) - 2;
    if (nb + 2 > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_ESHAPE, "rank too large");
    st->nb = nb;
    st->batch = 1;
    int64_t sa = st->m * st->k, sb = st->k * st->n;
    for (int i = nb - 1; i >= 0; i--) {
        int ia = i - (nb - (an - 2)), ib = i - (nb - (bn - 2));
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ig_kstep_fail(s, err, IG_ESHAPE, "batch dims %lld and %lld do not broadcast",
                                 (long long)da, (long long)db);
        st->bdims[i] = da == 1 ? db : da;
        st->a_str[i] = da == 1 ? 0 : sa;
        st->b_str[i] = db == 1 ? 0 : sb;
        sa *= da, sb *= db;
        st->batch *= st->bdims[i];
    }
    int yn = 0;
    for (int i = 0; i < nb; i++) ydims[yn++] = st->bdims[i];
    if (a->ndim > 1) ydims[yn++] = st->m;
    if (b->ndim > 1) ydims[yn++] = st->n;
    *yndim = yn;
    int b_shared = 1;
    for (int i = 0; i < nb; i++)
        if (st->b_str[i]) b_shared = 0;
    /* A's batch strides are contiguous exactly when no batch dim of A is broadcast. */
    int a_full = 1;
    for (int i = 0; i < nb; i++)
        if (!st->a_str[i] && st->bdims[i] != 1) a_full = 0;
    st->fold = b_shared && a_full;
    return 0;
}

static void mm_plan_scratch(ig_kstep *s, mm_state *st, size_t es)
{
    int64_t m = st->fold ? st->m * st->batch : st->m;
    int nt = s->n_threads > 0 ? s->n_threads : 1;
    st->batch_parallel = !st->fold && st->batch > 1 && st->m * st->n * st->k < (1 << 17) && nt > 1;
    if (st->batch_parallel)
        st->gemm_bytes = align64(ig__gemm_scratch_bytes(es, m, st->n, st->k, 1));
    else
        st->gemm_bytes = align64(ig__gemm_scratch_bytes(es, m, st->n, st->k, nt));
    s->scratch_bytes = st->gemm_bytes * (st->batch_parallel ? (size_t)nt : 1);
}

static int mm_finish(ig_kstep *s, ig_error *err, const mm_state *st)
{
    if (!(s->state = malloc(sizeof(*st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, st, sizeof(*st));
    return 0;
}

int ig__matmul_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *a = s->in[0], *b = s->n_in > 1 ? s->in[1] : NULL;
    if (!b || b->dtype != a->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "A and B must share a dtype");
    mm_state st;
    memset(&st, 0, sizeof(st));
    st.kind = MM_FLOAT;
    int64_t yd[IG_MAX_DIMS];
    int yn;
    int rc = mm_shapes(s, err, a, b, &st, yd, &yn);
    if (rc) return rc;
    ig_kstep_set_output(s, 0, a->dtype, yn, yd);
    mm_plan_scratch(s, &st, ig_dtype_size(a->dtype));
    return mm_finish(s, err, &st);
}

static void batch_offsets(const mm_state *st, int64_t bi, int64_t *ao, int64_t *bo)
{
    *ao = *bo = 0;
    for (int i = st->nb - 1; i >= 0; i--) {
        int64_t c = bi % st->bdims[i];
        bi /= st->bdims[i];
        *ao += c * st->a_str[i], *bo += c * st->b_str[i];
    }
}

#define IG_MM_BATCHES(NAME, T, GEMM)                                                                         \
    static void NAME(const mm_state *st, const T *a, const T *b, T *y, char *scratch, int n_threads)         \
    {                                                                                                        \
        if (st->fold) {                                                                                      \
            GEMM(false, false, st->m * st->batch, st->n, st->k, 1, a, st->k, b, st->n, 0, y, st->n, scratch, \
                 n_threads);                                                                                 \
            return;                                                                                          \
        }                                                                                                    \
        int nt = st->batch_parallel ? n_threads : 1;                                                         \
        _Pragma("omp parallel for num_threads(nt) if(nt > 1) schedule(static)") for (int64_t bi = 0;         \
                                                                                     bi < st->batch; bi++)   \
        {                                                                                                    \
            int tid = 0;                                                                                     \
            IG__MM_TID(tid);                                                                                 \
            int64_t ao, bo;                                                                                  \
            batch_offsets(st, bi, &ao, &bo);                                                                 \
            GEMM(false, false, st->m, st->n, st->k, 1, a + ao, st->k, b + bo, st->n, 0,                      \
                 y + bi * st->m * st->n, st->n, scratch + (size_t)tid * st->gemm_bytes,                      \
                 st->batch_parallel ? 1 : n_threads);                                                        \
        }                                                                                                    \
    }

#ifdef _OPENMP
#define IG__MM_TID(v) ((v) = st->batch_parallel ? omp_get_thread_num() : 0)
#else
#define IG__MM_TID(v) ((void)(v))
#endif

IG_MM_BATCHES(mm_f32, float, ig__sgemm)
IG_MM_BATCHES(mm_f64, double, ig__dgemm)

int ig__matmul_run(ig_kstep *s)
{
    const mm_state *st = s->state;
    if (s->in[0]->dtype == IG_DT_FLOAT)
        mm_f32(st, s->in[0]->data, s->in[1]->data, s->out[0]->data, s->scratch, s->n_threads);
    else
        mm_f64(st, s->in[0]->data, s->in[1]->data, s->out[0]->data, s->scratch, s->n_threads);
    return 0;
}

/* ---- integer forms ---- */

static int check_zp(ig_kstep *s, ig_error *err, const ig_tensor *zp, ig_dtype want, int64_t len,
                    const char *what)
{
    if (!zp) return 0;
    if (zp->dtype != want) return ig_kstep_fail(s, err, IG_EDTYPE, "%s must have its operand's dtype", what);
    int64_t n = ig_tensor_numel(zp);
    if (n != 1 && !(zp->ndim == 1 && n == len))
        return ig_kstep_fail(s, err, IG_ESHAPE, "%s must be a scalar or hold %lld values", what,
                             (long long)len);
    return 0;
}

static int check_scale(ig_kstep *s, ig_error *err, const ig_tensor *sc, int64_t len, const char *what)
{
    if (!sc || sc->dtype != IG_DT_FLOAT) return ig_kstep_fail(s, err, IG_EDTYPE, "%s must be float", what);
    int64_t n = ig_tensor_numel(sc);
    if (n != 1 && !(sc->ndim == 1 && n == len))
        return ig_kstep_fail(s, err, IG_ESHAPE, "%s must be a scalar or hold %lld values", what,
                             (long long)len);
    return 0;
}

static int is_u8_i8(ig_dtype dt)
{
    return dt == IG_DT_UINT8 || dt == IG_DT_INT8;
}

static int int_plan(ig_kstep *s, ig_error *err, int kind)
{
    int q = kind == MM_QLINEAR;
    const ig_tensor *a = s->in[0], *b = s->n_in > (q ? 3 : 1) ? s->in[q ? 3 : 1] : NULL;
    if (!b || !is_u8_i8(a->dtype) || !is_u8_i8(b->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "A and B must be int8 or uint8");
    mm_state st;
    memset(&st, 0, sizeof(st));
    st.kind = kind;
    int64_t yd[IG_MAX_DIMS];
    int yn, rc = mm_shapes(s, err, a, b, &st, yd, &yn);
    if (rc) return rc;
    const ig_tensor *azp = s->n_in > (q ? 2 : 2) ? s->in[2] : NULL;
    const ig_tensor *bzp = q ? (s->n_in > 5 ? s->in[5] : NULL) : (s->n_in > 3 ? s->in[3] : NULL);
    if ((rc = check_zp(s, err, azp, a->dtype, st.m, "a_zero_point")) ||
        (rc = check_zp(s, err, bzp, b->dtype, st.n, "b_zero_point")))
        return rc;
    ig_dtype ydt = IG_DT_INT32;
    if (q) {
        const ig_tensor *yzp = s->n_in > 7 ? s->in[7] : NULL;
        ydt = yzp ? yzp->dtype : IG_DT_UINT8;
        if (!is_u8_i8(ydt)) return ig_kstep_fail(s, err, IG_EDTYPE, "y_zero_point must be int8 or uint8");
        if ((rc = check_scale(s, err, s->in[1], st.m, "a_scale")) ||
            (rc = check_scale(s, err, s->n_in > 4 ? s->in[4] : NULL, st.n, "b_scale")) ||
            (rc = check_scale(s, err, s->n_in > 6 ? s->in[6] : NULL, 1, "y_scale")) ||
            (rc = check_zp(s, err, yzp, ydt, 1, "y_zero_point")))
            return rc;
    }
    ig_kstep_set_output(s, 0, ydt, yn, yd);
    mm_plan_scratch(s, &st, sizeof(double));
    st.a_numel = ig_tensor_numel(a), st.b_numel = ig_tensor_numel(b), st.y_numel = st.batch * st.m * st.n;
    st.a_off = s->scratch_bytes;
    st.b_off = st.a_off + align64(sizeof(double) * (size_t)st.a_numel);
    st.y_off = st.b_off + align64(sizeof(double) * (size_t)st.b_numel);
    s->scratch_bytes = st.y_off + align64(sizeof(double) * (size_t)st.y_numel);
    return mm_finish(s, err, &st);
}

int ig__matmulinteger_plan(ig_kstep *s, ig_error *err)
{
    return int_plan(s, err, MM_INTEGER);
}

int ig__qlinearmatmul_plan(ig_kstep *s, ig_error *err)
{
    return int_plan(s, err, MM_QLINEAR);
}

/* x - zero_point as doubles; a per-row (A) or per-column (B) zero point cycles with period `per`. */
static void to_double(const ig_tensor *t, const ig_tensor *zp, int64_t numel, int64_t cols, int per_row,
                      int64_t rows, double *dst)
{
    int64_t zn = zp ? ig_tensor_numel(zp) : 0;
    for (int64_t i = 0; i < numel; i++) {
        double z = 0;
        if (zn == 1)
            z = ig__q_load(zp->data, zp->dtype, 0);
        else if (zn > 1)
            z = ig__q_load(zp->data, zp->dtype, per_row ? (i / cols) % rows : i % cols);
        dst[i] = ig__q_load(t->data, t->dtype, i) - z;
    }
}

static int int_run(ig_kstep *s)
{
    const mm_state *st = s->state;
    int q = st->kind == MM_QLINEAR;
    const ig_tensor *a = s->in[0], *b = s->in[q ? 3 : 1];
    const ig_tensor *azp = s->n_in > 2 ? s->in[2] : NULL;
    const ig_tensor *bzp = q ? (s->n_in > 5 ? s->in[5] : NULL) : (s->n_in > 3 ? s->in[3] : NULL);
    char *scr = s->scratch;
    double *ad = (double *)(scr + st->a_off), *bd = (double *)(scr + st->b_off),
           *yd = (double *)(scr + st->y_off);
    to_double(a, azp, st->a_numel, st->k, 1, st->m, ad);
    to_double(b, bzp, st->b_numel, st->n, 0, st->k, bd);
    mm_f64(st, ad, bd, yd, scr, s->n_threads);
    ig_tensor *y = s->out[0];
    if (!q) {
        int32_t *yo = y->data;
        for (int64_t i = 0; i < st->y_numel; i++) yo[i] = (int32_t)(int64_t)yd[i];
        return 0;
    }
    const ig_tensor *as = s->in[1], *bs = s->in[4], *ys = s->in[6];
    const ig_tensor *yzp = s->n_in > 7 ? s->in[7] : NULL;
    int64_t asn = ig_tensor_numel(as), bsn = ig_tensor_numel(bs);
    double ysc = ((const float *)ys->data)[0];
    double z = yzp ? ig__q_load(yzp->data, yzp->dtype, 0) : 0;
    for (int64_t i = 0; i < st->y_numel; i++) {
        int64_t col = i % st->n, row = (i / st->n) % st->m;
        double sa = ((const float *)as->data)[asn > 1 ? row : 0],
               sb = ((const float *)bs->data)[bsn > 1 ? col : 0];
        double v = ig__q_round(yd[i] * (double)(float)(sa * sb) / ysc) + z;
        ig__q_store(y->data, y->dtype, i, ig__q_saturate(v, y->dtype));
    }
    return 0;
}

int ig__matmulinteger_run(ig_kstep *s)
{
    return int_run(s);
}

int ig__qlinearmatmul_run(ig_kstep *s)
{
    return int_run(s);
}
