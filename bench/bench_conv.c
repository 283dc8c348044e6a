/* bench_conv.c - GFLOP/s of tx_conv2d_forward / tx_conv2d_backward, per layer of the
 * reference networks, against OpenBLAS sgemm on the same GEMM (im2col) dimensions.
 * Not a test. Build by hand, e.g.:
 *   cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -DTX_HAVE_BLAS -Iinclude -Isrc \
 *      $(pkg-config --cflags openblas) bench/bench_conv.c src/ops/conv.c src/ops/gemm.c \
 *      src/core/core.c $(pkg-config --libs openblas) -lm -o /tmp/bench_conv
 * Usage:
 *   bench_conv [reps] [filter]             the single shapes below (best of reps)
 *   bench_conv --net NET [--image-size S] [--batch B] [--reps R] [--train] [--layers]
 *              [--gemm] [--packed] [--best]
 *       NET: resnet18, resnet34, resnet50, mobilenet_v2, efficientnet_b0, convnext_tiny
 *       (the conv layers of the torchvision / timm networks at S x S, default 224, each
 *       distinct shape once with its count). Prints the median of R runs per shape
 *       (after one warm-up run), the total per layer family and
 *       the network's conv total. --layers: one line per shape. --gemm: also time
 *       tx_sgemm on M = n*oh*ow, N = oc, K = kh*kw*c/groups (ungrouped layers), the
 *       ceiling an im2col + BLAS implementation would have without the im2col.
 *       --train: backward (dx + dW + db) instead of forward. --packed: forward with
 *       weights packed once (tx_conv2d_pack) as an inference executor does. --best:
 *       the fastest run instead of the median (the least disturbed on a shared machine).
 * Backward FLOPs count dW and dx (2x forward) or dW only when dx is not wanted. */
#include "ops/ops.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int n, h, w, c, oc, k, s, pad, groups, need_dx;
} bcase;

static const bcase CASES[] = {
    {"cnn conv1 28x28x1->32 3x3 b128", 128, 28, 28, 1, 32, 3, 1, 0, 1, 0},
    {"cnn conv2 26x26x32->64 3x3 b128", 128, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"cnn conv2 padded 28x28x32->64 b128", 128, 28, 28, 32, 64, 3, 1, 1, 1, 1},
    {"cnn conv2 26x26x32->64 3x3 b256", 256, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"cnn conv2 26x26x32->64 3x3 b16", 16, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"r50 56x56x64->64 3x3 b8", 8, 56, 56, 64, 64, 3, 1, 1, 1, 1},
    {"r50 56x56x256->64 1x1 b8", 8, 56, 56, 256, 64, 1, 1, 0, 1, 1},
    {"r50 56x56x64->256 1x1 b8", 8, 56, 56, 64, 256, 1, 1, 0, 1, 1},
    {"r50 28x28x128->128 3x3 b8", 8, 28, 28, 128, 128, 3, 1, 1, 1, 1},
    {"r50 224x224x3->64 7x7 s2 b8", 8, 224, 224, 3, 64, 7, 2, 3, 1, 0},
    {"r50 56x56x64->64 3x3 b1", 1, 56, 56, 64, 64, 3, 1, 1, 1, 0},
    {"r50 14x14x256->256 3x3 b1", 1, 14, 14, 256, 256, 3, 1, 1, 1, 0},
    {"mbv2 dw 112x112x96 s2 b8", 8, 112, 112, 96, 96, 3, 2, 1, 96, 1},
    {"mbv2 dw 56x56x144 s1 b8", 8, 56, 56, 144, 144, 3, 1, 1, 144, 1},
};

/* One conv layer of a network: input h x w x c, k x k kernel, stride s, symmetric
 * padding pad, `count` occurrences; groups 0 means depthwise (groups = c). */
typedef struct {
    int count, h, w, c, oc, k, s, pad, groups;
} layer;

enum { MAX_LAYERS = 128 };
typedef struct {
    layer l[MAX_LAYERS];
    int n;
} netdef;

static int conv_out(int in, int k, int s, int pad) { return (in + 2 * pad - k) / s + 1; }

/* Appends a layer (merging it into an identical previous one) and returns its output
 * size. */
static int add(netdef *nt, int hw, int c, int oc, int k, int s, int pad, int g) {
    layer l = {1, hw, hw, c, oc, k, s, pad, g};
    for (int i = 0; i < nt->n; i++) {
        layer *p = &nt->l[i];
        if (p->h == l.h && p->c == l.c && p->oc == l.oc && p->k == l.k && p->s == l.s &&
            p->pad == l.pad && p->groups == l.groups) {
            p->count++;
            return conv_out(hw, k, s, pad);
        }
    }
    if (nt->n < MAX_LAYERS) nt->l[nt->n++] = l;
    return conv_out(hw, k, s, pad);
}

/* torchvision resnet18/34 (basic blocks) and resnet50 (bottlenecks, stride on the 3x3) */
static void build_resnet(netdef *nt, int S, const int *blocks, int bottleneck) {
    int hw = add(nt, S, 3, 64, 7, 2, 3, 1);
    hw = conv_out(hw, 3, 2, 1); /* max pool */
    int in = 64;
    for (int st = 0; st < 4; st++) {
        const int width = 64 << st, out = bottleneck ? width * 4 : width;
        for (int b = 0; b < blocks[st]; b++) {
            const int s = b == 0 && st > 0 ? 2 : 1;
            int o;
            if (bottleneck) {
                add(nt, hw, in, width, 1, 1, 0, 1);
                o = add(nt, hw, width, width, 3, s, 1, 1);
                add(nt, o, width, out, 1, 1, 0, 1);
            } else {
                o = add(nt, hw, in, width, 3, s, 1, 1);
                add(nt, o, width, out, 3, 1, 1, 1);
            }
            if (b == 0 && (s != 1 || in != out)) add(nt, hw, in, out, 1, s, 0, 1);
            hw = o;
            in = out;
        }
    }
}

/* inverted residuals: expand 1x1 (t > 1), depthwise k x k stride s, project 1x1 */
static int mbconv(netdef *nt, int hw, int in, int out, int t, int k, int s) {
    const int mid = in * t;
    if (t != 1) add(nt, hw, in, mid, 1, 1, 0, 1);
    hw = add(nt, hw, mid, mid, k, s, k / 2, 0);
    add(nt, hw, mid, out, 1, 1, 0, 1);
    return hw;
}

/* torchvision mobilenet_v2 */
static void build_mobilenet_v2(netdef *nt, int S) {
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int hw = add(nt, S, 3, 32, 3, 2, 1, 1), in = 32;
    for (int i = 0; i < 7; i++)
        for (int b = 0; b < cfg[i][2]; b++) {
            hw = mbconv(nt, hw, in, cfg[i][1], cfg[i][0], 3, b == 0 ? cfg[i][3] : 1);
            in = cfg[i][1];
        }
    add(nt, hw, in, 1280, 1, 1, 0, 1);
}

/* torchvision efficientnet_b0 (the squeeze-excitation 1x1s on 1x1 inputs left out) */
static void build_efficientnet_b0(netdef *nt, int S) {
    static const int cfg[7][5] = {{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2}, {6, 5, 2, 40, 2},
                                  {6, 3, 2, 80, 3}, {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4},
                                  {6, 3, 1, 320, 1}};
    int hw = add(nt, S, 3, 32, 3, 2, 1, 1), in = 32;
    for (int i = 0; i < 7; i++)
        for (int b = 0; b < cfg[i][4]; b++) {
            hw = mbconv(nt, hw, in, cfg[i][3], cfg[i][0], cfg[i][1], b == 0 ? cfg[i][2] : 1);
            in = cfg[i][3];
        }
    add(nt, hw, in, 1280, 1, 1, 0, 1);
}

/* timm convnext_tiny: the MLPs are Linear layers on NHWC rows, i.e. 1x1 convolutions */
static void build_convnext_tiny(netdef *nt, int S) {
    static const int depth[4] = {3, 3, 9, 3}, dim[4] = {96, 192, 384, 768};
    int hw = add(nt, S, 3, 96, 4, 4, 0, 1);
    for (int st = 0; st < 4; st++) {
        if (st > 0) hw = add(nt, hw, dim[st - 1], dim[st], 2, 2, 0, 1);
        for (int b = 0; b < depth[st]; b++) {
            add(nt, hw, dim[st], dim[st], 7, 1, 3, 0);
            add(nt, hw, dim[st], 4 * dim[st], 1, 1, 0, 1);
            add(nt, hw, 4 * dim[st], dim[st], 1, 1, 0, 1);
        }
    }
}

static int build_net(netdef *nt, const char *name, int S) {
    static const int b18[4] = {2, 2, 2, 2}, b34[4] = {3, 4, 6, 3};
    nt->n = 0;
    if (!strcmp(name, "resnet18")) build_resnet(nt, S, b18, 0);
    else if (!strcmp(name, "resnet34")) build_resnet(nt, S, b34, 0);
    else if (!strcmp(name, "resnet50")) build_resnet(nt, S, b34, 1);
    else if (!strcmp(name, "mobilenet_v2")) build_mobilenet_v2(nt, S);
    else if (!strcmp(name, "efficientnet_b0")) build_efficientnet_b0(nt, S);
    else if (!strcmp(name, "convnext_tiny")) build_convnext_tiny(nt, S);
    else return -1;
    return 0;
}

static float *rnd(size_t n) {
    float *p = tx_alloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median (best == 0) or minimum of n times. */
static double summary(double *t, int n, int best) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    if (best) return t[0];
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Family of a layer, for the per-family totals. */
static void family(char *buf, size_t len, const tx_conv_shape *s) {
    const char *kind = s->groups == s->c && s->groups > 1 ? "dw" : "";
    if (s->kh == 1 && s->kw == 1)
        snprintf(buf, len, "1x1%s", s->sh > 1 ? " s2" : "");
    else if (s->c <= 4)
        snprintf(buf, len, "stem %dx%d s%d", s->kh, s->kw, s->sh);
    else
        snprintf(buf, len, "%s%dx%d%s", kind, s->kh, s->kw, s->sh > 1 ? " s2" : "");
}

typedef struct {
    char name[24];
    double ms, flops, gemm_ms;
} fam;

enum { MAX_REPS = 1000 };

static int run_net(const char *name, int S, int batch, int reps, int train, int layers,
                   int gemm, int packed, int best) {
    static netdef nt;
    if (build_net(&nt, name, S)) {
        fprintf(stderr, "unknown net '%s'\n", name);
        return 2;
    }
    if (reps > MAX_REPS) reps = MAX_REPS;
    fam fams[32];
    int nf = 0;
    double total = 0, total_flops = 0, total_gemm = 0;
    double times[MAX_REPS];
    printf("%s %dx%d batch %d, %s, %d threads, %s of %d%s\n", name, S, S, batch,
           train ? "backward (dx + dW + db)" : "forward", omp_get_max_threads(),
           best ? "best" : "median", reps,
           packed ? ", packed weights" : "");
    if (layers)
        printf("%-4s %-34s %9s %8s %8s%s\n", "cnt", "layer", "ms", "GF/s", "family",
               gemm ? "   sgemm ms  GF/s" : "");
    for (int li = 0; li < nt.n; li++) {
        const layer *l = &nt.l[li];
        int g = l->groups ? l->groups : l->c;
        tx_conv_shape s = {.n = batch, .h = l->h, .w = l->w, .c = l->c, .oc = l->oc,
                           .kh = l->k, .kw = l->k, .sh = l->s, .sw = l->s, .pad_t = l->pad,
                           .pad_l = l->pad, .pad_b = l->pad, .pad_r = l->pad, .dh = 1,
                           .dw = 1, .groups = g};
        tx_err err;
        if (tx_conv_shape_init(&s, &err)) {
            printf("layer %d: %s\n", li, err.msg);
            return 1;
        }
        size_t nx = (size_t)s.n * s.h * s.w * s.c, ny = (size_t)s.n * s.oh * s.ow * s.oc;
        size_t nw = (size_t)s.oc * s.kh * s.kw * (s.c / s.groups);
        float *x = rnd(nx), *w = rnd(nw), *bias = rnd(s.oc), *y = rnd(ny);
        float *dy = train ? rnd(ny) : NULL, *dx = train ? rnd(nx) : NULL;
        float *dw = train ? rnd(nw) : NULL, *db = train ? rnd(s.oc) : NULL;
        size_t ns = tx_conv2d_scratch_floats(&s);
        float *scratch = rnd(ns);
        size_t np = packed ? tx_conv2d_packed_floats(&s) : 0;
        float *wp = packed ? rnd(np) : NULL;
        if (packed) tx_conv2d_pack(wp, w, &s);
        /* backward: dW and dx (dW only for the stem, whose input needs no gradient) */
        double flops = 2.0 * ny * s.kh * s.kw * (s.c / s.groups) * (train && s.c > 4 ? 2 : 1);
        for (int r = -1; r < reps; r++) {
            double t0 = tx_now();
            if (train) tx_conv2d_backward(s.c <= 4 ? NULL : dx, dw, db, dy, x, w, &s, scratch);
            else if (packed) tx_conv2d_forward_packed(y, x, wp, bias, &s, scratch);
            else tx_conv2d_forward(y, x, w, bias, &s, scratch);
            if (r >= 0) times[r] = tx_now() - t0;
        }
        double t = summary(times, reps, best);
        double tg = 0;
        if (gemm && s.groups == 1) {
            int64_t M = (int64_t)s.n * s.oh * s.ow, N = s.oc, K = (int64_t)s.kh * s.kw * s.c;
            float *A = rnd((size_t)(M * K)), *C = rnd((size_t)(M * N));
            for (int r = -1; r < reps; r++) {
                double t0 = tx_now();
                tx_sgemm(0, 1, M, N, K, 1.0f, A, K, w, K, 0.0f, C, N);
                if (r >= 0) times[r] = tx_now() - t0;
            }
            tg = summary(times, reps, best) * (train ? 2 : 1);
            tx_free(A);
            tx_free(C);
        }
        char fname[24];
        family(fname, sizeof fname, &s);
        if (layers) {
            char lname[64];
            snprintf(lname, sizeof lname, "%dx%dx%d->%d %dx%d s%d%s", s.h, s.w, s.c, s.oc,
                     s.kh, s.kw, s.sh, s.groups > 1 ? " dw" : "");
            printf("%-4d %-34s %9.3f %8.1f %8s", l->count, lname, t * 1e3, flops / t * 1e-9,
                   fname);
            if (tg > 0) printf("   %8.3f %6.1f", tg * 1e3, flops / tg * 1e-9);
            printf("\n");
        }
        int fi = 0;
        while (fi < nf && strcmp(fams[fi].name, fname)) fi++;
        if (fi == nf && nf < 32) {
            snprintf(fams[nf].name, sizeof fams[nf].name, "%s", fname);
            fams[nf].ms = fams[nf].flops = fams[nf].gemm_ms = 0;
            nf++;
        }
        if (fi < nf) {
            fams[fi].ms += l->count * t * 1e3;
            fams[fi].flops += l->count * flops;
            fams[fi].gemm_ms += l->count * tg * 1e3;
        }
        total += l->count * t * 1e3;
        total_flops += l->count * flops;
        total_gemm += l->count * tg * 1e3;
        tx_free(x); tx_free(w); tx_free(bias); tx_free(y); tx_free(dy); tx_free(dx);
        tx_free(dw); tx_free(db); tx_free(scratch); tx_free(wp);
    }
    printf("%-14s %9s %8s %9s%s\n", "family", "ms", "GF/s", "GFLOP", gemm ? "  sgemm ms (GF/s)" : "");
    for (int fi = 0; fi < nf; fi++) {
        printf("%-14s %9.3f %8.1f %9.3f", fams[fi].name, fams[fi].ms,
               fams[fi].flops / fams[fi].ms * 1e-6, fams[fi].flops * 1e-9);
        if (fams[fi].gemm_ms > 0)
            printf("  %8.3f (%5.1f)", fams[fi].gemm_ms, fams[fi].flops / fams[fi].gemm_ms * 1e-6);
        printf("\n");
    }
    printf("%-14s %9.3f %8.1f %9.3f", "total", total, total_flops / total * 1e-6,
           total_flops * 1e-9);
    if (gemm) printf("  (sgemm on the ungrouped layers: %.3f ms)", total_gemm);
    printf("\n");
    return 0;
}

static int run_cases(int reps, const char *filter) {
    printf("threads %d\n", omp_get_max_threads());
    for (size_t ci = 0; ci < sizeof CASES / sizeof *CASES; ci++) {
        const bcase *b = &CASES[ci];
        if (filter && !strstr(b->name, filter)) continue;
        tx_conv_shape s = {.n = b->n, .h = b->h, .w = b->w, .c = b->c, .oc = b->oc,
                           .kh = b->k, .kw = b->k, .sh = b->s, .sw = b->s, .pad_t = b->pad,
                           .pad_l = b->pad, .pad_b = b->pad, .pad_r = b->pad, .dh = 1,
                           .dw = 1, .groups = b->groups};
        tx_err err;
        if (tx_conv_shape_init(&s, &err)) {
            printf("%s: %s\n", b->name, err.msg);
            return 1;
        }
        size_t nx = (size_t)s.n * s.h * s.w * s.c, ny = (size_t)s.n * s.oh * s.ow * s.oc;
        size_t nw = (size_t)s.oc * s.kh * s.kw * (s.c / s.groups);
        float *x = rnd(nx), *w = rnd(nw), *bias = rnd(s.oc), *dy = rnd(ny);
        float *y = rnd(ny), *dx = rnd(nx), *dw = rnd(nw), *db = rnd(s.oc);
        size_t ns = tx_conv2d_scratch_floats(&s);
        float *scratch = rnd(ns ? ns : 1);
        double flops = 2.0 * ny * s.kh * s.kw * (s.c / s.groups);
        /* best of reps: the machine is shared, the minimum is the least disturbed run */
        double tf = 1e30, tb = 1e30;
        tx_conv2d_forward(y, x, w, bias, &s, scratch);
        for (int r = 0; r < reps; r++) {
            double t0 = tx_now();
            tx_conv2d_forward(y, x, w, bias, &s, scratch);
            double dt = tx_now() - t0;
            if (dt < tf) tf = dt;
        }
        float *dxp = b->need_dx ? dx : NULL;
        tx_conv2d_backward(dxp, dw, db, dy, x, w, &s, scratch);
        for (int r = 0; r < reps; r++) {
            double t0 = tx_now();
            tx_conv2d_backward(dxp, dw, db, dy, x, w, &s, scratch);
            double dt = tx_now() - t0;
            if (dt < tb) tb = dt;
        }
        double bflops = flops * (b->need_dx ? 2 : 1);
        printf("%-36s fwd %8.2f ms %6.1f GF/s   bwd%s %8.2f ms %6.1f GF/s  (scratch %.1f MB)\n",
               b->name, tf * 1e3, flops / tf * 1e-9, b->need_dx ? "" : "(no dx)", tb * 1e3,
               bflops / tb * 1e-9, ns * 4.0 / 1e6);
        tx_free(x); tx_free(w); tx_free(bias); tx_free(dy); tx_free(y); tx_free(dx);
        tx_free(dw); tx_free(db); tx_free(scratch);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *net = NULL;
    int size = 224, batch = 1, reps = 21, train = 0, layers = 0, gemm = 0, packed = 0, best = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--net") && i + 1 < argc) net = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--image-size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--train")) train = 1;
        else if (!strcmp(argv[i], "--layers")) layers = 1;
        else if (!strcmp(argv[i], "--gemm")) gemm = 1;
        else if (!strcmp(argv[i], "--packed")) packed = 1;
        else if (!strcmp(argv[i], "--best")) best = 1;
        else if (!net) return run_cases(atoi(argv[1]) > 0 ? atoi(argv[1]) : 5,
                                        argc > 2 ? argv[2] : NULL);
    }
    if (!net) return run_cases(5, NULL);
    if (batch < 1 || reps < 1 || size < 32) {
        fprintf(stderr, "--batch and --reps must be >= 1, --image-size >= 32\n");
        return 2;
    }
    return run_net(net, size, batch, reps, train, layers, gemm, packed, best);
}
