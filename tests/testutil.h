/* testutil.h - the tiny test harness every tests/test_*.c uses.
 *
 * Each test binary prints one line per case: "PASS name", "FAIL name: why" or
 * "SKIP name: why"; tests/run.sh adds them up. Numeric checks print the largest
 * difference they saw, so a drifting tolerance is visible before it fails. */
#ifndef TX_TESTUTIL_H
#define TX_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"

static int tu_failed_case, tu_pass, tu_fail, tu_skip;
static const char *tu_case;
static char tu_skip_why[256];

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
            tu_failed_case = 1;                                                 \
        }                                                                       \
    } while (0)

#define CHECK_OK(expr, errp)                                                    \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        if (rc_ != 0) {                                                         \
            printf("  %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #expr,  \
                   rc_, (errp)->msg);                                           \
            tu_failed_case = 1;                                                 \
            return;                                                             \
        }                                                                       \
    } while (0)

#define SKIP(...)                                                               \
    do {                                                                        \
        snprintf(tu_skip_why, sizeof tu_skip_why, __VA_ARGS__);                 \
        return;                                                                 \
    } while (0)

#define RUN(fn)                                                                 \
    do {                                                                        \
        tu_case = #fn;                                                          \
        tu_failed_case = 0;                                                     \
        tu_skip_why[0] = 0;                                                     \
        fn();                                                                   \
        if (tu_failed_case) { printf("FAIL %s\n", #fn); tu_fail++; }            \
        else if (tu_skip_why[0]) { printf("SKIP %s: %s\n", #fn, tu_skip_why); tu_skip++; } \
        else { printf("PASS %s\n", #fn); tu_pass++; }                           \
        fflush(stdout);                                                         \
    } while (0)

#define TEST_MAIN_END() return tu_fail ? 1 : 0

/* Largest |a-b| / (atol + rtol*|b|) style comparison; prints the largest absolute
 * and relative difference and returns 1 when every element is within tolerance. */
static inline int tu_close(const char *what, const float *a, const float *b, long n,
                           float atol, float rtol) {
    double max_abs = 0, max_rel = 0;
    long worst = -1;
    int ok = 1;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (fabs((double)b[i]) + 1e-12);
        if (d > max_abs) { max_abs = d; worst = i; }
        if (r > max_rel && fabs(b[i]) > atol) max_rel = r;
        if (!(d <= atol + rtol * fabs((double)b[i]))) ok = 0; /* also catches NaN */
    }
    printf("  %-40s n=%-8ld max|diff|=%.3g max rel=%.3g%s\n", what, n, max_abs, max_rel,
           ok ? "" : "  <-- over tolerance");
    if (!ok && worst >= 0)
        printf("    worst at %ld: got %.9g want %.9g\n", worst, a[worst], b[worst]);
    return ok;
}

/* Golden tensors (safetensors files from tools/golden_*.py). tu_golden_find returns the
 * tensor `name` checked for dtype and, when ndim >= 0 and shape is given, its shape; a
 * missing or different tensor fails the case and returns NULL. tu_golden_copy returns a
 * malloc'd copy (file data need not be aligned for floats), or NULL likewise. */
static inline const tx_st_tensor *tu_golden_find(const tx_safetensors *st, const char *name,
                                                 tx_dtype dt, int ndim, const int64_t *shape) {
    const tx_st_tensor *t = tx_st_find(st, name);
    if (!t) {
        printf("  golden tensor '%s' missing\n", name);
        tu_failed_case = 1;
        return NULL;
    }
    int ok = t->dtype == dt && (ndim < 0 || t->ndim == ndim);
    for (int i = 0; ok && shape && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        printf("  golden tensor '%s': unexpected dtype or shape\n", name);
        tu_failed_case = 1;
        return NULL;
    }
    return t;
}

static inline void *tu_golden_copy(const tx_safetensors *st, const char *name, tx_dtype dt,
                                   int ndim, const int64_t *shape) {
    const tx_st_tensor *t = tu_golden_find(st, name, dt, ndim, shape);
    if (!t) return NULL;
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    memcpy(p, t->data, t->nbytes);
    return p;
}

/* Path of ../shared (CI and developers have it beside the checkout), or NULL. */
static inline const char *tu_shared_dir(void) {
    static const char *cands[] = {"../shared", "../../shared"};
    const char *env = getenv("TAXON_SHARED");
    struct stat st;
    if (env && stat(env, &st) == 0) return env;
    for (unsigned i = 0; i < sizeof cands / sizeof *cands; i++)
        if (stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) return cands[i];
    return NULL;
}

#endif
