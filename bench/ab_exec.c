/* ab_exec.c - two inference executors of one built-in architecture in one process, their
 * forwards alternating (A B, B A, ...): the median of the per-pair time ratios is the
 * least noisy A/B this shared machine allows (the load that other tenants add comes and
 * goes over seconds, and both sides of a pair see the same). Not a test. Build by hand:
 *   cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc bench/ab_exec.c \
 *      build/libtaxon.a $(pkg-config --libs openblas libturbojpeg libpng libcjson zlib) \
 *      -lm -o /tmp/ab_exec
 * Usage:
 *   GOMP_SPINCOUNT=1000 OMP_NUM_THREADS=2 /tmp/ab_exec ARCH BATCH PAIRS B-OPTION
 *   B-OPTION: no_fusion (B runs the graph as written) or chunk=N (B runs N images a pass)
 * Prints the median ms of each side, the median of the B/A ratios, each side's fastest
 * run and the largest output difference. For a change to the kernels, the same harness
 * with a temporary switch in the library flipped between the two forwards of a pair
 * gives the figures quoted in the commit messages (docs/benchmarks.md). */
#include "core/core.h"
#include "graph/graph.h"
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double *t = malloc((size_t)n * sizeof *t);
    if (!t) return NAN;
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    const double r = t[n / 2];
    free(t);
    return r;
}

static double least(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: ab_exec ARCH BATCH PAIRS no_fusion|chunk=N\n");
        return 2;
    }
    const char *arch = argv[1];
    const int B = atoi(argv[2]), N = atoi(argv[3]);
    tx_exec_opts ob = {0};
    if (!strcmp(argv[4], "no_fusion")) ob.no_fusion = 1;
    else if (!strncmp(argv[4], "chunk=", 6)) ob.chunk = atoi(argv[4] + 6);
    else {
        fprintf(stderr, "ab_exec: unknown option '%s' (no_fusion or chunk=N)\n", argv[4]);
        return 2;
    }
    if (B < 1 || N < 1) {
        fprintf(stderr, "ab_exec: BATCH and PAIRS must be positive\n");
        return 2;
    }
    int size = 0, ch = 0;
    tx_arch_default_input(arch, &size, &ch);
    if (size <= 0) size = 224;
    if (ch <= 0) ch = 3;
    tx_err err = {0};
    tx_model *m = NULL;
    tx_exec *ea = NULL, *eb = NULL;
    if (tx_model_build(arch, size, size, ch, 1000, 1, &m, &err) ||
        tx_exec_create(m, B, 0, 1, &ea, &err) || tx_exec_create_opts(m, B, 0, 1, &ob, &eb, &err)) {
        fprintf(stderr, "ab_exec: %s\n", err.msg);
        return 1;
    }
    const size_t nin = (size_t)B * size * size * ch;
    float *x = malloc(nin * sizeof *x), *ya = malloc((size_t)B * 1000 * sizeof *ya);
    double *ta = malloc((size_t)N * sizeof *ta), *tb = malloc((size_t)N * sizeof *tb);
    double *r = malloc((size_t)N * sizeof *r);
    if (!x || !ya || !ta || !tb || !r) return 1;
    tx_rng rng;
    tx_rng_seed(&rng, 7);
    for (size_t i = 0; i < nin; i++) x[i] = tx_rng_normal(&rng);
    for (int w = 0; w < 5; w++) {
        tx_exec_forward(ea, x, B);
        tx_exec_forward(eb, x, B);
    }
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 2; k++) {
            const int isb = k ^ (i & 1);
            const double t0 = tx_now();
            tx_exec_forward(isb ? eb : ea, x, B);
            const double t = tx_now() - t0;
            if (isb) tb[i] = t;
            else ta[i] = t;
        }
        r[i] = tb[i] / ta[i];
    }
    memcpy(ya, tx_exec_forward(ea, x, B), (size_t)B * 1000 * sizeof *ya);
    const float *yb = tx_exec_forward(eb, x, B);
    double maxd = 0;
    for (int i = 0; i < B * 1000; i++) maxd = fmax(maxd, fabs((double)ya[i] - yb[i]));
    printf("%s batch %d, %d pairs, B = %s: A %.3f ms  B %.3f ms  median B/A %.4f  (fastest A %.3f "
           "B %.3f)  max |yA - yB| %.2e\n",
           arch, B, N, argv[4], median(ta, N) * 1e3, median(tb, N) * 1e3, median(r, N),
           least(ta, N) * 1e3, least(tb, N) * 1e3, maxd);
    tx_exec_free(ea);
    tx_exec_free(eb);
    tx_model_free(m);
    free(x); free(ya); free(ta); free(tb); free(r);
    return 0;
}
