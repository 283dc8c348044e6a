/* qops.c - quantized (8-bit) elementwise, pooling, reduction, softmax, concatenation and
 * padding kernels with TFLite's arithmetic (XNNPACK delegate or reference kernels).
 * quant.h documents the arithmetic of every op; this file is its implementation.
 * Float expressions are written one rounding per statement; the build's -std=c17 keeps
 * GCC from contracting them into FMAs (which would change results). */
#include "ops/quant.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define TX_Q_AVX512 1
#endif

const char *tx_qmode_name(tx_qmode m) {
    return m == TX_QMODE_XNNPACK ? "xnnpack" : m == TX_QMODE_TFLITE_REF ? "tflite_ref" : "?";
}

/* ---- fixed point ------------------------------------------------------------ */

void tx_quantize_multiplier(double real, int32_t *mult, int *shift) {
    if (real == 0.0 || !isfinite(real)) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    double q = frexp(real, &e);
    int64_t qf = (int64_t)round(q * 2147483648.0);
    if (qf == (INT64_C(1) << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    *mult = (int32_t)qf;
    *shift = e;
}

int32_t tx_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

int32_t tx_rdbpot(int32_t x, int e) {
    int32_t mask = (int32_t)((INT64_C(1) << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

int32_t tx_mbqm(int32_t x, int32_t mult, int shift) {
    int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
    int32_t xs = (int32_t)(uint32_t)((uint32_t)x << ls); /* wraps like TFLite's int32 */
    return tx_rdbpot(tx_srdhm(xs, mult), rs);
}

static int type_min(int t) { return t == TX_QT_U8 ? 0 : -128; }
static int type_max(int t) { return t == TX_QT_U8 ? 255 : 127; }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static int load8(const void *p, int64_t i, int t) {
    return t == TX_QT_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}
static void store8(void *p, int64_t i, int v) { ((uint8_t *)p)[i] = (uint8_t)(v & 0xff); }

static int scale_ok(float s) { return isfinite(s) && s > 0 && isnormal(s); }

static int check_param(const char *what, tx_qparam p, int t, tx_err *err) {
    if (t != TX_QT_U8 && t != TX_QT_S8)
        return tx_err_set(err, TX_EINVAL, "%s: type %d is neither uint8 nor int8", what, t);
    if (!scale_ok(p.scale))
        return tx_err_set(err, TX_EINVAL, "%s: scale %g must be finite, normal and > 0", what,
                          (double)p.scale);
    if (p.zero_point < type_min(t) || p.zero_point > type_max(t))
        return tx_err_set(err, TX_EINVAL, "%s: zero point %d outside the %s range", what,
                          (int)p.zero_point, t == TX_QT_U8 ? "uint8" : "int8");
    return TX_OK;
}

/* XNNPACK's xnn_qu8_quantize / xnn_qs8_quantize of a clamp bound. */
static int xnn_quantize_bound(float v, float scale, int32_t zp, int t) {
    float q = v / scale;
    q = q + (float)zp;
    q = fmaxf(q, (float)type_min(t));
    q = fminf(q, (float)type_max(t));
    return (int)lrintf(q);
}

/* TFLite's Quantize() inside CalculateActivationRangeQuantized. */
static int tfl_quantize_bound(float v, float scale, int32_t zp) {
    float q = roundf(v / scale);
    return zp + (int)q;
}

int tx_qact_range(int *qmin, int *qmax, tx_qtype t, tx_qparam out, int act, tx_qmode mode,
                  tx_err *err) {
    int rc = check_param("activation range: output", out, t, err);
    if (rc) return rc;
    float lo, hi;
    switch (act) {
    case TX_QACT_NONE: lo = -INFINITY; hi = INFINITY; break;
    case TX_QACT_RELU: lo = 0; hi = INFINITY; break;
    case TX_QACT_RELU6: lo = 0; hi = 6; break;
    case TX_QACT_RELU_N1_TO_1: lo = -1; hi = 1; break;
    default:
        return tx_err_set(err, TX_EUNSUP, "fused activation %d is not supported for 8-bit "
                          "outputs (only NONE, RELU, RELU_N1_TO_1, RELU6)", act);
    }
    int tmin = type_min(t), tmax = type_max(t);
    if (mode == TX_QMODE_XNNPACK) {
        *qmin = xnn_quantize_bound(lo, out.scale, out.zero_point, t);
        *qmax = xnn_quantize_bound(hi, out.scale, out.zero_point, t);
    } else {
        *qmin = tmin;
        *qmax = tmax;
        if (act != TX_QACT_NONE) {
            int q = tfl_quantize_bound(lo, out.scale, out.zero_point);
            *qmin = q > tmin ? q : tmin;
        }
        if (act == TX_QACT_RELU6 || act == TX_QACT_RELU_N1_TO_1) {
            int q = tfl_quantize_bound(hi, out.scale, out.zero_point);
            *qmax = q < tmax ? q : tmax;
        }
    }
    if (*qmin > *qmax)
        return tx_err_set(err, TX_EINVAL, "activation range [%d, %d] is empty (scale %g, "
                          "zero point %d)", *qmin, *qmax, (double)out.scale,
                          (int)out.zero_point);
    return TX_OK;
}

/* ---- lookup tables for unary ops ------------------------------------------------ */

void tx_qlut_apply(const tx_qlut *l, void *y, const void *x, int64_t n) {
    const uint8_t *xs = x;
    uint8_t *ys = y;
    for (int64_t i = 0; i < n; i++) ys[i] = l->t[xs[i]];
}

static int logistic_one(int xv, tx_qtype t, tx_qparam in, tx_qparam out, tx_qmode mode) {
    if (mode == TX_QMODE_XNNPACK) {
        float v = (float)xv - (float)in.zero_point;
        v = v * in.scale;
        float r;
        if (v > 100) r = 1;
        else if (v < -100) r = 0;
        else {
            double e = exp((double)v);
            r = (float)(e / (1 + e));
        }
        float inv = 1.0f / out.scale;
        float q = r * inv;
        q = q + (float)out.zero_point;
        q = nearbyintf(q);
        q = fmaxf(q, (float)type_min(t));
        q = fminf(q, (float)type_max(t));
        return (int)q;
    }
    float v = in.scale * (float)(xv - in.zero_point);
    float den = 1.0f + expf(-v);
    float r = 1.0f / den;
    float inv = 1 / out.scale;
    float q = r * inv;
    q = roundf(q);
    int qi = (int)(q + (float)out.zero_point);
    return clampi(qi, type_min(t), type_max(t));
}

void tx_qlogistic_ref(void *y, const void *x, int64_t n, tx_qtype t, tx_qparam in,
                      tx_qparam out, tx_qmode mode) {
    for (int64_t i = 0; i < n; i++) store8(y, i, logistic_one(load8(x, i, t), t, in, out, mode));
}

int tx_qlut_logistic(tx_qlut *l, tx_qtype t, tx_qparam in, tx_qparam out, tx_qmode mode,
                     tx_err *err) {
    int rc = check_param("LOGISTIC input", in, t, err);
    if (!rc) rc = check_param("LOGISTIC output", out, t, err);
    if (rc) return rc;
    if (mode == TX_QMODE_TFLITE_REF && out.scale != 1.0f / 256)
        return tx_err_set(err, TX_EUNSUP, "LOGISTIC: TFLite's reference kernel needs output "
                          "scale 1/256 (got %g)", (double)out.scale);
    for (int b = 0; b < 256; b++) {
        int xv = t == TX_QT_U8 ? b : (int)(int8_t)(uint8_t)b;
        l->t[b] = (uint8_t)(logistic_one(xv, t, in, out, mode) & 0xff);
    }
    return TX_OK;
}

/* gemmlowp int16 helpers for HARD_SWISH */
static int16_t srdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) return INT16_MAX;
    int32_t ab = (int32_t)a * (int32_t)b;
    int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}
static int16_t sdhm16(int16_t a, int16_t b) { /* no rounding (TFLite's local helper) */
    if (a == b && a == INT16_MIN) return INT16_MAX;
    int32_t ab = (int32_t)a * (int32_t)b;
    return (int16_t)(ab / (1 << 15));
}
static int16_t rdbpot16(int16_t x, int e) { return (int16_t)tx_rdbpot(x, e); }
static int16_t satshl16(int16_t v, int amount) {
    int64_t r = (int64_t)v * ((int64_t)1 << amount);
    if (r > INT16_MAX) r = INT16_MAX;
    if (r < INT16_MIN) r = INT16_MIN;
    return (int16_t)r;
}
static int16_t downscale16(int32_t m) {
    if (m >= INT32_MAX - (1 << 15)) return INT16_MAX;
    return (int16_t)((m + (1 << 15)) >> 16);
}

typedef struct {
    int32_t in_zp, out_zp;
    int16_t out_m16, relu_m16;
    int out_exp, relu_exp;
} hswish_params;

static int hswish_prepare(hswish_params *h, tx_qparam in, tx_qparam out, tx_err *err) {
    h->in_zp = in.zero_point;
    h->out_zp = out.zero_point;
    float hires = (1.0f / 128.0f) * in.scale;
    float relu_scale = 3.0f / 32768.0f;
    float om = hires / out.scale;
    int32_t m32;
    tx_quantize_multiplier((double)om, &m32, &h->out_exp);
    h->out_m16 = downscale16(m32);
    if (h->out_exp > 0)
        return tx_err_set(err, TX_EUNSUP, "HARD_SWISH: input scale %g / output scale %g is "
                          "too large for TFLite's kernel", (double)in.scale, (double)out.scale);
    float rm = hires / relu_scale;
    tx_quantize_multiplier((double)rm, &m32, &h->relu_exp);
    h->relu_m16 = downscale16(m32);
    return TX_OK;
}

static int hswish_one(int xv, const hswish_params *h, tx_qtype t) {
    int16_t iv = (int16_t)(xv - h->in_zp);
    int16_t hires = (int16_t)(iv * 128);
    int16_t pre_out = srdhm16(hires, h->out_m16);
    int16_t r = hires;
    if (h->relu_exp > 0) r = satshl16(r, h->relu_exp - 1);
    r = srdhm16(r, h->relu_m16);
    if (h->relu_exp > 0) r = satshl16(r, 1);
    if (h->relu_exp < 0) r = rdbpot16(r, -h->relu_exp);
    r = (int16_t)((r + (1 << 15)) >> 1);
    int16_t pre = sdhm16(r, pre_out);
    int16_t o = rdbpot16(pre, -h->out_exp);
    o = (int16_t)(o + h->out_zp);
    return clampi(o, type_min(t), type_max(t));
}

void tx_qhardswish_ref(void *y, const void *x, int64_t n, tx_qtype t, tx_qparam in,
                       tx_qparam out) {
    hswish_params h;
    tx_err err;
    if (hswish_prepare(&h, in, out, &err)) return;
    for (int64_t i = 0; i < n; i++) store8(y, i, hswish_one(load8(x, i, t), &h, t));
}

int tx_qlut_hardswish(tx_qlut *l, tx_qtype t, tx_qparam in, tx_qparam out, tx_qmode mode,
                      tx_err *err) {
    (void)mode; /* both modes run TFLite's kernel */
    int rc = check_param("HARD_SWISH input", in, t, err);
    if (!rc) rc = check_param("HARD_SWISH output", out, t, err);
    if (rc) return rc;
    hswish_params h;
    rc = hswish_prepare(&h, in, out, err);
    if (rc) return rc;
    for (int b = 0; b < 256; b++) {
        int xv = t == TX_QT_U8 ? b : (int)(int8_t)(uint8_t)b;
        l->t[b] = (uint8_t)(hswish_one(xv, &h, t) & 0xff);
    }
    return TX_OK;
}

/* requantization q -> q */
typedef struct {
    int xnn;
    int32_t xm, xbias;
    int32_t rm;
    int rs;
    int32_t in_zp, out_zp;
} requant_params;

static void requant_prepare(requant_params *r, tx_qtype tin, tx_qparam in, tx_qtype tout,
                            tx_qparam out, tx_qmode mode) {
    float ratio = in.scale / out.scale;
    r->in_zp = in.zero_point;
    r->out_zp = out.zero_point;
    r->xnn = mode == TX_QMODE_XNNPACK && tin == tout && ratio >= 1.0f / 256.0f &&
             ratio <= 128.0f;
    if (r->xnn) {
        r->xm = (int32_t)lrintf(256.0f * ratio);
        r->xbias = (int32_t)((uint32_t)out.zero_point << 8) - r->xm * in.zero_point + 0x80;
    }
    tx_quantize_multiplier((double)in.scale / (double)out.scale, &r->rm, &r->rs);
}

static int requant_one(int xv, const requant_params *r, tx_qtype tout) {
    int v;
    if (r->xnn) v = (r->xbias + xv * r->xm) >> 8;
    else v = tx_mbqm(xv - r->in_zp, r->rm, r->rs) + r->out_zp;
    return clampi(v, type_min(tout), type_max(tout));
}

void tx_qrequantize_ref(void *y, const void *x, int64_t n, tx_qtype tin, tx_qparam in,
                        tx_qtype tout, tx_qparam out, tx_qmode mode) {
    requant_params r;
    requant_prepare(&r, tin, in, tout, out, mode);
    for (int64_t i = 0; i < n; i++) store8(y, i, requant_one(load8(x, i, tin), &r, tout));
}

int tx_qlut_requantize(tx_qlut *l, tx_qtype tin, tx_qparam in, tx_qtype tout,
                       tx_qparam out, tx_qmode mode, tx_err *err) {
    int rc = check_param("QUANTIZE input", in, tin, err);
    if (!rc) rc = check_param("QUANTIZE output", out, tout, err);
    if (rc) return rc;
    requant_params r;
    requant_prepare(&r, tin, in, tout, out, mode);
    for (int b = 0; b < 256; b++) {
        int xv = tin == TX_QT_U8 ? b : (int)(int8_t)(uint8_t)b;
        l->t[b] = (uint8_t)(requant_one(xv, &r, tout) & 0xff);
    }
    return TX_OK;
}

/* ---- QUANTIZE float -> q, DEQUANTIZE ------------------------------------------- */

void tx_quantize_f32(void *y, const float *x, int64_t n, tx_qtype t, tx_qparam out,
                     tx_qmode mode) {
    int lo = type_min(t), hi = type_max(t);
    if (mode == TX_QMODE_XNNPACK) {
        float inv = 1.0f / out.scale;
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * inv;
            int q;
            if (isnan(v)) q = INT_MIN / 2; /* cvtps_epi32 gives INT_MIN: saturates low */
            else {
                v = fminf(v, 32767.0f);
                v = fmaxf(v, -32768.0f);
                q = (int)nearbyintf(v);
            }
            store8(y, i, clampi(q + out.zero_point, lo, hi));
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] / out.scale;
            v = roundf(v);
            /* static_cast<int32_t> of an out-of-range float gives INT32_MIN on x86, and
             * TFLite adds the zero point in (wrapping) int32 */
            int32_t q = (v > -2147483648.0f && v < 2147483648.0f) ? (int32_t)v : INT32_MIN;
            int32_t u = (int32_t)((uint32_t)q + (uint32_t)out.zero_point);
            store8(y, i, clampi(u, lo, hi));
        }
    }
}

void tx_dequantize(float *y, const void *x, int64_t n, tx_qtype t, tx_qparam in) {
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(load8(x, i, t) - in.zero_point);
        y[i] = v * in.scale;
    }
}

/* ---- ADD / MUL ------------------------------------------------------------------- */

static int binary_common(tx_qbinary *p, int op, tx_qtype t, tx_qparam a, tx_qparam b,
                         tx_qparam out, int act, tx_qmode mode, tx_err *err) {
    const char *nm = op == 0 ? "ADD" : "MUL";
    char what[32];
    memset(p, 0, sizeof *p);
    snprintf(what, sizeof what, "%s input 1", nm);
    int rc = check_param(what, a, t, err);
    snprintf(what, sizeof what, "%s input 2", nm);
    if (!rc) rc = check_param(what, b, t, err);
    snprintf(what, sizeof what, "%s output", nm);
    if (!rc) rc = check_param(what, out, t, err);
    if (!rc && mode != TX_QMODE_XNNPACK && mode != TX_QMODE_TFLITE_REF)
        rc = tx_err_set(err, TX_EINVAL, "%s: unknown mode %d", nm, (int)mode);
    if (rc) return rc;
    p->op = op;
    p->type = t;
    p->mode = mode;
    p->a_zp = a.zero_point;
    p->b_zp = b.zero_point;
    p->o_zp = out.zero_point;
    return tx_qact_range(&p->qmin, &p->qmax, t, out, act, mode, err);
}

int tx_qadd_init(tx_qbinary *p, tx_qtype t, tx_qparam a, tx_qparam b, tx_qparam out,
                 int act, tx_qmode mode, tx_err *err) {
    int rc = binary_common(p, 0, t, a, b, out, act, mode, err);
    if (rc) return rc;
    float sa = a.scale / out.scale, sb = b.scale / out.scale;
    if (mode == TX_QMODE_XNNPACK &&
        !(sa >= 1.0f / 1024 && sa < 256.0f && sb >= 1.0f / 1024 && sb < 256.0f)) {
        /* The delegate refuses this ADD (input/output scale ratio outside [2^-10, 2^8));
         * TFLite's optimized builtin kernel runs instead: its NEON code (on x86 through
         * NEON_2_SSE) on blocks of 8 (uint8) or 16 (int8) elements, the reference
         * arithmetic on the remainder, and TFLite's own clamp. */
        p->opt_neon = 1;
        rc = tx_qact_range(&p->qmin, &p->qmax, t, out, act, TX_QMODE_TFLITE_REF, err);
        if (rc) return rc;
    }
    if (p->mode == TX_QMODE_XNNPACK && !p->opt_neon) {
        float mx = sa > sb ? sa : sb;
        uint32_t bits;
        memcpy(&bits, &mx, 4);
        int exp = (int)(bits >> 23) - 127;
        int shift = 20 - exp;
        float fa, fb;
        uint32_t ba, bb;
        memcpy(&ba, &sa, 4);
        memcpy(&bb, &sb, 4);
        ba += (uint32_t)shift << 23;
        bb += (uint32_t)shift << 23;
        memcpy(&fa, &ba, 4);
        memcpy(&fb, &bb, 4);
        p->xa_mult = (int32_t)lrintf(fa);
        p->xb_mult = (int32_t)lrintf(fb);
        p->x_shift = shift;
        p->x_bias = (int32_t)((uint32_t)(1u << (shift - 1)) - (uint32_t)(p->xa_mult * a.zero_point) -
                              (uint32_t)(p->xb_mult * b.zero_point));
    }
    p->r_left_shift = 20;
    double twice_max = (double)(2 * (a.scale > b.scale ? a.scale : b.scale));
    tx_quantize_multiplier((double)a.scale / twice_max, &p->ra_mult, &p->ra_shift);
    tx_quantize_multiplier((double)b.scale / twice_max, &p->rb_mult, &p->rb_shift);
    tx_quantize_multiplier(twice_max / (double)((float)(1 << 20) * out.scale), &p->ro_mult,
                           &p->ro_shift);
    return TX_OK;
}

int tx_qmul_init(tx_qbinary *p, tx_qtype t, tx_qparam a, tx_qparam b, tx_qparam out,
                 int act, tx_qmode mode, tx_err *err) {
    int rc = binary_common(p, 1, t, a, b, out, act, mode, err);
    if (rc) return rc;
    float prod = a.scale * b.scale;
    float s = prod / out.scale;
    p->x_scale = s;
    tx_quantize_multiplier((double)s, &p->ro_mult, &p->ro_shift);
    if (mode == TX_QMODE_XNNPACK && !(s >= 1.0f / 65536 && s < 256.0f)) {
        /* refused by the delegate: TFLite's optimized kernel (NEON blocks, see ADD) */
        p->opt_neon = 1;
        rc = tx_qact_range(&p->qmin, &p->qmax, t, out, act, TX_QMODE_TFLITE_REF, err);
        if (rc) return rc;
    }
    return TX_OK;
}

static int binary_one(const tx_qbinary *p, int av, int bv) {
    int v;
    if (p->op == 0) {
        if (p->mode == TX_QMODE_XNNPACK && !p->opt_neon) {
            int32_t acc = (int32_t)((uint32_t)p->x_bias + (uint32_t)(av * p->xa_mult) +
                                    (uint32_t)(bv * p->xb_mult));
            v = (acc >> p->x_shift) + p->o_zp;
        } else {
            int32_t s1 = tx_mbqm((av - p->a_zp) * (1 << p->r_left_shift), p->ra_mult, p->ra_shift);
            int32_t s2 = tx_mbqm((bv - p->b_zp) * (1 << p->r_left_shift), p->rb_mult, p->rb_shift);
            v = tx_mbqm(s1 + s2, p->ro_mult, p->ro_shift) + p->o_zp;
        }
    } else {
        int32_t prod = (av - p->a_zp) * (bv - p->b_zp);
        if (p->mode == TX_QMODE_XNNPACK && !p->opt_neon) {
            float f = (float)prod * p->x_scale;
            v = (int)nearbyintf(f) + p->o_zp;
        } else {
            v = tx_mbqm(prod, p->ro_mult, p->ro_shift) + p->o_zp;
        }
    }
    return clampi(v, p->qmin, p->qmax);
}

/* TFLite's optimized ADD / MUL, NEON block (uint8: AddElementwise, MulElementwise; int8:
 * AddElementwiseInt8, MulElementwise). ADD: 
 * the input rescale shifts right by truncation (uint8) or is folded into the left shift
 * (int8), the result is narrowed to int16 by truncation before the output offset. MUL:
 * the result is narrowed to int16 with saturation, the offset added with wraparound. */
static int add_neon_one(const tx_qbinary *p, int av, int bv) {
    int32_t x1 = av - p->a_zp, x2 = bv - p->b_zp;
    if (p->op == 1) { /* MUL: saturating narrow to int16, wrapping offset add */
        int32_t v = tx_mbqm(x1 * x2, p->ro_mult, p->ro_shift);
        int16_t n16 = (int16_t)(v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : v);
        int16_t v16 = (int16_t)(uint16_t)(n16 + p->o_zp);
        return clampi(clampi(v16, type_min(p->type), type_max(p->type)), p->qmin, p->qmax);
    }
    if (p->type == TX_QT_U8) {
        x1 = tx_srdhm(x1 * (1 << p->r_left_shift), p->ra_mult);
        x2 = tx_srdhm(x2 * (1 << p->r_left_shift), p->rb_mult);
        x1 = p->ra_shift < 0 ? x1 >> -p->ra_shift : (int32_t)((uint32_t)x1 << p->ra_shift);
        x2 = p->rb_shift < 0 ? x2 >> -p->rb_shift : (int32_t)((uint32_t)x2 << p->rb_shift);
    } else {
        int l1 = p->r_left_shift + p->ra_shift, l2 = p->r_left_shift + p->rb_shift;
        x1 = l1 >= 0 ? (int32_t)((uint32_t)x1 << l1) : x1 >> -l1;
        x2 = l2 >= 0 ? (int32_t)((uint32_t)x2 << l2) : x2 >> -l2;
        x1 = tx_srdhm(x1, p->ra_mult);
        x2 = tx_srdhm(x2, p->rb_mult);
    }
    int32_t s = (int32_t)((uint32_t)x1 + (uint32_t)x2);
    s = tx_srdhm(s, p->ro_mult);
    s = tx_rdbpot(s, -p->ro_shift);
    int16_t n16 = (int16_t)(uint16_t)(uint32_t)s;
    int16_t v16 = (int16_t)(uint16_t)(n16 + p->o_zp);
    int v = clampi(v16, type_min(p->type), type_max(p->type));
    return clampi(v, p->qmin, p->qmax);
}

void tx_qbinary_ref(const tx_qbinary *p, void *y, const void *a, const void *b, int64_t n) {
    int64_t i = 0;
    if (p->opt_neon) {
        const int64_t blk = p->type == TX_QT_U8 ? 8 : 16, nb = n - n % blk;
        for (; i < nb; i++)
            store8(y, i, add_neon_one(p, load8(a, i, p->type), load8(b, i, p->type)));
    }
    for (; i < n; i++)
        store8(y, i, binary_one(p, load8(a, i, p->type), load8(b, i, p->type)));
}

void tx_qbinary_run(const tx_qbinary *p, void *y, const void *a, const void *b, int64_t n) {
    int64_t i = 0;
    if (p->opt_neon) {
        tx_qbinary_ref(p, y, a, b, n);
        return;
    }
#ifdef TX_Q_AVX512
    if (p->mode == TX_QMODE_XNNPACK) {
        const uint8_t *pa = a, *pb = b;
        uint8_t *py = y;
        const int s8 = p->type == TX_QT_S8;
        const __m512i vmin = _mm512_set1_epi32(p->qmin), vmax = _mm512_set1_epi32(p->qmax);
        const __m512i vozp = _mm512_set1_epi32(p->o_zp);
        if (p->op == 0) {
            const __m512i vbias = _mm512_set1_epi32(p->x_bias);
            const __m512i vma = _mm512_set1_epi32(p->xa_mult), vmb = _mm512_set1_epi32(p->xb_mult);
            const __m128i vsh = _mm_cvtsi32_si128(p->x_shift);
            for (; i + 16 <= n; i += 16) {
                __m128i ra = _mm_loadu_si128((const __m128i *)(pa + i));
                __m128i rb = _mm_loadu_si128((const __m128i *)(pb + i));
                __m512i va = s8 ? _mm512_cvtepi8_epi32(ra) : _mm512_cvtepu8_epi32(ra);
                __m512i vb = s8 ? _mm512_cvtepi8_epi32(rb) : _mm512_cvtepu8_epi32(rb);
                __m512i acc = _mm512_add_epi32(vbias, _mm512_mullo_epi32(va, vma));
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(vb, vmb));
                acc = _mm512_sra_epi32(acc, vsh);
                acc = _mm512_add_epi32(acc, vozp);
                acc = _mm512_min_epi32(_mm512_max_epi32(acc, vmin), vmax);
                _mm_storeu_si128((__m128i *)(py + i), _mm512_cvtepi32_epi8(acc));
            }
        } else {
            const __m512i vaz = _mm512_set1_epi32(p->a_zp), vbz = _mm512_set1_epi32(p->b_zp);
            const __m512 vs = _mm512_set1_ps(p->x_scale);
            const __m512 flo = _mm512_set1_ps((float)(p->qmin - p->o_zp));
            const __m512 fhi = _mm512_set1_ps((float)(p->qmax - p->o_zp));
            for (; i + 16 <= n; i += 16) {
                __m128i ra = _mm_loadu_si128((const __m128i *)(pa + i));
                __m128i rb = _mm_loadu_si128((const __m128i *)(pb + i));
                __m512i va = s8 ? _mm512_cvtepi8_epi32(ra) : _mm512_cvtepu8_epi32(ra);
                __m512i vb = s8 ? _mm512_cvtepi8_epi32(rb) : _mm512_cvtepu8_epi32(rb);
                __m512i prod = _mm512_mullo_epi32(_mm512_sub_epi32(va, vaz),
                                                  _mm512_sub_epi32(vb, vbz));
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(prod), vs);
                f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi);
                __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(f), vozp);
                _mm_storeu_si128((__m128i *)(py + i), _mm512_cvtepi32_epi8(q));
            }
        }
    }
#endif
    for (; i < n; i++)
        store8(y, i, binary_one(p, load8(a, i, p->type), load8(b, i, p->type)));
}

/* ---- pooling ------------------------------------------------------------------------ */

void tx_qavgpool(void *y, const void *x, const tx_pool_shape *s, tx_qtype t, int qmin,
                 int qmax) {
    enum { CH = 256 };
    int32_t acc[CH]; /* channel chunks: no allocation */
    for (int b = 0; b < s->n; b++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                int iy0 = oy * s->sh - s->pad_t, ix0 = ox * s->sw - s->pad_l;
                int fy0 = iy0 < 0 ? -iy0 : 0, fx0 = ix0 < 0 ? -ix0 : 0;
                int fy1 = s->kh < s->h - iy0 ? s->kh : s->h - iy0;
                int fx1 = s->kw < s->w - ix0 ? s->kw : s->w - ix0;
                int count = (fy1 - fy0) * (fx1 - fx0);
                int64_t ob = (((int64_t)b * s->oh + oy) * s->ow + ox) * s->c;
                for (int c0 = 0; c0 < s->c; c0 += CH) {
                    const int nc = s->c - c0 < CH ? s->c - c0 : CH;
                    memset(acc, 0, sizeof acc);
                    for (int fy = fy0; fy < fy1; fy++)
                        for (int fx = fx0; fx < fx1; fx++) {
                            int64_t base = (((int64_t)b * s->h + iy0 + fy) * s->w + ix0 + fx) * s->c + c0;
                            if (t == TX_QT_U8) {
                                const uint8_t *xp = (const uint8_t *)x + base;
                                for (int ch = 0; ch < nc; ch++) acc[ch] += xp[ch];
                            } else {
                                const int8_t *xp = (const int8_t *)x + base;
                                for (int ch = 0; ch < nc; ch++) acc[ch] += xp[ch];
                            }
                        }
                    for (int ch = 0; ch < nc; ch++) {
                        int v;
                        if (count <= 0) v = 0;
                        else if (t == TX_QT_U8) v = (acc[ch] + count / 2) / count;
                        else v = acc[ch] > 0 ? (acc[ch] + count / 2) / count
                                             : (acc[ch] - count / 2) / count;
                        store8(y, ob + c0 + ch, clampi(v, qmin, qmax));
                    }
                }
            }
}

void tx_qmaxpool(void *y, const void *x, const tx_pool_shape *s, tx_qtype t, int qmin,
                 int qmax) {
    const int c = s->c;
    for (int b = 0; b < s->n; b++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                int iy0 = oy * s->sh - s->pad_t, ix0 = ox * s->sw - s->pad_l;
                int fy0 = iy0 < 0 ? -iy0 : 0, fx0 = ix0 < 0 ? -ix0 : 0;
                int fy1 = s->kh < s->h - iy0 ? s->kh : s->h - iy0;
                int fx1 = s->kw < s->w - ix0 ? s->kw : s->w - ix0;
                int64_t ob = (((int64_t)b * s->oh + oy) * s->ow + ox) * c;
                for (int ch = 0; ch < c; ch++) {
                    int m = type_min(t);
                    for (int fy = fy0; fy < fy1; fy++)
                        for (int fx = fx0; fx < fx1; fx++) {
                            int v = load8(x, (((int64_t)b * s->h + iy0 + fy) * s->w + ix0 + fx) * c + ch, t);
                            m = v > m ? v : m;
                        }
                    store8(y, ob + ch, clampi(m, qmin, qmax));
                }
            }
}

/* ---- MEAN over H, W -------------------------------------------------------------------- */

int tx_qmean_init(tx_qmean *p, tx_qtype t, tx_qparam in, tx_qparam out, int hw,
                  tx_qmode mode, tx_err *err) {
    memset(p, 0, sizeof *p);
    int rc = check_param("MEAN input", in, t, err);
    if (!rc) rc = check_param("MEAN output", out, t, err);
    if (rc) return rc;
    if (hw <= 0 || hw > (1 << 23))
        return tx_err_set(err, TX_EINVAL, "MEAN: %d elements per channel (1 .. 2^23)", hw);
    p->type = t;
    p->mode = mode;
    p->hw = hw;
    p->in_zp = in.zero_point;
    p->out_zp = out.zero_point;
    float io = in.scale / out.scale;
    float invn = 1.0f / (float)hw;
    p->x_mult = io * invn;
    float nz = (float)hw * (float)in.zero_point;
    float corr = nz * p->x_mult;
    p->x_zp = (float)out.zero_point - corr;
    int32_t m;
    int sh;
    tx_quantize_multiplier((double)in.scale / (double)out.scale, &m, &sh);
    int k = 63 - __builtin_clzll((unsigned long long)hw);
    if (k > 32) k = 32;
    if (k > 31 + sh) k = 31 + sh;
    p->r_mult = (int32_t)(((int64_t)m << k) / hw);
    p->r_shift = sh - k;
    return TX_OK;
}

void tx_qmean_run(const tx_qmean *p, void *y, const void *x, int n, int c) {
    enum { CH = 256 };
    int32_t acc[CH]; /* channel chunks: no allocation */
    const int t = p->type, hw = p->hw;
    for (int b = 0; b < n; b++)
        for (int c0 = 0; c0 < c; c0 += CH) {
            const int nc = c - c0 < CH ? c - c0 : CH;
            memset(acc, 0, sizeof acc);
            for (int i = 0; i < hw; i++) {
                int64_t base = ((int64_t)b * hw + i) * c + c0;
                if (t == TX_QT_U8) {
                    const uint8_t *xp = (const uint8_t *)x + base;
                    for (int ch = 0; ch < nc; ch++) acc[ch] += xp[ch];
                } else {
                    const int8_t *xp = (const int8_t *)x + base;
                    for (int ch = 0; ch < nc; ch++) acc[ch] += xp[ch];
                }
            }
            for (int ch = 0; ch < nc; ch++) {
                int v;
                if (p->mode == TX_QMODE_XNNPACK) {
                    float f = (float)acc[ch] * p->x_mult;
                    f = f + p->x_zp;
                    f = nearbyintf(f);
                    f = fmaxf(f, (float)type_min(t));
                    f = fminf(f, (float)type_max(t));
                    v = (int)f;
                } else {
                    int32_t sum = acc[ch] - p->in_zp * hw;
                    v = clampi(tx_mbqm(sum, p->r_mult, p->r_shift) + p->out_zp, type_min(t),
                               type_max(t));
                }
                store8(y, (int64_t)b * c + c0 + ch, v);
            }
        }
}

/* ---- SOFTMAX ------------------------------------------------------------------------------ */

/* gemmlowp fixed point (int32 raw values): Qm.n with m integer bits. */
static int32_t fp_mul(int32_t a, int32_t b) { return tx_srdhm(a, b); }
static int32_t fp_sat_shl(int32_t x, int e) { /* SaturatingRoundingMultiplyByPOT<e>, e > 0 */
    int32_t thr = (int32_t)((INT64_C(1) << (31 - e)) - 1);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}
static int32_t fp_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t fp_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a) {
    const int32_t c_term = 1895147668, c_third = 715827883;
    int32_t x = fp_add(a, 1 << 28);
    int32_t x2 = fp_mul(x, x);
    int32_t x3 = fp_mul(x2, x);
    int32_t x4 = fp_mul(x2, x2);
    int32_t x4_4 = tx_rdbpot(x4, 2);
    int32_t s = tx_rdbpot(fp_add(fp_mul(fp_add(x4_4, x3), c_third), x2), 1);
    return fp_add(c_term, fp_mul(c_term, fp_add(x, s)));
}

/* exp(a) for a <= 0, a in Q5.26, result Q0.31 */
static int32_t exp_neg_q5(int32_t a) {
    const int frac = 26;
    const int32_t quarter = 1 << (frac - 2);
    const int32_t mask = quarter - 1;
    int32_t amq = fp_sub(a & mask, quarter);
    int32_t result = exp_quarter(fp_sat_shl(amq, 5));
    int32_t rem = fp_sub(amq, a);
    static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308,
                                     39332535, 720401, 242};
    for (int k = 0; k < 7; k++) {
        int e = k - 2;
        if (rem & (1 << (frac + e))) result = fp_mul(result, mults[k]);
    }
    if (a == 0) result = INT32_MAX;
    return result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out */
static int32_t one_over_one_plus_x(int32_t a) {
    int64_t sum = (int64_t)a + INT32_MAX;
    int64_t sign = sum >= 0 ? 1 : -1;
    int32_t half_den = (int32_t)((sum + sign) / 2);
    const int32_t c48_17 = 1515870810, cm32_17 = -1010580540; /* Q2.29 */
    int32_t x = fp_add(c48_17, fp_mul(half_den, cm32_17));
    for (int i = 0; i < 3; i++) {
        int32_t hdx = fp_mul(half_den, x);
        int32_t one_minus = fp_sub(1 << 29, hdx);
        x = fp_add(x, fp_sat_shl(fp_mul(x, one_minus), 2));
    }
    return fp_sat_shl(x, 1); /* ExactMulByPot<-1> then Rescale<0> from Q1 */
}

int tx_qsoftmax_init(tx_qsoftmax *p, tx_qtype t, tx_qparam in, tx_qparam out, float beta,
                     tx_qmode mode, tx_err *err) {
    memset(p, 0, sizeof *p);
    int rc = check_param("SOFTMAX input", in, t, err);
    if (!rc) rc = check_param("SOFTMAX output", out, t, err);
    if (rc) return rc;
    if (!(isfinite(beta) && beta > 0))
        return tx_err_set(err, TX_EINVAL, "SOFTMAX: beta %g must be finite and > 0", (double)beta);
    if (t == TX_QT_S8 && (out.zero_point != -128 || fabsf(out.scale - 1.0f / 256) > 0.001f / 256))
        return tx_err_set(err, TX_EUNSUP, "SOFTMAX: int8 output needs scale 1/256 and zero "
                          "point -128 (got %g, %d)", (double)out.scale, (int)out.zero_point);
    p->type = t;
    p->mode = mode;
    p->out_scale = out.scale;
    p->out_zp = out.zero_point;
    float sc = -in.scale * beta;
    for (int v = 0; v <= 255; v++) {
        float e = sc * (float)v;
        p->table[255 - v] = expf(e);
    }
    double real = (double)beta * (double)in.scale * (double)(1 << 26);
    if (real > 2147483647.0) real = 2147483647.0;
    tx_quantize_multiplier(real, &p->r_mult, &p->r_left_shift);
    if (p->r_left_shift < 0)
        return tx_err_set(err, TX_EUNSUP, "SOFTMAX: input scale %g too small for TFLite's "
                          "reference kernel", (double)in.scale);
    double radius = 1.0 * ((1 << 5) - 1) * (double)(INT64_C(1) << 26) /
                    (double)(INT64_C(1) << p->r_left_shift);
    p->r_diff_min = -(int32_t)floor(radius);
    return TX_OK;
}

static void softmax_row_xnn(const tx_qsoftmax *p, void *y, const void *x, int k) {
    const int t = p->type;
    int mx = t == TX_QT_U8 ? 0 : -128;
    for (int j = 0; j < k; j++) {
        int v = load8(x, j, t);
        mx = v > mx ? v : mx;
    }
    const float *tab = p->table + 255 - mx;
    float sum = 0.0f;
    for (int j = 0; j < k; j++) sum += tab[load8(x, j, t)];
    float den = sum * p->out_scale;
    float inv = 1.0f / den;
    for (int j = 0; j < k; j++) {
        float pr = tab[load8(x, j, t)] * inv;
        int q;
        if (t == TX_QT_U8) {
            float r = pr + 0.5f;
            q = r >= 2147483647.0f ? INT_MAX : (int)r;
        } else {
            float r = roundf(pr);
            q = (r >= 1e9f ? 1000000000 : (int)r) + p->out_zp;
        }
        store8(y, j, clampi(q, type_min(t), type_max(t)));
    }
}

static void softmax_row_ref(const tx_qsoftmax *p, void *y, const void *x, int k) {
    const int t = p->type;
    int mx = t == TX_QT_U8 ? 0 : -128;
    for (int j = 0; j < k; j++) {
        int v = load8(x, j, t);
        mx = v > mx ? v : mx;
    }
    int32_t sum = 0; /* Q12.19 */
    for (int j = 0; j < k; j++) {
        int32_t d = load8(x, j, t) - mx;
        if (d >= p->r_diff_min) {
            int32_t r = tx_srdhm((int32_t)((uint32_t)d << p->r_left_shift), p->r_mult);
            sum = fp_add(sum, tx_rdbpot(exp_neg_q5(r), 12));
        }
    }
    int headroom = sum == 0 ? 32 : __builtin_clz((uint32_t)sum);
    int bits_over_unit = 12 - headroom;
    int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - (UINT32_C(1) << 31));
    int32_t scale = one_over_one_plus_x(shifted);
    int exponent = bits_over_unit + 31 - 8;
    for (int j = 0; j < k; j++) {
        int32_t d = load8(x, j, t) - mx;
        int v;
        if (d >= p->r_diff_min) {
            int32_t r = tx_srdhm((int32_t)((uint32_t)d << p->r_left_shift), p->r_mult);
            int32_t e = exp_neg_q5(r);
            int32_t u = tx_rdbpot(fp_mul(scale, e), exponent < 0 ? 0 : exponent > 31 ? 31 : exponent);
            v = u + type_min(t);
        } else {
            v = type_min(t);
        }
        store8(y, j, clampi(v, type_min(t), type_max(t)));
    }
}

void tx_qsoftmax_run(const tx_qsoftmax *p, void *y, const void *x, int64_t rows, int k) {
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *xr = (const uint8_t *)x + r * k;
        uint8_t *yr = (uint8_t *)y + r * k;
        if (p->mode == TX_QMODE_XNNPACK) softmax_row_xnn(p, yr, xr, k);
        else softmax_row_ref(p, yr, xr, k);
    }
}

/* ---- CONCATENATION, PAD ------------------------------------------------------------------- */

void tx_qconcat(void *y, const void *const *xs, const int *cs, const tx_qparam *ins, int count,
                int64_t rows, tx_qtype t, tx_qparam out) {
    int64_t total = 0;
    for (int i = 0; i < count; i++) total += cs[i];
    float inv_out = 1.f / out.scale;
    int64_t off = 0;
    for (int i = 0; i < count; i++) {
        const int ci = cs[i];
        const int same = ins[i].scale == out.scale && ins[i].zero_point == out.zero_point;
        float sc = ins[i].scale * inv_out;
        float bias = (float)(-ins[i].zero_point) * sc;
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *src = (const uint8_t *)xs[i] + r * ci;
            uint8_t *dst = (uint8_t *)y + r * total + off;
            if (same) {
                memcpy(dst, src, (size_t)ci);
                continue;
            }
            for (int j = 0; j < ci; j++) {
                float v = (float)load8(src, j, t) * sc;
                v = v + bias;
                v = roundf(v);
                int q = (int)v + out.zero_point;
                store8(dst, j, clampi(q, type_min(t), type_max(t)));
            }
        }
        off += ci;
    }
}

void tx_qpad(void *y, const void *x, int n, int h, int w, int c, int pt, int pb, int pl,
             int pr, uint8_t pad_value) {
    const int oh = pt + h + pb, ow = pl + w + pr;
    const size_t row = (size_t)ow * c;
    for (int b = 0; b < n; b++)
        for (int oy = 0; oy < oh; oy++) {
            uint8_t *dst = (uint8_t *)y + ((size_t)b * oh + oy) * row;
            int iy = oy - pt;
            if (iy < 0 || iy >= h) {
                memset(dst, pad_value, row);
                continue;
            }
            memset(dst, pad_value, (size_t)pl * c);
            memcpy(dst + (size_t)pl * c, (const uint8_t *)x + ((size_t)b * h + iy) * w * c,
                   (size_t)w * c);
            memset(dst + (size_t)(pl + w) * c, pad_value, (size_t)pr * c);
        }
}
