/* quant.h - 8-bit quantized inference kernels with TensorFlow Lite semantics.
 *
 * Activations are uint8 (TX_QT_U8) or int8 (TX_QT_S8), NHWC, affine-quantized:
 * real = scale * (q - zero_point). Every kernel reproduces one of two published
 * behaviours bit for bit, chosen by tx_qmode:
 *
 *   TX_QMODE_XNNPACK   what TFLite's default CPU path computes (the XNNPACK delegate
 *                      for the ops it takes, TFLite's optimized builtin kernels for the
 *                      quantized ops it leaves alone: SOFTMAX, HARD_SWISH, AVERAGE_POOL_2D,
 *                      uint8 CONCATENATION with differing scales).
 *   TX_QMODE_TFLITE_REF  TFLite's reference kernels (BuiltinOpResolverWithoutDefault-
 *                      Delegates + reference op resolver, "BUILTIN_REF"): fixed-point
 *                      multiplier + shift with gemmlowp's double rounding.
 *
 * tests/test_qops.c checks every op against outputs of ai-edge-litert 2.3.0 in both modes
 * (tests/golden/qops.safetensors, written by tools/golden_tflite_ops.py); whole MobileNets
 * run with these kernels (bench/bench_qconv.c -M) match ai-edge-litert's AUTO and
 * BUILTIN_REF outputs and ../shared/reference/tflite_top5.csv byte for byte.
 *
 * Picking the mode per layer: TX_QMODE_XNNPACK already covers what the delegate refuses
 * for SOFTMAX, HARD_SWISH, AVERAGE_POOL_2D, CONCATENATION, QUANTIZE and ADD/MUL scale
 * ratios. Two refusals are the caller's to see: a uint8 DEPTHWISE_CONV_2D whose weights
 * carry quantized_dimension != 0 (the delegate wants 0; TFLite's optimized uint8
 * depthwise then runs, which equals the reference: use TX_QMODE_TFLITE_REF for that
 * layer), and convolutions with in_scale*w_scale/out_scale >= 256 (tx_qconv_desc_init
 * refuses them with TX_EUNSUP).
 *
 * ---- The arithmetic, op by op --------------------------------------------------------
 *
 * Notation: fl(.) = round to float32 (nearest even), rne(.) = round to the nearest
 * integer, ties to even, rhaz(.) = round half away from zero (C roundf / TfLiteRound),
 * clamp(v) = min(max(v, qmin), qmax) with [qmin, qmax] the fused-activation range.
 * All float expressions are evaluated in float32 step by step, without FMA contraction
 * (the Makefile's -std=c17 keeps GCC's -ffp-contract=off).
 *
 * Integer accumulator (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED), int32 (wrapping):
 *     acc = bias[c] + sum_taps (x - x_zp) * (w - w_zp)      (padding taps contribute 0)
 *
 * Requantization of acc, XNNPACK (fp32):
 *     s[c] = fl(fl(in_scale * w_scale[c]) / out_scale)           (float ops, as written)
 *     y = clamp(rne(fl(fl(float(acc)) * s[c])) + out_zp)
 * Requantization, TFLite reference, CONV_2D / DEPTHWISE_CONV_2D (fixed point, "double
 * rounding"):
 *     real = uint8 activations: double(fl(in_scale * w_scale)) / double(out_scale)
 *            int8 activations: double(in_scale) * double(w_scale[c]) / double(out_scale)
 *     (mult, shift) = QuantizeMultiplier(real): real = mult * 2^(shift-31),
 *                     mult in [2^30, 2^31) from frexp, rhaz(q * 2^31)
 *     y = clamp(MBQM(acc, mult, shift) + out_zp), where
 *     MBQM(x, m, s) = RDBPOT(SRDHM(x * 2^max(s,0), m), max(-s,0))
 *     SRDHM(a, b) = (a*b + (a*b >= 0 ? 2^30 : 1 - 2^30)) / 2^31  (int64, C division),
 *                   INT32_MAX when a == b == INT32_MIN
 *     RDBPOT(x, e) = (x >> e) + ((x & (2^e-1)) > ((2^e-1) >> 1) + (x < 0)).
 * Requantization, TFLite reference, FULLY_CONNECTED (double since TFLite's April 2025
 * change "Make the fully_connected ref kernel do requant in float"; older versions used
 * the fixed point above): e = double(in_scale) * double(w_scale[c]) / double(out_scale),
 *     y = clamp((int32)round(double(acc) * e) + out_zp)   (round: half away from zero).
 *
 * Fused activation range [qmin, qmax] (RELU, RELU6, RELU_N1_TO_1 clamp the real value
 * to [0, inf), [0, 6], [-1, 1]):
 *     XNNPACK:   q(v) = lrintf(fminf(fmaxf(fl(v / out_scale) + out_zp, tmin), tmax))
 *     reference: q(v) = out_zp + (int)rhaz(fl(v / out_scale)), then limited to the type.
 *     (They differ only when v / scale lands exactly on .5.)
 *
 * ADD, XNNPACK: shared shift from the larger of sa = fl(a_scale/o_scale),
 *     sb = fl(b_scale/o_scale): shift = 20 - exponent(max(sa, sb)),
 *     ma = lrintf(sa * 2^shift), mb likewise (both < 2^21),
 *     y = clamp(((2^(shift-1) + (a - a_zp)*ma + (b - b_zp)*mb) >> shift) + o_zp)
 *     (arithmetic shift: round half up). Activation range as XNNPACK above.
 *     When a ratio lies outside [2^-10, 2^8) the delegate refuses the ADD and TFLite's
 *     optimized kernel runs: its NEON code on blocks of 8 (uint8) / 16 (int8) elements
 *     (SSE-emulated on x86; truncating shifts, int16 narrowing) and the reference
 *     arithmetic on the remaining elements; tx_qadd_init reproduces that.
 * ADD, reference: left_shift 20, twice_max = 2*max(a_scale, b_scale),
 *     (ma, sa) = QM(a_scale / twice_max), (mb, sb) likewise,
 *     (mo, so) = QM(twice_max / (2^20 * o_scale)),
 *     y = clamp(MBQM(MBQM((a - a_zp) * 2^20, ma, sa) + MBQM((b - b_zp) * 2^20, mb, sb),
 *                    mo, so) + o_zp).
 * MUL, XNNPACK: s = fl(fl(a_scale*b_scale)/o_scale);
 *     y = clamp(rne(fl(float((a-a_zp)*(b-b_zp)) * s)) + o_zp).
 * MUL, reference: real = double(fl(fl(a_scale*b_scale)/o_scale)),
 *     y = clamp(MBQM((a-a_zp)*(b-b_zp), QM(real)) + o_zp). XNNPACK mode with s outside
 *     [2^-16, 2^8): the delegate refuses and TFLite's optimized (NEON) kernel runs, which
 *     saturates the product term to int16 before adding the zero point (blocks of 8/16).
 * AVERAGE_POOL_2D (both modes: XNNPACK does not take quantized average pooling):
 *     sum of the raw values inside the window (padding excluded, count = valid taps),
 *     uint8: (sum + count/2) / count; int8: sum > 0 ? (sum + count/2)/count
 *     : (sum - count/2)/count (C division); then clamp. Scales are not looked at (TFLite
 *     requires input and output quantization to match).
 * MAX_POOL_2D: max of the raw values in the valid taps, then clamp.
 * MEAN over H,W, XNNPACK: S = sum of raw values (int32), N = h*w,
 *     m = fl(fl(in_scale/out_scale) * fl(1/N)), z = fl(out_zp - fl(fl(N*in_zp) * m)),
 *     y = sat(rne(fl(fl(float(S) * m) + z))).
 * MEAN, reference: (mult, shift) = QM(in_scale/out_scale); k = min(floor(log2 N), 32,
 *     31 + shift); mult' = (mult << k) / N; y = sat(MBQM(S - N*in_zp, mult', shift - k)
 *     + out_zp).
 * SOFTMAX (beta), XNNPACK mode (= TFLite's optimized kernel on x86: float table):
 *     T[k] = expf(fl(-in_scale*beta) * (255 - k)), k = 0..255; per row with max m:
 *     e_j = T[255 - m + x_j], sum = e_0 + e_1 + ... (float, in order),
 *     inv = fl(1 / fl(sum * out_scale)), p_j = fl(e_j * inv),
 *     uint8 out: (int)(p_j + 0.5f); int8 out: rhaz(p_j) + out_zp; saturate.
 * SOFTMAX, reference: gemmlowp fixed point (Q5.26 input diff, exp_on_negative_values,
 *     Q12.19 sum, one_over_one_plus_x reciprocal); output assumes scale 1/256 with zero
 *     point 0 (uint8) or -128 (int8), as TFLite does.
 * LOGISTIC, XNNPACK: table over all 256 inputs: v = fl(float(x - in_zp) * in_scale),
 *     e = exp(double(v)), r = fl(e / (1 + e)) (r = 1 for v > 100, 0 for v < -100),
 *     y = sat(rne(fl(fl(r * fl(1/out_scale)) + out_zp))).
 * LOGISTIC, reference: table: v = fl(in_scale * float(x - in_zp)),
 *     r = fl(1 / fl(1 + expf(-v))), y = sat((int)fl(rhaz(fl(r * fl(1/out_scale))) + out_zp)).
 * HARD_SWISH (both modes: XNNPACK does not take the quantized op; TFLite's optimized
 *     kernel equals the reference on x86): the int16 fixed-point recipe of
 *     reference_ops::HardSwish (hires input scale in_scale/128, "reluish" scale 3/32768,
 *     16-bit multipliers from QuantizeMultiplier rounded to int16), precomputed as a
 *     256-entry table.
 * QUANTIZE float -> q, XNNPACK: y = sat(rne(fl(x * fl(1/scale))) + zp) (NaN -> qmin);
 *     reference: y = sat((int)rhaz(fl(x / scale)) + zp).
 * QUANTIZE q -> q (requantize), XNNPACK (same type): m = lrintf(256 * fl(in/out)),
 *     y = sat(((out_zp << 8) - m*in_zp + 128 + x*m) >> 8); reference (and XNNPACK
 *     across types): y = sat(MBQM(x - in_zp, QM(double(in)/double(out))) + out_zp).
 * DEQUANTIZE: y = fl(float(x - zp) * scale) (both modes).
 * CONCATENATION: inputs with the output's quantization are copied; other inputs are
 *     requantized: s = fl(in_scale * fl(1/out_scale)), b = fl(-in_zp * s),
 *     y = sat((int)rhaz(fl(fl(x * s) + b)) + out_zp)  (TFLite's ConcatenationWithScaling;
 *     int8 TFLite refuses differing scales).
 * PAD: the padding value is the output zero point.
 *
 * ---- Fast paths --------------------------------------------------------------------
 * Convolutions are packed once (tx_qconv_pack) into the layout of the AVX-512 VNNI
 * micro-kernels (vpdpbusd: unsigned 8-bit activations x signed 8-bit weights, 4 products
 * per int32 lane). uint8 weights are stored as w - 128 and the per-pixel input sum
 * corrects for it: sum x*(w - w_zp) = sum x*(w-128) + (128 - w_zp) * sum x. int8
 * activations are flipped to unsigned (x ^ 0x80) and 128*sum(w) goes into the bias.
 * Depthwise convolutions run a direct channel-vectorized loop over int16 pairs of
 * horizontally adjacent input pixels (vpdpwssd). Without __AVX512VNNI__ (+ AVX512BW/VL)
 * every fast entry point falls back to portable C that computes the same integers.
 * Threads: OpenMP, static contiguous ranges of work items; every output element is
 * computed by exactly one thread, so results never depend on the thread count.
 */
#ifndef TX_QUANT_H
#define TX_QUANT_H

#include "core/core.h"
#include "ops/ops.h"   /* tx_pool_shape */

typedef enum { TX_QMODE_XNNPACK = 0, TX_QMODE_TFLITE_REF = 1 } tx_qmode;
typedef enum { TX_QT_U8 = 0, TX_QT_S8 = 1 } tx_qtype;
/* Fused activations, TFLite's codes (TX_TFL_ACT_* in io/tflite.h). */
enum { TX_QACT_NONE = 0, TX_QACT_RELU = 1, TX_QACT_RELU_N1_TO_1 = 2, TX_QACT_RELU6 = 3 };

typedef struct tx_qparam {
    float scale;
    int32_t zero_point;
} tx_qparam;

const char *tx_qmode_name(tx_qmode m);   /* "xnnpack", "tflite_ref" */

/* ---- fixed-point helpers (TFLite / gemmlowp arithmetic) ---------------------- */
/* real = mult * 2^(shift - 31); mult in [2^30, 2^31) (0 for real == 0). */
void tx_quantize_multiplier(double real, int32_t *mult, int *shift);
/* MultiplyByQuantizedMultiplier with gemmlowp's double rounding. */
int32_t tx_mbqm(int32_t x, int32_t mult, int shift);
int32_t tx_srdhm(int32_t a, int32_t b);        /* SaturatingRoundingDoublingHighMul */
int32_t tx_rdbpot(int32_t x, int exponent);    /* RoundingDivideByPOT, 0 <= e <= 31 */

/* Fused-activation output range (see above); act is TX_QACT_*. Returns TX_EINVAL for
 * an unknown activation or a non-positive/non-finite scale. */
int tx_qact_range(int *qmin, int *qmax, tx_qtype t, tx_qparam out, int act, tx_qmode mode,
                  tx_err *err);

/* ---- CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (qconv.c) ----------------- */
typedef enum { TX_QCONV_CONV = 0, TX_QCONV_DEPTHWISE = 1, TX_QCONV_FC = 2 } tx_qconv_kind;

/* Shapes and quantization of one layer.
 *   CONV:      x[n,h,w,c] -> y[n,oh,ow,oc]; weights [oc,kh,kw,c] (TFLite's OHWI)
 *   DEPTHWISE: x[n,h,w,c] -> y[n,oh,ow,oc], oc = c*depth_multiplier; weights [1,kh,kw,oc];
 *              output channel o reads input channel o / depth_multiplier
 *   FC:        x[n,c] -> y[n,oc]; weights [oc,c] (h = w = kh = kw = 1)
 * bias: int32[oc] or NULL. Padding is explicit: pad_t/pad_l lead; oh/ow are computed from
 * pad_b/pad_r by tx_qconv_desc_init unless set. TFLite SAME: total = max((out-1)*stride +
 * (k-1)*dilation + 1 - in, 0), leading = total/2. */
typedef struct tx_qconv_desc {
    int kind;                   /* tx_qconv_kind */
    int type;                   /* activations in and out: tx_qtype */
    int wtype;                  /* weights: TX_QT_U8 (zero point w_zp, per-tensor scale) or
                                   TX_QT_S8 (w_zp must be 0; scale per tensor or channel) */
    int n, h, w, c;
    int oc;
    int kh, kw, sh, sw, dh, dw;
    int pad_t, pad_l, pad_b, pad_r;
    int oh, ow;
    int depth_multiplier;       /* DEPTHWISE only (0 = derive from oc / c) */
    tx_qparam in, out;
    const float *w_scale;       /* n_w_scale floats (1 or oc); copied by pack */
    int n_w_scale;
    int32_t w_zp;
    int act;                    /* TX_QACT_* */
    int mode;                   /* tx_qmode */
    int threads;                /* most OpenMP threads run uses (0: omp_get_max_threads()
                                   at pack time); scratch is sized for it */
} tx_qconv_desc;

/* Validates every field (also the scales: finite, > 0, and XNNPACK's limit
 * in_scale*w_scale/out_scale < 256), fills oh/ow and depth_multiplier. */
int tx_qconv_desc_init(tx_qconv_desc *d, tx_err *err);

typedef struct tx_qconv tx_qconv;   /* packed weights + precomputed requantization */

/* Packs weights (layout as above, uint8 or int8 bytes per wtype) once; the result is
 * immutable and may be shared by threads. d need not outlive it. */
int tx_qconv_pack(tx_qconv **out, const tx_qconv_desc *d, const void *weights,
                  const int32_t *bias, tx_err *err);
void tx_qconv_free(tx_qconv *p);
const tx_qconv_desc *tx_qconv_get_desc(const tx_qconv *p);
/* Bytes of scratch tx_qconv_run needs (independent of the batch size); may be 0. */
size_t tx_qconv_scratch_bytes(const tx_qconv *p);
/* y = layer(x) for a batch of n (any n >= 0; the desc's n is only a default for the
 * scratch size, which does not depend on n). scratch: tx_qconv_scratch_bytes bytes,
 * 64-byte aligned (tx_alloc). */
void tx_qconv_run(const tx_qconv *p, void *y, const void *x, int n, void *scratch);
/* Naive reference from unpacked weights (the desc must have passed init). */
void tx_qconv_ref(void *y, const void *x, const void *weights, const int32_t *bias,
                  const tx_qconv_desc *d);

/* ---- elementwise and other ops (qops.c) ------------------------------------- */

/* Elementwise unary ops on 8-bit data are tables of 256 entries computed once with
 * the exact arithmetic above; apply is a table lookup. Index = the input byte. */
typedef struct tx_qlut {
    uint8_t t[256];
} tx_qlut;
int tx_qlut_logistic(tx_qlut *l, tx_qtype t, tx_qparam in, tx_qparam out, tx_qmode mode,
                     tx_err *err);
int tx_qlut_hardswish(tx_qlut *l, tx_qtype t, tx_qparam in, tx_qparam out, tx_qmode mode,
                      tx_err *err);
/* QUANTIZE from an 8-bit tensor (requantization, possibly u8 <-> s8). */
int tx_qlut_requantize(tx_qlut *l, tx_qtype tin, tx_qparam in, tx_qtype tout,
                       tx_qparam out, tx_qmode mode, tx_err *err);
void tx_qlut_apply(const tx_qlut *l, void *y, const void *x, int64_t n);
/* The same ops element by element, without a table (references for the tests). */
void tx_qlogistic_ref(void *y, const void *x, int64_t n, tx_qtype t, tx_qparam in,
                      tx_qparam out, tx_qmode mode);
void tx_qhardswish_ref(void *y, const void *x, int64_t n, tx_qtype t, tx_qparam in,
                       tx_qparam out);
void tx_qrequantize_ref(void *y, const void *x, int64_t n, tx_qtype tin, tx_qparam in,
                        tx_qtype tout, tx_qparam out, tx_qmode mode);

/* QUANTIZE float32 -> 8 bit, DEQUANTIZE 8 bit -> float32. */
void tx_quantize_f32(void *y, const float *x, int64_t n, tx_qtype t, tx_qparam out,
                     tx_qmode mode);
void tx_dequantize(float *y, const void *x, int64_t n, tx_qtype t, tx_qparam in);

/* ADD / MUL of two tensors of n elements each (no broadcasting), with a fused
 * activation. init validates (XNNPACK's scale limits in XNNPACK mode) and precomputes. */
typedef struct tx_qbinary {
    int op;             /* 0 add, 1 mul */
    int type, mode;
    int opt_neon;       /* ADD the delegate refuses: TFLite's optimized kernel (see qops.c) */
    int32_t a_zp, b_zp, o_zp, qmin, qmax;
    /* XNNPACK add */
    int32_t xa_mult, xb_mult, x_bias;
    int x_shift;
    /* XNNPACK mul */
    float x_scale;
    /* reference */
    int32_t ra_mult, rb_mult, ro_mult;
    int ra_shift, rb_shift, ro_shift, r_left_shift;
} tx_qbinary;
int tx_qadd_init(tx_qbinary *p, tx_qtype t, tx_qparam a, tx_qparam b, tx_qparam out,
                 int act, tx_qmode mode, tx_err *err);
int tx_qmul_init(tx_qbinary *p, tx_qtype t, tx_qparam a, tx_qparam b, tx_qparam out,
                 int act, tx_qmode mode, tx_err *err);
void tx_qbinary_run(const tx_qbinary *p, void *y, const void *a, const void *b, int64_t n);
void tx_qbinary_ref(const tx_qbinary *p, void *y, const void *a, const void *b, int64_t n);

/* AVERAGE_POOL_2D / MAX_POOL_2D on x[n,h,w,c]; the shape is ops.h's tx_pool_shape
 * (count_include_pad must be 0, as TFLite). qmin/qmax: tx_qact_range of the output. */
void tx_qavgpool(void *y, const void *x, const tx_pool_shape *s, tx_qtype t, int qmin,
                 int qmax);
void tx_qmaxpool(void *y, const void *x, const tx_pool_shape *s, tx_qtype t, int qmin,
                 int qmax);

/* MEAN over H and W: x[n, hw, c] -> y[n, c]. */
typedef struct tx_qmean {
    int type, mode, hw;
    int32_t in_zp, out_zp;
    float x_mult, x_zp;           /* XNNPACK */
    int32_t r_mult;               /* reference */
    int r_shift;
} tx_qmean;
int tx_qmean_init(tx_qmean *p, tx_qtype t, tx_qparam in, tx_qparam out, int hw,
                  tx_qmode mode, tx_err *err);
void tx_qmean_run(const tx_qmean *p, void *y, const void *x, int n, int c);

/* SOFTMAX over the last axis: x[rows, k] -> y[rows, k], same 8-bit type in and out. */
typedef struct tx_qsoftmax {
    int type, mode;
    float out_scale;
    int32_t out_zp;
    float table[256];             /* XNNPACK mode (TFLite's optimized kernel) */
    int32_t r_mult, r_diff_min;   /* reference */
    int r_left_shift;
} tx_qsoftmax;
int tx_qsoftmax_init(tx_qsoftmax *p, tx_qtype t, tx_qparam in, tx_qparam out, float beta,
                     tx_qmode mode, tx_err *err);
void tx_qsoftmax_run(const tx_qsoftmax *p, void *y, const void *x, int64_t rows, int k);

/* CONCATENATION along the last (channel) axis: inputs xs[i] of [rows, cs[i]] ->
 * y[rows, sum cs]. Inputs whose quantization differs from out are requantized as
 * described above. */
void tx_qconcat(void *y, const void *const *xs, const int *cs, const tx_qparam *ins, int count,
                int64_t rows, tx_qtype t, tx_qparam out);

/* PAD (spatial): x[n,h,w,c] -> y[n, pt+h+pb, pl+w+pr, c], padded with pad_value (the
 * output zero point as a byte). */
void tx_qpad(void *y, const void *x, int n, int h, int w, int c, int pt, int pb, int pl,
             int pr, uint8_t pad_value);

#endif
