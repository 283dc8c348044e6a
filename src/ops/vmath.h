/* vmath.h - exp and erfc for float loops that the compiler vectorizes.
 *
 * glibc's expf/erff are scalar calls, so a loop over them runs one element at a time;
 * these are branch-free inline functions (selects, integer bit tricks, polynomials) that
 * GCC and Clang vectorize under `#pragma omp simd`. They call no fmaf, and GCC in ISO C
 * mode (-std=c17) does not contract a*b+c, so a GCC build gives the same bits on every
 * x86-64 machine whatever its vector width.
 *
 * tx_vexpf(x):   exp(x) to about 2 ulp over the whole float range; +inf past
 *                88.72, denormals and then 0 below -87.3; NaN stays NaN.
 *                Method: n = round(x / ln2), r = x - n*ln2 in two pieces (Cody-Waite:
 *                the high piece has 9 significant bits, so n*ln2_hi is exact),
 *                exp(r) = 1 + r*Q(r) with Q a degree-5 least-squares fit on
 *                |r| <= ln2/2 (relative error 2.2e-9), times 2^n applied as two halves
 *                so that results which overflow or go denormal round correctly.
 * tx_verfcf(z):  erfc(z) for z >= 0 with relative error below ~4e-7 (so erfc keeps its
 *                relative accuracy deep in the tail, where 1 - erf would be 0).
 *                Form: erfc(z) = t * exp(-z^2) * P(t), t = 1/(1 + z/2), P of degree 9
 *                fitted (least squares on the relative error, Chebyshev nodes in t,
 *                z in [0, 10.5]) by this project; the fit alone is good to 2.5e-8.
 *                The rounding of z*z is compensated (see below).
 * tx_vphif(x):   the standard normal CDF, relative accuracy ~5e-7 in both tails.
 * Private to src/ops (not part of the library's API).
 */
#ifndef TX_OPS_VMATH_H
#define TX_OPS_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float tx_v_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t tx_v_u32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float tx_vexpf(float x) {
    /* clamp (comparisons are false for NaN, so NaN passes through) */
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    /* adding 1.5*2^23 rounds x/ln2 to an integer held in the low mantissa bits */
    const float magic = 12582912.0f;
    float t = xc * 1.44269504088896341f + magic;
    float nf = t - magic;
    int32_t n = (int32_t)(tx_v_u32(t) - tx_v_u32(magic)); /* n in [-150, 129] */
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float q = 0.0013859291075737907f;
    q = q * r + 0.008374763974931f;
    q = q * r + 0.04166772432095445f;
    q = q * r + 0.16666420945132146f;
    q = q * r + 0.49999995350994125f;
    q = q * r + 1.0000000360921262f;
    float p = q * r + 1.0f;
    int32_t n1 = n / 2, n2 = n - n1; /* each in [-75, 65]: both halves are normal */
    float s1 = tx_v_f32((uint32_t)(n1 + 127) << 23);
    float s2 = tx_v_f32((uint32_t)(n2 + 127) << 23);
    return p * s1 * s2;
}

/* Rounding residual of a*a: a*a = aa + res exactly (Dekker: a split into 12-bit halves,
 * whose products are exact in float). Needs |a| < 2^63 or so; callers clamp first. */
static inline float tx_v_sq_residual(float a, float aa) {
    float ah = tx_v_f32(tx_v_u32(a) & 0xfffff000u), al = a - ah;
    return ((ah * ah - aa) + 2.0f * ah * al) + al * al;
}

/* erfc(z) for z >= 0, given e = exp(-z*z). */
static inline float tx_verfc_e(float z, float e) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.01205465965658968f;
    p = p * t + -0.12172775119820402f;
    p = p * t + 0.4246833633355027f;
    p = p * t + -0.6635204307581892f;
    p = p * t + 0.4152148028484475f;
    p = p * t + -0.09475475624833785f;
    p = p * t + 0.22422191085333923f;
    p = p * t + 0.23894133201857612f;
    p = p * t + 0.2828204692575678f;
    p = p * t + 0.28206638261783995f;
    return t * p * e;
}

/* erfc(z) for z >= 0 (z < 0 is outside its range).
 * z*z rounds with a relative error up to 2^-24, i.e. an absolute error of z^2 * 6e-8 in
 * the exponent (4e-6 relative at z = 8); the residual is recovered exactly and
 * exp(-z^2) = exp(-zz) * (1 - res). */
static inline float tx_verfcf(float z) {
    z = z > 10.5f ? 10.5f : z; /* erfc is 0 in float from 10.06 on; keeps inf out */
    float zz = z * z;
    return tx_verfc_e(z, tx_vexpf(-zz) * (1.0f - tx_v_sq_residual(z, zz)));
}

/* exp(-x*x/2), accurate to a few ulp for every x (the rounding of x*x compensated as
 * above; the halving is exact). */
static inline float tx_vexp_halfsq(float x) {
    float a = x < 0.0f ? -x : x;
    a = a > 15.0f ? 15.0f : a; /* exp(-112.5) is 0 in float; keeps inf out */
    float aa = a * a;
    return tx_vexpf(-0.5f * aa) * (1.0f - 0.5f * tx_v_sq_residual(a, aa));
}

/* Standard normal CDF Phi(x) = erfc(-x/sqrt 2) / 2 given e = exp(-x*x/2), with relative
 * accuracy kept for x < 0 (so GELU(x) = x * Phi(x) stays accurate far into its negative
 * tail). The exponent comes from x itself: computing it from z = x/sqrt 2 would carry
 * z's rounding, amplified by 2z^2 (1e-5 relative at x = -12). */
static inline float tx_vphi_e(float x, float e) {
    const float rsqrt2 = 0.70710678118654752f;
    float z = x * rsqrt2;
    float az = z < 0.0f ? -z : z;
    float h = 0.5f * tx_verfc_e(az, e);
    return x < 0.0f ? h : 1.0f - h;
}

static inline float tx_vphif(float x) { return tx_vphi_e(x, tx_vexp_halfsq(x)); }

static inline float tx_vsigmoidf(float x) { return 1.0f / (1.0f + tx_vexpf(-x)); }
/* silu(x) = x * sigmoid(x) and gelu(x) = x * Phi(x): the forms act.c's passes and the
 * conv/linear epilogues share, so a fused activation gives the same bits as a pass. */
static inline float tx_vsiluf(float x) { return x / (1.0f + tx_vexpf(-x)); }
static inline float tx_vgeluf(float x) { return x * tx_vphif(x); }

/* ---- rows: y[i] = f(x[i]) for i < n (y may equal x) ----------------------------------
 * What act.c's passes and the conv/linear epilogues call, so fused and separate
 * activations give the same bits. With AVX-512, sigmoid uses tx_v16_exp below and silu
 * a form of it with one FMA less per step (fused multiply-adds and vscalefps: about half
 * the instructions of tx_vexpf, which keeps to plain arithmetic so that every x86-64
 * vector width gives its bits); results differ from the portable build's in the last
 * few bits. */
#if defined(__AVX512F__)
#include <immintrin.h>

/* exp(x) on 16 lanes, within ~2 ulp: n = round(x log2 e), r = x - n ln2 (two FMA steps,
 * Cody-Waite), exp(r) by the degree-5 polynomial of tx_vexpf, then times 2^n by
 * vscalefps, which rounds overflow to +inf and underflow to denormals/0 once. x is
 * clamped to [-104, 89] first (NaN passes: max/min return the second operand). */
static inline __m512 tx_v16_exp(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 q = _mm512_set1_ps(0.0013859291075737907f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.008374763974931f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.04166772432095445f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.16666420945132146f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.49999995350994125f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0000000360921262f));
    const __m512 p = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 tx_v16_sigmoid(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, tx_v16_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* silu(x) = x / (1 + exp(-x)) in 13 instructions (EfficientNet spends ~15% of its time
 * here): -xc = n ln2 - r with r = xc + n ln2 in one FMA (ln2 rounded to float: |n| ln2's
 * error stays below 2.2e-7 of r for |x| < 88), exp(-r) by tx_v16_exp's polynomial with
 * the odd coefficients negated, times 2^n by vscalefps. Within 3.3e-7 relative of
 * x / (1 + exp(-x)) in double for |x| < 78 (1.7e-7 for tx_v16_exp's form), and the same
 * results for inf, NaN and past the float range. Only the exponent is clamped (x > 104:
 * exp(-x) is 0 in float), x itself stays the numerator, so NaN stays NaN. */
static inline __m512 tx_v16_silu(__m512 x) {
    const __m512 xc = _mm512_min_ps(x, _mm512_set1_ps(104.0f)); /* NaN: 104, see above */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(-1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.693147180559945f), xc);
    __m512 q = _mm512_set1_ps(-0.0013859291075737907f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.008374763974931f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-0.04166772432095445f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.16666420945132146f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-0.49999995350994125f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0000000360921262f));
    const __m512 e = _mm512_scalef_ps(_mm512_fnmadd_ps(q, r, _mm512_set1_ps(1.0f)), n);
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

#define TX_V16_ROW(NAME, F)                                                                 \
    static inline void NAME(float *y, const float *x, int64_t n) {                         \
        int64_t i = 0;                                                                      \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, F(_mm512_loadu_ps(x + i)));   \
        if (i < n) {                                                                        \
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                           \
            _mm512_mask_storeu_ps(y + i, m, F(_mm512_maskz_loadu_ps(m, x + i)));            \
        }                                                                                   \
    }
TX_V16_ROW(tx_vsigmoid_row, tx_v16_sigmoid)
TX_V16_ROW(tx_vsilu_row, tx_v16_silu)
#undef TX_V16_ROW
#else
static inline void tx_vsigmoid_row(float *y, const float *x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = tx_vsigmoidf(x[i]);
}
static inline void tx_vsilu_row(float *y, const float *x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = tx_vsiluf(x[i]);
}
#endif

static inline void tx_vgelu_row(float *y, const float *x, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = tx_vgeluf(x[i]);
}

#endif
