/* conv.c - 2-D convolution, forward and backward, NHWC activations, OHWI weights.
 *
 *   x[n,h,w,c] -> y[n,oh,ow,oc];  w[oc,kh,kw,cg] with cg = c/groups;  b[oc] or NULL.
 *   Output channel o belongs to group o / (oc/groups) and reads input channels
 *   [g*cg, (g+1)*cg) (PyTorch's grouping, so depthwise with multiplier k maps input
 *   channel ci to outputs ci*k .. ci*k+k-1).
 *
 * Three fast paths, chosen by shape:
 *  - direct (cg == 1: depthwise, channel multiplier, and single-channel input such as
 *    the first layer on grayscale images): a loop over output pixels vectorized over
 *    the contiguous channel axis; no im2col.
 *  - pointwise (1x1, stride 1, no padding): the NHWC input already is the GEMM operand.
 *  - im2col + GEMM for everything else. A column row is one output pixel; its columns
 *    are [group][kh][kw][cg], matching the OHWI weight, so per group
 *    y = col * W^T, dW = dy^T * col, dcol = dy * W, dx = col2im(dcol).
 *    The rows are processed in chunks of conv_chunk_rows() (a function of the shape
 *    only) so the column buffer stays bounded and cache-sized.
 *
 * Threading: OpenMP, static schedules; every output element is summed in a fixed order
 * (dW: chunk by chunk, in row order; dx: chunk, then kernel tap), so results are
 * bit-identical run to run for a fixed thread count. GEMMs inside parallel regions run
 * on the calling thread (OpenBLAS's OpenMP build detects that).
 *
 * The *_ref twins are the definition: plain loops accumulating in double.
 */
#include "ops/ops.h"

#include <string.h>

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

typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

/* Column buffer budget (floats) of the im2col path, and the least rows per chunk. */
enum { COL_BUDGET = 1 << 19, CHUNK_ROWS_MIN = 256 };

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
    if ((int64_t)s->n * s->oh * s->ow > big / s->oc)
        return tx_err_set(err, TX_ESHAPE, "conv2d: output too large");
    return TX_OK;
}

static int is_direct(const tx_conv_shape *s) { return s->c == s->groups; }
static int is_pointwise(const tx_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pad_t == 0 &&
           s->pad_l == 0 && s->oh == s->h && s->ow == s->w;
}

/* Rows (output pixels) per im2col chunk: a function of the shape only. */
static int64_t conv_chunk_rows(const tx_conv_shape *s) {
    int64_t rows = (int64_t)s->n * s->oh * s->ow;
    int64_t kc = (int64_t)s->kh * s->kw * s->c;
    int64_t r = imax64(COL_BUDGET / kc, CHUNK_ROWS_MIN);
    return imin64(r, rows);
}

size_t tx_conv2d_scratch_floats(const tx_conv_shape *s) {
    if (is_direct(s)) return (size_t)2 * s->kh * s->kw * s->oc;
    if (is_pointwise(s)) return 0;
    return (size_t)conv_chunk_rows(s) * s->kh * s->kw * s->c;
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

static void add_bias_rows(float *y, const float *b, int64_t m, int oc) {
    for (int64_t r = 0; r < m; r++) {
        float *yr = y + r * oc;
#pragma omp simd
        for (int o = 0; o < oc; o++) yr[o] += b[o];
    }
}

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

/* wt[tap][o] = w[o][tap] */
static void transpose_taps(float *wt, const float *w, int oc, int taps) {
    for (int o = 0; o < oc; o++)
        for (int k = 0; k < taps; k++) wt[(int64_t)k * oc + o] = w[(int64_t)o * taps + k];
}

static void direct_forward(float *y, const float *x, const float *w, const float *b,
                           const tx_conv_shape *s, float *scratch) {
    const int c = s->c, oc = s->oc, mult = oc / c, taps = s->kh * s->kw;
    float *wt = scratch;
    transpose_taps(wt, w, oc, taps);
    const int64_t orows = (int64_t)s->n * s->oh;
#pragma omp parallel for schedule(static)
    for (int64_t nr = 0; nr < orows; nr++) {
        int64_t n = nr / s->oh, oy = nr % s->oh;
        const float *xn = x + n * s->h * s->w * c;
        int64_t ih0 = oy * s->sh - s->pad_t;
        int ki_lo = 0, ki_hi = s->kh;
        while (ki_lo < ki_hi && ih0 + (int64_t)ki_lo * s->dh < 0) ki_lo++;
        while (ki_hi > ki_lo && ih0 + (int64_t)(ki_hi - 1) * s->dh >= s->h) ki_hi--;
        for (int64_t ox = 0; ox < s->ow; ox++) {
            float *yp = y + (nr * s->ow + ox) * oc;
            int64_t iw0 = ox * s->sw - s->pad_l;
            int kj_lo = 0, kj_hi = s->kw;
            while (kj_lo < kj_hi && iw0 + (int64_t)kj_lo * s->dw < 0) kj_lo++;
            while (kj_hi > kj_lo && iw0 + (int64_t)(kj_hi - 1) * s->dw >= s->w) kj_hi--;
            if (mult == 1) {
                int o = 0;
                for (; o + 64 <= oc; o += 64) {
                    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                    if (b) {
                        a0 = *(const v16 *)(b + o);
                        a1 = *(const v16 *)(b + o + 16);
                        a2 = *(const v16 *)(b + o + 32);
                        a3 = *(const v16 *)(b + o + 48);
                    }
                    for (int ki = ki_lo; ki < ki_hi; ki++) {
                        const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c + o;
                        for (int kj = kj_lo; kj < kj_hi; kj++) {
                            const float *xp = xr + (iw0 + (int64_t)kj * s->dw) * c;
                            const float *wp = wt + (int64_t)(ki * s->kw + kj) * oc + o;
                            a0 += *(const v16 *)xp * *(const v16 *)wp;
                            a1 += *(const v16 *)(xp + 16) * *(const v16 *)(wp + 16);
                            a2 += *(const v16 *)(xp + 32) * *(const v16 *)(wp + 32);
                            a3 += *(const v16 *)(xp + 48) * *(const v16 *)(wp + 48);
                        }
                    }
                    *(v16 *)(yp + o) = a0;
                    *(v16 *)(yp + o + 16) = a1;
                    *(v16 *)(yp + o + 32) = a2;
                    *(v16 *)(yp + o + 48) = a3;
                }
                for (; o + 16 <= oc; o += 16) {
                    v16 a0 = {0};
                    if (b) a0 = *(const v16 *)(b + o);
                    for (int ki = ki_lo; ki < ki_hi; ki++) {
                        const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c + o;
                        for (int kj = kj_lo; kj < kj_hi; kj++)
                            a0 += *(const v16 *)(xr + (iw0 + (int64_t)kj * s->dw) * c) *
                                  *(const v16 *)(wt + (int64_t)(ki * s->kw + kj) * oc + o);
                    }
                    *(v16 *)(yp + o) = a0;
                }
                if (o < oc) {
                    float acc[16];
                    int cnt = oc - o;
                    for (int j = 0; j < cnt; j++) acc[j] = b ? b[o + j] : 0.0f;
                    for (int ki = ki_lo; ki < ki_hi; ki++) {
                        const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c + o;
                        for (int kj = kj_lo; kj < kj_hi; kj++) {
                            const float *xp = xr + (iw0 + (int64_t)kj * s->dw) * c;
                            const float *wp = wt + (int64_t)(ki * s->kw + kj) * oc + o;
#pragma omp simd
                            for (int j = 0; j < cnt; j++) acc[j] += xp[j] * wp[j];
                        }
                    }
                    memcpy(yp + o, acc, (size_t)cnt * sizeof *acc);
                }
            } else if (mult % 16 == 0) {
                /* each input channel feeds mult consecutive outputs: broadcast x */
                for (int ci = 0; ci < c; ci++)
                    for (int o = ci * mult; o < (ci + 1) * mult; o += 16) {
                        v16 a0 = {0};
                        if (b) a0 = *(const v16 *)(b + o);
                        for (int ki = ki_lo; ki < ki_hi; ki++) {
                            const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c + ci;
                            for (int kj = kj_lo; kj < kj_hi; kj++)
                                a0 += xr[(iw0 + (int64_t)kj * s->dw) * c] *
                                      *(const v16 *)(wt + (int64_t)(ki * s->kw + kj) * oc + o);
                        }
                        *(v16 *)(yp + o) = a0;
                    }
            } else {
                for (int o = 0; o < oc; o++) {
                    int ci = o / mult;
                    float acc = b ? b[o] : 0.0f;
                    for (int ki = ki_lo; ki < ki_hi; ki++) {
                        const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c + ci;
                        for (int kj = kj_lo; kj < kj_hi; kj++)
                            acc += xr[(iw0 + (int64_t)kj * s->dw) * c] *
                                   wt[(int64_t)(ki * s->kw + kj) * oc + o];
                    }
                    yp[o] = acc;
                }
            }
        }
    }
}

static void direct_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const tx_conv_shape *s, float *scratch) {
    const int c = s->c, oc = s->oc, mult = oc / c, taps = s->kh * s->kw;
    const int64_t rows = (int64_t)s->n * s->oh * s->ow;
    float *wt = scratch, *dwt = scratch + (int64_t)taps * oc; /* both [tap][oc] */
    if (dx) transpose_taps(wt, w, oc, taps);
#pragma omp parallel
    {
        if (db) colsum_rows(db, dy, rows, oc);

        /* dW: each 16-channel block sums over every output pixel in order. */
        int64_t nb = (oc + 15) / 16;
#pragma omp for schedule(static)
        for (int64_t bi = 0; bi < nb; bi++) {
            int o0 = (int)bi * 16, cnt = oc - o0 < 16 ? oc - o0 : 16;
            for (int k = 0; k < taps; k++) memset(dwt + (int64_t)k * oc + o0, 0, cnt * sizeof(float));
            for (int64_t nr = 0; nr < (int64_t)s->n * s->oh; nr++) {
                int64_t n = nr / s->oh, oy = nr % s->oh;
                const float *xn = x + n * s->h * s->w * c;
                int64_t ih0 = oy * s->sh - s->pad_t;
                int ki_lo = 0, ki_hi = s->kh;
                while (ki_lo < ki_hi && ih0 + (int64_t)ki_lo * s->dh < 0) ki_lo++;
                while (ki_hi > ki_lo && ih0 + (int64_t)(ki_hi - 1) * s->dh >= s->h) ki_hi--;
                for (int64_t ox = 0; ox < s->ow; ox++) {
                    const float *dyp = dy + (nr * s->ow + ox) * oc + o0;
                    int64_t iw0 = ox * s->sw - s->pad_l;
                    int kj_lo = 0, kj_hi = s->kw;
                    while (kj_lo < kj_hi && iw0 + (int64_t)kj_lo * s->dw < 0) kj_lo++;
                    while (kj_hi > kj_lo && iw0 + (int64_t)(kj_hi - 1) * s->dw >= s->w) kj_hi--;
                    if (cnt == 16 && (mult == 1 || mult % 16 == 0)) {
                        v16 g = *(const v16 *)dyp;
                        int ci = o0 / mult;
                        for (int ki = ki_lo; ki < ki_hi; ki++) {
                            const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c;
                            for (int kj = kj_lo; kj < kj_hi; kj++) {
                                const float *xp = xr + (iw0 + (int64_t)kj * s->dw) * c;
                                v16 *acc = (v16 *)(dwt + (int64_t)(ki * s->kw + kj) * oc + o0);
                                if (mult == 1) *acc += *(const v16 *)(xp + o0) * g;
                                else *acc += xp[ci] * g;
                            }
                        }
                    } else {
                        for (int ki = ki_lo; ki < ki_hi; ki++) {
                            const float *xr = xn + ((ih0 + (int64_t)ki * s->dh) * s->w) * c;
                            for (int kj = kj_lo; kj < kj_hi; kj++) {
                                const float *xp = xr + (iw0 + (int64_t)kj * s->dw) * c;
                                float *acc = dwt + (int64_t)(ki * s->kw + kj) * oc + o0;
                                for (int j = 0; j < cnt; j++) acc[j] += xp[(o0 + j) / mult] * dyp[j];
                            }
                        }
                    }
                }
            }
            for (int o = o0; o < o0 + cnt; o++)
                for (int k = 0; k < taps; k++) dw[(int64_t)o * taps + k] = dwt[(int64_t)k * oc + o];
        }

        /* dx: gather per input row (no write conflicts). */
        if (dx) {
            int64_t irows = (int64_t)s->n * s->h;
#pragma omp for schedule(static)
            for (int64_t nr = 0; nr < irows; nr++) {
                int64_t n = nr / s->h, ih = nr % s->h;
                float *dxr = dx + nr * s->w * c;
                memset(dxr, 0, (size_t)s->w * c * sizeof(float));
                for (int ki = 0; ki < s->kh; ki++) {
                    int64_t t = ih + s->pad_t - (int64_t)ki * s->dh;
                    if (t < 0 || t % s->sh) continue;
                    int64_t oy = t / s->sh;
                    if (oy >= s->oh) continue;
                    const float *dyr = dy + (n * s->oh + oy) * s->ow * oc;
                    for (int kj = 0; kj < s->kw; kj++) {
                        int64_t off = (int64_t)kj * s->dw - s->pad_l;
                        int64_t lo = off < 0 ? (-off + s->sw - 1) / s->sw : 0;
                        int64_t hi = imin64(s->ow, (s->w - off + s->sw - 1) / s->sw);
                        const float *wk = wt + (int64_t)(ki * s->kw + kj) * oc;
                        for (int64_t ox = lo; ox < hi; ox++) {
                            float *d = dxr + (ox * s->sw + off) * c;
                            const float *g = dyr + ox * oc;
                            if (mult == 1) {
#pragma omp simd
                                for (int ci = 0; ci < c; ci++) d[ci] += g[ci] * wk[ci];
                            } else {
                                for (int ci = 0; ci < c; ci++) {
                                    float acc = 0;
                                    const float *gc = g + (int64_t)ci * mult, *wc = wk + (int64_t)ci * mult;
#pragma omp simd reduction(+ : acc)
                                    for (int j = 0; j < mult; j++) acc += gc[j] * wc[j];
                                    d[ci] += acc;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/* ---- GEMM paths ------------------------------------------------------------------ */

static int gemm_threads(int64_t rows_per_chunk) {
    int nt = omp_max_threads();
    return rows_per_chunk < nt ? (int)(rows_per_chunk > 0 ? rows_per_chunk : 1) : nt;
}

static void gemm_forward(float *y, const float *x, const float *w, const float *b,
                         const tx_conv_shape *s, float *scratch) {
    const int pw = is_pointwise(s), G = s->groups, oc = s->oc, ocg = oc / G;
    const int cg = s->c / G;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G;
    const int64_t rows = (int64_t)s->n * s->oh * s->ow, R = conv_chunk_rows(s);
#pragma omp parallel num_threads(gemm_threads(R))
    {
        int nt = omp_nth(), t = omp_tid();
        int64_t rt = R / nt;
        float *col = pw ? NULL : scratch + t * rt * Kc;
        int64_t tiles = (rows + rt - 1) / rt;
#pragma omp for schedule(static)
        for (int64_t ti = 0; ti < tiles; ti++) {
            int64_t p0 = ti * rt, m = imin64(rt, rows - p0);
            const float *A = pw ? x + p0 * Kc : col;
            if (!pw) im2col(col, x, s, p0, m);
            for (int g = 0; g < G; g++)
                tx_sgemm(0, 1, m, ocg, Kg, 1.0f, A + g * Kg, Kc, w + (int64_t)g * ocg * Kg, Kg,
                         0.0f, y + p0 * oc + (int64_t)g * ocg, oc);
            if (b) add_bias_rows(y + p0 * oc, b, m, oc);
        }
    }
}

static void gemm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const tx_conv_shape *s, float *scratch) {
    const int pw = is_pointwise(s), G = s->groups, oc = s->oc, ocg = oc / G;
    const int cg = s->c / G, c = s->c;
    const int64_t Kg = (int64_t)s->kh * s->kw * cg, Kc = Kg * G;
    const int64_t rows = (int64_t)s->n * s->oh * s->ow, R = conv_chunk_rows(s);
    const int64_t opix = (int64_t)s->oh * s->ow;
#pragma omp parallel num_threads(gemm_threads(R))
    {
        int nt = omp_nth(), t = omp_tid();
        if (db) colsum_rows(db, dy, rows, oc);
        if (dx && !pw) {
            int64_t total = (int64_t)s->n * s->h * s->w * c;
            int64_t a = total * t / nt, e = total * (t + 1) / nt;
            memset(dx + a, 0, (size_t)(e - a) * sizeof(float));
        }
        /* dW pieces: split each group's Kg columns so every thread has work. */
        int64_t np = (nt + G - 1) / G;
        if (np > Kg / 16) np = Kg / 16 > 0 ? Kg / 16 : 1;
        int64_t items = (int64_t)G * np;
#pragma omp barrier
        for (int64_t c0 = 0; c0 < rows; c0 += R) {
            int64_t m = imin64(R, rows - c0);
            int64_t r0 = m * t / nt, r1 = m * (t + 1) / nt;
            const float *A = pw ? x + c0 * Kc : scratch;
            if (!pw) {
                im2col(scratch + r0 * Kc, x, s, c0 + r0, r1 - r0);
#pragma omp barrier
            }
            float beta = c0 == 0 ? 0.0f : 1.0f;
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; it++) {
                int g = (int)(it / np);
                int64_t piece = it % np;
                int64_t k0 = Kg * piece / np, k1 = Kg * (piece + 1) / np;
                if (np > 1) { /* align piece boundaries to 16 columns */
                    k0 = piece == 0 ? 0 : (k0 + 8) / 16 * 16;
                    k1 = piece == np - 1 ? Kg : (k1 + 8) / 16 * 16;
                }
                if (k1 > k0)
                    tx_sgemm(1, 0, ocg, k1 - k0, m, 1.0f, dy + c0 * oc + (int64_t)g * ocg, oc,
                             A + g * Kg + k0, Kc, beta, dw + (int64_t)g * ocg * Kg + k0, Kg);
            }
            if (!dx) continue;
            if (pw) {
                for (int g = 0; g < G; g++)
                    tx_sgemm(0, 0, r1 - r0, cg, ocg, 1.0f, dy + (c0 + r0) * oc + (int64_t)g * ocg,
                             oc, w + (int64_t)g * ocg * Kg, Kg, 0.0f,
                             dx + (c0 + r0) * c + (int64_t)g * cg, c);
                continue;
            }
            for (int g = 0; g < G; g++)
                tx_sgemm(0, 0, r1 - r0, Kg, ocg, 1.0f, dy + (c0 + r0) * oc + (int64_t)g * ocg, oc,
                         w + (int64_t)g * ocg * Kg, Kg, 0.0f, scratch + r0 * Kc + g * Kg, Kc);
#pragma omp barrier
            /* input rows this chunk touches: images n_a..n_b, all rows, filtered */
            int64_t n_a = c0 / opix, n_b = (c0 + m - 1) / opix;
            int64_t irows = (n_b - n_a + 1) * s->h;
#pragma omp for schedule(static)
            for (int64_t q = 0; q < irows; q++) {
                int64_t n = n_a + q / s->h, ih = q % s->h;
                /* output rows of image n inside the chunk */
                int64_t pa = imax64(c0, n * opix), pb = imin64(c0 + m, (n + 1) * opix) - 1;
                int64_t oya = (pa - n * opix) / s->ow, oyb = (pb - n * opix) / s->ow;
                int64_t lo = oya * s->sh - s->pad_t, hi = oyb * s->sh - s->pad_t +
                                                          (int64_t)(s->kh - 1) * s->dh;
                if (ih < lo || ih > hi) continue;
                col2im_row(dx, scratch, s, c0, m, n, ih);
            }
        }
    }
}

/* ---- entry points ------------------------------------------------------------------- */

void tx_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const tx_conv_shape *s, float *scratch) {
    if (is_direct(s)) direct_forward(y, x, w, b, s, scratch);
    else gemm_forward(y, x, w, b, s, scratch);
}

void tx_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const tx_conv_shape *s, float *scratch) {
    if (is_direct(s)) direct_backward(dx, dw, db, dy, x, w, s, scratch);
    else gemm_backward(dx, dw, db, dy, x, w, s, scratch);
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
                    y[(((int64_t)n * s->oh + oy) * s->ow + ox) * s->oc + o] = (float)acc;
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
