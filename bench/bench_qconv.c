/* bench_qconv.c - speed of the quantized kernels (src/ops/quant.h). Not a test.
 *
 * Build by hand (needs -march=native for the AVX-512 VNNI kernels):
 *   cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -Iinclude -Isrc \
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

/* ---- whole model ---------------------------------------------------------------------------- */

typedef struct {
    int kind;                /* op code */
    tx_qconv *conv;
    tx_qbinary bin;
    tx_pool_shape pool;
    int qmin, qmax;
    tx_qsoftmax *sm;
    tx_qmean mean;
    tx_qlut lut;
    int in[4], out;
} mnode;

static int qtype_of(const tx_tflite_tensor *t) {
    return t->type == TX_TFL_INT8 ? TX_QT_S8 : TX_QT_U8;
}
static tx_qparam qp(const tx_tflite_tensor *t) {
    return (tx_qparam){t->q.n ? t->q.scale[0] : 1.0f, t->q.n ? (int32_t)t->q.zero_point[0] : 0};
}

static void same_pads(int in, int k, int s, int d, int padding, int *a, int *b) {
    if (padding != TX_TFL_PAD_SAME) {
        *a = *b = 0;
        return;
    }
    int o = (in + s - 1) / s;
    int tot = (o - 1) * s + (k - 1) * d + 1 - in;
    tot = tot < 0 ? 0 : tot;
    *a = tot / 2;
    *b = tot - tot / 2;
}

static int bench_model(const char *path, int threads, int reps, int mode, const char *inpath,
                       const char *outpath) {
    tx_tflite_model m;
    tx_err err = {0};
    if (tx_tflite_load(path, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const tx_tflite_subgraph *g = &m.subgraphs[0];
    void **buf = calloc((size_t)g->n_tensors, sizeof *buf);
    for (int i = 0; i < g->n_tensors; i++) {
        const tx_tflite_tensor *t = &g->tensors[i];
        if (t->data) buf[i] = (void *)t->data;
        else buf[i] = xalloc((size_t)t->numel * (t->type == TX_TFL_FLOAT32 || t->type == TX_TFL_INT32 ? 4 : 1));
    }
    mnode *nodes = calloc((size_t)g->n_ops, sizeof *nodes);
    size_t scratch = 0;
    for (int oi = 0; oi < g->n_ops; oi++) {
        const tx_tflite_op *op = &g->ops[oi];
        mnode *nd = &nodes[oi];
        nd->kind = op->builtin;
        for (int k = 0; k < op->n_inputs && k < 4; k++) nd->in[k] = op->inputs[k];
        nd->out = op->outputs[0];
        const tx_tflite_tensor *X = &g->tensors[op->inputs[0]], *Y = &g->tensors[op->outputs[0]];
        int rc = 0;
        switch (op->builtin) {
        case TX_TFL_OP_CONV_2D:
        case TX_TFL_OP_DEPTHWISE_CONV_2D:
        case TX_TFL_OP_FULLY_CONNECTED: {
            const tx_tflite_tensor *W = &g->tensors[op->inputs[1]];
            const tx_tflite_tensor *B = op->n_inputs > 2 && op->inputs[2] >= 0 ? &g->tensors[op->inputs[2]] : NULL;
            tx_qconv_desc d = {0};
            d.type = qtype_of(X);
            d.wtype = qtype_of(W);
            d.in = qp(X);
            d.out = qp(Y);
            d.w_scale = W->q.scale;
            d.n_w_scale = W->q.n;
            d.w_zp = d.wtype == TX_QT_U8 ? (int32_t)W->q.zero_point[0] : 0;
            d.mode = mode;
            d.threads = threads;
            if (op->builtin == TX_TFL_OP_FULLY_CONNECTED) {
                d.kind = TX_QCONV_FC;
                d.c = W->shape[1];
                d.n = (int)(X->numel / d.c);
                d.oc = W->shape[0];
                d.act = op->opt.fc.activation;
            } else {
                int dwk = op->builtin == TX_TFL_OP_DEPTHWISE_CONV_2D;
                d.kind = dwk ? TX_QCONV_DEPTHWISE : TX_QCONV_CONV;
                d.n = X->shape[0], d.h = X->shape[1], d.w = X->shape[2], d.c = X->shape[3];
                d.oc = dwk ? W->shape[3] : W->shape[0];
                d.kh = W->shape[1], d.kw = W->shape[2];
                int pad = dwk ? op->opt.dwconv2d.padding : op->opt.conv2d.padding;
                d.sh = dwk ? op->opt.dwconv2d.stride_h : op->opt.conv2d.stride_h;
                d.sw = dwk ? op->opt.dwconv2d.stride_w : op->opt.conv2d.stride_w;
                d.dh = dwk ? op->opt.dwconv2d.dilation_h : op->opt.conv2d.dilation_h;
                d.dw = dwk ? op->opt.dwconv2d.dilation_w : op->opt.conv2d.dilation_w;
                d.act = dwk ? op->opt.dwconv2d.activation : op->opt.conv2d.activation;
                d.depth_multiplier = dwk ? op->opt.dwconv2d.depth_multiplier : 1;
                same_pads(d.h, d.kh, d.sh, d.dh, pad, &d.pad_t, &d.pad_b);
                same_pads(d.w, d.kw, d.sw, d.dw, pad, &d.pad_l, &d.pad_r);
            }
            int32_t *bias = NULL;
            if (B) {
                bias = xalloc(B->nbytes);
                memcpy(bias, B->data, B->nbytes);
            }
            rc = tx_qconv_pack(&nd->conv, &d, W->data, bias, &err);
            tx_free(bias);
            if (!rc && tx_qconv_scratch_bytes(nd->conv) > scratch) scratch = tx_qconv_scratch_bytes(nd->conv);
            break;
        }
        case TX_TFL_OP_ADD:
            rc = tx_qadd_init(&nd->bin, qtype_of(X), qp(X), qp(&g->tensors[op->inputs[1]]), qp(Y),
                              op->opt.activation, mode, &err);
            break;
        case TX_TFL_OP_MUL:
            rc = tx_qmul_init(&nd->bin, qtype_of(X), qp(X), qp(&g->tensors[op->inputs[1]]), qp(Y),
                              op->opt.activation, mode, &err);
            break;
        case TX_TFL_OP_AVERAGE_POOL_2D:
        case TX_TFL_OP_MAX_POOL_2D: {
            tx_pool_shape *s = &nd->pool;
            s->n = X->shape[0], s->h = X->shape[1], s->w = X->shape[2], s->c = X->shape[3];
            s->kh = op->opt.pool2d.filter_h, s->kw = op->opt.pool2d.filter_w;
            s->sh = op->opt.pool2d.stride_h, s->sw = op->opt.pool2d.stride_w;
            same_pads(s->h, s->kh, s->sh, 1, op->opt.pool2d.padding, &s->pad_t, &s->pad_b);
            same_pads(s->w, s->kw, s->sw, 1, op->opt.pool2d.padding, &s->pad_l, &s->pad_r);
            rc = tx_pool_shape_init(s, &err);
            if (!rc) rc = tx_qact_range(&nd->qmin, &nd->qmax, qtype_of(Y), qp(Y), op->opt.pool2d.activation, mode, &err);
            break;
        }
        case TX_TFL_OP_SOFTMAX:
            nd->sm = xalloc(sizeof *nd->sm);
            rc = tx_qsoftmax_init(nd->sm, qtype_of(X), qp(X), qp(Y), op->opt.beta, mode, &err);
            break;
        case TX_TFL_OP_MEAN:
            rc = tx_qmean_init(&nd->mean, qtype_of(X), qp(X), qp(Y), X->shape[1] * X->shape[2], mode, &err);
            break;
        case TX_TFL_OP_LOGISTIC:
            rc = tx_qlut_logistic(&nd->lut, qtype_of(X), qp(X), qp(Y), mode, &err);
            break;
        case TX_TFL_OP_HARD_SWISH:
            rc = tx_qlut_hardswish(&nd->lut, qtype_of(X), qp(X), qp(Y), mode, &err);
            break;
        case TX_TFL_OP_RESHAPE:
        case TX_TFL_OP_SQUEEZE:
            break;
        default:
            fprintf(stderr, "%s: operator %d (%s) is not handled by this benchmark\n", path,
                    op->builtin, tx_tflite_op_name(op->builtin));
            return 1;
        }
        if (rc) {
            fprintf(stderr, "%s: op %d (%s): %s\n", path, oi, tx_tflite_op_name(op->builtin), err.msg);
            return 1;
        }
    }
    void *scr = xalloc(scratch);
    const tx_tflite_tensor *IN = &g->tensors[g->inputs[0]];
    const tx_tflite_tensor *OUT = &g->tensors[g->outputs[0]];
    if (inpath) {
        FILE *f = fopen(inpath, "rb");
        if (!f || fread(buf[g->inputs[0]], 1, (size_t)IN->numel, f) != (size_t)IN->numel) {
            fprintf(stderr, "%s: cannot read %lld bytes\n", inpath, (long long)IN->numel);
            return 1;
        }
        fclose(f);
    } else {
        srand(1);
        for (int64_t i = 0; i < IN->numel; i++) ((uint8_t *)buf[g->inputs[0]])[i] = (uint8_t)rand();
    }
    int nconv = 0;
    double *t = xalloc(sizeof(double) * reps);
    double *opt = calloc((size_t)g->n_ops, sizeof(double));
    for (int r = -3; r < reps; r++) {
        double t0 = now();
        for (int oi = 0; oi < g->n_ops; oi++) {
            mnode *nd = &nodes[oi];
            const tx_tflite_tensor *X = &g->tensors[nd->in[0]], *Y = &g->tensors[nd->out];
            void *y = buf[nd->out];
            const void *x = buf[nd->in[0]];
            double ts = now();
            switch (nd->kind) {
            case TX_TFL_OP_CONV_2D:
            case TX_TFL_OP_DEPTHWISE_CONV_2D:
            case TX_TFL_OP_FULLY_CONNECTED:
                tx_qconv_run(nd->conv, y, x, tx_qconv_get_desc(nd->conv)->n, scr);
                if (r == 0) nconv++;
                break;
            case TX_TFL_OP_ADD:
            case TX_TFL_OP_MUL:
                tx_qbinary_run(&nd->bin, y, x, buf[nd->in[1]], Y->numel);
                break;
            case TX_TFL_OP_AVERAGE_POOL_2D:
                tx_qavgpool(y, x, &nd->pool, qtype_of(X), nd->qmin, nd->qmax);
                break;
            case TX_TFL_OP_MAX_POOL_2D:
                tx_qmaxpool(y, x, &nd->pool, qtype_of(X), nd->qmin, nd->qmax);
                break;
            case TX_TFL_OP_SOFTMAX: {
                int k = X->shape[X->ndim - 1];
                tx_qsoftmax_run(nd->sm, y, x, X->numel / k, k);
                break;
            }
            case TX_TFL_OP_MEAN:
                tx_qmean_run(&nd->mean, y, x, X->shape[0], X->shape[3]);
                break;
            case TX_TFL_OP_LOGISTIC:
            case TX_TFL_OP_HARD_SWISH:
                tx_qlut_apply(&nd->lut, y, x, X->numel);
                break;
            default: /* RESHAPE, SQUEEZE */
                memcpy(y, x, (size_t)Y->numel);
            }
            if (r >= 0) opt[oi] += now() - ts;
        }
        if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, reps, sizeof *t, cmpd);
    printf("%s: %d ops (%d conv/dw/fc), %d threads, %s mode: median %.3f ms, best %.3f ms\n", path,
           g->n_ops, nconv, threads, tx_qmode_name(mode), t[reps / 2] * 1e3, t[0] * 1e3);
    double by_kind[256] = {0};
    for (int oi = 0; oi < g->n_ops; oi++) {
        int k = nodes[oi].kind;
        if (k == TX_TFL_OP_CONV_2D) {
            const tx_qconv_desc *d = tx_qconv_get_desc(nodes[oi].conv);
            if (d->kh == 1) k = 255; /* 1x1 separately */
        }
        if (k >= 0 && k < 256) by_kind[k] += opt[oi] / reps;
    }
    for (int k = 0; k < 256; k++)
        if (by_kind[k] > 0)
            printf("  %-22s %8.3f ms\n", k == 255 ? "CONV_2D 1x1" : tx_tflite_op_name(k), by_kind[k] * 1e3);
    const uint8_t *o = buf[g->outputs[0]];
    int64_t no = OUT->numel;
    printf("  top-5 (index:q):");
    int taken[5] = {-1, -1, -1, -1, -1};
    for (int r = 0; r < 5 && r < no; r++) {
        int best = -1;
        for (int64_t i = 0; i < no; i++) {
            int used = 0;
            for (int q = 0; q < r; q++) used |= taken[q] == (int)i;
            if (!used && (best < 0 || o[i] > o[best])) best = (int)i;
        }
        taken[r] = best;
        printf(" %d:%d", best, o[best]);
    }
    printf("\n");
    if (outpath) {
        FILE *f = fopen(outpath, "wb");
        if (!f || fwrite(o, 1, (size_t)no, f) != (size_t)no) {
            fprintf(stderr, "%s: cannot write\n", outpath);
            return 1;
        }
        fclose(f);
    }
    return 0;
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
