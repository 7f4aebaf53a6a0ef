/* Blocked GEMM (see gemm.h). Goto-style: B is packed per (KC x NC) block into NR-wide column panels,
 * each task packs its MC x KC slice of A into MR-tall row panels, and an MR x NR micro-kernel with
 * register accumulators does the arithmetic. The micro-kernel is cloned per ISA level so the
 * portable build still uses AVX2/AVX-512 where the CPU has them. */
#include "engine/kernels/ref/gemm.h"

#include <string.h>

#define KC 256
#define MC 96
#define NC_MAX 2048
#define MR 6
/* Column chunk a task covers inside a packed B block: small enough for many tasks on small M. */
#define NCHUNK 256

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define IG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define IG_CLONES
#endif

static int64_t round_up(int64_t v, int64_t m)
{
    return (v + m - 1) / m * m;
}

size_t ig__gemm_scratch_bytes(size_t elem_size, int64_t m, int64_t n, int64_t k, int n_threads)
{
    int64_t nr = 64 / (int64_t)elem_size;
    int64_t kc = k < KC ? k : KC;
    int64_t nc = round_up(n < NC_MAX ? n : NC_MAX, nr);
    int64_t mc = round_up(m < MC ? m : MC, MR);
    if (n_threads < 1) n_threads = 1;
    if (kc < 1) kc = 1;
    size_t b = (size_t)(kc * nc) * elem_size;
    size_t a = (size_t)(kc * mc) * elem_size;
    return round_up((int64_t)b, 64) + (size_t)n_threads * round_up((int64_t)a, 64) + 64;
}

/* One instantiation per element type: T the type, NR the panel width (one 64-byte vector). */
#define IG_GEMM_IMPL(NAME, T, NR)                                                                            \
    IG_CLONES static void NAME##_micro(int64_t kc, const T *restrict ap, const T *restrict bp,               \
                                       T *restrict c, int64_t ldc, int mr, int nr, T alpha)                  \
    {                                                                                                        \
        typedef T vec __attribute__((vector_size(64)));                                                      \
        vec acc[MR];                                                                                         \
        for (int i = 0; i < MR; i++) acc[i] = (vec){0};                                                      \
        for (int64_t p = 0; p < kc; p++) {                                                                   \
            vec bk;                                                                                          \
            memcpy(&bk, bp + p * NR, sizeof(vec));                                                           \
            const T *ak = ap + p * MR;                                                                       \
            for (int i = 0; i < MR; i++) acc[i] += ak[i] * bk;                                               \
        }                                                                                                    \
        if (mr == MR && nr == NR) {                                                                          \
            for (int i = 0; i < MR; i++) {                                                                   \
                vec ci;                                                                                      \
                memcpy(&ci, c + i * ldc, sizeof(vec));                                                       \
                ci += alpha * acc[i];                                                                        \
                memcpy(c + i * ldc, &ci, sizeof(vec));                                                       \
            }                                                                                                \
        } else {                                                                                             \
            for (int i = 0; i < mr; i++)                                                                     \
                for (int j = 0; j < nr; j++) c[i * ldc + j] += alpha * acc[i][j];                            \
        }                                                                                                    \
    }                                                                                                        \
                                                                                                             \
    /* Packs op(A)[i0:i0+mc, p0:p0+kc] as MR-row panels, zero-filling the ragged last panel. */              \
    static void NAME##_pack_a(bool ta, const T *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,          \
                              int64_t kc, T *dst)                                                            \
    {                                                                                                        \
        for (int64_t ip = 0; ip < mc; ip += MR) {                                                            \
            int mr = mc - ip < MR ? (int)(mc - ip) : MR;                                                     \
            T *d = dst + ip * kc;                                                                            \
            for (int64_t p = 0; p < kc; p++) {                                                               \
                for (int i = 0; i < mr; i++) {                                                               \
                    int64_t r = i0 + ip + i, q = p0 + p;                                                     \
                    d[p * MR + i] = ta ? a[q * lda + r] : a[r * lda + q];                                    \
                }                                                                                            \
                for (int i = mr; i < MR; i++) d[p * MR + i] = 0;                                             \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
                                                                                                             \
    /* Packs one NR-column panel of op(B)[p0:p0+kc, j0:j0+nr]. */                                            \
    static void NAME##_pack_b(bool tb, const T *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int nr,  \
                              T *dst)                                                                        \
    {                                                                                                        \
        for (int64_t p = 0; p < kc; p++) {                                                                   \
            T *d = dst + p * NR;                                                                             \
            if (!tb && nr == NR) {                                                                           \
                memcpy(d, b + (p0 + p) * ldb + j0, sizeof(T) * NR);                                          \
                continue;                                                                                    \
            }                                                                                                \
            for (int j = 0; j < nr; j++)                                                                     \
                d[j] = tb ? b[(j0 + j) * ldb + p0 + p] : b[(p0 + p) * ldb + j0 + j];                         \
            for (int j = nr; j < NR; j++) d[j] = 0;                                                          \
        }                                                                                                    \
    }                                                                                                        \
                                                                                                             \
    void ig__##NAME(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T *a, int64_t lda,     \
                    const T *b, int64_t ldb, T beta, T *c, int64_t ldc, void *scratch, int n_threads)        \
    {                                                                                                        \
        if (m <= 0 || n <= 0) return;                                                                        \
        if (n_threads < 1) n_threads = 1;                                                                    \
        for (int64_t i = 0; i < m; i++) {                                                                    \
            T *ci = c + i * ldc;                                                                             \
            if (beta == 0)                                                                                   \
                memset(ci, 0, sizeof(T) * n);                                                                \
            else if (beta != 1)                                                                              \
                for (int64_t j = 0; j < n; j++) ci[j] *= beta;                                               \
        }                                                                                                    \
        if (k <= 0 || alpha == 0) return;                                                                    \
        int64_t kcmax = k < KC ? k : KC;                                                                     \
        int64_t ncmax = round_up(n < NC_MAX ? n : NC_MAX, NR);                                               \
        int64_t mcmax = round_up(m < MC ? m : MC, MR);                                                       \
        T *bpack = (T *)scratch;                                                                             \
        char *abase = (char *)scratch + round_up((int64_t)(kcmax * ncmax * sizeof(T)), 64);                  \
        size_t astride = round_up((int64_t)(kcmax * mcmax * sizeof(T)), 64);                                 \
        int64_t work = m * n * k;                                                                            \
        int nt = work > (1 << 17) ? n_threads : 1;                                                           \
        for (int64_t j0 = 0; j0 < n; j0 += ncmax) {                                                          \
            int64_t nc = n - j0 < ncmax ? n - j0 : ncmax;                                                    \
            int64_t npanels = (nc + NR - 1) / NR;                                                            \
            for (int64_t p0 = 0; p0 < k; p0 += kcmax) {                                                      \
                int64_t kc = k - p0 < kcmax ? k - p0 : kcmax;                                                \
                _Pragma("omp parallel for num_threads(nt) if(nt > 1)") for (int64_t jp = 0; jp < npanels;    \
                                                                            jp++)                            \
                {                                                                                            \
                    int64_t jj = j0 + jp * NR;                                                               \
                    int nr = n - jj < NR ? (int)(n - jj) : NR;                                               \
                    NAME##_pack_b(tb, b, ldb, p0, kc, jj, nr, bpack + jp * kc * NR);                         \
                }                                                                                            \
                int64_t mblocks = (m + mcmax - 1) / mcmax;                                                   \
                int64_t nchunks = (nc + NCHUNK - 1) / NCHUNK;                                                \
                int64_t ntasks = mblocks * nchunks;                                                          \
                _Pragma("omp parallel num_threads(nt) if(nt > 1)")                                           \
                {                                                                                            \
                    int tid = 0;                                                                             \
                    IG__GEMM_TID(tid);                                                                       \
                    T *apack = (T *)(abase + (size_t)tid * astride);                                         \
                    int64_t packed_mb = -1;                                                                  \
                    _Pragma("omp for schedule(static)") for (int64_t t = 0; t < ntasks; t++)                 \
                    {                                                                                        \
                        int64_t mb = t / nchunks, cb = t % nchunks;                                          \
                        int64_t i0 = mb * mcmax;                                                             \
                        int64_t mc = m - i0 < mcmax ? m - i0 : mcmax;                                        \
                        if (packed_mb != mb) {                                                               \
                            NAME##_pack_a(ta, a, lda, i0, mc, p0, kc, apack);                                \
                            packed_mb = mb;                                                                  \
                        }                                                                                    \
                        int64_t c0 = cb * NCHUNK, c1 = c0 + NCHUNK < nc ? c0 + NCHUNK : nc;                  \
                        for (int64_t jc = c0; jc < c1; jc += NR) {                                           \
                            int nr = c1 - jc < NR ? (int)(c1 - jc) : NR;                                     \
                            const T *bp = bpack + (jc / NR) * kc * NR;                                       \
                            for (int64_t ip = 0; ip < mc; ip += MR) {                                        \
                                int mr = mc - ip < MR ? (int)(mc - ip) : MR;                                 \
                                NAME##_micro(kc, apack + ip * kc, bp, c + (i0 + ip) * ldc + j0 + jc, ldc,    \
                                             mr, nr, alpha);                                                 \
                            }                                                                                \
                        }                                                                                    \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

#ifdef _OPENMP
#include <omp.h>
#define IG__GEMM_TID(v) ((v) = omp_get_thread_num())
#else
#define IG__GEMM_TID(v) ((void)(v))
#endif

IG_GEMM_IMPL(sgemm, float, 16)
IG_GEMM_IMPL(dgemm, double, 8)
