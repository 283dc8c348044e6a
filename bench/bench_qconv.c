/* bench_qconv.c - speed of the quantized kernels (src/ops/quant.h). Not a test.
 *
 * Build by hand (needs -march=native for the AVX-512 VNNI kernels):
 *   cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc -Itests \
 *      bench/bench_qconv.c src/ops/qconv.c src/ops/qops.c src/ops/pool.c \
 *      src/io/tflite.c src/core/core.c -lm -o /tmp/bench_qconv
 *
 *   /tmp/bench_qconv [-t threads] [-r reps] [-m xnnpack|ref] [filter]
 *       MobileNetV2 layer shapes (batch 1, uint8): median and best time, GOP/s
 *       (2 ops per multiply-accumulate).
 *   /tmp/bench_qconv -M model.tflite [-t threads] [-r reps] [-m mode] [-i input.u8]
 *                    [-o output.u8]
 *       Runs a whole quantized TFLite classifier (the operators the MobileNets use)
 *       with these kernels: batch-1 latency (median / best of reps), the top-5 of the
 *       output, and the raw output bytes written to -o (to compare with ai-edge-litert:
 *       see the end of this comment). The input is -i's bytes (H*W*C) or a seeded
 *       random image.
 *
 * Comparing a whole model with TFLite (same input, 2 threads):
 *   head -c 150528 /dev/urandom > /tmp/in.u8
 *   /tmp/bench_qconv -M ../shared/models/mobilenet_v2_1.0_224_quant.tflite -i /tmp/in.u8 \
 *       -o /tmp/out.u8
 *   .venv/bin/python - <<'EOF'
 *   import numpy as np; from ai_edge_litert import interpreter as I
 *   it = I.Interpreter(model_path="../shared/models/mobilenet_v2_1.0_224_quant.tflite",
 *                      num_threads=2); it.allocate_tensors()
 *   x = np.fromfile("/tmp/in.u8", np.uint8).reshape(it.get_input_details()[0]["shape"])
 *   it.set_tensor(it.get_input_details()[0]["index"], x); it.invoke()
 *   y = it.get_tensor(it.get_output_details()[0]["index"]).ravel()
 *   print("max|diff|", np.abs(y.astype(int) - np.fromfile("/tmp/out.u8", np.uint8)).max())
 *   EOF
 */
#include "io/tflite.h"
#include "ops/quant.h"
#include "qmodel.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *xalloc(size_t n) {
    void *p = tx_alloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- layers ---------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int kind, h, w, c, oc, k, s;
} lcase;

static const lcase LAYERS[] = {
    {"conv 224x224x3 -> 32 3x3 s2", TX_QCONV_CONV, 224, 224, 3, 32, 3, 2},
    {"dw 112x112x32 3x3 s1", TX_QCONV_DEPTHWISE, 112, 112, 32, 32, 3, 1},
    {"1x1 112x112x32 -> 16", TX_QCONV_CONV, 112, 112, 32, 16, 1, 1},
    {"1x1 112x112x16 -> 96", TX_QCONV_CONV, 112, 112, 16, 96, 1, 1},
    {"dw 112x112x96 3x3 s2", TX_QCONV_DEPTHWISE, 112, 112, 96, 96, 3, 2},
    {"1x1 56x56x96 -> 24", TX_QCONV_CONV, 56, 56, 96, 24, 1, 1},
    {"1x1 56x56x24 -> 144", TX_QCONV_CONV, 56, 56, 24, 144, 1, 1},
    {"dw 56x56x144 3x3 s1", TX_QCONV_DEPTHWISE, 56, 56, 144, 144, 3, 1},
    {"1x1 56x56x144 -> 24", TX_QCONV_CONV, 56, 56, 144, 24, 1, 1},
    {"dw 56x56x144 3x3 s2", TX_QCONV_DEPTHWISE, 56, 56, 144, 144, 3, 2},
    {"1x1 28x28x144 -> 32", TX_QCONV_CONV, 28, 28, 144, 32, 1, 1},
    {"1x1 28x28x32 -> 192", TX_QCONV_CONV, 28, 28, 32, 192, 1, 1},
    {"dw 28x28x192 3x3 s1", TX_QCONV_DEPTHWISE, 28, 28, 192, 192, 3, 1},
    {"1x1 14x14x64 -> 384", TX_QCONV_CONV, 14, 14, 64, 384, 1, 1},
    {"dw 14x14x384 3x3 s1", TX_QCONV_DEPTHWISE, 14, 14, 384, 384, 3, 1},
    {"1x1 14x14x384 -> 64", TX_QCONV_CONV, 14, 14, 384, 64, 1, 1},
    {"1x1 14x14x576 -> 96", TX_QCONV_CONV, 14, 14, 576, 96, 1, 1},
    {"dw 7x7x960 3x3 s1", TX_QCONV_DEPTHWISE, 7, 7, 960, 960, 3, 1},
    {"1x1 7x7x960 -> 320", TX_QCONV_CONV, 7, 7, 960, 320, 1, 1},
    {"1x1 7x7x320 -> 1280", TX_QCONV_CONV, 7, 7, 320, 1280, 1, 1},
    {"FC 1280 -> 1001", TX_QCONV_FC, 1, 1, 1280, 1001, 1, 1},
};

static void bench_layers(int threads, int reps, int mode, const char *filter) {
    double total_med = 0, total_ops = 0;
    printf("%-32s %10s %10s %8s   (%d threads, %s)\n", "layer (uint8, batch 1)", "median us",
           "best us", "GOP/s", threads, tx_qmode_name(mode));
    for (unsigned li = 0; li < sizeof LAYERS / sizeof *LAYERS; li++) {
        const lcase *L = &LAYERS[li];
        if (filter && !strstr(L->name, filter)) continue;
        float ws = 0.0031f;
        tx_qconv_desc d = {.kind = L->kind, .type = TX_QT_U8, .wtype = TX_QT_U8, .n = 1,
                           .h = L->h, .w = L->w, .c = L->c, .oc = L->oc, .kh = L->k, .kw = L->k,
                           .sh = L->s, .sw = L->s, .dh = 1, .dw = 1, .in = {0.0235f, 128},
                           .out = {0.0235f, 0}, .w_scale = &ws, .n_w_scale = 1, .w_zp = 122,
                           .act = TX_QACT_RELU6, .mode = mode, .threads = threads};
        if (L->k == 3) { /* TFLite SAME */
            int o = (L->h + L->s - 1) / L->s, tot = (o - 1) * L->s + 3 - L->h;
            tot = tot < 0 ? 0 : tot;
            d.pad_t = d.pad_l = tot / 2;
            d.pad_b = d.pad_r = tot - tot / 2;
        }
        tx_err err = {0};
        if (tx_qconv_desc_init(&d, &err)) {
            printf("%s: %s\n", L->name, err.msg);
            continue;
        }
        size_t nx = (size_t)d.h * d.w * d.c, ny = (size_t)d.oh * d.ow * d.oc;
        size_t nw = d.kind == TX_QCONV_DEPTHWISE ? (size_t)9 * d.oc : (size_t)d.oc * d.kh * d.kw * d.c;
        uint8_t *x = xalloc(nx), *w = xalloc(nw), *y = xalloc(ny);
        int32_t *b = xalloc((size_t)d.oc * 4);
        for (size_t i = 0; i < nx; i++) x[i] = (uint8_t)rand();
        for (size_t i = 0; i < nw; i++) w[i] = (uint8_t)rand();
        for (int i = 0; i < d.oc; i++) b[i] = rand() % 20000 - 10000;
        tx_qconv *p;
        if (tx_qconv_pack(&p, &d, w, b, &err)) {
            printf("%s: %s\n", L->name, err.msg);
            continue;
        }
        void *s = xalloc(tx_qconv_scratch_bytes(p));
        double *t = xalloc(sizeof(double) * reps);
        for (int r = 0; r < 3; r++) tx_qconv_run(p, y, x, 1, s);
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            tx_qconv_run(p, y, x, 1, s);
            t[r] = now() - t0;
        }
        qsort(t, reps, sizeof *t, cmpd);
        double macs = (double)ny * (d.kind == TX_QCONV_DEPTHWISE ? d.kh * d.kw : d.kh * d.kw * d.c);
        double med = t[reps / 2];
        printf("%-32s %10.1f %10.1f %8.1f\n", L->name, med * 1e6, t[0] * 1e6, 2 * macs / t[0] * 1e-9);
        total_med += med;
        total_ops += 2 * macs;
        tx_free(t);
        tx_free(s);
        tx_qconv_free(p);
        tx_free(x);
        tx_free(w);
        tx_free(y);
        tx_free(b);
    }
    printf("%-32s %10.1f %10s %8.1f\n", "sum of medians", total_med * 1e6, "",
           total_ops / total_med * 1e-9);
}

/* ---- whole model (tests/qmodel.h) --------------------------------------------------------------- */

static int bench_model(const char *path, int threads, int reps, int mode, const char *inpath,
                       const char *outpath) {
    qmodel q;
    tx_err err = {0};
    if (qmodel_load(&q, path, mode, threads, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        qmodel_free(&q);
        return 1;
    }
    const tx_tflite_subgraph *g = q.g;
    const tx_tflite_tensor *IN = &g->tensors[q.in_tensor], *OUT = &g->tensors[q.out_tensor];
    uint8_t *in = q.buf[q.in_tensor];
    if (inpath) {
        FILE *f = fopen(inpath, "rb");
        if (!f || fread(in, 1, (size_t)IN->numel, f) != (size_t)IN->numel) {
            fprintf(stderr, "%s: cannot read %lld bytes\n", inpath, (long long)IN->numel);
            return 1;
        }
        fclose(f);
    } else {
        srand(1);
        for (int64_t i = 0; i < IN->numel; i++) in[i] = (uint8_t)rand();
    }
    int nconv = 0;
    for (int oi = 0; oi < g->n_ops; oi++) nconv += q.nodes[oi].conv != NULL;
    double *t = xalloc(sizeof(double) * reps);
    double *kt = calloc((size_t)reps * 256, sizeof(double)); /* [rep][op kind] */
    for (int r = -3; r < reps; r++) {
        double t0 = now();
        for (int oi = 0; oi < g->n_ops; oi++) {
            double ts = now();
            qmodel_run_op(&q, oi);
            if (r >= 0) {
                int k = q.nodes[oi].kind;
                if (k == TX_TFL_OP_CONV_2D && tx_qconv_get_desc(q.nodes[oi].conv)->kh == 1) k = 255;
                kt[(size_t)r * 256 + (k & 255)] += now() - ts;
            }
        }
        if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmpd);
    printf("%s: %d ops (%d conv/dw/fc), %d threads, %s mode: median %.3f ms, best %.3f ms\n", path,
           g->n_ops, nconv, threads, tx_qmode_name(mode), t[reps / 2] * 1e3, t[0] * 1e3);
    printf("  median time per operator kind (sum over the model's ops of that kind):\n");
    double *col = xalloc(sizeof(double) * reps);
    for (int k = 0; k < 256; k++) {
        for (int r = 0; r < reps; r++) col[r] = kt[(size_t)r * 256 + k];
        qsort(col, reps, sizeof *col, cmpd);
        if (col[reps - 1] > 0)
            printf("  %-22s %8.3f ms\n", k == 255 ? "CONV_2D 1x1" : tx_tflite_op_name(k),
                   col[reps / 2] * 1e3);
    }
    const uint8_t *o = q.buf[q.out_tensor];
    int64_t no = OUT->numel;
    printf("  top-5 (index:q):");
    int taken[5] = {-1, -1, -1, -1, -1};
    for (int r = 0; r < 5 && r < no; r++) {
        int best = -1;
        for (int64_t i = 0; i < no; i++) {
            int used = 0;
            for (int k = 0; k < r; k++) used |= taken[k] == (int)i;
            if (!used && (best < 0 || o[i] > o[best])) best = (int)i;
        }
        taken[r] = best;
        printf(" %d:%d", best, o[best]);
    }
    printf("\n");
    int rc = 0;
    if (outpath) {
        FILE *f = fopen(outpath, "wb");
        if (!f || fwrite(o, 1, (size_t)no, f) != (size_t)no) {
            fprintf(stderr, "%s: cannot write\n", outpath);
            rc = 1;
        }
        if (f) fclose(f);
    }
    tx_free(t);
    tx_free(col);
    free(kt);
    qmodel_free(&q);
    return rc;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 50, mode = TX_QMODE_XNNPACK;
    const char *filter = NULL, *model = NULL, *inpath = NULL, *outpath = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc)
            mode = strcmp(argv[++i], "ref") == 0 ? TX_QMODE_TFLITE_REF : TX_QMODE_XNNPACK;
        else if (!strcmp(argv[i], "-M") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "-i") && i + 1 < argc) inpath = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) outpath = argv[++i];
        else filter = argv[i];
    }
    if (reps < 1) reps = 1;
    omp_set_num_threads(threads);
    if (model) return bench_model(model, threads, reps, mode, inpath, outpath);
    bench_layers(threads, reps, mode, filter);
    return 0;
}
