/* test_gemm.c - tx_sgemm (OpenBLAS or blocked loop) against tx_sgemm_ref.
 *
 * The portable blocked loop is tested even in BLAS builds: a second copy of gemm.c is
 * compiled into this binary without TX_HAVE_BLAS under other names. */
#include "ops/ops.h"
#include "testutil.h"

#undef TX_HAVE_BLAS
#define tx_sgemm tx_sgemm_blocked_copy
#define tx_sgemm_ref tx_sgemm_ref_copy
#include "ops/gemm.c"
#undef tx_sgemm
#undef tx_sgemm_ref

typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                        const float *, int64_t, float, float *, int64_t);

static const float SENTINEL = 12345.0f;

static void fill(float *p, int64_t n, tx_rng *r) {
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * tx_rng_uniform(r) - 1.0f;
}

/* Runs one case with padded leading dimensions; checks values against the reference,
 * that padding columns of C are untouched, and bitwise repeatability. */
static int one_case(gemm_fn fn, const char *fname, int ta, int tb, int64_t M, int64_t N,
                    int64_t K, float alpha, float beta, int pad, double *worst) {
    tx_rng r;
    tx_rng_seed(&r, (uint64_t)(M * 1000003 + N * 1009 + K * 7 + ta * 2 + tb));
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int64_t lda = ac + pad, ldb = bc + 2 * pad, ldc = N + 3 * pad;
    float *A = malloc(sizeof(float) * (size_t)(ar * lda + 1));
    float *B = malloc(sizeof(float) * (size_t)(br * ldb + 1));
    float *C0 = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    float *C1 = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    float *C2 = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    float *Cr = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    fill(A, ar * lda, &r);
    fill(B, br * ldb, &r);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            float v = j < N ? 2.0f * tx_rng_uniform(&r) - 1.0f : SENTINEL;
            /* beta == 0 must not read C: plant NaNs there */
            if (beta == 0.0f && j < N) v = NAN;
            C0[i * ldc + j] = v;
        }
    memcpy(C1, C0, sizeof(float) * (size_t)(M * ldc));
    memcpy(C2, C0, sizeof(float) * (size_t)(M * ldc));
    memcpy(Cr, C0, sizeof(float) * (size_t)(M * ldc));
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    tx_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cr, ldc);
    int ok = 1;
    /* compare the M x N parts row by row */
    float *a = malloc(sizeof(float) * (size_t)(M * N + 1)), *b = malloc(sizeof(float) * (size_t)(M * N + 1));
    for (int64_t i = 0; i < M; i++) {
        memcpy(a + i * N, C1 + i * ldc, sizeof(float) * (size_t)N);
        memcpy(b + i * N, Cr + i * ldc, sizeof(float) * (size_t)N);
        for (int64_t j = N; j < ldc; j++)
            if (C1[i * ldc + j] != SENTINEL) ok = 0;
    }
    CHECK(ok, "%s wrote outside the M x N block of C (ldc=%lld)", fname, (long long)ldc);
    double md = 0;
    for (int64_t i = 0; i < M * N; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN propagates into md */
    }
    if (!(md <= *worst)) *worst = md;
    char what[128];
    snprintf(what, sizeof what, "%s ta=%d tb=%d %lldx%lldx%lld a=%g b=%g", fname, ta, tb,
             (long long)M, (long long)N, (long long)K, alpha, beta);
    /* error of a K-term float dot product of values in [-1,1] */
    float atol = 2e-6f * (float)(K + 1) * (fabsf(alpha) + 1.0f);
    if (!tu_close(what, a, b, M * N, atol, 1e-5f)) ok = 0;
    CHECK(memcmp(C1, C2, sizeof(float) * (size_t)(M * ldc)) == 0,
          "%s: two runs differ bitwise", fname);
    free(a); free(b); free(A); free(B); free(C0); free(C1); free(C2); free(Cr);
    return ok;
}

static void run_suite(gemm_fn fn, const char *fname) {
    static const int64_t sizes[][3] = {
        {1, 1, 1}, {1, 17, 3}, {5, 1, 9}, {7, 13, 5}, {33, 17, 65}, {64, 64, 64},
        {100, 70, 300}, {257, 129, 97}, {6, 32, 256}, {97, 193, 257}, {3, 500, 2},
        {200, 301, 120},
    };
    static const float ab[][2] = {{1, 0}, {0.5f, 2}, {-1.5f, 1}, {2, -0.25f}};
    double worst = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int k = (int)((si + (size_t)ta * 2 + (size_t)tb) % 4);
                int pad = (int)(si % 3) * 3; /* lda > K etc. on most cases */
                if (!one_case(fn, fname, ta, tb, sizes[si][0], sizes[si][1], sizes[si][2],
                              ab[k][0], ab[k][1], pad, &worst))
                    CHECK(0, "%s case %zu ta=%d tb=%d failed", fname, si, ta, tb);
            }
    printf("  %s: largest |diff| over all cases %.3g\n", fname, worst);
}

static void test_blas_vs_ref(void) { run_suite(tx_sgemm, "tx_sgemm"); }
static void test_blocked_vs_ref(void) { run_suite(tx_sgemm_blocked_copy, "blocked"); }

/* K == 0 and alpha == 0 only scale C (beta == 0: zeros, even over NaN). */
static void test_degenerate(void) {
    gemm_fn fns[2] = {tx_sgemm, tx_sgemm_blocked_copy};
    for (int f = 0; f < 2; f++) {
        float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 1, 1, 1, 1, 1};
        float C[4] = {1, 2, 3, 4}, D[4] = {NAN, NAN, NAN, NAN};
        fns[f](0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2);
        CHECK(C[0] == 0.5f && C[3] == 2.0f, "K=0: C not scaled by beta (%g %g)", C[0], C[3]);
        fns[f](0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 0.0f, D, 2);
        CHECK(D[0] == 0.0f && D[1] == 0.0f && D[2] == 0.0f && D[3] == 0.0f,
              "alpha=0 beta=0: C not zeroed (%g)", D[0]);
        float E[2] = {7, 8};
        fns[f](0, 0, 0, 2, 3, 1.0f, A, 3, B, 2, 0.0f, E, 2);
        CHECK(E[0] == 7 && E[1] == 8, "M=0 touched C");
    }
}

/* Called from inside a parallel region (as conv kernels do) each call runs on its
 * thread and gives the same answer as a call from outside. */
static void test_inside_parallel(void) {
    enum { M = 150, N = 90, K = 110, T = 4 };
    tx_rng r;
    tx_rng_seed(&r, 99);
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * T * M * N), *Cr = malloc(sizeof(float) * M * N);
    fill(A, M * K, &r);
    fill(B, K * N, &r);
    gemm_fn fns[2] = {tx_sgemm, tx_sgemm_blocked_copy};
    for (int f = 0; f < 2; f++) {
        fns[f](0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, Cr, N);
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++) fns[f](0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C + t * M * N, N);
        for (int t = 0; t < T; t++)
            CHECK(tu_close(f ? "blocked in parallel region" : "tx_sgemm in parallel region",
                           C + t * M * N, Cr, M * N, 1e-4f, 1e-5f),
                  "call %d differs", t);
    }
    free(A); free(B); free(C); free(Cr);
}

int main(void) {
    RUN(test_blas_vs_ref);
    RUN(test_blocked_vs_ref);
    RUN(test_degenerate);
    RUN(test_inside_parallel);
    TEST_MAIN_END();
}
