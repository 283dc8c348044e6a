/* conv.c - 2-D convolution, forward and backward, NHWC activations, OHWI weights.
 *
 *   x[n,h,w,c] -> y[n,oh,ow,oc];  w[oc,kh,kw,cg] with cg = c/groups;  b[oc] or NULL.
 *   Output channel o belongs to group o / (oc/groups) and reads input channels
 *   [g*cg, (g+1)*cg) (PyTorch's grouping, so depthwise with multiplier k maps input
 *   channel ci to outputs ci*k .. ci*k+k-1).
 *
 * Paths, chosen by shape:
 *  - depthwise fast path (dwf: groups == c == oc, undilated, kernels up to 8x8, strides
 *    1-2; portable): strips of 7 or 8 output pixels x 16 channels, each input vector
 *    loaded once per kernel row and fed to every output of the strip it covers, one
 *    kernel row's weights in registers, padding skipped (never copied). Backward: dW/db
 *    per thread over contiguous row ranges with a kernel row's accumulators in
 *    registers; dx of stride 1 is the forward strips on dy with the flipped kernel.
 *    Details at the dwf section.
 *  - direct (the other cg == 1 shapes: channel multiplier > 1, dilation, single-channel
 *    input such as the first layer on grayscale images): loops over output pixels
 *    vectorized over the contiguous channel axis, 3x3 and 5x5 unrolled.
 *  - Winograd F(2x2,3x3) (AVX-512 builds; 3x3 stride 1, undilated, ungrouped, channels
 *    multiples of 16 up to 256x256, >= 256 output tiles; with packed weights any tile
 *    count >= 4 and up to 512x512): 16 multiplies per 4 outputs instead of 36, forward,
 *    dx and dW. Details at the Winograd section.
 *  - pk, "implicit GEMM" (AVX-512 builds, every other shape, 1x1 included): a
 *    register-tiled micro-kernel reads x through one pointer per (tap, pixel), so there
 *    is no im2col copy (pointwise: pixel p reads pixel p; thin inputs such as RGB stems:
 *    one pointer per kernel row, whose kw*c floats are contiguous); taps that read only
 *    padding for a whole tile are skipped. dx of stride-1 convolutions is the same kernel
 *    run on dy with flipped weights; dW has its own kernel reducing over bands of rows
 *    that may span images. Details at the pk section.
 *  - im2col + GEMM (portable builds; in AVX-512 builds only dx of strided convolutions
 *    and dW of inputs with < 16 channels per group): a column row is one output pixel,
 *    its columns [group][kh][kw][cg] match the OHWI weight, so per group y = col * W^T,
 *    dW = dy^T * col, dcol = dy * W, dx = col2im(dcol); 1x1 stride-1 unpadded
 *    convolutions use the NHWC input itself as the column matrix. Rows go in chunks
 *    of conv_chunk_rows() (a function of the shape only), so the scratch is bounded.
 *
 * Weights: tx_conv2d_forward repacks w into the path's layout on every call (training:
 * the weights change every step); inference packs once with tx_conv2d_pack and calls
 * tx_conv2d_forward_packed (at batch 1 the repacking cost more than the arithmetic).
 * Every forward path applies bias and the fused activation (s->act) in registers
 * before the store.
 *
 * Threading: OpenMP. Every output element is summed in a fixed order whichever thread
 * computes it, so results are bit-identical run to run for a fixed thread count.
 * Work items whose result does not depend on the thread that runs them (output tiles,
 * rows, per-item partial sums) are handed out dynamically, so a core that is busy with
 * something else (the data loader, another process) does not hold the others up; the
 * dW partial sums per thread use static image ranges and are added in thread order.
 * GEMMs inside parallel regions run on the calling thread (OpenBLAS's OpenMP build
 * detects that).
 *
 * The *_ref twins are the definition: plain loops accumulating in double.
 */
#include "ops/ops.h"
#include "ops/vmath.h"

#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
static int omp_max_threads(void) { return omp_get_max_threads(); }
static int omp_tid(void) { return omp_get_thread_num(); }
static int omp_nth(void) { return omp_get_num_threads(); }
#else
static int omp_max_threads(void) { return 1; }
static int omp_tid(void) { return 0; }
static int omp_nth(void) { return 1; }
#endif

/* 16-float vectors (GCC/Clang vector extension): one AVX-512 register, or two AVX ones. */
typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* Per-thread column buffer budget (floats) of the im2col path; least rows per chunk. */
enum { COL_BUDGET = 1 << 18, CHUNK_ROWS_MIN = 64 };

static int64_t imin64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- shapes ----------------------------------------------------------------- */

int tx_conv_shape_init(tx_conv_shape *s, tx_err *err) {
    struct { const char *name; int v, min; } f[] = {
        {"n", s->n, 1},       {"h", s->h, 1},         {"w", s->w, 1},
        {"c", s->c, 1},       {"oc", s->oc, 1},       {"kh", s->kh, 1},
        {"kw", s->kw, 1},     {"sh", s->sh, 1},       {"sw", s->sw, 1},
        {"dh", s->dh, 1},     {"dw", s->dw, 1},       {"groups", s->groups, 1},
        {"pad_t", s->pad_t, 0}, {"pad_l", s->pad_l, 0}, {"pad_b", s->pad_b, 0},
        {"pad_r", s->pad_r, 0}, {"oh", s->oh, 0},     {"ow", s->ow, 0},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].v < f[i].min)
            return tx_err_set(err, TX_ESHAPE, "conv2d: field '%s' is %d, must be >= %d",
                              f[i].name, f[i].v, f[i].min);
    if (s->act < 0 || s->act > 5)
        return tx_err_set(err, TX_ESHAPE,
                          "conv2d: field 'act' is %d, must be 0 (none), 1 (relu), "
                          "2 (clamp to [-1, 1]), 3 (relu6), 4 (silu) or 5 (gelu)",
                          s->act);
    if (s->c % s->groups)
        return tx_err_set(err, TX_ESHAPE,
                          "conv2d: input channels c=%d not divisible by groups=%d", s->c,
                          s->groups);
    if (s->oc % s->groups)
        return tx_err_set(err, TX_ESHAPE,
                          "conv2d: output channels oc=%d not divisible by groups=%d", s->oc,
                          s->groups);
    /* Keep every index product well inside int64 and kernel extents inside int. */
    const int64_t big = (int64_t)1 << 40;
    int64_t ekh = (int64_t)s->dh * (s->kh - 1) + 1, ekw = (int64_t)s->dw * (s->kw - 1) + 1;
    if (ekh > (1 << 24) || ekw > (1 << 24) || (int64_t)s->h + s->pad_t + s->pad_b > (1 << 30) ||
        (int64_t)s->w + s->pad_l + s->pad_r > (1 << 30))
        return tx_err_set(err, TX_ESHAPE, "conv2d: kernel or padded input too large");
    if ((int64_t)s->n * s->h * s->w > big / s->c ||
        (int64_t)s->kh * s->kw * (s->c / s->groups) > (1 << 28) ||
        (int64_t)s->oc * s->kh * s->kw > (1 << 30))
        return tx_err_set(err, TX_ESHAPE, "conv2d: tensor sizes too large");

    const int dims[2][6] = {{s->h, s->pad_t, s->pad_b, (int)ekh, s->sh, s->oh},
                            {s->w, s->pad_l, s->pad_r, (int)ekw, s->sw, s->ow}};
    const char *names[2] = {"oh", "ow"};
    int out[2];
    for (int d = 0; d < 2; d++) {
        int64_t in = dims[d][0], lead = dims[d][1], trail = dims[d][2], ek = dims[d][3],
                st = dims[d][4], o = dims[d][5];
        int64_t span = in + lead + trail - ek;
        if (o == 0) {
            if (span < 0)
                return tx_err_set(err, TX_ESHAPE,
                                  "conv2d: kernel extent %lld exceeds padded input %lld (%s)",
                                  (long long)ek, (long long)(in + lead + trail), names[d]);
            o = span / st + 1;
        } else if (trail != 0) {
            if (span < 0 || span / st + 1 != o)
                return tx_err_set(err, TX_ESHAPE,
                                  "conv2d: %s=%lld does not match the padding (expected %lld)",
                                  names[d], (long long)o,
                                  span < 0 ? 0LL : (long long)(span / st + 1));
        } else {
            /* oh given, trailing padding implied: may drop up to stride-1 input rows. */
            int64_t need = (o - 1) * st + ek - in - lead;
            if (need <= -st)
                return tx_err_set(err, TX_ESHAPE,
                                  "conv2d: %s=%lld leaves input unused (too small)", names[d],
                                  (long long)o);
            if (need > (1 << 24))
                return tx_err_set(err, TX_ESHAPE, "conv2d: %s=%lld too large for the input",
                                  names[d], (long long)o);
            if (need > 0) {
                if (d == 0) s->pad_b = (int)need;
                else s->pad_r = (int)need;
            }
        }
        out[d] = (int)o;
    }
    s->oh = out[0];
    s->ow = out[1];
    if (s->threads <= 0) s->threads = omp_max_threads();
    if (s->threads > 1024)
        return tx_err_set(err, TX_ESHAPE, "conv2d: field 'threads' is %d, at most 1024",
                          s->threads);
    if ((int64_t)s->n * s->oh * s->ow > big / s->oc)
        return tx_err_set(err, TX_ESHAPE, "conv2d: output too large");
    return TX_OK;
}

static int is_direct(const tx_conv_shape *s) { return s->c == s->groups; }
static int is_pointwise(const tx_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pad_t == 0 &&
           s->pad_l == 0 && s->oh == s->h && s->ow == s->w;
}

/* Threads the kernels may use: never more than the scratch was sized for. */
static int slot_threads(const tx_conv_shape *s) {
    if (s->threads > 0) return s->threads;
    int t = omp_max_threads();
    return t > 0 ? t : 1;
}
/* Multiply-adds below which a forward runs on the calling thread: waking a sleeping
 * worker (OMP_WAIT_POLICY=PASSIVE, or a worker whose spin ran out) costs ~10-20 us, the
 * time one core needs for this much work (the squeeze-excitation convs on 1x1 maps, 7x7
 * maps at batch 1). Results do not depend on the thread count. */
#define CONV_PAR_MIN_MACS 200000

static int kernel_threads(const tx_conv_shape *s) {
    int t = omp_max_threads(), cap = slot_threads(s);
    int k = t < cap ? (t > 0 ? t : 1) : cap;
    const int64_t macs = (int64_t)s->n * s->oh * s->ow * s->oc * s->kh * s->kw * (s->c / s->groups);
    return macs < CONV_PAR_MIN_MACS ? 1 : k;
}

/* Rows (output pixels) per thread's im2col chunk: a function of the shape only. */
static int64_t conv_chunk_rows(const tx_conv_shape *s) {
    int64_t rows = (int64_t)s->n * s->oh * s->ow;
    int64_t kc = (int64_t)s->kh * s->kw * s->c;
    int64_t r = imax64(COL_BUDGET / kc, CHUNK_ROWS_MIN);
    return imin64(r, rows);
}

/* ---- helpers ------------------------------------------------------------------ */

/* db[o] = sum over rows of dy[r, o]; parallel over channel blocks (call inside a
 * parallel region). Each column is summed in row order. */
static void colsum_rows(float *db, const float *dy, int64_t rows, int oc) {
    int64_t nb = (oc + 15) / 16;
#pragma omp for schedule(static)
    for (int64_t bi = 0; bi < nb; bi++) {
        int o0 = (int)bi * 16, cnt = oc - o0 < 16 ? oc - o0 : 16;
        float acc[16] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *d = dy + r * oc + o0;
#pragma omp simd
            for (int j = 0; j < cnt; j++) acc[j] += d[j];
        }
        memcpy(db + o0, acc, (size_t)cnt * sizeof *acc);
    }
}

#if !defined(__AVX512F__)
static void add_bias_rows(float *y, const float *b, int64_t m, int oc) {
    for (int64_t r = 0; r < m; r++) {
        float *yr = y + r * oc;
#pragma omp simd
        for (int o = 0; o < oc; o++) yr[o] += b[o];
    }
}
#endif

/* Column rows for output pixels [p0, p0+m); row layout [group][kh][kw][cg]. */
static void im2col(float *col, const float *x, const tx_conv_shape *s, int64_t p0, int64_t m) {
    const int cg = s->c / s->groups, G = s->groups, c = s->c;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G;
    int64_t ox = p0 % s->ow, t = p0 / s->ow;
    int64_t oy = t % s->oh, n = t / s->oh;
    for (int64_t r = 0; r < m; r++) {
        float *dst = col + r * Kc;
        const float *xn = x + n * s->h * s->w * c;
        int64_t iw0 = ox * s->sw - s->pad_l;
        /* valid kj range: 0 <= iw0 + kj*dw < w */
        int kj_lo = 0, kj_hi = s->kw;
        while (kj_lo < kj_hi && iw0 + (int64_t)kj_lo * s->dw < 0) kj_lo++;
        while (kj_hi > kj_lo && iw0 + (int64_t)(kj_hi - 1) * s->dw >= s->w) kj_hi--;
        for (int ki = 0; ki < s->kh; ki++) {
            int64_t ih = oy * s->sh - s->pad_t + (int64_t)ki * s->dh;
            float *dk = dst + (int64_t)ki * s->kw * cg;
            if (ih < 0 || ih >= s->h) {
                for (int g = 0; g < G; g++)
                    memset(dk + g * Kg, 0, (size_t)s->kw * cg * sizeof(float));
                continue;
            }
            const float *xr = xn + ih * s->w * c;
            for (int g = 0; g < G; g++) {
                float *d = dk + g * Kg;
                if (kj_lo > 0) memset(d, 0, (size_t)kj_lo * cg * sizeof(float));
                if (kj_hi < s->kw)
                    memset(d + (int64_t)kj_hi * cg, 0,
                           (size_t)(s->kw - kj_hi) * cg * sizeof(float));
                if (kj_hi <= kj_lo) continue;
                if (G == 1 && s->dw == 1) {
                    memcpy(d + (int64_t)kj_lo * cg, xr + (iw0 + kj_lo) * c,
                           (size_t)(kj_hi - kj_lo) * c * sizeof(float));
                } else {
                    for (int kj = kj_lo; kj < kj_hi; kj++)
                        memcpy(d + (int64_t)kj * cg,
                               xr + (iw0 + (int64_t)kj * s->dw) * c + (int64_t)g * cg,
                               (size_t)cg * sizeof(float));
                }
            }
        }
        if (++ox == s->ow) {
            ox = 0;
            if (++oy == s->oh) {
                oy = 0;
                n++;
            }
        }
    }
}

/* dx[n, ih, :, :] += contributions of the chunk's column gradient rows [c0, c0+m). */
static void col2im_row(float *dx, const float *dcol, const tx_conv_shape *s, int64_t c0,
                       int64_t m, int64_t n, int64_t ih) {
    const int cg = s->c / s->groups, G = s->groups, c = s->c;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G;
    float *drow = dx + (n * s->h + ih) * s->w * c;
    for (int ki = 0; ki < s->kh; ki++) {
        int64_t t = ih + s->pad_t - (int64_t)ki * s->dh;
        if (t < 0 || t % s->sh) continue;
        int64_t oy = t / s->sh;
        if (oy >= s->oh) continue;
        int64_t rowbase = (n * s->oh + oy) * s->ow;
        int64_t oxlo = imax64(0, c0 - rowbase), oxhi = imin64(s->ow, c0 + m - rowbase);
        for (int kj = 0; kj < s->kw; kj++) {
            int64_t off = (int64_t)kj * s->dw - s->pad_l;
            /* 0 <= ox*sw + off < w */
            int64_t lo = oxlo, hi = oxhi;
            if (off < 0) lo = imax64(lo, (-off + s->sw - 1) / s->sw);
            hi = imin64(hi, (s->w - off + s->sw - 1) / s->sw);
            const int64_t tap = ((int64_t)ki * s->kw + kj) * cg;
            for (int64_t ox = lo; ox < hi; ox++) {
                float *d = drow + (ox * s->sw + off) * c;
                const float *sp = dcol + (rowbase + ox - c0) * Kc + tap;
                for (int g = 0; g < G; g++) {
                    float *dg = d + (int64_t)g * cg;
                    const float *sg = sp + g * Kg;
#pragma omp simd
                    for (int j = 0; j < cg; j++) dg[j] += sg[j];
                }
            }
        }
    }
}

/* ---- direct path (cg == 1) ------------------------------------------------------ */

/* Shape fields as locals (64-bit where they enter index arithmetic). */
typedef struct {
    int64_t h, w, c, oc, oh, ow;
    int kh, kw, sh, sw, pt, pl, dh, dw, mult;
    float *rowsum; /* tx_conv_shape.rowsum (the depthwise fast path fills it) */
} geo;

static geo make_geo(const tx_conv_shape *s) {
    return (geo){.h = s->h, .w = s->w, .c = s->c, .oc = s->oc, .oh = s->oh, .ow = s->ow,
                 .kh = s->kh, .kw = s->kw, .sh = s->sh, .sw = s->sw, .pt = s->pad_t,
                 .pl = s->pad_l, .dh = s->dh, .dw = s->dw, .mult = s->oc / s->c,
                 .rowsum = s->rowsum};
}

/* Helpers as macros: passing 16-float vectors by value has an ABI of its own when the
 * build has no AVX-512, and compilers warn about it. */
#define v16_load(p) (*(const v16 *)(p))
#define v16_store(p, v) (*(v16 *)(p) = (v))
#define v16_splat(a) v16_bcast_((float)(a))
#define v16_bcast_(t) ((v16){t, t, t, t, t, t, t, t, t, t, t, t, t, t, t, t})
/* a*b + c fused: ISO C mode (-std=c17) keeps GCC from contracting a*b+c by itself,
 * which would halve the arithmetic rate; with AVX-512 the intrinsic says it. */
#if defined(__AVX512F__)
#define v16_fma(a, b, c) ((v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#else
#define v16_fma(a, b, c) ((a) * (b) + (c))
#endif

/* ---- fused activation (tx_conv_shape.act) ---------------------------------------------
 * The clamps (relu, relu6, [-1, 1]) bound lo <= y <= hi in registers; NaN stays NaN (the
 * comparisons are false, and AVX-512's max/min return their second operand when one is
 * NaN). With AVX-512, SiLU runs on the accumulators before they are stored (the packed and
 * depthwise kernels); GELU, and SiLU in the portable build, run over each output tile
 * right after it is stored, while it is in L1. Both with vmath.h's functions: the same
 * bits as act.c's separate passes. */
typedef struct {
    int on;     /* clamp */
    float lo, hi;
    int fn;     /* 0, or TX_ACT_SILU (4) / TX_ACT_GELU (5) */
} act_clamp;

static act_clamp act_of(int act) {
    switch (act) {
    case 1: return (act_clamp){1, 0.0f, __builtin_inff(), 0};
    case 2: return (act_clamp){1, -1.0f, 1.0f, 0};
    case 3: return (act_clamp){1, 0.0f, 6.0f, 0};
    case 4: case 5: return (act_clamp){0, 0.0f, 0.0f, act};
    default: return (act_clamp){0, 0.0f, 0.0f, 0};
    }
}

/* The function part on rows x cols floats at y (row stride ld). */
static void act_tile(float *y, int64_t ld, int64_t rows, int64_t cols, int fn) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ld;
        if (fn == 4) tx_vsilu_row(yr, yr, cols);
        else tx_vgelu_row(yr, yr, cols);
    }
}

/* The residual epilogue (tx_conv_shape.res) on a tile whose bias is in and whose
 * activation is not: y += res (the same layout), then the activation. */
static void res_tile(float *y, const float *res, int64_t ld, int64_t rows, int64_t cols,
                     act_clamp a) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ld;
        const float *rr = res + r * ld;
        const float lo = a.lo, hi = a.hi;
        if (a.on) {
#pragma omp simd
            for (int64_t i = 0; i < cols; i++) {
                float v = yr[i] + rr[i];
                v = v < lo ? lo : v;
                yr[i] = v > hi ? hi : v;
            }
        } else {
#pragma omp simd
            for (int64_t i = 0; i < cols; i++) yr[i] += rr[i];
        }
    }
    if (a.fn) act_tile(y, ld, rows, cols, a.fn);
}

/* y[0..n) activated in place. */
static void act_inplace(float *y, int64_t n, act_clamp a) {
    if (a.fn) act_tile(y, n, 1, n, a.fn);
    if (!a.on) return;
    const float lo = a.lo, hi = a.hi;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = y[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

#if defined(__AVX512F__)
static inline __m512 act512(__m512 v, __m512 lo, __m512 hi) {
    return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}
#endif

/* Taps [lo, hi) of a window starting at input index i0 (dilation d, k taps) that land
 * inside [0, n). */
static inline void tap_range(int64_t i0, int d, int k, int64_t n, int *lo, int *hi) {
    int64_t l = i0 < 0 ? (-i0 + d - 1) / d : 0;
    int64_t h = n - i0 <= 0 ? 0 : (n - i0 + d - 1) / d;
    if (h > k) h = k;
    if (l > h) l = h;
    *lo = (int)l;
    *hi = (int)h;
}

/* wt[tap][o] = w[o][tap] */
static void transpose_taps(float *wt, const float *w, int64_t oc, int taps) {
    for (int64_t o = 0; o < oc; o++)
        for (int k = 0; k < taps; k++) wt[k * oc + o] = w[o * taps + k];
}

enum { REG_TAPS = 25 }; /* kernels up to 5x5 keep their 16-lane taps in registers */

/* Output columns [lo, hi) whose whole window (KW taps) lies inside [0, w). */
static inline void interior_cols(int64_t ow, int64_t w, int sw, int64_t pl, int dw, int KW,
                                 int64_t *lo, int64_t *hi) {
    int64_t l = pl > 0 ? (pl + sw - 1) / sw : 0;
    int64_t num = w - 1 + pl - (int64_t)(KW - 1) * dw;
    int64_t h = num < 0 ? 0 : num / sw + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* One output pixel of dfwd_row16 whose window may leave the input (taps clipped). */
static inline __attribute__((always_inline)) void
dfwd_px_edge(const geo *g, const float *xn, const float *wt, float *yp, const float *bias,
             int64_t ih0, int ki_lo, int ki_hi, int64_t ox, int64_t xo, int64_t o0, int vec,
             const int KW) {
    v16 acc = bias ? v16_load(bias) : (v16){0};
    const int64_t iw0 = ox * g->sw - g->pl;
    int kj_lo, kj_hi;
    tap_range(iw0, g->dw, KW, g->w, &kj_lo, &kj_hi);
    for (int ki = ki_lo; ki < ki_hi; ki++) {
        const float *xr = xn + ((ih0 + (int64_t)ki * g->dh) * g->w + iw0) * g->c + xo;
        for (int kj = kj_lo; kj < kj_hi; kj++) {
            const float *xp = xr + (int64_t)kj * g->dw * g->c;
            acc = v16_fma(vec ? v16_load(xp) : v16_splat(*xp),
                          v16_load(wt + (int64_t)(ki * KW + kj) * g->oc + o0), acc);
        }
    }
    v16_store(yp, acc);
}

/* One output row (n, oy), output channels o0..o0+15: each reads x channel o0+lane
 * (mult == 1) or o0/mult broadcast (mult a multiple of 16). KH/KW are compile-time
 * constants in the specialized calls, so interior pixels run fully unrolled with the
 * taps' weights in registers. */
static inline __attribute__((always_inline)) void
dfwd_row16(const geo *g, float *yrow, const float *xn, const float *wt, const float *b,
           int64_t oy, int64_t o0, const int KH, const int KW) {
    const int64_t c = g->c, oc = g->oc;
    const int vec = g->mult == 1, reg = KH * KW <= REG_TAPS;
    const int64_t xo = vec ? o0 : o0 / g->mult;
    const int64_t ih0 = oy * g->sh - g->pt;
    int ki_lo, ki_hi;
    tap_range(ih0, g->dh, KH, g->h, &ki_lo, &ki_hi);
    int64_t ilo = g->ow, ihi = g->ow;
    if (reg && ki_lo == 0 && ki_hi == KH)
        interior_cols(g->ow, g->w, g->sw, g->pl, g->dw, KW, &ilo, &ihi);
    v16 wr[REG_TAPS];
    if (reg)
        for (int k = 0; k < KH * KW; k++) wr[k] = v16_load(wt + k * oc + o0);
    const v16 bias = b ? v16_load(b + o0) : (v16){0};
    const float *bp = b ? b + o0 : NULL;
    for (int64_t ox = 0; ox < ilo; ox++)
        dfwd_px_edge(g, xn, wt, yrow + ox * oc + o0, bp, ih0, ki_lo, ki_hi, ox, xo, o0, vec, KW);
    for (int64_t ox = ilo; ox < ihi; ox++) {
        const float *xr = xn + (ih0 * g->w + ox * g->sw - g->pl) * c + xo;
        v16 acc = bias;
#pragma GCC unroll 5
        for (int ki = 0; ki < KH; ki++)
#pragma GCC unroll 5
            for (int kj = 0; kj < KW; kj++) {
                const float *xp = xr + ((int64_t)ki * g->dh * g->w + (int64_t)kj * g->dw) * c;
                acc = v16_fma(vec ? v16_load(xp) : v16_splat(*xp), wr[ki * KW + kj], acc);
            }
        v16_store(yrow + ox * oc + o0, acc);
    }
    for (int64_t ox = ihi; ox < g->ow; ox++)
        dfwd_px_edge(g, xn, wt, yrow + ox * oc + o0, bp, ih0, ki_lo, ki_hi, ox, xo, o0, vec, KW);
}

/* Same row, any channel multiplier, output channels [o_beg, o_end): plain loops. */
static void dfwd_row_scalar(const geo *g, float *yrow, const float *xn, const float *wt,
                            const float *b, int64_t oy, int64_t o_beg, int64_t o_end) {
    const int64_t c = g->c, oc = g->oc;
    const int64_t ih0 = oy * g->sh - g->pt;
    int ki_lo, ki_hi;
    tap_range(ih0, g->dh, g->kh, g->h, &ki_lo, &ki_hi);
    for (int64_t ox = 0; ox < g->ow; ox++) {
        const int64_t iw0 = ox * g->sw - g->pl;
        int kj_lo, kj_hi;
        tap_range(iw0, g->dw, g->kw, g->w, &kj_lo, &kj_hi);
        for (int64_t o = o_beg; o < o_end; o++) {
            float acc = b ? b[o] : 0.0f;
            for (int ki = ki_lo; ki < ki_hi; ki++)
                for (int kj = kj_lo; kj < kj_hi; kj++)
                    acc += xn[((ih0 + (int64_t)ki * g->dh) * g->w + iw0 + (int64_t)kj * g->dw) * c +
                              o / g->mult] *
                           wt[(int64_t)(ki * g->kw + kj) * oc + o];
            yrow[ox * oc + o] = acc;
        }
    }
}

/* wt: the weights as transpose_taps leaves them ([tap][oc]). */
static void direct_run(float *y, const float *x, const float *wt, const float *b,
                       const tx_conv_shape *s) {
    const geo g = make_geo(s);
    /* channels handled 16 at a time; the rest by the scalar loop */
    const int64_t o_vec = (g.mult == 1 || g.mult % 16 == 0) ? g.oc / 16 * 16 : 0;
    const int64_t orows = (int64_t)s->n * g.oh;
#pragma omp parallel for schedule(dynamic, 4) num_threads(kernel_threads(s))
    for (int64_t nr = 0; nr < orows; nr++) {
        const int64_t n = nr / g.oh, oy = nr % g.oh;
        const float *xn = x + n * g.h * g.w * g.c;
        float *yrow = y + nr * g.ow * g.oc;
        for (int64_t o0 = 0; o0 < o_vec; o0 += 16) {
            if (g.kh == 3 && g.kw == 3) dfwd_row16(&g, yrow, xn, wt, b, oy, o0, 3, 3);
            else if (g.kh == 5 && g.kw == 5) dfwd_row16(&g, yrow, xn, wt, b, oy, o0, 5, 5);
            else dfwd_row16(&g, yrow, xn, wt, b, oy, o0, g.kh, g.kw);
        }
        if (o_vec < g.oc) dfwd_row_scalar(&g, yrow, xn, wt, b, oy, o_vec, g.oc);
        act_inplace(yrow, g.ow * g.oc, act_of(s->act));
    }
}

static int dwf_ok(const tx_conv_shape *s);
static int64_t dwf_ocp(const tx_conv_shape *s);
static void dwf_pack(float *wt, const float *w, const tx_conv_shape *s);
static void dwf_run(float *y, const float *x, const float *wt, const float *b,
                    const tx_conv_shape *s);

static void direct_forward(float *y, const float *x, const float *w, const float *b,
                           const tx_conv_shape *s, float *scratch) {
    if (dwf_ok(s)) {
        dwf_pack(scratch, w, s);
        dwf_run(y, x, scratch, b, s);
        return;
    }
    transpose_taps(scratch, w, s->oc, s->kh * s->kw);
    direct_run(y, x, scratch, b, s);
}

/* ---- depthwise fast path (multiplier 1, undilated) -----------------------------------
 *
 * Work item: (image, output row, group of 16-channel blocks). A row runs in strips of R
 * output pixels: per kernel row the strip's (R-1)*SW + KW input vectors are loaded once,
 * each feeding the accumulators of the outputs whose window covers it. Strips whose
 * window lies inside the input read x directly; the strips at the left and right edges
 * (and every strip of a channel tail) read a small zero-padded copy of their window on
 * the stack; kernel rows above or below the input are skipped. Weights [tap][ocp]
 * (channels padded to 16 with zeros), bias and activation in registers. Every output is
 * summed in tap order whichever thread computes it. */

enum { DWF_MAX_K = 8, DWF_MAX_S = 2, DWF_R = 8 };
enum { DWF_PATCH_COLS = (DWF_R - 1) * DWF_MAX_S + DWF_MAX_K };

typedef int vi16 __attribute__((vector_size(64), aligned(4)));
/* v = min(max(v, lo), hi) in place, NaN kept (a macro: see v16_load) */
#define V16_CLAMP(v, lo, hi)                                                   \
    do {                                                                       \
        vi16 m_ = (v) < (lo);                                                  \
        (v) = (v16)(((vi16)(v) & ~m_) | ((vi16)(lo) & m_));                    \
        m_ = (v) > (hi);                                                       \
        (v) = (v16)(((vi16)(v) & ~m_) | ((vi16)(hi) & m_));                    \
    } while (0)

static int dwf_ok(const tx_conv_shape *s) {
    return s->groups == s->c && s->oc == s->c && s->dh == 1 && s->dw == 1 &&
           s->kh <= DWF_MAX_K && s->kw <= DWF_MAX_K && s->sw <= DWF_MAX_S;
}
static int64_t dwf_ocp(const tx_conv_shape *s) { return ((int64_t)s->oc + 15) / 16 * 16; }

int tx_conv2d_rowsum_ok(const tx_conv_shape *s) { return dwf_ok(s) && !s->res; }

/* wt[tap][ocp] = w[o][tap], zeros in the padding channels. */
static void dwf_pack(float *wt, const float *w, const tx_conv_shape *s) {
    const int taps = s->kh * s->kw;
    const int64_t ocp = dwf_ocp(s);
    for (int k = 0; k < taps; k++)
        for (int64_t o = 0; o < ocp; o++) wt[k * ocp + o] = o < s->oc ? w[o * taps + k] : 0.0f;
}

/* rs[0..cnt) += the m outputs of a strip (rows of yp, oc apart), in row order. */
static inline void rowsum_add(float *rs, const float *yp, int64_t oc, int m, int cnt) {
    if (cnt == 16) {
        v16 a = v16_load(rs);
        for (int r = 0; r < m; r++) a += v16_load(yp + r * oc);
        v16_store(rs, a);
        return;
    }
    for (int j = 0; j < cnt; j++)
        for (int r = 0; r < m; r++) rs[j] += yp[r * oc + j];
}

/* m (<= R) outputs of one strip, 16 channels: input vector (ki, j) at
 * xs + (ki - ki_lo) * rs + (j + j0) * ps for ki in [ki_lo, ki_hi), j in [jlo, jhi); the
 * vectors outside those ranges are padding (zeros: their products are skipped). sum16
 * (or NULL): the row sums the outputs are added to (tx_conv_shape.rowsum). */
static inline __attribute__((always_inline)) void
dwf_strip(float *yp, int64_t oc, const float *xs, int64_t rs, int64_t ps, int64_t j0,
          int ki_lo, int ki_hi, int jlo, int jhi, const float *wb, int64_t ocp,
          const float *bias16, act_clamp act, int m, int cnt, float *sum16, const int KH,
          const int KW, const int SW, const int R, const int EDGE) {
    v16 acc[DWF_R];
    const v16 bv = v16_load(bias16);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = bv;
#pragma GCC unroll 8
    for (int ki = 0; ki < KH; ki++) {
        if (ki < ki_lo || ki >= ki_hi) continue;
        const float *xr = xs + (ki - ki_lo) * rs;
        const float *wk = wb + ki * KW * ocp;
        /* the kernel row's weights in registers (named: arrays would stay in memory) */
        const v16 z = {0};
        const v16 w0 = v16_load(wk), w1 = KW > 1 ? v16_load(wk + ocp) : z,
                  w2 = KW > 2 ? v16_load(wk + 2 * ocp) : z, w3 = KW > 3 ? v16_load(wk + 3 * ocp) : z,
                  w4 = KW > 4 ? v16_load(wk + 4 * ocp) : z, w5 = KW > 5 ? v16_load(wk + 5 * ocp) : z,
                  w6 = KW > 6 ? v16_load(wk + 6 * ocp) : z, w7 = KW > 7 ? v16_load(wk + 7 * ocp) : z;
#pragma GCC unroll 32
        for (int j = 0; j < (R - 1) * SW + KW; j++) {
            if (EDGE && (j < jlo || j >= jhi)) continue;
            const v16 xv = v16_load(xr + (j + j0) * ps);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const int kj = j - r * SW;
                if (kj >= 0 && kj < KW)
                    acc[r] = v16_fma(xv,
                                     kj == 0 ? w0 : kj == 1 ? w1 : kj == 2 ? w2 : kj == 3 ? w3
                                     : kj == 4 ? w4 : kj == 5 ? w5 : kj == 6 ? w6 : w7,
                                     acc[r]);
            }
        }
    }
    if (act.on) {
        const v16 lo = v16_splat(act.lo), hi = v16_splat(act.hi);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) V16_CLAMP(acc[r], lo, hi);
    }
#if defined(__AVX512F__)
    if (act.fn == 4) { /* silu in registers: the bits of act_tile's pass */
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) acc[r] = (v16)tx_v16_silu((__m512)acc[r]);
        act.fn = 0;
    }
#endif
    /* sum16[0..cnt) += the outputs in row order: from the registers when no pass follows
     * the store (adding the stored outputs back stalls on store forwarding: it took a third
     * of the kernel's time), else rowsum_add after the pass; the same bits either way */
    if (sum16 && cnt == 16 && !act.fn) {
        v16 a = v16_load(sum16);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            if (r < m) a += acc[r];
        v16_store(sum16, a);
        sum16 = NULL;
    }
    if (cnt == 16 && m == R) {
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) v16_store(yp + r * oc, acc[r]);
    } else {
        float t[DWF_R][16];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) v16_store(t[r], acc[r]);
        for (int r = 0; r < m; r++) memcpy(yp + r * oc, t[r], (size_t)cnt * sizeof(float));
    }
    if (act.fn) act_tile(yp, oc, m, cnt, act.fn);
    if (sum16) rowsum_add(sum16, yp, oc, m, cnt);
}

/* Output row oy of image n, channel blocks [b0, b1) (and their sums, g->rowsum). */
static inline __attribute__((always_inline)) void
dwf_row(float *y, const float *x, const float *wt, const float *b, const geo *g,
        act_clamp act, int64_t n, int64_t oy, int64_t b0, int64_t b1, const int KH,
        const int KW, const int SW, const int R) {
    const int64_t c = g->c, w = g->w, ocp = (g->oc + 15) / 16 * 16;
    const int64_t ih0 = oy * g->sh - g->pt, cols = (R - 1) * SW + KW;
    int ki_lo, ki_hi;
    tap_range(ih0, 1, KH, g->h, &ki_lo, &ki_hi);
    if (ki_lo >= ki_hi) ki_lo = ki_hi = 0; /* window entirely in the padding: bias only */
    const float *xn = x + n * g->h * w * c;
    float *yrow = y + (n * g->oh + oy) * g->ow * g->oc;
    float *rs = g->rowsum ? g->rowsum + (n * g->oh + oy) * g->oc : NULL;
    if (rs) memset(rs + b0 * 16, 0, (size_t)(imin64(g->oc, b1 * 16) - b0 * 16) * sizeof(float));
    float patch[DWF_MAX_K * DWF_PATCH_COLS * 16];
    /* strips outer, channel blocks inner: x and y are walked pixel by pixel, every cache
     * line of a pixel in turn (sequential streams the prefetcher follows; channel blocks
     * outer would stride through memory one line per pixel) */
    for (int64_t ox0 = 0; ox0 < g->ow; ox0 += R) {
        const int m = (int)imin64(R, g->ow - ox0);
        const int64_t iw0 = ox0 * SW - g->pl;
        for (int64_t bi = b0; bi < b1; bi++) {
            const int64_t c0 = bi * 16;
            const int cnt = (int)imin64(16, c - c0);
            float bias16[16] = {0};
            if (b) memcpy(bias16, b + c0, (size_t)cnt * sizeof(float));
            const float *wb = wt + c0;
            float *yp = yrow + ox0 * g->oc + c0;
            if (cnt == 16) {
                /* columns j with 0 <= iw0 + j < w */
                const int jlo = iw0 < 0 ? (int)-iw0 : 0;
                const int jhi = (int)imin64(cols, w - iw0);
                const float *xs = xn + (ih0 + ki_lo) * w * c + c0;
                float *sum16 = rs ? rs + c0 : NULL;
                if (jlo == 0 && jhi == cols)
                    dwf_strip(yp, g->oc, xs, w * c, c, iw0, ki_lo, ki_hi, 0, (int)cols, wb, ocp,
                              bias16, act, m, cnt, sum16, KH, KW, SW, R, 0);
                else
                    dwf_strip(yp, g->oc, xs, w * c, c, iw0, ki_lo, ki_hi, jlo, jhi, wb, ocp,
                              bias16, act, m, cnt, sum16, KH, KW, SW, R, 1);
                continue;
            }
            for (int ki = ki_lo; ki < ki_hi; ki++) {
                const float *xr = xn + (ih0 + ki) * w * c + c0;
                float *pr = patch + (ki - ki_lo) * cols * 16;
                for (int64_t j = 0; j < cols; j++) {
                    const int64_t iw = iw0 + j;
                    float *d = pr + j * 16;
                    if (iw < 0 || iw >= w) memset(d, 0, 16 * sizeof(float));
                    else if (cnt == 16) v16_store(d, v16_load(xr + iw * c));
                    else {
                        memcpy(d, xr + iw * c, (size_t)cnt * sizeof(float));
                        memset(d + cnt, 0, (size_t)(16 - cnt) * sizeof(float));
                    }
                }
            }
            dwf_strip(yp, g->oc, patch, cols * 16, 16, 0, ki_lo, ki_hi, 0, (int)cols, wb, ocp,
                      bias16, act, m, cnt, rs ? rs + c0 : NULL, KH, KW, SW, R, 0);
        }
    }
}

#define DWF_INST(K, S, R)                                                                  \
    static void dwf_row_##K##_##S##_##R(float *y, const float *x, const float *wt,        \
                                        const float *b, const geo *g, act_clamp act,      \
                                        int64_t n, int64_t oy, int64_t b0, int64_t b1) {  \
        dwf_row(y, x, wt, b, g, act, n, oy, b0, b1, K, K, S, R);                           \
    }
DWF_INST(3, 1, 7) DWF_INST(3, 1, 8) DWF_INST(3, 2, 7) DWF_INST(3, 2, 8)
DWF_INST(5, 1, 7) DWF_INST(5, 1, 8) DWF_INST(5, 2, 7) DWF_INST(5, 2, 8)
DWF_INST(7, 1, 7) DWF_INST(7, 1, 8) DWF_INST(7, 2, 7) DWF_INST(7, 2, 8)
#undef DWF_INST

/* Other kernel sizes and strides: the same code with runtime sizes. */
static void dwf_row_any(float *y, const float *x, const float *wt, const float *b,
                        const geo *g, act_clamp act, int64_t n, int64_t oy, int64_t b0,
                        int64_t b1) {
    dwf_row(y, x, wt, b, g, act, n, oy, b0, b1, g->kh, g->kw, g->sw, DWF_R);
}

typedef void (*dwf_fn)(float *, const float *, const float *, const float *, const geo *,
                       act_clamp, int64_t, int64_t, int64_t, int64_t);

static dwf_fn dwf_pick(const geo *g) {
    static const dwf_fn tab[3][2][2] = {
        {{dwf_row_3_1_7, dwf_row_3_1_8}, {dwf_row_3_2_7, dwf_row_3_2_8}},
        {{dwf_row_5_1_7, dwf_row_5_1_8}, {dwf_row_5_2_7, dwf_row_5_2_8}},
        {{dwf_row_7_1_7, dwf_row_7_1_8}, {dwf_row_7_2_7, dwf_row_7_2_8}},
    };
    if (g->kh != g->kw || (g->kh != 3 && g->kh != 5 && g->kh != 7) || g->sw > 2)
        return dwf_row_any;
    return tab[(g->kh - 3) / 2][g->sw - 1][g->ow % 7 == 0 ? 0 : 1];
}

/* Forward with packed weights wt[tap][ocp]. */
static void dwf_run(float *y, const float *x, const float *wt, const float *b,
                    const tx_conv_shape *s) {
    const geo g = make_geo(s);
    const dwf_fn fn = dwf_pick(&g);
    const act_clamp act = act_of(s->act);
    const int T = kernel_threads(s);
    const int64_t nblk = (g.c + 15) / 16, rows = s->n * g.oh;
    /* groups of channel blocks: enough items to share among the threads */
    int64_t ng = (8 * (int64_t)T + rows - 1) / rows;
    if (ng > nblk) ng = nblk;
    const int64_t items = rows * ng;
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it % ng, r = it / ng;
        fn(y, x, wt, b, &g, act, r / g.oh, r % g.oh, nblk * gi / ng, nblk * (gi + 1) / ng);
    }
}

/* Backward of the fast depthwise case. dW and db: each thread takes a contiguous range of
 * output rows (of all images) and sums, row by row, every channel block's taps into its
 * own partial part[tap][oc] (accumulators for one kernel row in registers, loaded and
 * stored once per row); the partials are added in thread order. dx: stride 1 is the
 * forward kernel run on dy with the flipped weights; strides > 1 use the gather below. */
static inline __attribute__((always_inline)) void
dwb_rows(const geo *g, float *part, const float *dy, const float *x, int64_t r0, int64_t r1,
         int64_t c_vec, const int KH, const int KW, const int SW) {
    const int64_t c = g->c, oc = g->oc, w = g->w;
    int64_t clo, chi;
    interior_cols(g->ow, w, SW, g->pl, 1, KW, &clo, &chi);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t n = r / g->oh, oy = r % g->oh, ih0 = oy * g->sh - g->pt;
        int ki_lo, ki_hi;
        tap_range(ih0, 1, KH, g->h, &ki_lo, &ki_hi);
        const float *xn = x + n * g->h * w * c, *dyr = dy + r * g->ow * oc;
        for (int64_t c0 = 0; c0 < c_vec; c0 += 16) {
            v16 dbv = v16_load(part + KH * KW * oc + c0);
            for (int64_t ox = 0; ox < g->ow; ox++) dbv += v16_load(dyr + ox * oc + c0);
            v16_store(part + KH * KW * oc + c0, dbv);
            for (int ki = ki_lo; ki < ki_hi; ki++) {
                const float *xr = xn + (ih0 + ki) * w * c + c0;
                float *pk = part + ki * KW * oc + c0;
                v16 a0 = v16_load(pk), a1 = KW > 1 ? v16_load(pk + oc) : a0,
                    a2 = KW > 2 ? v16_load(pk + 2 * oc) : a0, a3 = KW > 3 ? v16_load(pk + 3 * oc) : a0,
                    a4 = KW > 4 ? v16_load(pk + 4 * oc) : a0, a5 = KW > 5 ? v16_load(pk + 5 * oc) : a0,
                    a6 = KW > 6 ? v16_load(pk + 6 * oc) : a0, a7 = KW > 7 ? v16_load(pk + 7 * oc) : a0;
                for (int64_t ox = clo; ox < chi; ox++) {
                    const v16 gv = v16_load(dyr + ox * oc + c0);
                    const float *xp = xr + (ox * SW - g->pl) * c;
#define DWB_TAP(k, a) if (KW > k) a = v16_fma(v16_load(xp + k * c), gv, a)
                    DWB_TAP(0, a0); DWB_TAP(1, a1); DWB_TAP(2, a2); DWB_TAP(3, a3);
                    DWB_TAP(4, a4); DWB_TAP(5, a5); DWB_TAP(6, a6); DWB_TAP(7, a7);
#undef DWB_TAP
                }
                v16_store(pk, a0);
                if (KW > 1) v16_store(pk + oc, a1);
                if (KW > 2) v16_store(pk + 2 * oc, a2);
                if (KW > 3) v16_store(pk + 3 * oc, a3);
                if (KW > 4) v16_store(pk + 4 * oc, a4);
                if (KW > 5) v16_store(pk + 5 * oc, a5);
                if (KW > 6) v16_store(pk + 6 * oc, a6);
                if (KW > 7) v16_store(pk + 7 * oc, a7);
                /* edge columns: the taps inside the input */
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    if (ox == clo) ox = chi > clo ? chi : clo;
                    if (ox >= g->ow) break;
                    const int64_t iw0 = ox * SW - g->pl;
                    int kj_lo, kj_hi;
                    tap_range(iw0, 1, KW, w, &kj_lo, &kj_hi);
                    const v16 gv = v16_load(dyr + ox * oc + c0);
                    for (int kj = kj_lo; kj < kj_hi; kj++)
                        v16_store(pk + kj * oc, v16_fma(v16_load(xr + (iw0 + kj) * c), gv,
                                                        v16_load(pk + kj * oc)));
                }
            }
        }
    }
}

#define DWB_INST(K, S)                                                                     \
    static void dwb_rows_##K##_##S(const geo *g, float *part, const float *dy,            \
                                   const float *x, int64_t r0, int64_t r1, int64_t cv) {  \
        dwb_rows(g, part, dy, x, r0, r1, cv, K, K, S);                                     \
    }
DWB_INST(3, 1) DWB_INST(3, 2) DWB_INST(5, 1) DWB_INST(5, 2) DWB_INST(7, 1) DWB_INST(7, 2)
#undef DWB_INST
static void dwb_rows_any(const geo *g, float *part, const float *dy, const float *x,
                         int64_t r0, int64_t r1, int64_t cv) {
    dwb_rows(g, part, dy, x, r0, r1, cv, g->kh, g->kw, g->sw);
}

/* dW and db partial sums of output channels o0..o0+16*NBLK-1 (NBLK 1 or 2 blocks of 16)
 * over output rows [r0, r1): part[tap][o] (taps rows) and part[taps][o] (db). Two
 * blocks per pass halve the passes over dy, which is usually bigger than the caches.
 * Interior pixels accumulate in registers, border pixels in `edge`; the two are added
 * at the end. */
static inline __attribute__((always_inline)) void
dbwd_wblk(const geo *g, float *part, const float *dy, const float *x, int64_t r0, int64_t r1,
          int64_t o0, const int KH, const int KW, const int NBLK, int accum) {
    const int64_t c = g->c, oc = g->oc;
    const int vec = g->mult == 1, reg = KH * KW <= REG_TAPS / NBLK;
    const int64_t xo = vec ? o0 : o0 / g->mult;
    const int64_t x1 = vec ? 16 : (o0 + 16) / g->mult - xo; /* offset of block 1's input */
    const int taps = KH * KW;
    v16 acc[2][REG_TAPS], edge[2][REG_TAPS], db0 = {0}, db1 = {0};
    for (int k = 0; k < REG_TAPS; k++) acc[0][k] = acc[1][k] = edge[0][k] = edge[1][k] = (v16){0};
    float *pw = part + o0; /* row k at pw + k*oc */
    if (!reg && !accum)
        for (int k = 0; k < taps; k++)
            for (int bl = 0; bl < NBLK; bl++) v16_store(pw + k * oc + 16 * bl, (v16){0});
    int64_t clo, chi;
    interior_cols(g->ow, g->w, g->sw, g->pl, g->dw, KW, &clo, &chi);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t n = r / g->oh, oy = r % g->oh;
        const float *xn = x + n * g->h * g->w * c + xo;
        const int64_t ih0 = oy * g->sh - g->pt;
        int ki_lo, ki_hi;
        tap_range(ih0, g->dh, KH, g->h, &ki_lo, &ki_hi);
        int64_t ilo = g->ow, ihi = g->ow;
        if (reg && ki_lo == 0 && ki_hi == KH) {
            ilo = clo;
            ihi = chi;
        }
        const float *dyr = dy + r * g->ow * oc + o0;
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const v16 g0 = v16_load(dyr + ox * oc);
            const v16 g1 = NBLK == 2 ? v16_load(dyr + ox * oc + 16) : (v16){0};
            db0 += g0;
            if (NBLK == 2) db1 += g1;
            if (ox >= ilo && ox < ihi) {
                const float *xr = xn + (ih0 * g->w + ox * g->sw - g->pl) * c;
#pragma GCC unroll 5
                for (int ki = 0; ki < KH; ki++)
#pragma GCC unroll 5
                    for (int kj = 0; kj < KW; kj++) {
                        const int k = ki * KW + kj;
                        const float *xp = xr + ((int64_t)ki * g->dh * g->w + (int64_t)kj * g->dw) * c;
                        acc[0][k] = v16_fma(vec ? v16_load(xp) : v16_splat(*xp), g0, acc[0][k]);
                        if (NBLK == 2)
                            acc[1][k] = v16_fma(vec ? v16_load(xp + x1) : v16_splat(xp[x1]), g1,
                                                acc[1][k]);
                    }
                continue;
            }
            const int64_t iw0 = ox * g->sw - g->pl;
            int kj_lo, kj_hi;
            tap_range(iw0, g->dw, KW, g->w, &kj_lo, &kj_hi);
            for (int ki = ki_lo; ki < ki_hi; ki++) {
                const float *xr = xn + ((ih0 + (int64_t)ki * g->dh) * g->w + iw0) * c;
                for (int kj = kj_lo; kj < kj_hi; kj++) {
                    const int k = ki * KW + kj;
                    const float *xp = xr + (int64_t)kj * g->dw * c;
                    for (int bl = 0; bl < NBLK; bl++) {
                        const float *xb = xp + (bl ? x1 : 0);
                        v16 xv = vec ? v16_load(xb) : v16_splat(*xb), gv = bl ? g1 : g0;
                        float *pk = pw + k * oc + 16 * bl;
                        if (reg) edge[bl][k] = v16_fma(xv, gv, edge[bl][k]);
                        else v16_store(pk, v16_fma(xv, gv, v16_load(pk)));
                    }
                }
            }
        }
    }
    /* accum: add to what part holds (a previous band of rows) */
    if (reg)
        for (int k = 0; k < taps; k++)
            for (int bl = 0; bl < NBLK; bl++) {
                float *pk = pw + k * oc + 16 * bl;
                v16 v = acc[bl][k] + edge[bl][k];
                v16_store(pk, accum ? v16_load(pk) + v : v);
            }
    v16_store(pw + taps * oc, accum ? v16_load(pw + taps * oc) + db0 : db0);
    if (NBLK == 2) v16_store(pw + taps * oc + 16, accum ? v16_load(pw + taps * oc + 16) + db1 : db1);
}

/* Scalar version for the leftover channels [o_beg, o_end) and odd multipliers. */
static void dbwd_w_scalar(const geo *g, float *part, const float *dy, const float *x,
                          int64_t r0, int64_t r1, int64_t o_beg, int64_t o_end) {
    const int64_t c = g->c, oc = g->oc;
    const int taps = g->kh * g->kw;
    for (int k = 0; k <= taps; k++)
        for (int64_t o = o_beg; o < o_end; o++) part[k * oc + o] = 0.0f;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t n = r / g->oh, oy = r % g->oh;
        const float *xn = x + n * g->h * g->w * c;
        const int64_t ih0 = oy * g->sh - g->pt;
        int ki_lo, ki_hi;
        tap_range(ih0, g->dh, g->kh, g->h, &ki_lo, &ki_hi);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t iw0 = ox * g->sw - g->pl;
            int kj_lo, kj_hi;
            tap_range(iw0, g->dw, g->kw, g->w, &kj_lo, &kj_hi);
            const float *gp = dy + (r * g->ow + ox) * oc;
            for (int64_t o = o_beg; o < o_end; o++) part[taps * oc + o] += gp[o];
            for (int ki = ki_lo; ki < ki_hi; ki++)
                for (int kj = kj_lo; kj < kj_hi; kj++) {
                    const float *xp = xn + ((ih0 + (int64_t)ki * g->dh) * g->w + iw0 +
                                            (int64_t)kj * g->dw) * c;
                    float *pk = part + (int64_t)(ki * g->kw + kj) * oc;
                    for (int64_t o = o_beg; o < o_end; o++) pk[o] += xp[o / g->mult] * gp[o];
                }
        }
    }
}

enum { DX_MAX_K = 16 }; /* dbwd_x_row handles kernels up to 16 taps a side */

/* dx for one input row (n, ih), channels [0, c_vec) in 16-channel blocks (mult == 1): a
 * gather over the output pixels whose window covers each input pixel. The kernel rows
 * that reach this input row are found once per row, the kernel columns once per phase
 * iw % sw, so the pixel loops have no divisions; stride-1 interior pixels run unrolled
 * with the taps' weights in registers. */
static inline __attribute__((always_inline)) void
dbwd_x_row(const geo *g, float *dxrow, const float *dyn, const float *wt, int64_t ih,
           int64_t c_vec, const int KH, const int KW) {
    const int64_t c = g->c, ow = g->ow;
    const int reg = KH * KW <= REG_TAPS;
    /* kernel rows ki with oy = (ih + pt - ki*dh) / sh exact and inside dy */
    int kis[DX_MAX_K], nk = 0;
    int64_t oys[DX_MAX_K];
    for (int ki = 0; ki < KH; ki++) {
        int64_t t = ih + g->pt - (int64_t)ki * g->dh;
        if (t < 0 || t % g->sh || t / g->sh >= g->oh) continue;
        kis[nk] = ki;
        oys[nk++] = t / g->sh;
    }
    /* stride 1 with every kernel row inside: interior columns */
    int64_t ilo = g->w, ihi = g->w;
    if (reg && g->sh == 1 && g->sw == 1 && nk == KH) {
        /* ox = iw + pl - kj*dw must lie in [0, ow) for every kj */
        ilo = imax64(0, (int64_t)(KW - 1) * g->dw - g->pl);
        ihi = imin64(g->w, ow - g->pl);
        if (ilo > ihi) ilo = ihi;
    }
    for (int64_t c0 = 0; c0 < c_vec && ilo < ihi; c0 += 16) {
        v16 wr[REG_TAPS];
        for (int k = 0; k < KH * KW && k < REG_TAPS; k++) wr[k] = v16_load(wt + k * c + c0);
        const float *dtop = dyn + c0;
        for (int64_t iw = ilo; iw < ihi; iw++) {
            v16 acc = {0};
#pragma GCC unroll 5
            for (int ki = 0; ki < KH; ki++) {
                const float *drow = dtop + (oys[ki] * ow + iw + g->pl) * c;
#pragma GCC unroll 5
                for (int kj = 0; kj < KW; kj++)
                    acc = v16_fma(v16_load(drow - (int64_t)kj * g->dw * c), wr[ki * KW + kj], acc);
            }
            v16_store(dxrow + iw * c + c0, acc);
        }
    }
    for (int phase = 0; phase < g->sw && phase < g->w; phase++) {
        /* kernel columns kj with (phase + pl - kj*dw) divisible by sw: ox = q + off */
        int kjs[DX_MAX_K], nj = 0;
        int64_t offs[DX_MAX_K];
        for (int kj = 0; kj < KW; kj++) {
            int64_t u = phase + g->pl - (int64_t)kj * g->dw, m = ((u % g->sw) + g->sw) % g->sw;
            if (m) continue;
            kjs[nj] = kj;
            offs[nj++] = u / g->sw;
        }
        for (int64_t iw = phase, q = 0; iw < g->w; iw += g->sw, q++) {
            if (iw >= ilo && iw < ihi) continue; /* done above */
            /* the (dy pixel, weight tap) pairs that reach (ih, iw) */
            int64_t dofs[DX_MAX_K * DX_MAX_K], wofs[DX_MAX_K * DX_MAX_K];
            int np = 0;
            for (int a = 0; a < nk; a++)
                for (int j = 0; j < nj; j++) {
                    int64_t ox = q + offs[j];
                    if (ox < 0 || ox >= ow) continue;
                    dofs[np] = (oys[a] * ow + ox) * c;
                    wofs[np++] = ((int64_t)kis[a] * KW + kjs[j]) * c;
                }
            float *d = dxrow + iw * c;
            for (int64_t c0 = 0; c0 < c_vec; c0 += 16) {
                v16 acc = {0};
                for (int e = 0; e < np; e++)
                    acc = v16_fma(v16_load(dyn + dofs[e] + c0), v16_load(wt + wofs[e] + c0), acc);
                v16_store(d + c0, acc);
            }
        }
    }
}

/* dx for one input row, channels [c_beg, c_end), any multiplier. */
static void dbwd_x_scalar(const geo *g, float *dxrow, const float *dyn, const float *wt,
                          int64_t ih, int64_t c_beg, int64_t c_end) {
    const int64_t oc = g->oc;
    for (int64_t iw = 0; iw < g->w; iw++)
        for (int64_t ci = c_beg; ci < c_end; ci++) {
            float acc = 0.0f;
            for (int ki = 0; ki < g->kh; ki++) {
                int64_t t = ih + g->pt - (int64_t)ki * g->dh;
                if (t < 0 || t % g->sh) continue;
                int64_t oy = t / g->sh;
                if (oy >= g->oh) continue;
                for (int kj = 0; kj < g->kw; kj++) {
                    int64_t u = iw + g->pl - (int64_t)kj * g->dw;
                    if (u < 0 || u % g->sw) continue;
                    int64_t ox = u / g->sw;
                    if (ox >= g->ow) continue;
                    const float *gp = dyn + (oy * g->ow + ox) * oc + ci * g->mult;
                    const float *wp = wt + (int64_t)(ki * g->kw + kj) * oc + ci * g->mult;
                    for (int j = 0; j < g->mult; j++) acc += gp[j] * wp[j];
                }
            }
            dxrow[iw * g->c + ci] = acc;
        }
}

/* Backward of the fast depthwise case (dwf_ok). Scratch: flipped weights [tap][ocp], then
 * one partial [taps+1][oc] per thread. */
static void dwf_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const tx_conv_shape *s, float *scratch) {
    const geo g = make_geo(s);
    const int taps = g.kh * g.kw;
    const int64_t oc = g.oc, ocp = dwf_ocp(s), orows = (int64_t)s->n * g.oh;
    const int64_t c_vec = oc / 16 * 16, pstride = (int64_t)(taps + 1) * oc;
    float *wf = scratch, *parts = scratch + (int64_t)taps * ocp;
    void (*rows)(const geo *, float *, const float *, const float *, int64_t, int64_t,
                 int64_t) = dwb_rows_any;
    if (g.kh == g.kw && g.sw <= 2 && (g.kh == 3 || g.kh == 5 || g.kh == 7)) {
        static void (*const tab[3][2])(const geo *, float *, const float *, const float *,
                                       int64_t, int64_t, int64_t) = {
            {dwb_rows_3_1, dwb_rows_3_2}, {dwb_rows_5_1, dwb_rows_5_2}, {dwb_rows_7_1, dwb_rows_7_2}};
        rows = tab[(g.kh - 3) / 2][g.sw - 1];
    }
    int T = kernel_threads(s);
    if (T > orows) T = (int)orows;
#pragma omp parallel num_threads(T)
    {
        const int nt = omp_nth(), t = omp_tid();
        const int64_t r0 = orows * t / nt, r1 = orows * (t + 1) / nt;
        float *part = parts + t * pstride;
        memset(part, 0, (size_t)pstride * sizeof(float));
        if (g.kh == 3 && g.kw == 3) {
            /* 3x3: all taps of two channel blocks in registers over a band of rows whose
             * x and dy stay in L2, channel blocks inner */
            const int64_t band = imax64(1, 64 * 1024 / (g.ow * oc + g.sh * g.w * g.c));
            for (int64_t b0 = r0; b0 < r1; b0 += band) {
                const int64_t b1 = imin64(r1, b0 + band);
                for (int64_t o0 = 0; o0 < c_vec; o0 += 32) {
                    if (o0 + 16 < c_vec) dbwd_wblk(&g, part, dy, x, b0, b1, o0, 3, 3, 2, 1);
                    else dbwd_wblk(&g, part, dy, x, b0, b1, o0, 3, 3, 1, 1);
                }
            }
        } else {
            rows(&g, part, dy, x, r0, r1, c_vec);
        }
        if (c_vec < oc) dbwd_w_scalar(&g, part, dy, x, r0, r1, c_vec, oc);
#pragma omp barrier
        /* dw[o][tap] = sum over the threads' partials, in thread order */
#pragma omp for schedule(static)
        for (int64_t o = 0; o < oc; o++) {
            for (int k = 0; k <= taps; k++) {
                float a = parts[k * oc + o];
                for (int u = 1; u < nt; u++) a += parts[u * pstride + k * oc + o];
                if (k < taps) dw[o * taps + k] = a;
                else if (db) db[o] = a;
            }
        }
    }
    if (!dx) return;
    if (g.sh == 1 && g.sw == 1 && g.pt <= g.kh - 1 && g.pl <= g.kw - 1) {
        /* dx = dy convolved with the flipped kernel, padding k-1-p */
        for (int k = 0; k < taps; k++)
            for (int64_t o = 0; o < ocp; o++)
                wf[k * ocp + o] = o < oc ? w[o * taps + (taps - 1 - k)] : 0.0f;
        tx_conv_shape sd = {.n = s->n, .h = s->oh, .w = s->ow, .c = s->c, .oc = s->c,
                            .kh = s->kh, .kw = s->kw, .sh = 1, .sw = 1,
                            .pad_t = s->kh - 1 - s->pad_t, .pad_l = s->kw - 1 - s->pad_l,
                            .dh = 1, .dw = 1, .groups = s->c, .oh = s->h, .ow = s->w,
                            .threads = s->threads};
        dwf_run(dx, dy, wf, NULL, &sd);
        return;
    }
    transpose_taps(wf, w, oc, taps);
    const int64_t irows = (int64_t)s->n * g.h;
#pragma omp parallel for schedule(dynamic, 4) num_threads(kernel_threads(s))
    for (int64_t nr = 0; nr < irows; nr++) {
        const int64_t n = nr / g.h, ih = nr % g.h;
        float *dxrow = dx + nr * g.w * g.c;
        const float *dyn = dy + n * g.oh * g.ow * oc;
        if (c_vec > 0) {
            if (g.kh == 3 && g.kw == 3) dbwd_x_row(&g, dxrow, dyn, wf, ih, c_vec, 3, 3);
            else if (g.kh == 5 && g.kw == 5) dbwd_x_row(&g, dxrow, dyn, wf, ih, c_vec, 5, 5);
            else dbwd_x_row(&g, dxrow, dyn, wf, ih, c_vec, g.kh, g.kw);
        }
        if (c_vec < g.c) dbwd_x_scalar(&g, dxrow, dyn, wf, ih, c_vec, g.c);
    }
}

static void direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const tx_conv_shape *s, float *scratch) {
    if (dwf_ok(s)) {
        dwf_backward(dx, dw, db, dy, x, w, s, scratch);
        return;
    }
    const geo g = make_geo(s);
    const int taps = g.kh * g.kw;
    const int64_t orows = (int64_t)s->n * g.oh, oc = g.oc;
    const int64_t o_vec = (g.mult == 1 || g.mult % 16 == 0) ? oc / 16 * 16 : 0;
    /* scratch: wt [taps][oc], then one dW/db partial [taps+1][oc] per row range */
    float *wt = scratch, *parts = scratch + (int64_t)taps * oc;
    const int64_t pstride = (int64_t)(taps + 1) * oc;
    int T = kernel_threads(s);
    /* work items: pairs of 16-channel blocks (a last single block, one scalar block for
     * leftover channels) times P row ranges; P > 1 only when there are fewer items than
     * threads. */
    const int64_t nvb = o_vec / 16, npair = (nvb + 1) / 2, nblk = npair + (o_vec < oc);
    int64_t P = nblk >= T ? 1 : (T + nblk - 1) / nblk;
    if (P > orows) P = orows;
    if (P > T) P = T;
    if (dx) transpose_taps(wt, w, oc, taps);
#pragma omp parallel num_threads(T)
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < nblk * P; it++) {
            int64_t bi = it / P, pi = it % P;
            int64_t r0 = orows * pi / P, r1 = orows * (pi + 1) / P;
            float *part = parts + pi * pstride;
            if (bi < npair) {
                const int64_t o0 = bi * 32;
                const int two = o0 + 16 < o_vec;
                if (g.kh == 3 && g.kw == 3) {
                    if (two) dbwd_wblk(&g, part, dy, x, r0, r1, o0, 3, 3, 2, 0);
                    else dbwd_wblk(&g, part, dy, x, r0, r1, o0, 3, 3, 1, 0);
                } else if (g.kh == 5 && g.kw == 5) { /* 25 taps: one block at a time */
                    dbwd_wblk(&g, part, dy, x, r0, r1, o0, 5, 5, 1, 0);
                    if (two) dbwd_wblk(&g, part, dy, x, r0, r1, o0 + 16, 5, 5, 1, 0);
                } else if (two && taps <= REG_TAPS / 2) {
                    dbwd_wblk(&g, part, dy, x, r0, r1, o0, g.kh, g.kw, 2, 0);
                } else {
                    dbwd_wblk(&g, part, dy, x, r0, r1, o0, g.kh, g.kw, 1, 0);
                    if (two) dbwd_wblk(&g, part, dy, x, r0, r1, o0 + 16, g.kh, g.kw, 1, 0);
                }
            } else {
                dbwd_w_scalar(&g, part, dy, x, r0, r1, o_vec, oc);
            }
        }
        /* dw[o][tap] = sum over row ranges, in order */
#pragma omp for schedule(static)
        for (int64_t o = 0; o < oc; o++) {
            for (int k = 0; k <= taps; k++) {
                float a = parts[k * oc + o];
                for (int64_t pi = 1; pi < P; pi++) a += parts[pi * pstride + k * oc + o];
                if (k < taps) dw[o * taps + k] = a;
                else if (db) db[o] = a;
            }
        }
        if (dx) {
            const int64_t c_vec = g.mult == 1 && g.kh <= DX_MAX_K && g.kw <= DX_MAX_K ? g.c / 16 * 16 : 0;
            const int64_t irows = (int64_t)s->n * g.h;
#pragma omp for schedule(dynamic, 4)
            for (int64_t nr = 0; nr < irows; nr++) {
                const int64_t n = nr / g.h, ih = nr % g.h;
                float *dxrow = dx + nr * g.w * g.c;
                const float *dyn = dy + n * g.oh * g.ow * oc;
                if (c_vec > 0) {
                    if (g.kh == 3 && g.kw == 3) dbwd_x_row(&g, dxrow, dyn, wt, ih, c_vec, 3, 3);
                    else if (g.kh == 5 && g.kw == 5) dbwd_x_row(&g, dxrow, dyn, wt, ih, c_vec, 5, 5);
                    else dbwd_x_row(&g, dxrow, dyn, wt, ih, c_vec, g.kh, g.kw);
                }
                if (c_vec < g.c) dbwd_x_scalar(&g, dxrow, dyn, wt, ih, c_vec, g.c);
            }
        }
    }
}

/* ---- GEMM paths ------------------------------------------------------------------ */

#if !defined(__AVX512F__) /* the pk kernels do the forward there */
static void gemm_forward(float *y, const float *x, const float *w, const float *b,
                         const tx_conv_shape *s, float *scratch) {
    const int pw = is_pointwise(s), G = s->groups, oc = s->oc, ocg = oc / G;
    const int cg = s->c / G;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G;
    const int64_t rows = (int64_t)s->n * s->oh * s->ow, R = conv_chunk_rows(s);
    int T = kernel_threads(s);
    /* tiles no larger than a thread's column buffer, and enough of them to share */
    int64_t tile = imin64(R, (rows + T - 1) / T);
    int64_t tiles = (rows + tile - 1) / tile;
    if (tiles < T) T = (int)tiles;
#pragma omp parallel num_threads(T)
    {
        float *col = pw ? NULL : scratch + omp_tid() * R * Kc;
#pragma omp for schedule(dynamic, 1)
        for (int64_t ti = 0; ti < tiles; ti++) {
            int64_t p0 = ti * tile, m = imin64(tile, rows - p0);
            const float *A = pw ? x + p0 * Kc : col;
            if (!pw) im2col(col, x, s, p0, m);
            for (int g = 0; g < G; g++)
                tx_sgemm(0, 1, m, ocg, Kg, 1.0f, A + g * Kg, Kc, w + (int64_t)g * ocg * Kg, Kg,
                         0.0f, y + p0 * oc + (int64_t)g * ocg, oc);
            if (b) add_bias_rows(y + p0 * oc, b, m, oc);
            act_inplace(y + p0 * oc, m * oc, act_of(s->act));
        }
    }
}

#endif

/* col2im for the column-gradient rows [c0, c0+m), on the calling thread. */
static void col2im_chunk(float *dx, const float *dcol, const tx_conv_shape *s, int64_t c0,
                         int64_t m) {
    const int64_t opix = (int64_t)s->oh * s->ow;
    for (int64_t n = c0 / opix; n <= (c0 + m - 1) / opix; n++) {
        int64_t pa = imax64(c0, n * opix), pb = imin64(c0 + m, (n + 1) * opix) - 1;
        int64_t oya = (pa - n * opix) / s->ow, oyb = (pb - n * opix) / s->ow;
        int64_t lo = imax64(0, oya * s->sh - s->pad_t);
        int64_t hi = imin64(s->h - 1, oyb * s->sh - s->pad_t + (int64_t)(s->kh - 1) * s->dh);
        for (int64_t ih = lo; ih <= hi; ih++) col2im_row(dx, dcol, s, c0, m, n, ih);
    }
}

/* Each thread takes a contiguous range of images and walks it in chunks: im2col, its own
 * dW partial (thread 0 writes dw itself), dcol = dy * W and col2im into its own images'
 * dx. No barrier until the end, where the partials are added in thread order. */
/* dw == NULL: only dx (no im2col needed, dcol = dy * W then col2im). */
static void gemm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const tx_conv_shape *s, float *scratch) {
    const int pw = is_pointwise(s), G = s->groups, oc = s->oc, ocg = oc / G;
    const int cg = s->c / G, c = s->c;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G, nwt = (int64_t)oc * Kg;
    const int64_t rows = (int64_t)s->n * s->oh * s->ow, R = conv_chunk_rows(s);
    const int64_t opix = (int64_t)s->oh * s->ow, ipix = (int64_t)s->h * s->w;
    float *partials = scratch + (pw ? 0 : (int64_t)slot_threads(s) * R * Kc);
    int T = kernel_threads(s);
    if (T > s->n) T = s->n;
#pragma omp parallel num_threads(T)
    {
        int nt = omp_nth(), t = omp_tid();
        int64_t n0 = (int64_t)s->n * t / nt, n1 = (int64_t)s->n * (t + 1) / nt;
        float *col = pw ? NULL : scratch + t * R * Kc;
        float *dwt = !dw ? NULL : t == 0 ? dw : partials + (t - 1) * nwt;
        int64_t pbeg = n0 * opix, pend = n1 * opix;
        if (dx && !pw) memset(dx + n0 * ipix * c, 0, (size_t)((n1 - n0) * ipix * c) * sizeof(float));
        if (dwt && pend <= pbeg) memset(dwt, 0, (size_t)nwt * sizeof(float));
        for (int64_t p0 = pbeg; p0 < pend; p0 += R) {
            int64_t m = imin64(R, pend - p0);
            if (dwt) {
                const float *A = pw ? x + p0 * Kc : col;
                if (!pw) im2col(col, x, s, p0, m);
                float beta = p0 == pbeg ? 0.0f : 1.0f;
                for (int g = 0; g < G; g++)
                    tx_sgemm(1, 0, ocg, Kg, m, 1.0f, dy + p0 * oc + (int64_t)g * ocg, oc,
                             A + g * Kg, Kc, beta, dwt + (int64_t)g * ocg * Kg, Kg);
            }
            if (!dx) continue;
            for (int g = 0; g < G; g++) {
                float *dst = pw ? dx + p0 * c + (int64_t)g * cg : col + g * Kg;
                tx_sgemm(0, 0, m, Kg, ocg, 1.0f, dy + p0 * oc + (int64_t)g * ocg, oc,
                         w + (int64_t)g * ocg * Kg, Kg, 0.0f, dst, pw ? c : Kc);
            }
            if (!pw) col2im_chunk(dx, col, s, p0, m);
        }
#pragma omp barrier
        if (db) colsum_rows(db, dy, rows, oc);
        if (dw && nt > 1) {
            int64_t nblk = (nwt + 1023) / 1024;
#pragma omp for schedule(static)
            for (int64_t bi = 0; bi < nblk; bi++) {
                int64_t e = imin64(nwt, (bi + 1) * 1024);
                for (int u = 1; u < nt; u++) {
                    const float *pp = partials + (u - 1) * nwt;
#pragma omp simd
                    for (int64_t i = bi * 1024; i < e; i++) dw[i] += pp[i];
                }
            }
        }
    }
}

/* ---- AVX-512 implicit-GEMM kernels ("pk") ---------------------------------------------
 *
 * No im2col: a micro-kernel keeps an MR pixels x (NB*16) output channels tile in
 * registers and walks the taps and input channels, broadcasting x through one pointer
 * per (tap, pixel) - a pointer into x, or into a zero vector where the tap falls in the
 * padding - against weights packed as [group][64-channel block][tap][ci][NB*16].
 * The same kernel computes dx of stride-1 convolutions (a convolution of dy with the
 * flipped, transposed weights). dW has its own kernel: MR output channels x NB*16 input
 * channels, summed over the pixels of one image at a time.
 */
#if defined(__AVX512F__)
#define TX_CONV_PK 1

enum {
    PK_MAX_TAPS = 64,           /* taps per pass (pointer table on the stack) */
    PK_WBUDGET = 64 * 1024,     /* weight floats per pass (~256 KB, L2-resident) */
    PK_TILE = 48,               /* least output pixels per work item (multiple of 6, 8, 12) */
    PK_TILE_MAX = 240,          /* most (multiple of 24) */
};

/* A convolution as the pointer kernels see it (forward, or backward-data). */
typedef struct {
    int64_t n, h, w, c;  /* input */
    int64_t oh, ow, oc;  /* output */
    int64_t pt, pl;      /* leading padding; may be negative (backward-data) */
    int kh, kw, sh, sw, dh, dw, groups;
    int64_t cin, cout;   /* per group */
    int merge;           /* the kernel row's taps run as one tap of kw*c channels */
} pk_desc;

/* Thin inputs (the first layer on RGB images): the kw taps of a kernel row are kw*c
 * consecutive floats of x (NHWC, undilated), the same order as the packed weights'
 * [tap][ci] rows, so a row runs as one tap of kw*c channels instead of kw taps of c:
 * one pointer and one loop per kernel row. Windows cut by the left/right padding are
 * gathered into a zero-padded buffer. */
enum { PK_MERGE_MAXC = 64, PK_MERGE_MAXKH = 8 };
static int pk_merge_ok(const tx_conv_shape *s) {
    return s->groups == 1 && s->dw == 1 && s->c < 16 && s->kw > 1 &&
           (int64_t)s->kw * s->c <= PK_MERGE_MAXC && s->kh <= PK_MERGE_MAXKH;
}

static int64_t pk_pad16(int64_t v) { return (v + 15) / 16 * 16; }

/* Floats of packed weights: groups x taps x cin x cout rounded up to 16. */
static int64_t pk_wfloats(const pk_desc *d) {
    return (int64_t)d->groups * d->kh * d->kw * d->cin * pk_pad16(d->cout);
}

/* Packs OHWI w into [g][block][tap][ci][width]; flip != 0 packs the backward-data view
 * (input channel <-> output channel, taps reversed). Parallel over groups x blocks
 * (call inside a parallel region). */
static void pk_pack(float *wp, const float *w, const pk_desc *d, int flip) {
    const int taps = d->kh * d->kw;
    const int64_t cin = d->cin, cout = d->cout, cpad = pk_pad16(cout);
    const int64_t nb = (cpad + 63) / 64, per_g = (int64_t)taps * cin * cpad;
    const int64_t K = (int64_t)taps * cin; /* row (t, ci) of the packed block: t*cin + ci */
#pragma omp for schedule(static)
    for (int64_t gb = 0; gb < d->groups * nb; gb++) {
        int64_t g = gb / nb, b = gb % nb, o0 = b * 64, width = imin64(64, cpad - o0);
        float *dst = wp + g * per_g + K * o0;
        for (int64_t j = 0; j < width; j += 16) {
            const int64_t o = o0 + j, valid = imax64(0, imin64(16, cout - o));
            const __mmask16 m = (__mmask16)((1u << valid) - 1);
            if (flip) {
                /* backward-data: the output channel is an input channel of the conv and vice
                 * versa, taps reversed: 16 consecutive channels are contiguous in w */
                for (int t = 0; t < taps; t++)
                    for (int64_t ci = 0; ci < cin; ci++)
                        _mm512_storeu_ps(dst + ((int64_t)t * cin + ci) * width + j,
                                         _mm512_maskz_loadu_ps(
                                             m, w + ((g * cin + ci) * taps + (taps - 1 - t)) * cout + o));
                continue;
            }
            /* forward: w[g*cout + o][k] is a [cout][K] matrix; transpose 16 x 16 tiles so
             * every cache line of w is read whole, from 16 sequential streams */
            const float *src = w + (g * cout + o) * K;
            for (int64_t k0 = 0; k0 < K; k0 += 16) {
                const int64_t kv = imin64(16, K - k0);
                const __mmask16 km = (__mmask16)((1u << kv) - 1);
                float tile[16][16];
                for (int64_t l = 0; l < 16; l++)
                    _mm512_storeu_ps(tile[l], l < valid ? _mm512_maskz_loadu_ps(km, src + l * K + k0)
                                                        : _mm512_setzero_ps());
                const __m512i rows16 = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128,
                                                         144, 160, 176, 192, 208, 224, 240);
                for (int64_t kk = 0; kk < kv; kk++) /* column kk of the tile, from L1 */
                    _mm512_storeu_ps(dst + (k0 + kk) * width + j,
                                     _mm512_i32gather_ps(rows16, &tile[0][kk], 4));
            }
        }
    }
}

#define PK_FWD_KERNEL(MR, NB)                                                               \
    static void pk_fwd_##MR##_##NB(const float *const *ap, int64_t aoff, int taps,          \
                                   const int *tix, int64_t cin, const float *wp, float *y,  \
                                   int64_t ldy,                                             \
                                   int rows, const float *init, int64_t ldi,               \
                                   __mmask16 mask, const act_clamp *act, const float *res) { \
        __m512 acc[MR][NB];                                                                 \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                                        \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                                                    \
                acc[r][j] = !init || (ldi && r >= rows) ? _mm512_setzero_ps()               \
                            : j == NB - 1                                                   \
                                ? _mm512_maskz_loadu_ps(mask, init + r * ldi + 16 * j)      \
                                : _mm512_loadu_ps(init + r * ldi + 16 * j);                 \
        for (int t = 0; t < taps; t++) {                                                    \
            const float *a[MR];                                                             \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) a[r] = ap[t * MR + r] + aoff;                      \
            const float *wt = wp + (int64_t)(tix ? tix[t] : t) * cin * (NB * 16);           \
            for (int64_t ci = 0; ci < cin; ci++) {                                          \
                __m512 b[NB];                                                               \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) b[j] = _mm512_loadu_ps(wt + ci * (NB * 16) + 16 * j); \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                                              \
                    __m512 av = _mm512_set1_ps(a[r][ci]);                                   \
                    _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) acc[r][j] = _mm512_fmadd_ps(av, b[j], acc[r][j]); \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        if (res) /* the residual, laid out like y: (conv + bias) + res, as res_pass adds */   \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                           \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) {                     \
                    if (r >= rows) break;                                                   \
                    acc[r][j] = _mm512_add_ps(acc[r][j], j == NB - 1                       \
                        ? _mm512_maskz_loadu_ps(mask, res + r * ldy + 16 * j)              \
                        : _mm512_loadu_ps(res + r * ldy + 16 * j));                        \
                }                                                                           \
        if (act && act->on) {                                                               \
            const __m512 lo = _mm512_set1_ps(act->lo), hi = _mm512_set1_ps(act->hi);        \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                           \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                       \
                    acc[r][j] = act512(acc[r][j], lo, hi);                                  \
        }                                                                                   \
        if (act && act->fn == 4) /* silu in registers: the bits of act_tile's pass */        \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                           \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                       \
                    acc[r][j] = tx_v16_silu(acc[r][j]);                                     \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                 \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) {                           \
                if (r >= rows) break;                                                       \
                if (j == NB - 1) _mm512_mask_storeu_ps(y + r * ldy + 16 * j, mask, acc[r][j]); \
                else _mm512_storeu_ps(y + r * ldy + 16 * j, acc[r][j]);                     \
            }                                                                               \
    }

PK_FWD_KERNEL(6, 4)
PK_FWD_KERNEL(8, 3)
PK_FWD_KERNEL(12, 2)
PK_FWD_KERNEL(8, 1)
/* the last 1-3 pixels of a tile (a batch-1 classifier is one pixel, a 7x7 map 8 tiles of
 * 6 and one pixel): a kernel of that many rows instead of a full micro-tile of zeros */
PK_FWD_KERNEL(1, 4)
PK_FWD_KERNEL(2, 4)
PK_FWD_KERNEL(3, 4)
PK_FWD_KERNEL(1, 3)
PK_FWD_KERNEL(2, 3)
PK_FWD_KERNEL(3, 3)
PK_FWD_KERNEL(1, 2)
PK_FWD_KERNEL(2, 2)
PK_FWD_KERNEL(3, 2)
PK_FWD_KERNEL(1, 1)
PK_FWD_KERNEL(2, 1)
PK_FWD_KERNEL(3, 1)

typedef void (*pk_fwd_fn)(const float *const *, int64_t, int, const int *, int64_t,
                          const float *, float *, int64_t, int, const float *, int64_t,
                          __mmask16, const act_clamp *, const float *);
/* The kernel for NB 16-channel vectors and rows (<= its MR) pixels, and its MR. */
static pk_fwd_fn pk_fwd_pick(int NB, int rows, int *mr) {
    static const pk_fwd_fn small[4][3] = {
        {pk_fwd_1_1, pk_fwd_2_1, pk_fwd_3_1}, {pk_fwd_1_2, pk_fwd_2_2, pk_fwd_3_2},
        {pk_fwd_1_3, pk_fwd_2_3, pk_fwd_3_3}, {pk_fwd_1_4, pk_fwd_2_4, pk_fwd_3_4}};
    if (rows <= 3) {
        *mr = rows;
        return small[NB - 1][rows - 1];
    }
    switch (NB) {
    case 4: *mr = 6; return pk_fwd_6_4;
    case 3: *mr = 8; return pk_fwd_8_3;
    case 2: *mr = 12; return pk_fwd_12_2;
    default: *mr = 8; return pk_fwd_8_1;
    }
}

/* Pointer table for output pixels p0..p0+MR-1 (rows beyond `rows` read zeros) and taps
 * t0..t0+nt-1: ap[(t-t0)*MR + r]. Returns the taps (bit t - t0) that read x for at least
 * one of the pixels; the others read only padding. Merged taps (d->merge): tap t is
 * kernel row t, and windows cut by the padding are gathered into ebuf (whose first
 * PK_MERGE_MAXC floats are zeros; then (PK_MERGE_MAXKH * 12) windows of PK_MERGE_MAXC). */
static uint64_t pk_ptrs(const float **ap, const pk_desc *d, const float *x, const float *zeros,
                        float *ebuf, int64_t p0, int rows, int MR, int t0, int nt) {
    const uint64_t all = nt >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nt) - 1;
    if (d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pt == 0 && d->pl == 0 &&
        d->oh == d->h && d->ow == d->w) { /* pointwise: output pixel p reads input pixel p */
        for (int r = 0; r < MR; r++) ap[r] = r < rows ? x + (p0 + r) * d->c : zeros;
        return all;
    }
    if (d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pl == 0 && d->ow == d->w &&
        d->n == 1 && d->pt <= 0 && d->oh - d->pt <= d->h) {
        /* a band of rows of a 1x1 conv (a fused block's expansion): output pixel p reads
         * input pixel p - pt*w, every row inside the input */
        const float *xb = x - d->pt * d->w * d->c;
        for (int r = 0; r < MR; r++) ap[r] = r < rows ? xb + (p0 + r) * d->c : zeros;
        return all;
    }
    uint64_t live = 0;
    const int64_t rowstep = (int64_t)d->dh * d->w * d->c; /* a kernel row down */
    int64_t ox = p0 % d->ow, q = p0 / d->ow, oy = q % d->oh, n = q / d->oh;
    {
        /* the common case: the pixels in one output row, every tap of every pixel inside
         * the input; the pointers are then base + tap offset + r * stride */
        const int64_t ih0 = oy * d->sh - d->pt, iw0 = ox * d->sw - d->pl;
        const int64_t iw_end = (ox + rows - 1) * d->sw - d->pl + (int64_t)(d->kw - 1) * d->dw + 1;
        if (ox + rows <= d->ow && ih0 >= 0 && ih0 + (int64_t)(d->kh - 1) * d->dh < d->h &&
            iw0 >= 0 && iw_end <= d->w) {
            const float *base = x + ((n * d->h + ih0) * d->w + iw0) * d->c;
            const int64_t rs = (int64_t)d->sw * d->c;
            const float *pad = d->merge ? ebuf : zeros;
            int ki = d->merge ? t0 : t0 / d->kw, kj = d->merge ? 0 : t0 % d->kw;
            for (int t = 0; t < nt; t++) {
                const float *bt = base + ki * rowstep + (int64_t)kj * d->dw * d->c;
                for (int r = 0; r < MR; r++) ap[t * MR + r] = r < rows ? bt + r * rs : pad;
                if (d->merge || ++kj == d->kw) {
                    kj = 0;
                    ki++;
                }
            }
            return all;
        }
    }
    for (int r = 0; r < MR; r++) {
        if (r >= rows) {
            for (int t = 0; t < nt; t++) ap[t * MR + r] = d->merge ? ebuf : zeros;
            continue;
        }
        const int64_t ih0 = oy * d->sh - d->pt, iw0 = ox * d->sw - d->pl;
        const float *xn = x + n * d->h * d->w * d->c;
        /* the kernel rows inside the input: ki in [klo, khi) */
        const int64_t klo = ih0 >= 0 ? 0 : (-ih0 + d->dh - 1) / d->dh;
        const int64_t khi = ih0 >= d->h ? 0 : imin64(d->kh, (d->h - ih0 + d->dh - 1) / d->dh);
        if (d->merge) {
            const int inside = iw0 >= 0 && iw0 + d->kw <= d->w;
            const float *xr = xn + (ih0 * d->w + iw0) * d->c; /* kernel row 0 (maybe outside) */
            for (int t = 0; t < nt; t++) {
                const int64_t ki = t0 + t;
                if (ki < klo || ki >= khi) {
                    ap[t * MR + r] = ebuf;
                    continue;
                }
                live |= (uint64_t)1 << t;
                if (inside) {
                    ap[t * MR + r] = xr + ki * rowstep;
                    continue;
                }
                const int64_t ih = ih0 + ki * d->dh;
                float *win = ebuf + (1 + t * MR + r) * PK_MERGE_MAXC;
                for (int kj = 0; kj < d->kw; kj++) {
                    const int64_t iw = iw0 + kj;
                    if (iw >= 0 && iw < d->w)
                        memcpy(win + kj * d->c, xn + (ih * d->w + iw) * d->c,
                               (size_t)d->c * sizeof(float));
                    else
                        memset(win + kj * d->c, 0, (size_t)d->c * sizeof(float));
                }
                ap[t * MR + r] = win;
            }
        } else {
            int ki = t0 / d->kw, kj = t0 % d->kw;
            for (int t = 0; t < nt; t++) {
                const int64_t iw = iw0 + (int64_t)kj * d->dw;
                if (ki >= klo && ki < khi && iw >= 0 && iw < d->w) {
                    ap[t * MR + r] = xn + ((ih0 + (int64_t)ki * d->dh) * d->w + iw) * d->c;
                    live |= (uint64_t)1 << t;
                } else {
                    ap[t * MR + r] = zeros;
                }
                if (++kj == d->kw) {
                    kj = 0;
                    ki++;
                }
            }
        }
        if (++ox == d->ow) {
            ox = 0;
            if (++oy == d->oh) {
                oy = 0;
                n++;
            }
        }
    }
    return live;
}

/* Work item `it` of pk_run_items: (pixel tile, group, 64-channel block). */
static void pk_item(float *y, const float *x, const float *wp, const float *bias,
                    const float *zeros, const pk_desc *d, act_clamp act, const float *res,
                    int64_t it, int64_t tile, int64_t nb, int taps, int64_t cin, int64_t cout,
                    int64_t cpad, int64_t per_g, int64_t rows, int kt, __mmask16 tail) {
    const float *ap[PK_MAX_TAPS * 12];
    float ebuf[(1 + PK_MERGE_MAXKH * 12) * PK_MERGE_MAXC];
    if (d->merge) memset(ebuf, 0, PK_MERGE_MAXC * sizeof(float));
    const int64_t ti = it / (d->groups * nb), g = it / nb % d->groups, b = it % nb;
    const int64_t p_beg = ti * tile, p_end = imin64(rows, p_beg + tile);
    const int64_t o0 = b * 64, width = imin64(64, cpad - o0);
    const int NB = (int)(width / 16), MR = NB == 4 ? 6 : NB == 2 ? 12 : 8;
    const __mmask16 mask = o0 + width >= cout ? tail : 0xFFFF;
    const float *wb = wp + g * per_g + (int64_t)taps * cin * o0;
    const int64_t aoff = g * cin;
    float *yb = y + g * cout + o0;
    for (int t0 = 0; t0 < taps; t0 += kt) {
        int nt = taps - t0 < kt ? taps - t0 : kt;
        const float *wt = wb + (int64_t)t0 * cin * width;
        for (int64_t p0 = p_beg; p0 < p_end; p0 += MR) {
            int m = (int)imin64(MR, p_end - p0), MRk;
            const pk_fwd_fn kern = pk_fwd_pick(NB, m, &MRk);
            const uint64_t live = pk_ptrs(ap, d, x, zeros, ebuf, p0, m, MRk, t0, nt);
            const int dense = live == (nt >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nt) - 1);
            /* taps that only read padding for every pixel of the tile (the image's border
             * rows; 3x3 on 1x1 or 2x2 maps) are dropped from the table */
            int tix[PK_MAX_TAPS], nv = dense ? nt : 0;
            for (int t = 0; t < nt && !dense; t++) {
                if (!(live >> t & 1)) continue;
                if (nv != t)
                    for (int r = 0; r < MRk; r++) ap[nv * MRk + r] = ap[t * MRk + r];
                tix[nv++] = t;
            }
            float *yp = yb + p0 * d->oc;
            const float *init = t0 > 0 ? yp : bias ? bias + g * cout + o0 : NULL;
            int64_t ldi = t0 > 0 ? d->oc : 0;
            /* after the last taps: residual, clamp and SiLU on the accumulators */
            const int last = t0 + nt == taps;
            const act_clamp *ac = last && (act.on || act.fn == 4) ? &act : NULL;
            kern(ap, aoff, nv, dense ? NULL : tix, cin, wt, yp, d->oc, m, init, ldi, mask, ac,
                 last && res ? res + (yp - y) : NULL);
            if (last && act.fn && act.fn != 4)
                act_tile(yp, d->oc, m, imin64(width, cout - o0), act.fn);
        }
    }
}

/* y[n,oh,ow,oc] = conv(x) + bias, with weights packed by pk_pack. zeros: >= c floats
 * of 0. team: called inside a parallel region, whose threads share the work (omp for);
 * else this thread does all of it. */
static void pk_run_items(float *y, const float *x, const float *wp, const float *bias,
                         const float *zeros, const pk_desc *d, act_clamp act, const float *res,
                         int team) {
    /* merged taps: kh taps of kw*cin channels, the same packed weights */
    const int taps = d->merge ? d->kh : d->kh * d->kw;
    const int64_t cin = d->merge ? d->kw * d->cin : d->cin, cout = d->cout, cpad = pk_pad16(cout);
    const int64_t nb = (cpad + 63) / 64, per_g = (int64_t)taps * cin * cpad;
    const int64_t rows = d->n * d->oh * d->ow;
    /* pixel tiles as large as leave ~4 work items per thread: each item streams its
     * (group, block) weight panel once, which dominates at batch 1 on small maps */
    const int64_t want = imax64(1, (4 * (int64_t)omp_nth() + d->groups * nb - 1) / (d->groups * nb));
    const int64_t tile = imax64(PK_TILE, imin64(PK_TILE_MAX, ((rows + want - 1) / want + 23) / 24 * 24));
    const int64_t tiles = (rows + tile - 1) / tile;
    int kt = (int)imax64(1, imin64(PK_WBUDGET / (cin * 64), PK_MAX_TAPS));
    if (kt > taps) kt = taps;
    const __mmask16 tail = (__mmask16)(cout % 16 ? (1u << (cout % 16)) - 1 : 0xFFFF);
    /* work items: (pixel tile, group, 64-channel block), so small batches still split */
    const int64_t items = tiles * d->groups * nb;
    if (team) {
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++)
            pk_item(y, x, wp, bias, zeros, d, act, res, it, tile, nb, taps, cin, cout, cpad,
                    per_g, rows, kt, tail);
    } else {
        for (int64_t it = 0; it < items; it++)
            pk_item(y, x, wp, bias, zeros, d, act, res, it, tile, nb, taps, cin, cout, cpad,
                    per_g, rows, kt, tail);
    }
}

static void pk_run(float *y, const float *x, const float *wp, const float *bias,
                   const float *zeros, const pk_desc *d, act_clamp act, const float *res) {
    pk_run_items(y, x, wp, bias, zeros, d, act, res, 1);
}

static pk_desc pk_forward_desc(const tx_conv_shape *s) {
    return (pk_desc){.n = s->n, .h = s->h, .w = s->w, .c = s->c, .oh = s->oh, .ow = s->ow,
                     .oc = s->oc, .pt = s->pad_t, .pl = s->pad_l, .kh = s->kh, .kw = s->kw,
                     .sh = s->sh, .sw = s->sw, .dh = s->dh, .dw = s->dw, .groups = s->groups,
                     .cin = s->c / s->groups, .cout = s->oc / s->groups,
                     .merge = pk_merge_ok(s)};
}

/* dx of a stride-1 convolution: convolve dy with the flipped weights. */
static pk_desc pk_dgrad_desc(const tx_conv_shape *s) {
    return (pk_desc){.n = s->n, .h = s->oh, .w = s->ow, .c = s->oc, .oh = s->h, .ow = s->w,
                     .oc = s->c, .pt = (int64_t)(s->kh - 1) * s->dh - s->pad_t,
                     .pl = (int64_t)(s->kw - 1) * s->dw - s->pad_l, .kh = s->kh, .kw = s->kw,
                     .sh = 1, .sw = 1, .dh = s->dh, .dw = s->dw, .groups = s->groups,
                     .cin = s->oc / s->groups, .cout = s->c / s->groups};
}

/* dW tile: acc[MR output channels][NB*16 input channels] += dy[p][o] * x[pix(p,tap)][ci]
 * over one image's output pixels, for one tap. */
#define PK_DW_KERNEL(MR, NB)                                                                 \
    static void pk_dw_##MR##_##NB(float *dwp, int64_t ldw, const float *x, const float *dy,   \
                                  const tx_conv_shape *s, int ki, int kj, __mmask16 mask,     \
                                  int64_t r0, int64_t r1) {                                   \
        __m512 acc[MR][NB];                                                                  \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                                         \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                                                     \
                acc[r][j] = j == NB - 1 ? _mm512_maskz_loadu_ps(mask, dwp + r * ldw + 16 * j) \
                                        : _mm512_loadu_ps(dwp + r * ldw + 16 * j);           \
        const int64_t c = s->c, oc = s->oc, w = s->w;                                        \
        const int64_t off = (int64_t)kj * s->dw - s->pad_l;                                  \
        const int64_t lo = off < 0 ? (-off + s->sw - 1) / s->sw : 0;                         \
        const int64_t hi = imin64(s->ow, w - off <= 0 ? 0 : (w - off + s->sw - 1) / s->sw);  \
        int64_t oy = r0 % s->oh;                                                             \
        const float *xn = x + r0 / s->oh * s->h * w * c;                                     \
        for (int64_t row = r0; row < r1; row++, oy++) {                                      \
            if (oy == s->oh) {                                                               \
                oy = 0;                                                                      \
                xn += s->h * w * c;                                                          \
            }                                                                                \
            const int64_t ih = oy * s->sh - s->pad_t + (int64_t)ki * s->dh;                  \
            if (ih < 0 || ih >= s->h) continue;                                              \
            const float *dr = dy + row * s->ow * oc;                                         \
            for (int64_t ox = lo; ox < hi; ox++) {                                           \
                const float *xp = xn + (ih * w + off + ox * s->sw) * c, *dp = dr + ox * oc;  \
                __m512 xv[NB];                                                               \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                                                 \
                    xv[j] = j == NB - 1 ? _mm512_maskz_loadu_ps(mask, xp + 16 * j)           \
                                        : _mm512_loadu_ps(xp + 16 * j);                      \
                _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                                               \
                    __m512 dv = _mm512_set1_ps(dp[r]);                                       \
                    _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) acc[r][j] = _mm512_fmadd_ps(dv, xv[j], acc[r][j]); \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                                         \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++) {                                                   \
                if (j == NB - 1) _mm512_mask_storeu_ps(dwp + r * ldw + 16 * j, mask, acc[r][j]); \
                else _mm512_storeu_ps(dwp + r * ldw + 16 * j, acc[r][j]);                    \
            }                                                                                \
    }

PK_DW_KERNEL(8, 1)
PK_DW_KERNEL(8, 2)
PK_DW_KERNEL(4, 3)
PK_DW_KERNEL(4, 4)
PK_DW_KERNEL(1, 1)
PK_DW_KERNEL(1, 2)
PK_DW_KERNEL(1, 3)
PK_DW_KERNEL(1, 4)

enum { PK_DW_BAND = 96 * 1024 }; /* floats of x and dy per band of output rows (L2) */

/* dwt[o][tap][ci] += the contribution of output rows [r0, r1) of the flattened n*oh rows
 * (bands may span images, so small images still give each tile a long reduction), in
 * bands of rows small enough to stay in L2 while every (tap, block) tile walks them.
 * Each element is summed in row order. */
static void pk_dw_rows(float *dwt, const float *x, const float *dy, const tx_conv_shape *s,
                       int64_t r0, int64_t r1) {
    const int taps = s->kh * s->kw;
    const int64_t cg = s->c / s->groups, ocg = s->oc / s->groups, ldw = (int64_t)taps * cg;
    const int64_t band = imax64(1, PK_DW_BAND / ((int64_t)s->ow * s->oc + (int64_t)s->sh * s->w * s->c));
    for (int64_t b0 = r0; b0 < r1; b0 += band) {
        const int64_t b1 = imin64(r1, b0 + band);
        for (int t = 0; t < taps; t++) {
            const int ki = t / s->kw, kj = t % s->kw;
            for (int64_t g = 0; g < s->groups; g++)
                for (int64_t c0 = 0; c0 < cg; c0 += 64) {
                    const int64_t width = imin64(64, cg - c0);
                    const int NB = (int)((width + 15) / 16);
                    const __mmask16 mask =
                        (__mmask16)(width % 16 ? (1u << (width % 16)) - 1 : 0xFFFF);
                    const int MR = NB <= 2 ? 8 : 4;
                    const float *xg = x + g * cg + c0;
                    for (int64_t o0 = 0; o0 < ocg;) {
                        const int mr = ocg - o0 >= MR ? MR : 1;
                        float *dwp = dwt + (g * ocg + o0) * ldw + (int64_t)t * cg + c0;
                        const float *dg = dy + g * ocg + o0;
                        switch (mr * 10 + NB) {
                        case 81: pk_dw_8_1(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 82: pk_dw_8_2(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 43: pk_dw_4_3(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 44: pk_dw_4_4(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 11: pk_dw_1_1(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 12: pk_dw_1_2(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        case 13: pk_dw_1_3(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        default: pk_dw_1_4(dwp, ldw, xg, dg, s, ki, kj, mask, b0, b1); break;
                        }
                        o0 += mr;
                    }
                }
        }
    }
}

/* dW through the pk kernel, or (few input channels per group, where 16-lane vectors
 * along them would be mostly empty) through im2col + GEMM. */
static int pk_dw_direct(const tx_conv_shape *s) { return s->c / s->groups >= 16; }

/* Scratch layout of the pk path: packed weights (forward, or backward-data: one at a time) |
 * zeros (max(c, oc) floats) | threads db partials [oc] | then (threads-1) dW partials,
 * and after them are summed,
 * the GEMM path's own scratch (im2col buffers, then its dW partials) when it runs. */
static int64_t pk_wpack_floats(const tx_conv_shape *s) {
    pk_desc f = pk_forward_desc(s), b = pk_dgrad_desc(s);
    return imax64(pk_wfloats(&f), pk_wfloats(&b));
}
static size_t pk_scratch_floats(const tx_conv_shape *s) {
    return (size_t)pk_wpack_floats(s) + (size_t)(s->c > s->oc ? s->c : s->oc) +
           (size_t)slot_threads(s) * s->oc;
}

/* A constant vector of zeros for the padding pointers of the inference paths, so they
 * need no memset and barrier per call (larger channel counts use the scratch). */
enum { CONST_ZEROS = 4096 };
static const float const_zeros[CONST_ZEROS];

/* Forward with weights packed by pk_pack; scratch: c floats (zeros). */
static void pk_forward_packed(float *y, const float *x, const float *wp, const float *b,
                              const tx_conv_shape *s, float *scratch) {
    const pk_desc d = pk_forward_desc(s);
    if (s->c <= CONST_ZEROS) {
#pragma omp parallel num_threads(kernel_threads(s))
        pk_run(y, x, wp, b, const_zeros, &d, act_of(s->act), s->res);
        return;
    }
    float *zeros = scratch;
#pragma omp parallel num_threads(kernel_threads(s))
    {
#pragma omp single
        memset(zeros, 0, (size_t)s->c * sizeof(float)); /* implicit barrier */
        pk_run(y, x, wp, b, zeros, &d, act_of(s->act), s->res);
    }
}

static void pk_forward(float *y, const float *x, const float *w, const float *b,
                       const tx_conv_shape *s, float *scratch) {
    const pk_desc d = pk_forward_desc(s);
    float *wp = scratch, *zeros = scratch + pk_wpack_floats(s);
#pragma omp parallel num_threads(kernel_threads(s))
    {
#pragma omp single
        memset(zeros, 0, (size_t)s->c * sizeof(float));
        pk_pack(wp, w, &d, 0); /* implicit barrier */
        pk_run(y, x, wp, b, zeros, &d, act_of(s->act), s->res);
    }
}

static void pk_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const tx_conv_shape *s, float *scratch) {
    const pk_desc bd = pk_dgrad_desc(s);
    const int64_t nwt = (int64_t)s->oc * s->kh * s->kw * (s->c / s->groups);
    const int64_t opix = (int64_t)s->oh * s->ow;
    float *wpb = scratch, *zeros = scratch + pk_wpack_floats(s);
    float *dbparts = zeros + (s->c > s->oc ? s->c : s->oc);
    float *partials = dbparts + (int64_t)slot_threads(s) * s->oc;
    const int stride1 = s->sh == 1 && s->sw == 1, dw_direct = pk_dw_direct(s);
    int T = kernel_threads(s);
    if (T > s->n) T = s->n;
#pragma omp parallel num_threads(T)
    {
        int nt = omp_nth(), t = omp_tid();
        /* dW: each thread sums its images into its own partial, in image order */
        int64_t n0 = (int64_t)s->n * t / nt, n1 = (int64_t)s->n * (t + 1) / nt;
        float *dwt = t == 0 ? dw : partials + (t - 1) * nwt, *dbt = dbparts + t * s->oc;
        if (dw_direct) memset(dwt, 0, (size_t)nwt * sizeof(float));
        if (db) memset(dbt, 0, (size_t)s->oc * sizeof(float));
        if (dw_direct) pk_dw_rows(dwt, x, dy, s, n0 * s->oh, n1 * s->oh);
        for (int64_t r = n0 * opix; db && r < n1 * opix; r++) {
            const float *d = dy + r * s->oc;
#pragma omp simd
            for (int o = 0; o < s->oc; o++) dbt[o] += d[o];
        }
        if (dx && stride1) {
#pragma omp single
            memset(zeros, 0, (size_t)s->oc * sizeof(float));
            pk_pack(wpb, w, &bd, 1); /* implicit barrier */
            pk_run(dx, dy, wpb, NULL, zeros, &bd, act_of(0), NULL);
        }
#pragma omp barrier
        if (db) {
#pragma omp for schedule(static)
            for (int o = 0; o < s->oc; o++) {
                float a = dbparts[o];
                for (int u = 1; u < nt; u++) a += dbparts[(int64_t)u * s->oc + o];
                db[o] = a;
            }
        }
        if (dw_direct && nt > 1) {
            int64_t nblk = (nwt + 1023) / 1024;
#pragma omp for schedule(static)
            for (int64_t bi = 0; bi < nblk; bi++) {
                int64_t e = imin64(nwt, (bi + 1) * 1024);
                for (int u = 1; u < nt; u++) {
                    const float *pp = partials + (u - 1) * nwt;
#pragma omp simd
                    for (int64_t i = bi * 1024; i < e; i++) dw[i] += pp[i];
                }
            }
        }
    }
    /* the rest through the GEMM path: dx of strided convolutions, dW of thin inputs */
    if ((dx && !stride1) || !dw_direct)
        gemm_backward(dx && !stride1 ? dx : NULL, dw_direct ? NULL : dw, NULL, dy, x, w, s,
                      partials);
}
/* ---- Winograd F(2x2, 3x3) ---------------------------------------------------------------
 *
 * 3x3, stride 1, undilated, ungrouped convolutions with channel counts that are multiples
 * of 16 and enough 2x2 output tiles: each 4x4 input tile is transformed (B^T d B), the
 * 16 transformed positions are 16 independent GEMMs over the channels (run by the pk
 * micro-kernels) against the transformed weights (G g G^T), and A^T m A turns each tile
 * back into 2x2 outputs: 16 multiplies per 4 outputs instead of 36. dx is the same
 * computation on dy with the flipped, transposed weights. dW uses the dual transforms:
 * the sum over tiles of (A dy A^T) . (B^T d B), 16 GEMMs reducing over tiles, and
 * G^T S G at the end. Tiles go in chunks of WG_T through per-thread buffers.
 */
enum { WG_T = 64 }; /* tiles per chunk */

/* Stride between the 16 planes of a chunk buffer with ch channels: padded so the planes
 * do not all fall into the same L1 sets (a multiple of 4 KB apart, they would). */
static int64_t wg_plane(int64_t ch) { return WG_T * ch + 48; }
/* F(4x4, 3x3) goes in chunks of WG4_T tiles (36 planes of them: 295 KB for the input's
 * and as much for the output's transforms at 64 channels, 590 KB each at 128; the plane
 * stride stays that of WG4_T when wg_run halves the chunks). */
enum { WG4_T = 32 };
static int64_t wg_planem(int64_t ch, int m) { return m == 4 ? WG4_T * ch + 48 : wg_plane(ch); }

/* Eligible shapes, with transformed weights (and per-thread dW sums) of at most 4 MB, and
 * enough tiles for them to pay off. More tiles (a bigger batch) never turns it off. */
static int wg_ok(const tx_conv_shape *s) {
    return s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 &&
           s->groups == 1 && s->c % 16 == 0 && s->oc % 16 == 0 &&
           (int64_t)s->c * s->oc <= 256 * 256 &&
           (int64_t)s->n * ((s->oh + 1) / 2) * ((s->ow + 1) / 2) >= 256;
}

/* A stride-1 3x3 convolution as the Winograd routines see it. */
typedef struct {
    int64_t n, h, w, c, oh, ow, oc, pt, pl;
    int m; /* output tile side: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3), packed inference) */
} wg_desc;

static wg_desc wg_fwd_desc(const tx_conv_shape *s) {
    return (wg_desc){s->n, s->h, s->w, s->c, s->oh, s->ow, s->oc, s->pad_t, s->pad_l, 2};
}
/* dx = dy convolved with the flipped weights, output h x w */
static wg_desc wg_dgrad_desc(const tx_conv_shape *s) {
    return (wg_desc){s->n, s->oh, s->ow, s->oc, s->h, s->w, s->c, 2 - s->pad_t, 2 - s->pad_l, 2};
}

/* Floats: transformed weights, then per thread (the larger of) the forward chunk buffers
 * and the dW buffers (chunks + partial S), then per-thread db partials. */
static size_t wg_scratch_floats(const tx_conv_shape *s) {
    size_t T = (size_t)slot_threads(s), c = (size_t)s->c, oc = (size_t)s->oc;
    size_t slot = 16 * (size_t)(wg_plane((int64_t)c) + wg_plane((int64_t)oc)) + 16 * c * oc;
    return 16 * c * oc + (c > oc ? c : oc) + T * slot + T * oc;
}

/* U[e] = G g G^T for every (output, input) channel pair, packed per e like pk_pack
 * packs a 1-tap kernel ([64-channel block][ci][width]). flip: the dx view. */
static void wg_pack(float *U, const float *w, const tx_conv_shape *s, int flip) {
    const int64_t cin = flip ? s->oc : s->c, cout = flip ? s->c : s->oc, per_e = cin * cout;
    /* 16 output channels at a time (cout % 16 == 0): contiguous in the flipped view, 9*c
     * floats apart (gathered) in the forward one */
    const __m512i lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(9 * s->c));
    const __m512 h = _mm512_set1_ps(0.5f);
#pragma omp for schedule(static)
    for (int64_t ov = 0; ov < cout / 16; ov++) {
        const int64_t o = ov * 16, o0 = o / 64 * 64, width = imin64(64, cout - o0);
        for (int64_t ci = 0; ci < cin; ci++) {
            __m512 g[3][3], gg[4][3];
            for (int ki = 0; ki < 3; ki++)
                for (int kj = 0; kj < 3; kj++)
                    g[ki][kj] = flip ? _mm512_loadu_ps(w + ((ci * 3 + (2 - ki)) * 3 + (2 - kj)) * s->c + o)
                                     : _mm512_i32gather_ps(lanes, w + ((o * 3 + ki) * 3 + kj) * s->c + ci, 4);
            for (int kj = 0; kj < 3; kj++) {
                gg[0][kj] = g[0][kj];
                gg[1][kj] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_add_ps(g[0][kj], g[1][kj]), g[2][kj]));
                gg[2][kj] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_sub_ps(g[0][kj], g[1][kj]), g[2][kj]));
                gg[3][kj] = g[2][kj];
            }
            float *dst = U + o0 * cin + ci * width + (o - o0);
            for (int i = 0; i < 4; i++) {
                const __m512 a = gg[i][0], b = gg[i][1], c = gg[i][2];
                const __m512 u[4] = {a, _mm512_mul_ps(h, _mm512_add_ps(_mm512_add_ps(a, b), c)),
                                     _mm512_mul_ps(h, _mm512_add_ps(_mm512_sub_ps(a, b), c)), c};
                for (int j = 0; j < 4; j++) _mm512_storeu_ps(dst + (4 * i + j) * per_e, u[j]);
            }
        }
    }
}

/* Pointers to the a x a input window at (iy0, ix0) of image n, one per pixel, row-major:
 * pixels outside x read `zeros`. off[k]: pixel k's offset from the window's corner. */
static inline void wg_window(const float **p, const float *x, const float *zeros,
                             const wg_desc *d, int64_t n, int64_t iy0, int64_t ix0, int a,
                             const int64_t *off) {
    if (iy0 >= 0 && iy0 + a <= d->h && ix0 >= 0 && ix0 + a <= d->w) {
        const float *base = x + ((n * d->h + iy0) * d->w + ix0) * d->c;
        for (int k = 0; k < a * a; k++) p[k] = base + off[k];
        return;
    }
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++) {
            const int64_t iy = iy0 + i, ix = ix0 + j;
            p[a * i + j] = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w
                               ? x + ((n * d->h + iy) * d->w + ix) * d->c
                               : zeros;
        }
}

/* The next tile of a tw x th grid per image: tile coordinates advance incrementally, no
 * divisions per tile. */
static inline void wg_next(int64_t *tx, int64_t *ty, int64_t *n, int64_t tw, int64_t th) {
    if (++*tx == tw) {
        *tx = 0;
        if (++*ty == th) {
            *ty = 0;
            ++*n;
        }
    }
}

/* V[e][tt][c] = B^T d B of the 4x4 input tiles t0..t0+nt-1 (pixels outside x read
 * `zeros`, >= c floats of 0, so every load is unconditional). */
static void wg_in(float *V, const float *x, const float *zeros, const wg_desc *d, int64_t t0,
                  int64_t nt) {
    const int64_t th = (d->oh + 1) / 2, tw = (d->ow + 1) / 2, c = d->c, es = wg_plane(c);
    int64_t off[16];
    for (int k = 0; k < 16; k++) off[k] = ((k / 4) * d->w + k % 4) * c;
    /* tile coordinates advance incrementally: no divisions per tile */
    int64_t tx = t0 % tw, ty = t0 / tw % th, n = t0 / tw / th;
    for (int64_t tt = 0; tt < nt; tt++) {
        const float *p[16];
        wg_window(p, x, zeros, d, n, 2 * ty - d->pt, 2 * tx - d->pl, 4, off);
        wg_next(&tx, &ty, &n, tw, th);
        float *vt = V + tt * c;
        for (int64_t cb = 0; cb < c; cb += 16) {
            v16 dd[16], r[16];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) dd[k] = v16_load(p[k] + cb);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                r[0 + j] = dd[0 + j] - dd[8 + j];
                r[4 + j] = dd[4 + j] + dd[8 + j];
                r[8 + j] = dd[8 + j] - dd[4 + j];
                r[12 + j] = dd[4 + j] - dd[12 + j];
            }
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                v16_store(vt + (4 * i + 0) * es + cb, r[4 * i + 0] - r[4 * i + 2]);
                v16_store(vt + (4 * i + 1) * es + cb, r[4 * i + 1] + r[4 * i + 2]);
                v16_store(vt + (4 * i + 2) * es + cb, r[4 * i + 2] - r[4 * i + 1]);
                v16_store(vt + (4 * i + 3) * es + cb, r[4 * i + 1] - r[4 * i + 3]);
            }
        }
    }
}

/* M[e][tt][o0 .. o0+63] = V[e][tt][:] * U[e][:, o0 .. o0+63] for the chunk's nt tiles;
 * vs and ms: the plane strides of V and M. */
static void wg_gemm_blk(float *M, const float *V, const float *U, const float *zeros,
                        int64_t cin, int64_t cout, int64_t nt, int e, int64_t o0, int64_t vs,
                        int64_t ms) {
    const float *ap[12];
    const float *Ve = V + e * vs, *Ue = U + (int64_t)e * cin * cout;
    float *Me = M + e * ms;
    const int64_t width = imin64(64, cout - o0);
    const int NB = (int)(width / 16), MR = NB == 4 ? 6 : NB == 2 ? 12 : 8;
    const float *wb = Ue + o0 * cin;
    for (int64_t t = 0; t < nt; t += MR) {
        const int m = (int)imin64(MR, nt - t);
        for (int r = 0; r < MR; r++) ap[r] = r < m ? Ve + (t + r) * cin : zeros;
        float *yp = Me + t * cout + o0;
        switch (NB) {
        case 4: pk_fwd_6_4(ap, 0, 1, NULL, cin, wb, yp, cout, m, NULL, 0, 0xFFFF, NULL, NULL); break;
        case 3: pk_fwd_8_3(ap, 0, 1, NULL, cin, wb, yp, cout, m, NULL, 0, 0xFFFF, NULL, NULL); break;
        case 2: pk_fwd_12_2(ap, 0, 1, NULL, cin, wb, yp, cout, m, NULL, 0, 0xFFFF, NULL, NULL); break;
        default: pk_fwd_8_1(ap, 0, 1, NULL, cin, wb, yp, cout, m, NULL, 0, 0xFFFF, NULL, NULL); break;
        }
    }
}

/* The 16 (F(2x2)) or 36 (F(4x4)) GEMMs of a chunk. */
static void wg_gemm(float *M, const float *V, const float *U, const float *zeros, int64_t cin,
                    int64_t cout, int64_t nt, int m) {
    const int P = m == 4 ? 36 : 16;
    const int64_t vs = wg_planem(cin, m), ms = wg_planem(cout, m);
    for (int e = 0; e < P; e++)
        for (int64_t o0 = 0; o0 < cout; o0 += 64)
            wg_gemm_blk(M, V, U, zeros, cin, cout, nt, e, o0, vs, ms);
}

/* y tiles = A^T m A (+ bias), clipped to oh x ow. */
static void wg_out(float *y, const float *M, const float *bias, const wg_desc *d, int64_t t0,
                   int64_t nt, act_clamp act) {
    const __m512 lo = _mm512_set1_ps(act.lo), hi = _mm512_set1_ps(act.hi);
    const int64_t th = (d->oh + 1) / 2, tw = (d->ow + 1) / 2, oc = d->oc, es = wg_plane(oc);
    int64_t tx = t0 % tw, ty = t0 / tw % th, n = t0 / tw / th;
    for (int64_t tt = 0; tt < nt; tt++) {
        const int64_t oy = 2 * ty, ox = 2 * tx, img = n;
        wg_next(&tx, &ty, &n, tw, th);
        const int two_r = oy + 1 < d->oh, two_c = ox + 1 < d->ow;
        float *y00 = y + ((img * d->oh + oy) * d->ow + ox) * oc;
        const float *mt = M + tt * oc;
        for (int64_t cb = 0; cb < oc; cb += 16) {
            v16 m[16], s0[4], s1[4];
#pragma GCC unroll 16
            for (int e = 0; e < 16; e++) m[e] = v16_load(mt + e * es + cb);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                s0[j] = m[j] + m[4 + j] + m[8 + j];
                s1[j] = m[4 + j] - m[8 + j] - m[12 + j];
            }
            const v16 bv = bias ? v16_load(bias + cb) : (v16){0};
            v16 o[4] = {s0[0] + s0[1] + s0[2] + bv, s0[1] - s0[2] - s0[3] + bv,
                        s1[0] + s1[1] + s1[2] + bv, s1[1] - s1[2] - s1[3] + bv};
            if (act.on)
                for (int k = 0; k < 4; k++) o[k] = (v16)act512((__m512)o[k], lo, hi);
            v16_store(y00 + cb, o[0]);
            if (two_c) v16_store(y00 + oc + cb, o[1]);
            if (two_r) {
                float *y10 = y00 + d->ow * oc;
                v16_store(y10 + cb, o[2]);
                if (two_c) v16_store(y10 + oc + cb, o[3]);
            }
        }
        if (act.fn) {
            act_tile(y00, d->ow * oc, two_r ? 2 : 1, (two_c ? 2 : 1) * oc, act.fn);
        }
    }
}


/* ---- Winograd F(4x4, 3x3), packed inference only -------------------------------------
 *
 * 6x6 input tiles give 4x4 outputs through 36 GEMMs: 2.25 multiplies per output against 4
 * for F(2x2) and 9 for the direct convolution. Interpolation points 0, +-1, +-2 and
 * infinity (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * The transforms' larger coefficients cost accuracy: on random data, errors of 5e-6
 * (56x56, 64 channels) and 1.3e-5 (14x14, 256) of the largest output, against 9e-7 for
 * F(2x2) (test_conv's test_winograd_accuracy); ResNet-50's logits stay within 3e-6 of
 * PyTorch's float64 ones (test_arch, 120x120 input). The packed forward takes it where an
 * image has enough 4x4 tiles (wg4_ok) for the 36 transformed weight matrices to be
 * reused; the same chunk / GEMM / output structure as F(2x2) runs it (wg_run).
 */
enum { WG4_MIN_TILES = 16 }; /* 4x4 tiles per image: 14x14 maps and larger */

/* G g: one column (or row) of three taps to six */
static inline void wg4_g(v16 u[6], v16 a, v16 b, v16 c) {
    const float q = 0.25f, s6 = 1.0f / 6.0f, s12 = 1.0f / 12.0f, s24 = 1.0f / 24.0f;
    const v16 ac = a + c;
    u[0] = a * q;
    u[1] = (ac + b) * -s6;
    u[2] = (ac - b) * -s6;
    const v16 e = a * s24 + c * s6, f = b * s12;
    u[3] = e + f;
    u[4] = e - f;
    u[5] = c;
}

/* B^T d: six values to six */
static inline void wg4_b(v16 r[6], v16 d0, v16 d1, v16 d2, v16 d3, v16 d4, v16 d5) {
    const v16 a = d4 - d2 * 4.0f, b = d3 - d1 * 4.0f, c = d4 - d2, e = (d3 - d1) * 2.0f;
    r[0] = d0 * 4.0f - d2 * 5.0f + d4;
    r[1] = a + b;
    r[2] = a - b;
    r[3] = c + e;
    r[4] = c - e;
    r[5] = d1 * 4.0f - d3 * 5.0f + d5;
}

/* A^T m: six values to four */
static inline void wg4_a(v16 o[4], v16 m0, v16 m1, v16 m2, v16 m3, v16 m4, v16 m5) {
    const v16 p = m1 + m2, q = m1 - m2, r = m3 + m4, t = m3 - m4;
    o[0] = m0 + p + r;
    o[1] = q + t * 2.0f;
    o[2] = p + r * 4.0f;
    o[3] = q + t * 8.0f + m5;
}

/* U[e][block][ci][width] = G g G^T, e = 6 * row + column, for the forward view. */
static void wg4_pack(float *U, const float *w, const tx_conv_shape *s) {
    const int64_t cin = s->c, cout = s->oc, per_e = cin * cout;
    const __m512i lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(9 * s->c));
#pragma omp for schedule(static)
    for (int64_t ov = 0; ov < cout / 16; ov++) {
        const int64_t o = ov * 16, o0 = o / 64 * 64, width = imin64(64, cout - o0);
        for (int64_t ci = 0; ci < cin; ci++) {
            v16 g[3][3], gg[3][6];
            for (int ki = 0; ki < 3; ki++)
                for (int kj = 0; kj < 3; kj++)
                    g[ki][kj] = (v16)_mm512_i32gather_ps(lanes, w + ((o * 3 + ki) * 3 + kj) * s->c + ci, 4);
            for (int kj = 0; kj < 3; kj++) wg4_g(gg[kj], g[0][kj], g[1][kj], g[2][kj]);
            float *dst = U + o0 * cin + ci * width + (o - o0);
            for (int i = 0; i < 6; i++) {
                v16 u[6];
                wg4_g(u, gg[0][i], gg[1][i], gg[2][i]);
                for (int j = 0; j < 6; j++) v16_store(dst + (6 * i + j) * per_e, u[j]);
            }
        }
    }
}

/* V[e][tt][c] = B^T d B of the 6x6 input tiles t0..t0+nt-1 (outside x: `zeros`). */
static void wg4_in(float *V, const float *x, const float *zeros, const wg_desc *d, int64_t t0,
                   int64_t nt) {
    const int64_t th = (d->oh + 3) / 4, tw = (d->ow + 3) / 4, c = d->c, es = wg_planem(c, 4);
    int64_t off[36];
    for (int k = 0; k < 36; k++) off[k] = ((k / 6) * d->w + k % 6) * c;
    int64_t tx = t0 % tw, ty = t0 / tw % th, n = t0 / tw / th;
    for (int64_t tt = 0; tt < nt; tt++) {
        const float *p[36];
        wg_window(p, x, zeros, d, n, 4 * ty - d->pt, 4 * tx - d->pl, 6, off);
        wg_next(&tx, &ty, &n, tw, th);
        float *vt = V + tt * c;
        for (int64_t cb = 0; cb < c; cb += 16) {
            v16 t[6][6]; /* t[j][i]: column j after B^T */
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++)
                wg4_b(t[j], v16_load(p[j] + cb), v16_load(p[6 + j] + cb), v16_load(p[12 + j] + cb),
                      v16_load(p[18 + j] + cb), v16_load(p[24 + j] + cb), v16_load(p[30 + j] + cb));
#pragma GCC unroll 6
            for (int i = 0; i < 6; i++) {
                v16 r[6];
                wg4_b(r, t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]);
#pragma GCC unroll 6
                for (int j = 0; j < 6; j++) v16_store(vt + (6 * i + j) * es + cb, r[j]);
            }
        }
    }
}

/* y tiles = A^T m A (+ bias, activation), clipped to oh x ow. */
static void wg4_out(float *y, const float *M, const float *bias, const wg_desc *d, int64_t t0,
                    int64_t nt, act_clamp act) {
    const __m512 lo = _mm512_set1_ps(act.lo), hi = _mm512_set1_ps(act.hi);
    const int64_t th = (d->oh + 3) / 4, tw = (d->ow + 3) / 4, oc = d->oc, es = wg_planem(oc, 4);
    int64_t tx = t0 % tw, ty = t0 / tw % th, n = t0 / tw / th;
    for (int64_t tt = 0; tt < nt; tt++) {
        const int64_t oy = 4 * ty, ox = 4 * tx, img = n;
        wg_next(&tx, &ty, &n, tw, th);
        const int rows = (int)imin64(4, d->oh - oy), cols = (int)imin64(4, d->ow - ox);
        float *y00 = y + ((img * d->oh + oy) * d->ow + ox) * oc;
        const float *mt = M + tt * oc;
        for (int64_t cb = 0; cb < oc; cb += 16) {
            v16 t[6][4]; /* t[j][i]: column j after A^T */
#pragma GCC unroll 6
            for (int j = 0; j < 6; j++)
                wg4_a(t[j], v16_load(mt + j * es + cb), v16_load(mt + (6 + j) * es + cb),
                      v16_load(mt + (12 + j) * es + cb), v16_load(mt + (18 + j) * es + cb),
                      v16_load(mt + (24 + j) * es + cb), v16_load(mt + (30 + j) * es + cb));
            const v16 bv = bias ? v16_load(bias + cb) : (v16){0};
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                if (i >= rows) break;
                v16 o[4];
                wg4_a(o, t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i]);
                float *yr = y00 + i * d->ow * oc + cb;
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    if (j >= cols) break;
                    v16 v = o[j] + bv;
                    if (act.on) v = (v16)act512((__m512)v, lo, hi);
                    v16_store(yr + j * oc, v);
                }
            }
        }
        if (act.fn) act_tile(y00, d->ow * oc, rows, cols * oc, act.fn);
    }
}

/* The whole convolution; call inside a parallel region after U is packed. `slots`: per
 * thread 16 planes of c and of oc channels. Chunks are independent, so they go out
 * dynamically. */
static void wg_run(float *y, const float *x, const float *U, const float *bias,
                   const float *zeros, const wg_desc *d, float *slots, int64_t slot_floats,
                   act_clamp act) {
    const int m = d->m, P = m == 4 ? 36 : 16, T = omp_nth();
    const int64_t tiles = d->n * ((d->oh + m - 1) / m) * ((d->ow + m - 1) / m);
    int64_t WT = m == 4 ? WG4_T : WG_T;
    /* F(4x4): half chunks where that lets every thread take whole chunks (a 56x56 map: 196
     * tiles, 13 chunks of 16 instead of 7 of 32 shared by the threads) */
    if (m == 4 && (tiles + WT - 1) / WT < 4 * T && (tiles + WT / 2 - 1) / (WT / 2) >= 4 * T) WT /= 2;
    const int64_t chunks = (tiles + WT - 1) / WT;
    const int64_t vs = wg_planem(d->c, m), ms = wg_planem(d->oc, m);
    if (chunks >= 4 * T) {
        /* many chunks: each thread transforms, multiplies and writes back whole chunks */
        float *V = slots + omp_tid() * slot_floats, *M = V + P * vs;
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < chunks; ch++) {
            const int64_t t0 = ch * WT, nt = imin64(WT, tiles - t0);
            if (m == 4) wg4_in(V, x, zeros, d, t0, nt);
            else wg_in(V, x, zeros, d, t0, nt);
            wg_gemm(M, V, U, zeros, d->c, d->oc, nt, m);
            if (m == 4) wg4_out(y, M, bias, d, t0, nt, act);
            else wg_out(y, M, bias, d, t0, nt, act);
        }
        return;
    }
    /* few chunks (small batches): the threads share each chunk, tiles for the transforms
     * and (position, 64-channel block) pairs for the GEMMs, in the first slot */
    float *V = slots, *M = V + P * vs;
    const int64_t nb = (d->oc + 63) / 64;
    for (int64_t ch = 0; ch < chunks; ch++) {
        /* equal chunks (196 tiles: 4 x 49, not 3 x 64 + 4) */
        const int64_t t0 = tiles * ch / chunks, nt = tiles * (ch + 1) / chunks - t0;
#pragma omp for schedule(static)
        for (int u = 0; u < T; u++) {
            const int64_t a = nt * u / T, b = nt * (u + 1) / T;
            if (b <= a) continue;
            if (m == 4) wg4_in(V + a * d->c, x, zeros, d, t0 + a, b - a);
            else wg_in(V + a * d->c, x, zeros, d, t0 + a, b - a);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < P * nb; it++)
            wg_gemm_blk(M, V, U, zeros, d->c, d->oc, nt, (int)(it / nb), it % nb * 64, vs, ms);
#pragma omp for schedule(static)
        for (int u = 0; u < T; u++) {
            const int64_t a = nt * u / T, b = nt * (u + 1) / T;
            if (b <= a) continue;
            if (m == 4) wg4_out(y, M + a * d->oc, bias, d, t0 + a, b - a, act);
            else wg_out(y, M + a * d->oc, bias, d, t0 + a, b - a, act);
        }
    }
}

/* Inference with weights transformed once: any batch, per-image tiles enough to pay off
 * (the transform is not repeated per call, so fewer tiles than wg_ok asks for do), and
 * transformed weights up to 16 MB. */
enum { WGP_MIN_TILES = 4 };
static int wg_ok_packed(const tx_conv_shape *s) {
    return s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 &&
           s->groups == 1 && s->c % 16 == 0 && s->oc % 16 == 0 &&
           (int64_t)s->c * s->oc <= 512 * 512 &&
           (int64_t)((s->oh + 1) / 2) * ((s->ow + 1) / 2) >= WGP_MIN_TILES;
}
/* F(4x4) instead of F(2x2): images with at least WG4_MIN_TILES 4x4 tiles, and
 * transformed weights (36 c oc floats) of at most 9.4 MB. */
static int wg4_ok(const tx_conv_shape *s) {
    return wg_ok_packed(s) && (int64_t)s->c * s->oc <= 256 * 256 &&
           (int64_t)((s->oh + 3) / 4) * ((s->ow + 3) / 4) >= WG4_MIN_TILES;
}
/* Scratch of the packed forward: zeros, then per thread the chunk planes of x and y. */
static size_t wg_packed_scratch_floats(const tx_conv_shape *s) {
    const int64_t c = s->c, oc = s->oc;
    const int m = wg4_ok(s) ? 4 : 2, P = m == 4 ? 36 : 16;
    return (size_t)((c > oc ? c : oc) + slot_threads(s) * P * (wg_planem(c, m) + wg_planem(oc, m)));
}
static void wg_forward_packed(float *y, const float *x, const float *U, const float *b,
                              const tx_conv_shape *s, float *scratch) {
    wg_desc d = wg_fwd_desc(s);
    d.m = wg4_ok(s) ? 4 : 2;
    const int64_t c = s->c, oc = s->oc, P = d.m == 4 ? 36 : 16;
    float *zeros = scratch, *slots = zeros + (c > oc ? c : oc);
    const int64_t slot = P * (wg_planem(c, d.m) + wg_planem(oc, d.m));
    if (c <= CONST_ZEROS) {
#pragma omp parallel num_threads(kernel_threads(s))
        wg_run(y, x, U, b, const_zeros, &d, slots, slot, act_of(s->act));
        return;
    }
#pragma omp parallel num_threads(kernel_threads(s))
    {
#pragma omp single
        memset(zeros, 0, (size_t)(c > oc ? c : oc) * sizeof(float)); /* implicit barrier */
        wg_run(y, x, U, b, zeros, &d, slots, slot, act_of(s->act));
    }
}

static void wg_forward(float *y, const float *x, const float *w, const float *b,
                       const tx_conv_shape *s, float *scratch) {
    const wg_desc d = wg_fwd_desc(s);
    const int64_t c = s->c, oc = s->oc;
    float *U = scratch, *zeros = U + 16 * c * oc, *slots = zeros + (c > oc ? c : oc);
    const int64_t slot = 16 * (wg_plane(c) + wg_plane(oc)) + 16 * c * oc;
#pragma omp parallel num_threads(kernel_threads(s))
    {
#pragma omp single
        memset(zeros, 0, (size_t)(c > oc ? c : oc) * sizeof(float));
        wg_pack(U, w, s, 0); /* implicit barrier */
        wg_run(y, x, U, b, zeros, &d, slots, slot, act_of(s->act));
    }
}

/* D[e][tt][oc] = A dy A^T of the 2x2 dy tiles (zeros past oh x ow). */
static void wg_dy(float *D, const float *dy, const tx_conv_shape *s, int64_t t0, int64_t nt) {
    const int64_t th = (s->oh + 1) / 2, tw = (s->ow + 1) / 2, oc = s->oc, es = wg_plane(oc);
    for (int64_t tt = 0; tt < nt; tt++) {
        const int64_t t = t0 + tt, tx = t % tw, q = t / tw, ty = q % th, n = q / th;
        const int64_t oy = 2 * ty, ox = 2 * tx;
        const int two_r = oy + 1 < s->oh, two_c = ox + 1 < s->ow;
        const float *p00 = dy + ((n * s->oh + oy) * s->ow + ox) * oc;
        float *dt = D + tt * oc;
        for (int64_t cb = 0; cb < oc; cb += 16) {
            const v16 a = v16_load(p00 + cb);
            const v16 b = two_c ? v16_load(p00 + oc + cb) : (v16){0};
            const v16 c = two_r ? v16_load(p00 + s->ow * oc + cb) : (v16){0};
            const v16 e = two_r && two_c ? v16_load(p00 + (s->ow + 1) * oc + cb) : (v16){0};
            const v16 rp[4] = {a, a + c, a - c, -c}, rq[4] = {b, b + e, b - e, -e};
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                v16_store(dt + (4 * i + 0) * es + cb, rp[i]);
                v16_store(dt + (4 * i + 1) * es + cb, rp[i] + rq[i]);
                v16_store(dt + (4 * i + 2) * es + cb, rp[i] - rq[i]);
                v16_store(dt + (4 * i + 3) * es + cb, -rq[i]);
            }
        }
    }
}

/* S[r][ci] += sum over nt tiles of D[tt][r] * X[tt][ci], MR rows x NB*16 columns. */
#define WG_DW_KERNEL(MR, NB)                                                                 \
    static void wg_dw_##MR##_##NB(float *S, int64_t lds, const float *X, int64_t ldx,         \
                                  const float *D, int64_t ldd, int64_t nt) {                  \
        __m512 acc[MR][NB];                                                                  \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                            \
                acc[r][j] = _mm512_loadu_ps(S + r * lds + 16 * j);                           \
        for (int64_t tt = 0; tt < nt; tt++) {                                                \
            __m512 xv[NB];                                                                   \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                            \
                xv[j] = _mm512_loadu_ps(X + tt * ldx + 16 * j);                              \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) {                          \
                __m512 dv = _mm512_set1_ps(D[tt * ldd + r]);                                 \
                _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                        \
                    acc[r][j] = _mm512_fmadd_ps(dv, xv[j], acc[r][j]);                       \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                \
            _Pragma("GCC unroll 16") for (int j = 0; j < NB; j++)                            \
                _mm512_storeu_ps(S + r * lds + 16 * j, acc[r][j]);                           \
    }

WG_DW_KERNEL(8, 1)
WG_DW_KERNEL(8, 2)
WG_DW_KERNEL(4, 3)
WG_DW_KERNEL(4, 4)

/* S[e][o][ci] += D[e]^T X[e] over the chunk's tiles. */
static void wg_dw_accum(float *S, const float *X, const float *D, int64_t c, int64_t oc,
                        int64_t nt) {
    for (int e = 0; e < 16; e++) {
        const float *Xe = X + e * wg_plane(c), *De = D + e * wg_plane(oc);
        float *Se = S + (int64_t)e * oc * c;
        for (int64_t c0 = 0; c0 < c; c0 += 64) {
            const int NB = (int)(imin64(64, c - c0) / 16), MR = NB <= 2 ? 8 : 4;
            for (int64_t o0 = 0; o0 < oc; o0 += MR) {
                float *sp = Se + o0 * c + c0;
                switch (NB) {
                case 1: wg_dw_8_1(sp, c, Xe + c0, c, De + o0, oc, nt); break;
                case 2: wg_dw_8_2(sp, c, Xe + c0, c, De + o0, oc, nt); break;
                case 3: wg_dw_4_3(sp, c, Xe + c0, c, De + o0, oc, nt); break;
                default: wg_dw_4_4(sp, c, Xe + c0, c, De + o0, oc, nt); break;
                }
            }
        }
    }
}

static void wg_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const tx_conv_shape *s, float *scratch) {
    const wg_desc fd = wg_fwd_desc(s), bd = wg_dgrad_desc(s);
    const int64_t c = s->c, oc = s->oc, nS = 16 * c * oc;
    const int64_t opix = (int64_t)s->oh * s->ow, tpi = ((s->oh + 1) / 2) * ((s->ow + 1) / 2);
    const int64_t planes = 16 * (wg_plane(c) + wg_plane(oc)), slot = planes + nS;
    float *U = scratch, *zeros = U + nS, *slots = zeros + (c > oc ? c : oc);
    float *dbparts = slots + (int64_t)slot_threads(s) * slot;
    int T = kernel_threads(s);
    if (T > s->n) T = s->n;
#pragma omp parallel num_threads(T)
    {
        const int nt = omp_nth(), t = omp_tid();
        /* dW in the transformed domain: each thread sums its images' tiles into its own S,
         * in order */
        float *X = slots + t * slot, *D = X + 16 * wg_plane(c), *S = X + planes;
        float *dbt = dbparts + t * oc;
        const int64_t n0 = (int64_t)s->n * t / nt, n1 = (int64_t)s->n * (t + 1) / nt;
        memset(S, 0, (size_t)nS * sizeof(float));
        if (db) memset(dbt, 0, (size_t)oc * sizeof(float));
#pragma omp single
        memset(zeros, 0, (size_t)(c > oc ? c : oc) * sizeof(float));
        for (int64_t t0 = n0 * tpi; t0 < n1 * tpi; t0 += WG_T) {
            const int64_t ntile = imin64(WG_T, n1 * tpi - t0);
            wg_in(X, x, zeros, &fd, t0, ntile);
            wg_dy(D, dy, s, t0, ntile);
            wg_dw_accum(S, X, D, c, oc, ntile);
        }
        for (int64_t n = n0; db && n < n1; n++)
            for (int64_t r = 0; r < opix; r++) {
                const float *d = dy + (n * opix + r) * oc;
#pragma omp simd
                for (int64_t o = 0; o < oc; o++) dbt[o] += d[o];
            }
#pragma omp barrier
        /* dW = G^T (sum of the threads' S, in thread order) G, per (o, 16 input channels) */
#pragma omp for schedule(static)
        for (int64_t ob = 0; ob < oc * (c / 16); ob++) {
            const int64_t o = ob / (c / 16), cb = ob % (c / 16) * 16;
            v16 m[16];
            for (int e = 0; e < 16; e++) {
                const int64_t off = planes + e * oc * c + o * c + cb;
                v16 a = v16_load(slots + off);
                for (int u = 1; u < nt; u++) a += v16_load(slots + u * slot + off);
                m[e] = a;
            }
            const v16 h = v16_splat(0.5f);
            v16 r[3][4];
            for (int j = 0; j < 4; j++) {
                r[0][j] = m[j] + h * (m[4 + j] + m[8 + j]);
                r[1][j] = h * (m[4 + j] - m[8 + j]);
                r[2][j] = h * (m[4 + j] + m[8 + j]) + m[12 + j];
            }
            float *dwo = dw + o * 9 * c + cb;
            for (int k = 0; k < 3; k++) {
                v16_store(dwo + (k * 3 + 0) * c, r[k][0] + h * (r[k][1] + r[k][2]));
                v16_store(dwo + (k * 3 + 1) * c, h * (r[k][1] - r[k][2]));
                v16_store(dwo + (k * 3 + 2) * c, h * (r[k][1] + r[k][2]) + r[k][3]);
            }
        }
        if (db) {
#pragma omp for schedule(static)
            for (int64_t o = 0; o < oc; o++) {
                float a = dbparts[o];
                for (int u = 1; u < nt; u++) a += dbparts[u * oc + o];
                db[o] = a;
            }
        }
        if (dx) {
            wg_pack(U, w, s, 1); /* implicit barrier */
            wg_run(dx, dy, U, NULL, zeros, &bd, slots, slot, act_of(0));
        }
    }
}

#endif /* __AVX512F__ */

size_t tx_conv2d_scratch_floats(const tx_conv_shape *s) {
    size_t T = (size_t)slot_threads(s);
    /* direct: transposed weights [taps][oc] + up to T partials [taps+1][oc] */
    if (is_direct(s)) {
        size_t bwd = (size_t)s->oc * (s->kh * s->kw + T * (s->kh * s->kw + 1));
        size_t fwd = dwf_ok(s) ? (size_t)(s->kh * s->kw * dwf_ocp(s)) +
                                     T * (size_t)(s->kh * s->kw + 1) * s->oc : 0;
        return bwd > fwd ? bwd : fwd;
    }
    size_t partials = (T - 1) * (size_t)s->oc * s->kh * s->kw * (s->c / s->groups);
    size_t cols = is_pointwise(s) ? 0 : T * (size_t)conv_chunk_rows(s) * s->kh * s->kw * s->c;
#ifdef TX_CONV_PK
    /* packed weights and zeros, then dW partials; strided convolutions reuse the partials
     * area for the im2col buffers of their GEMM dx afterwards */
    size_t head = pk_scratch_floats(s), need;
    if (!pk_dw_direct(s)) need = head + partials + cols; /* GEMM dW: cols, then partials */
    else need = head + (s->sh == 1 && s->sw == 1 ? partials : partials > cols ? partials : cols);
    /* Winograd or not depends on the batch: sized for this batch, the scratch must also
     * cover every smaller one, which may take the pk path (wg_ok only turns on as the
     * batch grows) */
    if (wg_ok(s) && wg_scratch_floats(s) > need) need = wg_scratch_floats(s);
    if (wg_ok_packed(s) && wg_packed_scratch_floats(s) > need) need = wg_packed_scratch_floats(s);
    return need;
#else
    return partials + cols;
#endif
}

/* ---- entry points ------------------------------------------------------------------- */

/* y = act(y + res) over the output, in parallel: the residual epilogue of the paths
 * without a tile hook (they ran without the activation). */
static void res_pass(float *y, const tx_conv_shape *s) {
    const int64_t n = (int64_t)s->n * s->oh * s->ow * s->oc, chunks = (n + 4095) / 4096;
    const act_clamp a = act_of(s->act);
#pragma omp parallel for schedule(static) num_threads(kernel_threads(s)) if (n >= 65536)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t i0 = c * 4096;
        res_tile(y + i0, s->res + i0, 0, 1, imin64(4096, n - i0), a);
    }
}

/* A residual on a path without a tile epilogue: t is s without its residual and
 * activation (the path runs t, then res_pass adds and activates). */
static int without_res(const tx_conv_shape *s, int tile_res, tx_conv_shape *t) {
    if (!s->res || tile_res) return 0;
    *t = *s;
    t->res = NULL;
    t->act = 0;
    return 1;
}

void tx_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const tx_conv_shape *s, float *scratch) {
    if (s->n <= 0 || s->oh <= 0 || s->ow <= 0) return; /* empty batch: nothing to write */
#ifdef TX_CONV_PK
    const int tile_res = !is_direct(s) && !wg_ok(s); /* pk adds res in its epilogue */
#else
    const int tile_res = 0;
#endif
    tx_conv_shape t;
    if (without_res(s, tile_res, &t)) {
        tx_conv2d_forward(y, x, w, b, &t, scratch);
        res_pass(y, s);
        return;
    }
    if (is_direct(s)) direct_forward(y, x, w, b, s, scratch);
#ifdef TX_CONV_PK
    else if (wg_ok(s)) wg_forward(y, x, w, b, s, scratch);
    else pk_forward(y, x, w, b, s, scratch);
#else
    else gemm_forward(y, x, w, b, s, scratch);
#endif
}

void tx_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const tx_conv_shape *s, float *scratch) {
    if (s->n <= 0 || s->oh <= 0 || s->ow <= 0) { /* empty batch: zero gradients */
        memset(dw, 0, (size_t)s->oc * s->kh * s->kw * (s->c / s->groups) * sizeof(float));
        if (db) memset(db, 0, (size_t)s->oc * sizeof(float));
        return;
    }
    if (is_direct(s)) direct_backward(dx, dw, db, dy, x, w, s, scratch);
#ifdef TX_CONV_PK
    else if (wg_ok(s)) wg_backward(dx, dw, db, dy, x, w, s, scratch);
    else pk_backward(dx, dw, db, dy, x, w, s, scratch);
#else
    else gemm_backward(dx, dw, db, dy, x, w, s, scratch);
#endif
}

/* ---- references ---------------------------------------------------------------------- */

void tx_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                           const tx_conv_shape *s) {
    const int cg = s->c / s->groups, ocg = s->oc / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int o = 0; o < s->oc; o++) {
                    int g = o / ocg;
                    double acc = b ? b[o] : 0.0;
                    for (int ki = 0; ki < s->kh; ki++) {
                        int ih = oy * s->sh - s->pad_t + ki * s->dh;
                        if (ih < 0 || ih >= s->h) continue;
                        for (int kj = 0; kj < s->kw; kj++) {
                            int iw = ox * s->sw - s->pad_l + kj * s->dw;
                            if (iw < 0 || iw >= s->w) continue;
                            const float *xp =
                                x + (((int64_t)n * s->h + ih) * s->w + iw) * s->c + g * cg;
                            const float *wp = w + (((int64_t)o * s->kh + ki) * s->kw + kj) * cg;
                            for (int j = 0; j < cg; j++) acc += (double)xp[j] * wp[j];
                        }
                    }
                    const int64_t yi = (((int64_t)n * s->oh + oy) * s->ow + ox) * s->oc + o;
                    float v = (float)acc;
                    if (s->res) v += s->res[yi];
                    act_inplace(&v, 1, act_of(s->act));
                    y[yi] = v;
                }
}

void tx_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, const tx_conv_shape *s) {
    const int cg = s->c / s->groups, ocg = s->oc / s->groups;
    if (db)
        for (int o = 0; o < s->oc; o++) {
            double acc = 0;
            for (int64_t p = 0; p < (int64_t)s->n * s->oh * s->ow; p++) acc += dy[p * s->oc + o];
            db[o] = (float)acc;
        }
    for (int o = 0; o < s->oc; o++) {
        int g = o / ocg;
        for (int ki = 0; ki < s->kh; ki++)
            for (int kj = 0; kj < s->kw; kj++)
                for (int j = 0; j < cg; j++) {
                    double acc = 0;
                    for (int n = 0; n < s->n; n++)
                        for (int oy = 0; oy < s->oh; oy++) {
                            int ih = oy * s->sh - s->pad_t + ki * s->dh;
                            if (ih < 0 || ih >= s->h) continue;
                            for (int ox = 0; ox < s->ow; ox++) {
                                int iw = ox * s->sw - s->pad_l + kj * s->dw;
                                if (iw < 0 || iw >= s->w) continue;
                                acc += (double)dy[(((int64_t)n * s->oh + oy) * s->ow + ox) * s->oc + o] *
                                       x[(((int64_t)n * s->h + ih) * s->w + iw) * s->c + g * cg + j];
                            }
                        }
                    dw[(((int64_t)o * s->kh + ki) * s->kw + kj) * cg + j] = (float)acc;
                }
    }
    if (!dx) return;
    for (int n = 0; n < s->n; n++)
        for (int ih = 0; ih < s->h; ih++)
            for (int iw = 0; iw < s->w; iw++)
                for (int ci = 0; ci < s->c; ci++) {
                    int g = ci / cg, j = ci % cg;
                    double acc = 0;
                    for (int ki = 0; ki < s->kh; ki++) {
                        int t = ih + s->pad_t - ki * s->dh;
                        if (t < 0 || t % s->sh) continue;
                        int oy = t / s->sh;
                        if (oy >= s->oh) continue;
                        for (int kj = 0; kj < s->kw; kj++) {
                            int u = iw + s->pad_l - kj * s->dw;
                            if (u < 0 || u % s->sw) continue;
                            int ox = u / s->sw;
                            if (ox >= s->ow) continue;
                            for (int o = g * ocg; o < (g + 1) * ocg; o++)
                                acc += (double)dy[(((int64_t)n * s->oh + oy) * s->ow + ox) * s->oc + o] *
                                       w[(((int64_t)o * s->kh + ki) * s->kw + kj) * cg + j];
                        }
                    }
                    dx[(((int64_t)n * s->h + ih) * s->w + iw) * s->c + ci] = (float)acc;
                }
}

/* ---- [conv ->] depthwise [-> pointwise], fused (inference) ------------------------------
 * An inverted-residual block in one pass: an optional first conv on the pk path (the 1x1
 * expansion, or the 3x3 stem before MobileNet's first depthwise conv), the depthwise conv,
 * and an optional 1x1 projection (with its residual), without writing the tensors in
 * between (the expanded ones are the largest of a MobileNet: at 112x112 or 56x56 they
 * stream through memory twice otherwise; and one parallel region replaces three). Work
 * items are bands of B depthwise output rows of one image. A thread computes the first
 * conv's rows its band needs (kh + (B-1)*sh of them; rows shared with the next band are
 * computed again) into its own buffer with the pk kernels, the band's depthwise rows from
 * it (or from x) with the dwf kernels, and, with a projection, those rows' projection from
 * a second buffer straight into y. The same arithmetic, in the same order, as the
 * convolutions one after the other, so the same bits. */
#ifdef TX_CONV_PK
enum { CONVDW_BAND_FLOATS = 96 * 1024 }; /* per-thread buffer (~384 KB, in L2) */

static int is_pointwise_plain(const tx_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->groups == 1 &&
           s->pad_t == 0 && s->pad_l == 0 && s->oh == s->h && s->ow == s->w;
}

/* Tallest band the buffers allow. */
static int64_t convdw_band(const tx_conv_shape *c1, const tx_conv_shape *dw,
                           const tx_conv_shape *c3) {
    int64_t b = dw->oh;
    if (c1) b = imin64(b, (CONVDW_BAND_FLOATS / ((int64_t)c1->ow * c1->oc) - dw->kh) / dw->sh + 1);
    if (c3) b = imin64(b, CONVDW_BAND_FLOATS / ((int64_t)dw->ow * dw->oc));
    return b < 1 ? 1 : b;
}

int tx_convdw_ok(const tx_conv_shape *c1, const tx_conv_shape *dw, const tx_conv_shape *c3) {
    if (!dwf_ok(dw) || dw->res || (!c1 && !c3)) return 0;
    if (c1 && (is_direct(c1) || wg_ok_packed(c1) || c1->c > CONST_ZEROS || c1->res ||
               dw->n != c1->n || dw->c != c1->oc || dw->h != c1->oh || dw->w != c1->ow ||
               (int64_t)c1->ow * c1->oc * dw->kh > CONVDW_BAND_FLOATS))
        return 0;
    if (c3 && (!is_pointwise_plain(c3) || c3->c > CONST_ZEROS || c3->n != dw->n ||
               c3->c != dw->oc || c3->h != dw->oh || c3->w != dw->ow ||
               (int64_t)dw->ow * dw->oc > CONVDW_BAND_FLOATS))
        return 0;
    return 1;
}

/* Per-thread floats: the first conv's rows, then the depthwise rows. */
static int64_t convdw_per1(const tx_conv_shape *c1, const tx_conv_shape *dw, int64_t B) {
    return c1 ? ((B - 1) * dw->sh + dw->kh) * c1->ow * c1->oc + 16 : 0;
}
static int64_t convdw_per3(const tx_conv_shape *dw, const tx_conv_shape *c3, int64_t B) {
    return c3 ? B * dw->ow * dw->oc + 16 : 0;
}

size_t tx_convdw_scratch_floats(const tx_conv_shape *c1, const tx_conv_shape *dw,
                                const tx_conv_shape *c3) {
    const int64_t B = convdw_band(c1, dw, c3);
    return (size_t)slot_threads(dw) * (size_t)(convdw_per1(c1, dw, B) + convdw_per3(dw, c3, B));
}

void tx_convdw_forward_packed(float *y, const float *x, const float *wp1, const float *b1,
                              const tx_conv_shape *c1, const float *wp_dw, const float *b_dw,
                              const tx_conv_shape *dw, const float *wp3, const float *b3,
                              const tx_conv_shape *c3, float *scratch) {
    if (dw->n <= 0 || dw->oh <= 0 || dw->ow <= 0) return;
    /* bands as tall as the buffers allow, but at least one item per thread. More, shorter
     * bands balance the threads better but each costs more than its share: the rows it
     * shares with its neighbour, a projection on fewer pixels (rounded up to the
     * micro-kernel's rows) and the projection's weights loaded again. Measured at batch 1
     * (in-process A/B): one band per thread beat four per thread by 2.7% on mobilenet_v2
     * and 0.6% on efficientnet_b0, and two per thread by 1.1% and 0.4%. */
    const int T = kernel_threads(dw);
    const int64_t want = (dw->oh * dw->n + T - 1) / T / dw->n;
    const int64_t B = imax64(1, imin64(convdw_band(c1, dw, c3), want > 0 ? want : 1));
    const int64_t bands = (dw->oh + B - 1) / B;
    const int64_t per1 = convdw_per1(c1, dw, B), per = per1 + convdw_per3(dw, c3, B);
    const geo g = make_geo(dw);
    const dwf_fn fn = dwf_pick(&g);
    const act_clamp a1 = act_of(c1 ? c1->act : 0), a_dw = act_of(dw->act);
    const act_clamp a3 = act_of(c3 ? c3->act : 0);
    const int64_t nblk = (g.c + 15) / 16, items = (int64_t)dw->n * bands;
    const pk_desc full = c1 ? pk_forward_desc(c1) : (pk_desc){0};
#pragma omp parallel num_threads(T)
    {
        float *buf = scratch + (int64_t)omp_tid() * per, *buf3 = buf + per1;
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            const int64_t n = it / bands, oy0 = it % bands * B, oy1 = imin64(dw->oh, oy0 + B);
            const float *src = x + n * g.h * g.w * g.c; /* the depthwise conv's input image */
            geo gb = g;
            if (c1) {
                /* rows [r0, r1) of the first conv's output that output rows [oy0, oy1) read */
                const int64_t r0 = imax64(0, oy0 * dw->sh - dw->pad_t);
                const int64_t r1 = imin64(dw->h, (oy1 - 1) * dw->sh - dw->pad_t +
                                                     (int64_t)(dw->kh - 1) * dw->dh + 1);
                if (r1 > r0) {
                    /* those rows: the first conv of image n with r1 - r0 output rows, its
                     * top padding moved down by r0 output rows (may go negative) */
                    pk_desc d = full;
                    d.n = 1;
                    d.oh = r1 - r0;
                    d.pt = full.pt - r0 * c1->sh;
                    pk_run_items(buf, x + n * c1->h * c1->w * c1->c, wp1, b1, const_zeros, &d,
                                 a1, NULL, 0);
                }
                /* the depthwise conv then sees a (r1 - r0)-row image whose top padding
                 * absorbs the rows above r0 */
                src = buf;
                gb.h = r1 - r0;
                gb.pt = (int)(g.pt + r0);
            }
            if (!c3) {
                float *yn = y + n * g.oh * g.ow * g.oc;
                if (g.rowsum) gb.rowsum = g.rowsum + n * g.oh * g.oc; /* (image 0 of yn) */
                for (int64_t oy = oy0; oy < oy1; oy++) fn(yn, src, wp_dw, b_dw, &gb, a_dw, 0, oy, 0, nblk);
                continue;
            }
            /* depthwise rows [oy0, oy1) into buf3 as its rows 0.. (the top padding moved
             * up by oy0 output rows), then their projection into y */
            gb.pt = (int)(gb.pt - oy0 * g.sh);
            gb.rowsum = NULL;
            for (int64_t oy = oy0; oy < oy1; oy++)
                fn(buf3, src, wp_dw, b_dw, &gb, a_dw, 0, oy - oy0, 0, nblk);
            const pk_desc d3 = {.n = 1, .h = oy1 - oy0, .w = g.ow, .c = g.oc, .oh = oy1 - oy0,
                                .ow = g.ow, .oc = c3->oc, .kh = 1, .kw = 1, .sh = 1, .sw = 1,
                                .dh = 1, .dw = 1, .groups = 1, .cin = g.oc, .cout = c3->oc};
            const int64_t yoff = (n * g.oh + oy0) * g.ow * c3->oc;
            pk_run_items(y + yoff, buf3, wp3, b3, const_zeros, &d3, a3, c3->res ? c3->res + yoff : NULL, 0);
        }
    }
}
#else
int tx_convdw_ok(const tx_conv_shape *c1, const tx_conv_shape *dw, const tx_conv_shape *c3) {
    (void)c1;
    (void)dw;
    (void)c3;
    return 0;
}
/* Without the fused kernels a caller that skips tx_convdw_ok still gets the block: the
 * convs one after the other, the tensors between them in scratch. (Declared again here
 * for test_conv's second, portable copy of this file, which renames them.) */
size_t tx_conv2d_packed_scratch_floats(const tx_conv_shape *s);
void tx_conv2d_forward_packed(float *y, const float *x, const float *wp, const float *b,
                              const tx_conv_shape *s, float *scratch);
static size_t convdw_sep_floats(const tx_conv_shape *c1, const tx_conv_shape *dw,
                                const tx_conv_shape *c3, size_t *mid1, size_t *mid2) {
    *mid1 = c1 ? (size_t)dw->n * dw->h * dw->w * dw->c : 0;
    *mid2 = c3 ? (size_t)dw->n * dw->oh * dw->ow * dw->oc : 0;
    size_t k = tx_conv2d_packed_scratch_floats(dw), t;
    if (c1 && (t = tx_conv2d_packed_scratch_floats(c1)) > k) k = t;
    if (c3 && (t = tx_conv2d_packed_scratch_floats(c3)) > k) k = t;
    return *mid1 + *mid2 + k;
}
size_t tx_convdw_scratch_floats(const tx_conv_shape *c1, const tx_conv_shape *dw,
                                const tx_conv_shape *c3) {
    size_t a, b;
    return convdw_sep_floats(c1, dw, c3, &a, &b);
}
void tx_convdw_forward_packed(float *y, const float *x, const float *wp1, const float *b1,
                              const tx_conv_shape *c1, const float *wp_dw, const float *b_dw,
                              const tx_conv_shape *dw, const float *wp3, const float *b3,
                              const tx_conv_shape *c3, float *scratch) {
    size_t n1, n2;
    convdw_sep_floats(c1, dw, c3, &n1, &n2);
    float *mid1 = scratch, *mid2 = scratch + n1, *rest = scratch + n1 + n2;
    if (c1) tx_conv2d_forward_packed(mid1, x, wp1, b1, c1, rest);
    tx_conv2d_forward_packed(c3 ? mid2 : y, c1 ? mid1 : x, wp_dw, b_dw, dw, rest);
    if (c3) tx_conv2d_forward_packed(y, mid2, wp3, b3, c3, rest);
}
#endif

/* ---- packed weights (inference) ---------------------------------------------------- */

size_t tx_conv2d_packed_floats(const tx_conv_shape *s) {
    if (dwf_ok(s)) return (size_t)(s->kh * s->kw * dwf_ocp(s));
    if (is_direct(s)) return (size_t)s->oc * s->kh * s->kw;
#ifdef TX_CONV_PK
    if (wg_ok_packed(s)) return (size_t)(wg4_ok(s) ? 36 : 16) * s->c * s->oc;
    const pk_desc d = pk_forward_desc(s);
    return (size_t)pk_wfloats(&d);
#else
    return (size_t)s->oc * s->kh * s->kw * (s->c / s->groups);
#endif
}

size_t tx_conv2d_packed_scratch_floats(const tx_conv_shape *s) {
    if (dwf_ok(s) || is_direct(s)) return 0;
#ifdef TX_CONV_PK
    if (wg_ok_packed(s)) return wg_packed_scratch_floats(s);
    return s->c <= CONST_ZEROS ? 0 : (size_t)s->c;
#else
    return tx_conv2d_scratch_floats(s);
#endif
}

void tx_conv2d_pack(float *wp, const float *w, const tx_conv_shape *s) {
    if (dwf_ok(s)) {
        dwf_pack(wp, w, s);
        return;
    }
    if (is_direct(s)) {
        transpose_taps(wp, w, s->oc, s->kh * s->kw);
        return;
    }
#ifdef TX_CONV_PK
    if (wg4_ok(s)) {
#pragma omp parallel num_threads(kernel_threads(s))
        wg4_pack(wp, w, s);
        return;
    }
    if (wg_ok_packed(s)) {
#pragma omp parallel num_threads(kernel_threads(s))
        wg_pack(wp, w, s, 0);
        return;
    }
    const pk_desc d = pk_forward_desc(s);
#pragma omp parallel num_threads(kernel_threads(s))
    pk_pack(wp, w, &d, 0);
#else
    memcpy(wp, w, tx_conv2d_packed_floats(s) * sizeof(float));
#endif
}

void tx_conv2d_forward_packed(float *y, const float *x, const float *wp, const float *b,
                              const tx_conv_shape *s, float *scratch) {
    if (s->n <= 0 || s->oh <= 0 || s->ow <= 0) return;
#ifdef TX_CONV_PK
    const int tile_res = !dwf_ok(s) && !is_direct(s) && !wg_ok_packed(s);
#else
    const int tile_res = 0;
#endif
    tx_conv_shape t;
    if (without_res(s, tile_res, &t)) {
        tx_conv2d_forward_packed(y, x, wp, b, &t, scratch);
        res_pass(y, s);
        return;
    }
    if (dwf_ok(s)) dwf_run(y, x, wp, b, s);
    else if (is_direct(s)) direct_run(y, x, wp, b, s);
#ifdef TX_CONV_PK
    else if (wg_ok_packed(s)) wg_forward_packed(y, x, wp, b, s, scratch);
    else pk_forward_packed(y, x, wp, b, s, scratch);
#else
    else gemm_forward(y, x, wp, b, s, scratch);
#endif
}

int tx_conv2d_gate_ok(const tx_conv_shape *s) {
#ifdef TX_CONV_PK
    return is_pointwise_plain(s) && !dwf_ok(s) && !is_direct(s) && !wg_ok_packed(s);
#else
    (void)s;
    return 0;
#endif
}

size_t tx_conv2d_gated_scratch_floats(const tx_conv_shape *s) {
    if (tx_conv2d_gate_ok(s)) return tx_conv2d_packed_floats(s) + (size_t)s->c;
    return (size_t)s->n * s->h * s->w * s->c + tx_conv2d_packed_scratch_floats(s);
}

void tx_conv2d_forward_packed_gated(float *y, const float *x, const float *g, const float *wp,
                                    const float *b, const tx_conv_shape *s, float *scratch) {
    if (s->n <= 0 || s->oh <= 0 || s->ow <= 0) return;
    const int64_t cin = s->c, hw = (int64_t)s->h * s->w;
#ifdef TX_CONV_PK
    if (tx_conv2d_gate_ok(s)) {
        /* pk layout of a 1x1 ungrouped conv: 64-channel blocks, each [cin][width] */
        tx_conv_shape one = *s;
        one.n = 1;
        const pk_desc d = pk_forward_desc(&one);
        const int64_t cpad = pk_pad16(s->oc), oc = s->oc;
        float *ws = scratch, *zeros = scratch + cin * cpad;
        memset(zeros, 0, (size_t)cin * sizeof(float));
        const act_clamp act = act_of(s->act);
#pragma omp parallel num_threads(kernel_threads(s))
        for (int n = 0; n < s->n; n++) {
            const float *gn = g + n * cin;
#pragma omp for schedule(static)
            for (int64_t k = 0; k < cin; k++) {
                const float gk = gn[k];
                for (int64_t o0 = 0; o0 < cpad; o0 += 64) {
                    const int64_t width = imin64(64, cpad - o0), at = cin * o0 + k * width;
#pragma omp simd
                    for (int64_t j = 0; j < width; j++) ws[at + j] = wp[at + j] * gk;
                }
            } /* implicit barrier: the weights of image n are ready */
            pk_run_items(y + n * hw * oc, x + n * hw * cin, ws, b, zeros, &d, act,
                         s->res ? s->res + n * hw * oc : NULL, 1); /* ends in a barrier */
        }
        return;
    }
#endif
    float *xs = scratch;
    const int64_t rows = (int64_t)s->n * hw;
#pragma omp parallel for schedule(static) num_threads(kernel_threads(s))
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + (r / hw) * cin, *xr = x + r * cin;
        float *o = xs + r * cin;
#pragma omp simd
        for (int64_t k = 0; k < cin; k++) o[k] = xr[k] * gr[k];
    }
    tx_conv2d_forward_packed(y, xs, wp, b, s, scratch + rows * cin);
}
