/* qconv.c - quantized CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (quant.h).
 *
 * Paths (chosen once, at pack time):
 *   GEMM    CONV and FC: C[m, o] = sum_k A[m, k] * B[k, o] with A the input pixels (1x1
 *           convolutions without padding read the input rows directly; others build
 *           im2col rows per tile) and B the packed weights ([panel][k/4][16][4] int8).
 *           AVX-512 VNNI micro-kernels (vpdpbusd) for MR rows x NB panels of 16 output
 *           channels (NB=4/MR=6, 3/8, 2/12, 1/12; accumulators stay in registers), the
 *           requantization in the epilogue. Work items (row tile, panel group) are split
 *           into contiguous ranges per thread.
 *   DW      DEPTHWISE with depth multiplier 1: "pair rows" (int16 pairs of horizontally
 *           adjacent input pixels, built once per input row and 32-channel block and
 *           cached per thread), so the inner loop is loads + vpdpwssd; see run_dw.
 *   C       everything else (depth multiplier > 1, huge kernels), and every path when the
 *           compiler does not target AVX-512 VNNI+BW+VL: portable C computing the same
 *           int32 accumulators.
 * All paths requantize with the same per-channel arithmetic (quant.h), so they agree bit
 * for bit with each other and with tx_qconv_ref. Accumulators wrap modulo 2^32 in every
 * path (as TFLite's int32 would), so even absurdly long reductions agree.
 */
#include "ops/quant.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && \
    defined(__AVX512VL__)
#include <immintrin.h>
#define TX_QCONV_VNNI 1
#endif

enum { PATH_C = 0, PATH_GEMM = 1, PATH_DW = 2 };
enum { NR = 16 };          /* output channels per panel (one zmm of int32) */
enum { MR_MAX = 12 };

struct tx_qconv {
    tx_qconv_desc d;
    float *w_scale;        /* owned copy of the desc's scales */
    int path;
    int qmin, qmax;
    int K, Kp;             /* reduction length, padded to a multiple of 4 */
    int P;                 /* panels of NR output channels */
    int direct;            /* GEMM: A rows are input rows (1x1, no padding, K % 4 == 0) */
    int flip;              /* int8 activations: A bytes are x ^ 0x80 */
    int32_t rs_coef;       /* multiplies the per-row sum of A (uint8 weights) */
    uint8_t pad_byte;      /* im2col value of a padding tap (the input zero point) */
    int32_t *bias;         /* [P*NR] (GEMM, C) or [cb*32] (DW, permuted): corrected bias */
    float *xscale;         /* same layout as bias: XNNPACK requantization scale */
    int32_t *rmult;        /* [oc] reference multiplier / shift, natural order */
    int *rshift;
    double *reff;          /* FULLY_CONNECTED: [oc] double scale of the reference kernel */
    int8_t *wgemm;         /* GEMM: [P][Kp/4][NR][4] */
    int16_t *wdw;          /* DW: [cblocks][kh][units][2][32] int16 (w - w_zp), pairs of
                              horizontally adjacent taps in the unpack order (dw_pos) */
    int dw_units, dw_cblocks, dw_we, dw_group;  /* units = ceil(kw/2) per kernel row; we = padded
                                         columns of a pair row */
    int8_t *wraw;          /* C path: the original weights (bytes) */
    int threads;
    size_t scratch;
};

const tx_qconv_desc *tx_qconv_get_desc(const tx_qconv *p) { return &p->d; }
size_t tx_qconv_scratch_bytes(const tx_qconv *p) { return p->scratch; }

static int type_min(int t) { return t == TX_QT_U8 ? 0 : -128; }
static int type_max(int t) { return t == TX_QT_U8 ? 255 : 127; }
static int ld8(const void *p, int64_t i, int t) {
    return t == TX_QT_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

/* ---- descriptor ------------------------------------------------------------------ */

static int out_size(int in, int k, int s, int d, int pa, int pb) {
    int64_t span = (int64_t)(k - 1) * d + 1;
    int64_t num = (int64_t)in + pa + pb - span;
    if (num < 0) return 0;
    return (int)(num / s + 1);
}

int tx_qconv_desc_init(tx_qconv_desc *d, tx_err *err) {
    const char *kn = d->kind == TX_QCONV_CONV ? "CONV_2D"
                     : d->kind == TX_QCONV_DEPTHWISE ? "DEPTHWISE_CONV_2D"
                     : d->kind == TX_QCONV_FC ? "FULLY_CONNECTED" : NULL;
    if (!kn) return tx_err_set(err, TX_EINVAL, "quantized conv: unknown kind %d", d->kind);
    if (d->type != TX_QT_U8 && d->type != TX_QT_S8)
        return tx_err_set(err, TX_EINVAL, "%s: activation type %d is neither uint8 nor int8", kn, d->type);
    if (d->wtype != TX_QT_U8 && d->wtype != TX_QT_S8)
        return tx_err_set(err, TX_EINVAL, "%s: weight type %d is neither uint8 nor int8", kn, d->wtype);
    if (d->type == TX_QT_S8 && d->wtype == TX_QT_U8)
        return tx_err_set(err, TX_EUNSUP, "%s: int8 activations need int8 weights", kn);
    if (d->mode != TX_QMODE_XNNPACK && d->mode != TX_QMODE_TFLITE_REF)
        return tx_err_set(err, TX_EINVAL, "%s: unknown mode %d", kn, d->mode);
    if (d->kind == TX_QCONV_FC) {
        d->h = d->w = d->kh = d->kw = d->sh = d->sw = d->dh = d->dw = 1;
        d->pad_t = d->pad_l = d->pad_b = d->pad_r = 0;
        d->oh = d->ow = 1;
    }
    if (d->n < 0 || d->h <= 0 || d->w <= 0 || d->c <= 0 || d->oc <= 0)
        return tx_err_set(err, TX_ESHAPE, "%s: bad shape n=%d h=%d w=%d c=%d oc=%d", kn, d->n,
                          d->h, d->w, d->c, d->oc);
    if (d->kh <= 0 || d->kw <= 0 || d->sh <= 0 || d->sw <= 0 || d->dh <= 0 || d->dw <= 0)
        return tx_err_set(err, TX_ESHAPE, "%s: kernel %dx%d, stride %dx%d, dilation %dx%d must "
                          "be positive", kn, d->kh, d->kw, d->sh, d->sw, d->dh, d->dw);
    if (d->pad_t < 0 || d->pad_l < 0 || d->pad_b < 0 || d->pad_r < 0 || d->pad_t >= (1 << 20) ||
        d->pad_l >= (1 << 20) || d->pad_b >= (1 << 20) || d->pad_r >= (1 << 20))
        return tx_err_set(err, TX_ESHAPE, "%s: bad padding %d %d %d %d", kn, d->pad_t, d->pad_l,
                          d->pad_b, d->pad_r);
    if ((int64_t)d->h * d->w * d->c > (INT64_C(1) << 31) || (int64_t)d->kh * d->kw * d->c > (1 << 24) ||
        (int64_t)d->kh * d->dh > (1 << 20) || (int64_t)d->kw * d->dw > (1 << 20) || d->oc > (1 << 24))
        return tx_err_set(err, TX_ESHAPE, "%s: shape too large", kn);
    if (d->kind == TX_QCONV_DEPTHWISE) {
        if (d->depth_multiplier == 0 && d->oc % d->c == 0) d->depth_multiplier = d->oc / d->c;
        if (d->depth_multiplier <= 0 || (int64_t)d->c * d->depth_multiplier != d->oc)
            return tx_err_set(err, TX_ESHAPE, "%s: output channels %d != input channels %d x "
                              "depth multiplier %d", kn, d->oc, d->c, d->depth_multiplier);
    } else {
        d->depth_multiplier = 1;
    }
    int oh = out_size(d->h, d->kh, d->sh, d->dh, d->pad_t, d->pad_b);
    int ow = out_size(d->w, d->kw, d->sw, d->dw, d->pad_l, d->pad_r);
    if (d->oh <= 0) d->oh = oh;
    if (d->ow <= 0) d->ow = ow;
    if (d->oh <= 0 || d->ow <= 0)
        return tx_err_set(err, TX_ESHAPE, "%s: empty output (%dx%d)", kn, d->oh, d->ow);
    /* every output pixel's window must start inside the padded input */
    if ((int64_t)(d->oh - 1) * d->sh > (int64_t)d->h + d->pad_t + d->pad_b - 1 ||
        (int64_t)(d->ow - 1) * d->sw > (int64_t)d->w + d->pad_l + d->pad_r - 1)
        return tx_err_set(err, TX_ESHAPE, "%s: output %dx%d does not fit input %dx%d with "
                          "this stride and padding", kn, d->oh, d->ow, d->h, d->w);
    if ((int64_t)d->oh * d->ow * d->oc > (INT64_C(1) << 31))
        return tx_err_set(err, TX_ESHAPE, "%s: output too large", kn);
    if (!(isfinite(d->in.scale) && d->in.scale > 0) || !(isfinite(d->out.scale) && d->out.scale > 0))
        return tx_err_set(err, TX_EINVAL, "%s: input scale %g / output scale %g must be "
                          "finite and > 0", kn, (double)d->in.scale, (double)d->out.scale);
    if (d->in.zero_point < type_min(d->type) || d->in.zero_point > type_max(d->type) ||
        d->out.zero_point < type_min(d->type) || d->out.zero_point > type_max(d->type))
        return tx_err_set(err, TX_EINVAL, "%s: zero points %d / %d outside the type's range",
                          kn, (int)d->in.zero_point, (int)d->out.zero_point);
    if (d->wtype == TX_QT_U8 ? (d->w_zp < 0 || d->w_zp > 255) : d->w_zp != 0)
        return tx_err_set(err, TX_EINVAL, "%s: weight zero point %d (uint8 weights: 0..255, "
                          "int8 weights: 0)", kn, (int)d->w_zp);
    if (!d->w_scale || !(d->n_w_scale == 1 || d->n_w_scale == d->oc) ||
        (d->wtype == TX_QT_U8 && d->n_w_scale != 1))
        return tx_err_set(err, TX_EINVAL, "%s: %d weight scales for %d output channels (1, or "
                          "one per channel for int8 weights)", kn, d->n_w_scale, d->oc);
    for (int i = 0; i < d->n_w_scale; i++) {
        float s = d->w_scale[i];
        if (!(isfinite(s) && s > 0))
            return tx_err_set(err, TX_EINVAL, "%s: weight scale %d is %g (must be finite and > 0)",
                              kn, i, (double)s);
        float r = d->in.scale * s;
        r = r / d->out.scale;
        if (!(r < 256.0f))
            return tx_err_set(err, TX_EUNSUP, "%s: requantization scale %g of channel %d is not "
                              "below 256", kn, (double)r, i);
    }
    int qmin, qmax;
    int rc = tx_qact_range(&qmin, &qmax, d->type, d->out, d->act, d->mode, err);
    if (rc) return tx_err_prefix(err, rc, "%s", kn);
    if (d->threads < 0) d->threads = 0;
    return TX_OK;
}

/* ---- requantization (shared by every path) ------------------------------------------ */

static float xnn_scale_of(const tx_qconv_desc *d, int o) {
    float s = d->w_scale[d->n_w_scale == 1 ? 0 : o];
    float r = d->in.scale * s;
    return r / d->out.scale;
}

static void ref_mult_of(const tx_qconv_desc *d, int o, int32_t *m, int *sh) {
    float s = d->w_scale[d->n_w_scale == 1 ? 0 : o];
    double real;
    int float_product = d->n_w_scale == 1 && (d->type == TX_QT_U8 || d->kind == TX_QCONV_FC);
    if (float_product) {
        float prod = d->in.scale * s;
        real = (double)prod / (double)d->out.scale;
    } else {
        real = (double)d->in.scale * (double)s / (double)d->out.scale;
    }
    tx_quantize_multiplier(real, m, sh);
}

static inline int requant_xnn(int32_t acc, float s, int zp, int qmin, int qmax) {
    float f = (float)acc * s;
    float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    f = f < lo ? lo : f > hi ? hi : f;
    return (int)nearbyintf(f) + zp;
}

static inline int requant_ref(int32_t acc, int32_t m, int sh, int zp, int qmin, int qmax) {
    int v = tx_mbqm(acc, m, sh) + zp;
    return v < qmin ? qmin : v > qmax ? qmax : v;
}

/* TFLite's reference FULLY_CONNECTED (since April 2025) requantizes in double:
 * (int32)round(double(acc) * double(in) * double(w) / double(out)) + out_zp. */
static double fc_eff_of(const tx_qconv_desc *d, int o) {
    float s = d->w_scale[d->n_w_scale == 1 ? 0 : o];
    return (double)d->in.scale * (double)s / (double)d->out.scale;
}
static inline int requant_fc_ref(int32_t acc, double eff, int zp, int qmin, int qmax) {
    double r = round((double)acc * eff);
    int v = (r > 2147483647.0 ? INT32_MAX : r < -2147483648.0 ? INT32_MIN : (int32_t)r);
    v = (int)((uint32_t)v + (uint32_t)zp);
    return v < qmin ? qmin : v > qmax ? qmax : v;
}
/* the reference requantization of one channel of a packed layer */
static inline int requant_ref_p(const tx_qconv *p, int32_t acc, int o) {
    if (p->reff) return requant_fc_ref(acc, p->reff[o], p->d.out.zero_point, p->qmin, p->qmax);
    return requant_ref(acc, p->rmult[o], p->rshift[o], p->d.out.zero_point, p->qmin, p->qmax);
}

/* ---- naive reference ------------------------------------------------------------------ */

void tx_qconv_ref(void *y, const void *x, const void *weights, const int32_t *bias,
                  const tx_qconv_desc *d) {
    int qmin, qmax;
    tx_err err;
    if (tx_qact_range(&qmin, &qmax, d->type, d->out, d->act, d->mode, &err)) return;
    const int t = d->type, wt = d->wtype;
    const int dm = d->kind == TX_QCONV_DEPTHWISE ? d->depth_multiplier : 1;
    for (int b = 0; b < d->n; b++)
        for (int oy = 0; oy < d->oh; oy++)
            for (int ox = 0; ox < d->ow; ox++)
                for (int o = 0; o < d->oc; o++) {
                    int64_t acc = bias ? bias[o] : 0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = oy * d->sh - d->pad_t + ky * d->dh;
                        if (iy < 0 || iy >= d->h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = ox * d->sw - d->pad_l + kx * d->dw;
                            if (ix < 0 || ix >= d->w) continue;
                            int64_t xb = (((int64_t)b * d->h + iy) * d->w + ix) * d->c;
                            if (d->kind == TX_QCONV_DEPTHWISE) {
                                int ci = o / dm;
                                int wv = ld8(weights, ((int64_t)ky * d->kw + kx) * d->oc + o, wt);
                                acc += (int64_t)(ld8(x, xb + ci, t) - d->in.zero_point) *
                                       (wv - d->w_zp);
                            } else {
                                int64_t wb = (((int64_t)o * d->kh + ky) * d->kw + kx) * d->c;
                                for (int ci = 0; ci < d->c; ci++)
                                    acc += (int64_t)(ld8(x, xb + ci, t) - d->in.zero_point) *
                                           (ld8(weights, wb + ci, wt) - d->w_zp);
                            }
                        }
                    }
                    int32_t a32 = (int32_t)(uint32_t)(uint64_t)acc;
                    int v;
                    if (d->mode == TX_QMODE_XNNPACK) {
                        v = requant_xnn(a32, xnn_scale_of(d, o), d->out.zero_point, qmin, qmax);
                    } else if (d->kind == TX_QCONV_FC) {
                        v = requant_fc_ref(a32, fc_eff_of(d, o), d->out.zero_point, qmin, qmax);
                    } else {
                        int32_t m;
                        int sh;
                        ref_mult_of(d, o, &m, &sh);
                        v = requant_ref(a32, m, sh, d->out.zero_point, qmin, qmax);
                    }
                    ((uint8_t *)y)[(((int64_t)b * d->oh + oy) * d->ow + ox) * d->oc + o] =
                        (uint8_t)(v & 0xff);
                }
}

/* ---- packing ----------------------------------------------------------------------------- */

static int pick_threads(const tx_qconv_desc *d) {
    int t = d->threads;
#ifdef _OPENMP
    if (t <= 0) t = omp_get_max_threads();
#endif
    return t > 0 ? t : 1;
}

void tx_qconv_free(tx_qconv *p) {
    if (!p) return;
    tx_free(p->w_scale);
    tx_free(p->bias);
    tx_free(p->xscale);
    tx_free(p->rmult);
    tx_free(p->rshift);
    tx_free(p->reff);
    tx_free(p->wgemm);
    tx_free(p->wdw);
    tx_free(p->wraw);
    free(p);
}

static int wval(const void *w, int64_t i, int wt) { return ld8(w, i, wt); }

/* Channel position inside a 32-channel DW block after the int16 unpack: channel j of the
 * block is at int32 lane pos (0..31) of the (lo, hi) accumulator pair. */
static int dw_pos(int j) {
    int lane = j / 8, r = j % 8;
    return r < 4 ? lane * 4 + r : 16 + lane * 4 + (r - 4);
}

int tx_qconv_pack(tx_qconv **out, const tx_qconv_desc *din, const void *weights,
                  const int32_t *bias, tx_err *err) {
    *out = NULL;
    tx_qconv_desc dcopy = *din;
    int rc = tx_qconv_desc_init(&dcopy, err);
    if (rc) return rc;
    if (!weights) return tx_err_set(err, TX_EINVAL, "quantized conv: no weights");
    tx_qconv *p = calloc(1, sizeof *p);
    if (!p) return tx_err_set(err, TX_ENOMEM, "quantized conv: out of memory");
    p->d = dcopy;
    const tx_qconv_desc *d = &p->d;
    const int oc = d->oc;
    p->w_scale = tx_alloc((size_t)d->n_w_scale * sizeof(float));
    p->rmult = tx_alloc((size_t)oc * sizeof(int32_t));
    p->rshift = tx_alloc((size_t)oc * sizeof(int));
    if (!p->w_scale || !p->rmult || !p->rshift) goto oom;
    memcpy(p->w_scale, din->w_scale, (size_t)d->n_w_scale * sizeof(float));
    p->d.w_scale = p->w_scale;
    tx_qact_range(&p->qmin, &p->qmax, d->type, d->out, d->act, d->mode, err);
    for (int o = 0; o < oc; o++) ref_mult_of(d, o, &p->rmult[o], &p->rshift[o]);
    if (d->kind == TX_QCONV_FC) {
        p->reff = tx_alloc((size_t)oc * sizeof(double));
        if (!p->reff) goto oom;
        for (int o = 0; o < oc; o++) p->reff[o] = fc_eff_of(d, o);
    }
    p->threads = pick_threads(d);
    p->flip = d->type == TX_QT_S8;
    const int xzp = d->in.zero_point;
    p->pad_byte = (uint8_t)(xzp & 0xff);

#ifdef TX_QCONV_VNNI
    if (d->kind == TX_QCONV_DEPTHWISE && d->depth_multiplier == 1 && d->kh <= 64 &&
        d->kh * ((d->kw + 1) / 2) <= 32)
        p->path = PATH_DW;
    else if (d->kind != TX_QCONV_DEPTHWISE) p->path = PATH_GEMM;
    else p->path = PATH_C;
#else
    p->path = PATH_C;
#endif

    if (p->path == PATH_GEMM) {
        const int K = d->kh * d->kw * d->c;
        p->K = K;
        p->Kp = (K + 3) & ~3;
        p->P = (oc + NR - 1) / NR;
        p->direct = d->kh == 1 && d->kw == 1 && d->pad_t == 0 && d->pad_l == 0 && K % 4 == 0;
        p->rs_coef = d->wtype == TX_QT_U8 ? 128 - d->w_zp : 0;
        const size_t np = (size_t)p->P * NR;
        p->bias = tx_alloc(np * sizeof(int32_t));
        p->xscale = tx_alloc(np * sizeof(float));
        p->wgemm = tx_calloc((size_t)p->P * p->Kp * NR);
        if (!p->bias || !p->xscale || !p->wgemm) goto oom;
        for (size_t o = 0; o < np; o++) {
            p->bias[o] = 0;
            p->xscale[o] = 0;
        }
        for (int o = 0; o < oc; o++) {
            int64_t colsum = 0;
            for (int k = 0; k < K; k++) {
                int w = wval(weights, (int64_t)o * K + k, d->wtype);
                int8_t packed = (int8_t)(d->wtype == TX_QT_U8 ? w - 128 : w);
                p->wgemm[(((size_t)(o / NR) * (p->Kp / 4) + k / 4) * NR + o % NR) * 4 + k % 4] = packed;
                colsum += w - d->w_zp;
            }
            int64_t corr = (int64_t)(p->flip ? 128 + xzp : xzp) * colsum;
            p->bias[o] = (int32_t)(uint32_t)(uint64_t)((bias ? bias[o] : 0) - corr);
            p->xscale[o] = xnn_scale_of(d, o);
        }
        /* per thread: MR_MAX im2col rows (or none) + MR_MAX row sums + int32 tile */
        size_t rows = p->direct ? 0 : (size_t)MR_MAX * p->Kp;
        p->scratch = (size_t)p->threads * (((rows + 63) & ~(size_t)63) + 64 * 4);
    } else if (p->path == PATH_DW) {
        const int U = (d->kw + 1) / 2;
        p->dw_units = U;
        p->dw_cblocks = (oc + 31) / 32;
        p->dw_we = (d->ow - 1) * d->sw + (d->kw - 1) * d->dw + 1 + d->dw;
        const size_t nb = (size_t)p->dw_cblocks * 32;
        p->bias = tx_alloc(nb * sizeof(int32_t));
        p->xscale = tx_alloc(nb * sizeof(float));
        p->wdw = tx_calloc((size_t)p->dw_cblocks * d->kh * U * 64 * sizeof(int16_t));
        if (!p->bias || !p->xscale || !p->wdw) goto oom;
        for (size_t i = 0; i < nb; i++) {
            p->bias[i] = 0;
            p->xscale[i] = 0;
        }
        for (int o = 0; o < oc; o++) {
            int cb = o / 32, pos = dw_pos(o % 32);
            int half = pos / 16, lane = pos % 16; /* int32 lane within lo or hi */
            int64_t colsum = 0;
            for (int ky = 0; ky < d->kh; ky++)
                for (int kx = 0; kx < d->kw; kx++) {
                    int w = wval(weights, ((int64_t)ky * d->kw + kx) * oc + o, d->wtype) - d->w_zp;
                    colsum += w;
                    p->wdw[((((size_t)cb * d->kh + ky) * U + kx / 2) * 2 + half) * 32 + lane * 2 +
                           kx % 2] = (int16_t)w;
                }
            p->bias[(size_t)cb * 32 + pos] =
                (int32_t)(uint32_t)(uint64_t)((bias ? bias[o] : 0) - (int64_t)xzp * colsum);
            p->xscale[(size_t)cb * 32 + pos] = xnn_scale_of(d, o);
        }
        /* per thread: kh cached pair rows of a group of blocks + a zero-point pair row +
         * 32 int32 */
        size_t rowb = (size_t)p->dw_we * 64 * sizeof(int16_t);
        p->dw_group = (int)((24 * 1024) / ((size_t)d->kh * rowb));
        if (p->dw_group < 1) p->dw_group = 1;
        if (p->dw_group > p->dw_cblocks) p->dw_group = p->dw_cblocks;
        size_t per = ((size_t)d->kh * p->dw_group + 1) * rowb + 32 * sizeof(int32_t);
        p->scratch = (size_t)p->threads * ((per + 63) & ~(size_t)63);
    } else {
        size_t wbytes = d->kind == TX_QCONV_DEPTHWISE ? (size_t)d->kh * d->kw * oc
                                                      : (size_t)oc * d->kh * d->kw * d->c;
        p->wraw = tx_alloc(wbytes ? wbytes : 1);
        p->bias = tx_alloc((size_t)oc * sizeof(int32_t));
        p->xscale = tx_alloc((size_t)oc * sizeof(float));
        if (!p->wraw || !p->bias || !p->xscale) goto oom;
        memcpy(p->wraw, weights, wbytes);
        for (int o = 0; o < oc; o++) {
            p->bias[o] = bias ? bias[o] : 0;
            p->xscale[o] = xnn_scale_of(d, o);
        }
        p->scratch = 0;
    }
    *out = p;
    return TX_OK;
oom:
    tx_qconv_free(p);
    return tx_err_set(err, TX_ENOMEM, "quantized conv: out of memory packing %dx%dx%dx%d weights",
                      oc, d->kh, d->kw, d->c);
}

/* ---- portable path ------------------------------------------------------------------------ */

static void run_c(const tx_qconv *p, uint8_t *y, const void *x, int n) {
    const tx_qconv_desc *d = &p->d;
    const int t = d->type, wt = d->wtype;
    const int dm = d->depth_multiplier;
    const int64_t rows = (int64_t)n * d->oh;
    const int nt = p->threads;
#pragma omp parallel for schedule(static) num_threads(nt) if (rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        int b = (int)(r / d->oh), oy = (int)(r % d->oh);
        for (int ox = 0; ox < d->ow; ox++)
            for (int o = 0; o < d->oc; o++) {
                int32_t acc = p->bias[o];
                for (int ky = 0; ky < d->kh; ky++) {
                    int iy = oy * d->sh - d->pad_t + ky * d->dh;
                    if (iy < 0 || iy >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int ix = ox * d->sw - d->pad_l + kx * d->dw;
                        if (ix < 0 || ix >= d->w) continue;
                        int64_t xb = (((int64_t)b * d->h + iy) * d->w + ix) * d->c;
                        if (d->kind == TX_QCONV_DEPTHWISE) {
                            int wv = ld8(p->wraw, ((int64_t)ky * d->kw + kx) * d->oc + o, wt);
                            /* int32 with wrapping, as TFLite's accumulator (a hostile bias can
                             * sit at the edge of the range) */
                            acc = (int32_t)((uint32_t)acc +
                                            (uint32_t)((ld8(x, xb + o / dm, t) - d->in.zero_point) * (wv - d->w_zp)));
                        } else {
                            const int64_t wb = (((int64_t)o * d->kh + ky) * d->kw + kx) * d->c;
                            int32_t s = 0;
                            for (int ci = 0; ci < d->c; ci++)
                                s = (int32_t)((uint32_t)s + (uint32_t)((ld8(x, xb + ci, t) - d->in.zero_point) *
                                                                       (ld8(p->wraw, wb + ci, wt) - d->w_zp)));
                            acc = (int32_t)((uint32_t)acc + (uint32_t)s);
                        }
                    }
                }
                int v = d->mode == TX_QMODE_XNNPACK
                            ? requant_xnn(acc, p->xscale[o], d->out.zero_point, p->qmin, p->qmax)
                            : requant_ref_p(p, acc, o);
                y[((r * d->ow) + ox) * d->oc + o] = (uint8_t)(v & 0xff);
            }
    }
}

#ifdef TX_QCONV_VNNI
/* ---- AVX-512 VNNI GEMM ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *rows[MR_MAX];  /* A row pointers (MR of them; tail rows repeat the last) */
    int32_t rsum[MR_MAX];         /* rs_coef * sum of the row (uint8 weights) */
    int nrows;                    /* valid rows */
    uint8_t *y[MR_MAX];           /* output row pointers (channel 0) */
} gemm_tile;

/* One micro-kernel per (NB panels, MR rows, FLIP): acc[r][j] starts at the bias and adds
 * dpbusd(A[r][4k..4k+3], panel j) over k; the epilogue requantizes and stores. Written as
 * a macro so that NB and MR are literal constants and the MR x NB accumulators live in
 * registers (NB=4/MR=6: 24 accumulators, 4 weight vectors, 1 broadcast). */
#define TX_GEMM_DEFINE(NB, MR, FLIP)                                                            \
    static void gemm_##NB##_##MR##_##FLIP(const tx_qconv *p, const gemm_tile *t, int panel0,   \
                                          int32_t *tmp) {                                       \
        const int k4n = p->Kp / 4;                                                              \
        const size_t pstride = (size_t)k4n * 64;                                                \
        const int8_t *wb = p->wgemm + (size_t)panel0 * pstride;                                 \
        const int ocbase = panel0 * NR;                                                         \
        __m512i acc[MR][NB];                                                                    \
        _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                                  \
            __m512i bj = _mm512_loadu_si512((const void *)(p->bias + ocbase + j * NR));         \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) acc[r][j] = bj;               \
        }                                                                                       \
        const uint8_t *rp[MR];                                                                  \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) rp[r] = t->rows[r];              \
        for (int k = 0; k < k4n; k++) {                                                         \
            __m512i bv[NB];                                                                     \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++)                                \
                bv[j] = _mm512_loadu_si512((const void *)(wb + j * pstride + (size_t)k * 64));  \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                             \
                int32_t a32;                                                                    \
                memcpy(&a32, rp[r] + 4 * (size_t)k, 4);                                         \
                __m512i av = _mm512_set1_epi32(FLIP ? (int32_t)((uint32_t)a32 ^ 0x80808080u)    \
                                                    : a32);                                     \
                _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++)                            \
                    acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, bv[j]);                      \
            }                                                                                   \
        }                                                                                       \
        TX_GEMM_EPILOGUE_BODY(NB, MR)                                                           \
    }

#define TX_GEMM_EPILOGUE_BODY(NB, MR)                                                           \
    {                                                                                           \
        const tx_qconv_desc *d = &p->d;                                                         \
        if (d->mode == TX_QMODE_XNNPACK) {                                                      \
            const __m512 lo = _mm512_set1_ps((float)(p->qmin - d->out.zero_point));             \
            const __m512 hi = _mm512_set1_ps((float)(p->qmax - d->out.zero_point));             \
            const __m512i zp = _mm512_set1_epi32(d->out.zero_point);                            \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                              \
                const int o0 = ocbase + j * NR;                                                 \
                const int left = d->oc - o0;                                                    \
                const __mmask16 m = left >= 16 ? (__mmask16)0xffff                              \
                                               : (__mmask16)((1u << left) - 1);                 \
                const __m512 sj = _mm512_loadu_ps(p->xscale + o0);                              \
                _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                         \
                    if (r >= t->nrows) break;                                                   \
                    __m512i a = _mm512_add_epi32(acc[r][j], _mm512_set1_epi32(t->rsum[r]));     \
                    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), sj);                        \
                    f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);                                \
                    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), zp);                    \
                    _mm_mask_storeu_epi8(t->y[r] + o0, m, _mm512_cvtepi32_epi8(q));             \
                }                                                                               \
            }                                                                                   \
        } else {                                                                                \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                              \
                const int o0 = ocbase + j * NR;                                                 \
                int left = d->oc - o0;                                                          \
                if (left > 16) left = 16;                                                       \
                _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                         \
                    if (r >= t->nrows) break;                                                   \
                    _mm512_storeu_si512((void *)tmp,                                            \
                                        _mm512_add_epi32(acc[r][j],                             \
                                                         _mm512_set1_epi32(t->rsum[r])));       \
                    for (int i = 0; i < left; i++) {                                            \
                        int v = requant_ref_p(p, tmp[i], o0 + i);                               \
                        t->y[r][o0 + i] = (uint8_t)(v & 0xff);                                  \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

#define TX_GEMM_KERNELS(NB, MR)                                                                 \
    TX_GEMM_DEFINE(NB, MR, 0)                                                                   \
    TX_GEMM_DEFINE(NB, MR, 1)
TX_GEMM_KERNELS(1, 12)
TX_GEMM_KERNELS(2, 12)
TX_GEMM_KERNELS(1, 8)
TX_GEMM_KERNELS(2, 8)
TX_GEMM_KERNELS(3, 8)
TX_GEMM_KERNELS(1, 6)
TX_GEMM_KERNELS(2, 6)
TX_GEMM_KERNELS(3, 6)
TX_GEMM_KERNELS(4, 6)

typedef void (*gemm_fn)(const tx_qconv *, const gemm_tile *, int, int32_t *);
static gemm_fn gemm_pick(int nb, int mr, int flip) {
#define TX_PICK(NB, MR) (flip ? gemm_##NB##_##MR##_1 : gemm_##NB##_##MR##_0)
    if (mr == 12) return nb == 1 ? TX_PICK(1, 12) : TX_PICK(2, 12);
    if (mr == 8) return nb == 1 ? TX_PICK(1, 8) : nb == 2 ? TX_PICK(2, 8) : TX_PICK(3, 8);
    return nb == 1 ? TX_PICK(1, 6) : nb == 2 ? TX_PICK(2, 6) : nb == 3 ? TX_PICK(3, 6) : TX_PICK(4, 6);
#undef TX_PICK
}

/* Sum of n bytes. */
static inline int32_t byte_sum(const uint8_t *a, int n) {
    if (n <= 16) {
        __m128i v = _mm_maskz_loadu_epi8((__mmask16)((1u << n) - 1), a);
        __m128i s = _mm_sad_epu8(v, _mm_setzero_si128());
        return _mm_cvtsi128_si32(_mm_add_epi64(s, _mm_unpackhi_epi64(s, s)));
    }
    if (n <= 32) {
        __mmask32 m = n == 32 ? 0xffffffffu : (1u << n) - 1;
        __m256i s = _mm256_sad_epu8(_mm256_maskz_loadu_epi8(m, a), _mm256_setzero_si256());
        __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        return _mm_cvtsi128_si32(_mm_add_epi64(h, _mm_unpackhi_epi64(h, h)));
    }
    __m512i s = _mm512_setzero_si512();
    int i = 0;
    for (; i + 64 <= n; i += 64)
        s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_loadu_si512((const void *)(a + i)),
                                                _mm512_setzero_si512()));
    if (i < n) {
        __mmask64 m = (UINT64_C(1) << (n - i)) - 1;
        s = _mm512_add_epi64(s, _mm512_sad_epu8(_mm512_maskz_loadu_epi8(m, a + i),
                                                _mm512_setzero_si512()));
    }
    return (int32_t)_mm512_reduce_add_epi64(s);
}

/* im2col row for output pixel (b, oy, ox): Kp bytes of raw input (the kernel flips int8
 * activations), padding taps hold the input zero point, the K..Kp tail zeros (their
 * weights are zero). */
static void im2col_row(const tx_qconv *p, uint8_t *dst, const uint8_t *x, int b, int oy, int ox) {
    const tx_qconv_desc *d = &p->d;
    const int c = d->c, span = d->kw * c;
    uint8_t *o = dst;
    const int ix0 = ox * d->sw - d->pad_l;
    const int inner = d->dw == 1 && ix0 >= 0 && ix0 + d->kw <= d->w;
    for (int ky = 0; ky < d->kh; ky++, o += span) {
        int iy = oy * d->sh - d->pad_t + ky * d->dh;
        if (iy < 0 || iy >= d->h) {
            memset(o, p->pad_byte, (size_t)span);
            continue;
        }
        const uint8_t *xr = x + ((size_t)b * d->h + iy) * d->w * c;
        if (inner) { /* the kw taps are contiguous in the input row */
            const uint8_t *src = xr + (size_t)ix0 * c;
            if (span <= 64) {
                __mmask64 m = span == 64 ? ~UINT64_C(0) : (UINT64_C(1) << span) - 1;
                _mm512_mask_storeu_epi8(o, m, _mm512_maskz_loadu_epi8(m, src));
            } else {
                memcpy(o, src, (size_t)span);
            }
            continue;
        }
        for (int kx = 0; kx < d->kw; kx++) {
            int ix = ix0 + kx * d->dw;
            if (ix < 0 || ix >= d->w) memset(o + (size_t)kx * c, p->pad_byte, (size_t)c);
            else memcpy(o + (size_t)kx * c, xr + (size_t)ix * c, (size_t)c);
        }
    }
    if (p->Kp > p->K) memset(o, 0, (size_t)(p->Kp - p->K));
}

static void run_gemm(const tx_qconv *p, uint8_t *y, const uint8_t *x, int n, uint8_t *scratch) {
    const tx_qconv_desc *d = &p->d;
    const int64_t ohw = (int64_t)d->oh * d->ow;
    const int64_t M = (int64_t)n * ohw;
    const int P = p->P;
    const int groups = (P + 3) / 4;
    const int NB = (P + groups - 1) / groups;
    const int MR = NB == 4 ? 6 : NB == 3 ? 8 : 12;
    const int64_t mtiles = (M + MR - 1) / MR;
    const int64_t items = mtiles * groups;
    int nt = p->threads;
#ifdef _OPENMP
    if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
#endif
    if (items < nt) nt = (int)(items > 0 ? items : 1);
    const size_t per = p->scratch / (size_t)p->threads;
#pragma omp parallel num_threads(nt)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        uint8_t *buf = scratch + (size_t)tid * per;
        int32_t *tmp = (int32_t *)(void *)(buf + per - 64 * 4);
        const int64_t i0 = items * tid / nt, i1 = items * (tid + 1) / nt;
        gemm_tile t;
        int64_t cur_tile = -1;
        for (int64_t it = i0; it < i1; it++) {
            const int64_t mt = it / groups;
            const int g = (int)(it % groups);
            if (mt != cur_tile) {
                cur_tile = mt;
                const int64_t m0 = mt * MR;
                const int nr = (int)(M - m0 < MR ? M - m0 : MR);
                t.nrows = nr;
                int b = (int)(m0 / ohw), rem = (int)(m0 % ohw);
                int oy = rem / d->ow, ox = rem % d->ow;
                for (int r = 0; r < MR; r++) {
                    if (r >= nr) { /* tail: repeat the last row (computed, not stored) */
                        t.rows[r] = t.rows[nr - 1];
                        t.y[r] = t.y[nr - 1];
                        t.rsum[r] = t.rsum[nr - 1];
                        continue;
                    }
                    t.y[r] = y + (size_t)(m0 + r) * d->oc;
                    if (p->direct) {
                        t.rows[r] = x + (((size_t)b * d->h + (size_t)oy * d->sh) * d->w +
                                         (size_t)ox * d->sw) * d->c;
                    } else {
                        uint8_t *row = buf + (size_t)r * p->Kp;
                        im2col_row(p, row, x, b, oy, ox);
                        t.rows[r] = row;
                    }
                    t.rsum[r] = (int32_t)((uint32_t)p->rs_coef * (uint32_t)byte_sum(t.rows[r], p->K));
                    if (++ox == d->ow) {
                        ox = 0;
                        if (++oy == d->oh) oy = 0, b++;
                    }
                }
            }
            const int p0 = g * NB;
            const int nb = P - p0 < NB ? P - p0 : NB;
            gemm_pick(nb, MR, p->flip)(p, &t, p0, tmp);
        }
    }
}

/* ---- AVX-512 depthwise ------------------------------------------------------------------------ */

/* ---- AVX-512 depthwise ------------------------------------------------------------------------
 * Depth multiplier 1. A "pair row" of input row iy and 32-channel block cb holds, for every
 * padded column e = ix + pad_l (0 <= e < dw_we), the int16 pairs (x[ix][c], x[ix + dw][c])
 * in the order _mm512_unpacklo/hi_epi16 leave them: 2 zmm per column, padding columns
 * hold the input zero point. Taps (kx = 2u, 2u + 1) of output column ox then are one
 * vpdpwssd each half on column ox*sw + 2u*dw (an odd last tap has a zero partner weight).
 * Pair rows are built once per (input row, block) and cached per thread for the kh output
 * rows that read them: the only widening/shuffling happens there. */

static int gcd_int(int a, int b) { return b ? gcd_int(b, a % b) : a; }

static void dw_build_row(const tx_qconv *p, int16_t *dst, const uint8_t *xrow, int cb) {
    const tx_qconv_desc *d = &p->d;
    const int C = d->oc, c0 = cb * 32, left = C - c0, we = p->dw_we;
    /* the compute reads columns ox*sw + 2u*dw only: multiples of gcd(sw, 2 dw) */
    const int estep = gcd_int(d->sw, 2 * d->dw);
    const __mmask32 lm = left >= 32 ? 0xffffffffu : ((1u << left) - 1);
    const int s8 = d->type == TX_QT_S8;
    const __m256i zb = _mm256_set1_epi8((char)(d->in.zero_point & 0xff));
    for (int e = 0; e < we; e += estep) {
        const int ia = e - d->pad_l, ib = ia + d->dw;
        __m256i ra = ia >= 0 && ia < d->w ? _mm256_maskz_loadu_epi8(lm, xrow + (size_t)ia * C + c0) : zb;
        __m256i rb = ib >= 0 && ib < d->w ? _mm256_maskz_loadu_epi8(lm, xrow + (size_t)ib * C + c0) : zb;
        __m512i va = s8 ? _mm512_cvtepi8_epi16(ra) : _mm512_cvtepu8_epi16(ra);
        __m512i vb = s8 ? _mm512_cvtepi8_epi16(rb) : _mm512_cvtepu8_epi16(rb);
        _mm512_storeu_si512((void *)(dst + (size_t)e * 64), _mm512_unpacklo_epi16(va, vb));
        _mm512_storeu_si512((void *)(dst + (size_t)e * 64 + 32), _mm512_unpackhi_epi16(va, vb));
    }
}

static void dw_zero_row(const tx_qconv *p, int16_t *dst) {
    const tx_qconv_desc *d = &p->d;
    const int16_t z = (int16_t)(d->type == TX_QT_S8 ? (int8_t)d->in.zero_point : d->in.zero_point);
    for (size_t i = 0; i < (size_t)p->dw_we * 64; i++) dst[i] = z;
}

/* One output row, one block: rows[ky] are the pair rows (block-local). */
static inline __attribute__((always_inline)) void
dw_compute(const tx_qconv *p, uint8_t *yrow, const int16_t *const *rows, int cb, const int KH,
           const int U, int32_t *tmp) {
    const tx_qconv_desc *d = &p->d;
    const int C = d->oc, c0 = cb * 32, left = C - c0, full = left >= 32;
    const __mmask32 lm = full ? 0xffffffffu : ((1u << left) - 1);
    const int zp = d->out.zero_point, sw = d->sw, step = 2 * d->dw;
    const int16_t *wbk = p->wdw + (size_t)cb * KH * U * 64;
    __m512i wv[2 * 32];
#pragma GCC unroll 32
    for (int i = 0; i < KH * U; i++) {
        wv[2 * i] = _mm512_loadu_si512((const void *)(wbk + i * 64));
        wv[2 * i + 1] = _mm512_loadu_si512((const void *)(wbk + i * 64 + 32));
    }
    const __m512i b_lo = _mm512_loadu_si512((const void *)(p->bias + c0));
    const __m512i b_hi = _mm512_loadu_si512((const void *)(p->bias + c0 + 16));
    const __m512 s_lo = _mm512_loadu_ps(p->xscale + c0), s_hi = _mm512_loadu_ps(p->xscale + c0 + 16);
    const __m512 flo = _mm512_set1_ps((float)(p->qmin - zp)), fhi = _mm512_set1_ps((float)(p->qmax - zp));
    const __m512i vzp = _mm512_set1_epi16((short)zp);
    for (int ox = 0; ox < d->ow; ox++) {
        __m512i acc_lo = b_lo, acc_hi = b_hi;
        const size_t e0 = (size_t)ox * sw;
#pragma GCC unroll 8
        for (int ky = 0; ky < KH; ky++) {
            const int16_t *r = rows[ky] + e0 * 64;
#pragma GCC unroll 8
            for (int u = 0; u < U; u++) {
                const int16_t *c = r + (size_t)u * step * 64;
                acc_lo = _mm512_dpwssd_epi32(acc_lo, _mm512_loadu_si512((const void *)c), wv[2 * (ky * U + u)]);
                acc_hi = _mm512_dpwssd_epi32(acc_hi, _mm512_loadu_si512((const void *)(c + 32)),
                                             wv[2 * (ky * U + u) + 1]);
            }
        }
        uint8_t *yo = yrow + (size_t)ox * C + c0;
        if (d->mode == TX_QMODE_XNNPACK) {
            __m512 f_lo = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_lo), s_lo);
            __m512 f_hi = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_hi), s_hi);
            f_lo = _mm512_min_ps(_mm512_max_ps(f_lo, flo), fhi);
            f_hi = _mm512_min_ps(_mm512_max_ps(f_hi, flo), fhi);
            __m512i q = _mm512_packs_epi32(_mm512_cvtps_epi32(f_lo), _mm512_cvtps_epi32(f_hi));
            q = _mm512_add_epi16(q, vzp);
            if (full) _mm256_storeu_si256((__m256i *)yo, _mm512_cvtepi16_epi8(q));
            else _mm256_mask_storeu_epi8(yo, lm, _mm512_cvtepi16_epi8(q));
        } else {
            _mm512_storeu_si512((void *)tmp, acc_lo);
            _mm512_storeu_si512((void *)(tmp + 16), acc_hi);
            const int cnt = full ? 32 : left;
            for (int j = 0; j < cnt; j++) {
                int o = c0 + j;
                int v = requant_ref(tmp[dw_pos(j)], p->rmult[o], p->rshift[o], zp, p->qmin, p->qmax);
                yo[j] = (uint8_t)(v & 0xff);
            }
        }
    }
}

static void dw_compute_3x3(const tx_qconv *p, uint8_t *yrow, const int16_t *const *rows, int cb,
                           int32_t *tmp) {
    dw_compute(p, yrow, rows, cb, 3, 2, tmp);
}
static void dw_compute_any(const tx_qconv *p, uint8_t *yrow, const int16_t *const *rows, int cb,
                           int32_t *tmp) {
    dw_compute(p, yrow, rows, cb, p->d.kh, p->dw_units, tmp); /* kh * units <= 32 (pack) */
}

static void run_dw(const tx_qconv *p, uint8_t *y, const uint8_t *x, int n, uint8_t *scratch) {
    const tx_qconv_desc *d = &p->d;
    const int C = d->oc, CB = p->dw_cblocks, KH = d->kh;
    const int64_t rows = (int64_t)n * d->oh;
    int nt = p->threads;
#ifdef _OPENMP
    if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
#endif
    /* items: (group of blocks, output row), group-major: a thread sweeps consecutive rows
     * of one group; a group is as many blocks as keep its kh cached pair rows in ~24 KB
     * (L1), at least one */
    const int GB = p->dw_group;
    const int NG = (CB + GB - 1) / GB;
    const int64_t items = rows * NG;
    if (items < nt) nt = (int)(items > 0 ? items : 1);
    const size_t per = p->scratch / (size_t)p->threads;
    const size_t rowel = (size_t)p->dw_we * 64; /* int16 per (row, block) */
    void (*compute)(const tx_qconv *, uint8_t *, const int16_t *const *, int, int32_t *) =
        KH == 3 && p->dw_units == 2 ? dw_compute_3x3 : dw_compute_any;
#pragma omp parallel num_threads(nt)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int16_t *base = (int16_t *)(void *)(scratch + (size_t)tid * per);
        int16_t *zero = base + (size_t)KH * GB * rowel;   /* zero points, any block */
        int32_t *tmp = (int32_t *)(void *)(zero + rowel);
        int64_t tag_row[64];                              /* KH cache slots: (image, iy) */
        int tag_grp[64];
        for (int s = 0; s < KH; s++) tag_row[s] = -1, tag_grp[s] = -1;
        dw_zero_row(p, zero);
        const int64_t i0 = items * tid / nt, i1 = items * (tid + 1) / nt;
        for (int64_t it = i0; it < i1; it++) {
            const int grp = (int)(it / rows);
            const int64_t row = it % rows;
            const int cb0 = grp * GB, cb1 = cb0 + GB < CB ? cb0 + GB : CB;
            const int b = (int)(row / d->oh), oy = (int)(row % d->oh);
            int slot_of[64];
            int64_t need[64];
            for (int ky = 0; ky < KH; ky++) {
                int iy = oy * d->sh - d->pad_t + ky * d->dh;
                need[ky] = iy >= 0 && iy < d->h ? (int64_t)b * d->h + iy : -1;
            }
            for (int ky = 0; ky < KH; ky++) { /* cached? */
                slot_of[ky] = -1;
                if (need[ky] < 0) continue;
                for (int s = 0; s < KH; s++)
                    if (tag_row[s] == need[ky] && tag_grp[s] == grp) slot_of[ky] = s;
            }
            for (int ky = 0; ky < KH; ky++) { /* build the missing ones in free slots */
                if (need[ky] < 0 || slot_of[ky] >= 0) continue;
                int s = 0;
                for (;; s++) {
                    int used = 0;
                    for (int k2 = 0; k2 < KH; k2++) used |= slot_of[k2] == s;
                    if (!used) break;
                }
                slot_of[ky] = s;
                tag_row[s] = need[ky];
                tag_grp[s] = grp;
                for (int cb = cb0; cb < cb1; cb++)
                    dw_build_row(p, base + ((size_t)s * GB + cb - cb0) * rowel,
                                 x + (size_t)need[ky] * d->w * C, cb);
            }
            for (int cb = cb0; cb < cb1; cb++) {
                const int16_t *rp[64];
                for (int ky = 0; ky < KH; ky++)
                    rp[ky] = slot_of[ky] < 0 ? zero : base + ((size_t)slot_of[ky] * GB + cb - cb0) * rowel;
                compute(p, y + ((size_t)row * d->ow) * C, rp, cb, tmp);
            }
        }
    }
}
#endif /* TX_QCONV_VNNI */

void tx_qconv_run(const tx_qconv *p, void *y, const void *x, int n, void *scratch) {
    if (n <= 0) return;
#ifdef TX_QCONV_VNNI
    if (p->path == PATH_GEMM) {
        run_gemm(p, y, x, n, scratch);
        return;
    }
    if (p->path == PATH_DW) {
        run_dw(p, y, x, n, scratch);
        return;
    }
#endif
    (void)scratch;
    run_c(p, y, x, n);
}
