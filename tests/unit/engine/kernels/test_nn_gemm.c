/* Blocked sgemm/dgemm against a naive triple loop on odd sizes, every transpose combination and
 * alpha/beta, including sizes that cross the KC/MC/NC block edges. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "engine/kernels/ref/gemm.h"

static double frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0 - 1.0;
}

static void one_case(int64_t m, int64_t n, int64_t k, int ta, int tb, double alpha, double beta, int threads)
{
    unsigned seed = (unsigned)(m * 131 + n * 17 + k + ta * 7 + tb * 3);
    int64_t lda = ta ? m + 3 : k + 1, ldb = tb ? k + 2 : n + 5, ldc = n + 1;
    int64_t arows = ta ? k : m, brows = tb ? n : k;
    float *a = malloc(sizeof(float) * arows * lda), *b = malloc(sizeof(float) * brows * ldb);
    float *c = malloc(sizeof(float) * m * ldc);
    double *ad = malloc(sizeof(double) * arows * lda), *bd = malloc(sizeof(double) * brows * ldb);
    double *cd = malloc(sizeof(double) * m * ldc), *ref = malloc(sizeof(double) * m * ldc);
    for (int64_t i = 0; i < arows * lda; i++) ad[i] = a[i] = (float)frand(&seed);
    for (int64_t i = 0; i < brows * ldb; i++) bd[i] = b[i] = (float)frand(&seed);
    for (int64_t i = 0; i < m * ldc; i++) ref[i] = cd[i] = c[i] = (float)frand(&seed);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (ta ? ad[p * lda + i] : ad[i * lda + p]) * (tb ? bd[j * ldb + p] : bd[p * ldb + j]);
            ref[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * ref[i * ldc + j]);
        }
    void *scr = aligned_alloc(64, (ig__gemm_scratch_bytes(8, m, n, k, threads) + 63) / 64 * 64);
    ig__sgemm(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb, (float)beta, c, ldc, scr, threads);
    ig__dgemm(ta, tb, m, n, k, alpha, ad, lda, bd, ldb, beta, cd, ldc, scr, threads);
    int bad_s = 0, bad_d = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double r = ref[i * ldc + j];
            if (fabs(c[i * ldc + j] - r) > 1e-4 * (k + 1) + 1e-4 * fabs(r)) bad_s++;
            if (fabs(cd[i * ldc + j] - r) > 1e-10 * (k + 1)) bad_d++;
        }
    if (bad_s || bad_d)
        fprintf(stderr, "gemm m=%lld n=%lld k=%lld ta=%d tb=%d: %d/%d bad\n", (long long)m, (long long)n,
                (long long)k, ta, tb, bad_s, bad_d);
    CHECK(bad_s == 0);
    CHECK(bad_d == 0);
    free(a), free(b), free(c), free(ad), free(bd), free(cd), free(ref), free(scr);
}

int main(void)
{
    static const int64_t sizes[][3] = {{1, 1, 1},   {7, 5, 3},    {13, 17, 19},   {6, 16, 1},
                                       {97, 33, 5}, {5, 300, 29}, {101, 70, 300}, {1, 2100, 9}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                one_case(sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, ta ? 0.5 : 1.0, tb ? 0.0 : 2.0, 2);
    one_case(130, 257, 513, 0, 0, 1.0, 1.0, 2);
    one_case(4, 3, 0, 0, 0, 1.0, 0.5, 1);
    return CHECK_DONE();
}
