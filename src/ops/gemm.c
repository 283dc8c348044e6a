/* gemm.c - single-precision matrix multiply.
 *
 * tx_sgemm:     OpenBLAS (cblas_sgemm) when built with TX_HAVE_BLAS, otherwise a packed,
 *               cache-blocked loop with a register-tiled micro-kernel written with GCC/Clang
 *               vector extensions (so it uses AVX-512 / AVX2 / SSE, whatever -march gives).
 * tx_sgemm_ref: the textbook triple loop, accumulating in double; tests compare against it.
 *
 * Both are row-major: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
 * beta == 0 means C is not read (NaNs in C do not propagate), as in BLAS.
 * Threading: called outside an OpenMP parallel region, tx_sgemm uses the OpenMP pool
 * (OpenBLAS's OpenMP build shares it); called inside one it runs on the calling thread.
 * For a fixed thread count the result is bit-identical run to run: each element of C is
 * summed over k in a fixed order, whichever thread computes it.
 */
#include "ops/ops.h"

#include <limits.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#ifdef TX_HAVE_BLAS
#include <cblas.h>
#endif

/* C = beta * C over an M x N block (beta == 0 writes zeros without reading C). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

void tx_sgemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                acc += a * b;
            }
            double prev = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)((double)alpha * acc + prev);
        }
}

/* ---- the portable blocked kernel ---------------------------------------- */

typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* a*b + c fused (a macro: 16-float vectors passed by value have their own ABI without
 * AVX-512). ISO C mode (-std=c17) stops GCC from contracting a*b+c by itself. */
#if defined(__AVX512F__)
#define v16_fma(a, b, c) ((v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#else
#define v16_fma(a, b, c) ((a) * (b) + (c))
#endif

enum { GB_MR = 6, GB_NR = 32, GB_KC = 256, GB_MC = 96, GB_NC = 192 };

/* Packs op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels, k-major inside a panel:
 * pa[panel][k][r]; rows past mc are zero. */
static void pack_a(float *pa, int ta, const float *A, int64_t lda, int64_t i0, int mc,
                   int64_t k0, int kc) {
    for (int p = 0; p < mc; p += GB_MR) {
        float *dst = pa + (size_t)p * kc;
        int rows = mc - p < GB_MR ? mc - p : GB_MR;
        for (int k = 0; k < kc; k++) {
            for (int r = 0; r < rows; r++) {
                int64_t i = i0 + p + r, kk = k0 + k;
                dst[k * GB_MR + r] = ta ? A[kk * lda + i] : A[i * lda + kk];
            }
            for (int r = rows; r < GB_MR; r++) dst[k * GB_MR + r] = 0.0f;
        }
    }
}

/* Packs op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels: pb[panel][k][c]. */
static void pack_b(float *pb, int tb, const float *B, int64_t ldb, int64_t k0, int kc,
                   int64_t j0, int nc) {
    for (int q = 0; q < nc; q += GB_NR) {
        float *dst = pb + (size_t)q * kc;
        int cols = nc - q < GB_NR ? nc - q : GB_NR;
        for (int k = 0; k < kc; k++) {
            int64_t kk = k0 + k;
            float *d = dst + k * GB_NR;
            if (!tb && cols == GB_NR) {
                memcpy(d, B + kk * ldb + j0 + q, GB_NR * sizeof *d);
                continue;
            }
            for (int c = 0; c < cols; c++) {
                int64_t j = j0 + q + c;
                d[c] = tb ? B[j * ldb + kk] : B[kk * ldb + j];
            }
            for (int c = cols; c < GB_NR; c++) d[c] = 0.0f;
        }
    }
}

/* acc[MR][NR] = pa panel * pb panel over kc; then C[rows, cols] += alpha * acc. The
 * loops over the tile have constant bounds so the accumulators live in registers. */
static void micro_kernel(int kc, const float *pa, const float *pb, float alpha, float *C,
                         int64_t ldc, int rows, int cols) {
    v16 acc[GB_MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < GB_MR; r++) acc[r][0] = acc[r][1] = (v16){0};
    for (int k = 0; k < kc; k++) {
        v16 b0 = *(const v16 *)(pb + k * GB_NR);
        v16 b1 = *(const v16 *)(pb + k * GB_NR + 16);
#pragma GCC unroll 8
        for (int r = 0; r < GB_MR; r++) {
            float a = pa[k * GB_MR + r];
            v16 av = {a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a};
            acc[r][0] = v16_fma(av, b0, acc[r][0]);
            acc[r][1] = v16_fma(av, b1, acc[r][1]);
        }
    }
    const v16 va = {alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha,
                    alpha, alpha, alpha, alpha, alpha, alpha, alpha, alpha};
#pragma GCC unroll 8
    for (int r = 0; r < GB_MR; r++) {
        if (r >= rows) break;
        float *c = C + r * ldc;
        if (cols == GB_NR) {
            *(v16 *)c = v16_fma(va, acc[r][0], *(const v16 *)c);
            *(v16 *)(c + 16) = v16_fma(va, acc[r][1], *(const v16 *)(c + 16));
        } else {
            float tmp[GB_NR];
            *(v16 *)tmp = acc[r][0];
            *(v16 *)(tmp + 16) = acc[r][1];
            for (int j = 0; j < cols; j++) c[j] += alpha * tmp[j];
        }
    }
}

static void blocked_tile(int ta, int tb, int64_t i0, int mc, int64_t j0, int nc, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B,
                         int64_t ldb, float *C, int64_t ldc) {
    /* ~170 KB of stack per thread: 96x256 A block and 256x192 B block. */
    float pa[GB_MC * GB_KC] __attribute__((aligned(64)));
    float pb[GB_KC * GB_NC] __attribute__((aligned(64)));
    for (int64_t k0 = 0; k0 < K; k0 += GB_KC) {
        int kc = K - k0 < GB_KC ? (int)(K - k0) : GB_KC;
        pack_b(pb, tb, B, ldb, k0, kc, j0, nc);
        pack_a(pa, ta, A, lda, i0, mc, k0, kc);
        for (int q = 0; q < nc; q += GB_NR)
            for (int p = 0; p < mc; p += GB_MR)
                micro_kernel(kc, pa + (size_t)p * kc, pb + (size_t)q * kc, alpha,
                             C + (i0 + p) * ldc + j0 + q, ldc,
                             mc - p < GB_MR ? mc - p : GB_MR, nc - q < GB_NR ? nc - q : GB_NR);
    }
}

static void sgemm_blocked(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb,
                          float *C, int64_t ldc) {
    int64_t mt = (M + GB_MC - 1) / GB_MC, nt = (N + GB_NC - 1) / GB_NC;
    int64_t tiles = mt * nt;
    int par = 0;
#ifdef _OPENMP
    par = !omp_in_parallel() && tiles > 1 && (double)M * N * K > 2e6;
#endif
#pragma omp parallel for schedule(static) if (par)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i0 = (t / nt) * GB_MC, j0 = (t % nt) * GB_NC;
        int mc = M - i0 < GB_MC ? (int)(M - i0) : GB_MC;
        int nc = N - j0 < GB_NC ? (int)(N - j0) : GB_NC;
        blocked_tile(ta, tb, i0, mc, j0, nc, K, alpha, A, lda, B, ldb, C, ldc);
    }
}

void tx_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#ifdef TX_HAVE_BLAS
    if (M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
        ldc <= INT_MAX) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    scale_c(M, N, beta, C, ldc);
    sgemm_blocked(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
