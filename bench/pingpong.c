/* pingpong.c - a taxon inference executor that waits for orders on stdin, for
 * bench/interleave-vs-ort.sh: a driver alternates short bursts of it with bursts of a peer
 * running in another process, so that both see the same load from other tenants (which
 * comes and goes over seconds on a shared machine). Not a test, not part of the product.
 *
 *   pingpong ARCH BATCH          (threads: OMP_NUM_THREADS)
 *
 * Builds ARCH as `taxon bench --arch ARCH --image-size 224 --channels 3 --classes 1000`
 * does (same random weights and input), runs two warm-up forwards and prints "ready".
 * Then each line N on stdin runs N forwards and prints their times in ms on one line;
 * end of input exits. Build line: see bench/interleave-vs-ort.sh. */
#include "core/core.h"
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: pingpong ARCH BATCH\n");
        return 2;
    }
    const int batch = atoi(argv[2]);
    tx_err err = {0};
    tx_model *m;
    if (tx_model_build(argv[1], 224, 224, 3, 1000, 1, &m, &err)) {
        fprintf(stderr, "pingpong: %s\n", err.msg);
        return 1;
    }
    tx_exec *e;
    if (tx_exec_create(m, batch, 0, 1, &e, &err)) {
        fprintf(stderr, "pingpong: %s\n", err.msg);
        return 1;
    }
    const size_t n = (size_t)batch * 224 * 224 * 3;
    float *x = tx_alloc(n * sizeof(float));
    if (!x) return 1;
    tx_rng r;
    tx_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) x[i] = tx_rng_normal(&r);
    for (int i = 0; i < 2; i++) tx_exec_forward(e, x, batch);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        int k = atoi(line);
        for (int i = 0; i < k; i++) {
            double t0 = tx_now();
            tx_exec_forward(e, x, batch);
            printf("%s%.4f", i ? " " : "", (tx_now() - t0) * 1e3);
        }
        printf("\n");
        fflush(stdout);
    }
    tx_free(x);
    tx_exec_free(e);
    tx_model_free(m);
    return 0;
}
