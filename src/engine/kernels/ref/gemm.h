/* Portable blocked GEMM for the reference kernels: row-major C = alpha*op(A)*op(B) + beta*C, with
 * op() an optional transpose. Packs panels of A and B into caller-provided scratch so the inner
 * kernel streams contiguous memory and vectorises; OpenMP splits the M x N tiles across threads. */
#ifndef IG_KERNELS_REF_GEMM_H
#define IG_KERNELS_REF_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scratch bytes the gemm of this size needs for elements of elem_size (4 or 8) bytes. */
size_t ig__gemm_scratch_bytes(size_t elem_size, int64_t m, int64_t n, int64_t k, int n_threads);

/* lda/ldb/ldc are row strides of the stored (untransposed-in-memory) matrices. scratch must hold
 * ig__gemm_scratch_bytes(...) bytes and be 64-byte aligned. beta == 0 ignores C's old contents. */
void ig__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, void *scratch,
               int n_threads);
void ig__dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
               int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc, void *scratch,
               int n_threads);

#endif
