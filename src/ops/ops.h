/* ops.h - the numeric kernels every graph op is built from.
 *
 * Layout: activations NHWC (channels last), row-major. Argument order everywhere:
 * outputs, inputs, parameters, sizes. Each kernel OVERWRITES its outputs (=, not +=);
 * the executor accumulates where one tensor feeds several consumers.
 * Every fast kernel has a naive *_ref twin that tests compare it against.
 * Kernels parallelize with OpenMP (static schedules, fixed reduction order, so the same
 * thread count gives bit-identical results) and call BLAS through tx_sgemm only.
 * Kernels do not fail: shapes are validated when the graph is built (tx_*_shape_init).
 */
#ifndef TX_OPS_H
#define TX_OPS_H

#include "core/core.h"

/* ---- GEMM (gemm.c) ------------------------------------------------------ */
/* Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
 * op(A) = A (lda >= K) or A^T when ta (A stored [K,M], lda >= M); same for B.
 * Uses OpenBLAS (cblas_sgemm) when built with TX_HAVE_BLAS, a blocked C loop otherwise. */
void tx_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void tx_sgemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);

/* ---- convolution (conv.c) ----------------------------------------------- */
/* x[n,h,w,c] -> y[n,oh,ow,oc]; weight w[oc,kh,kw,c/groups]; bias b[oc] (may be NULL).
 * pad_t/pad_l are the top/left padding; bottom/right padding is whatever makes the
 * output oh x ow (so TFLite's asymmetric SAME padding fits). */
typedef struct tx_conv_shape {
    int n, h, w, c;     /* input */
    int oc, kh, kw;     /* output channels, kernel size */
    int sh, sw;         /* stride */
    int pad_t, pad_l;   /* leading padding */
    int dh, dw;         /* dilation */
    int groups;         /* c % groups == 0 && oc % groups == 0 */
    int oh, ow;         /* output size: filled by tx_conv_shape_init unless set (>0) */
    int pad_b, pad_r;   /* trailing padding, used by init to compute oh/ow */
    int threads;        /* most OpenMP threads the kernels use; scratch is sized for it
                           and kernels use min(threads, omp_get_max_threads()), so the
                           scratch stays big enough if the thread count changes later.
                           tx_conv_shape_init sets omp_get_max_threads() when 0. Left 0
                           (shape not passed through init), scratch and kernels read
                           omp_get_max_threads() at each call: then the thread count must
                           not grow between sizing the scratch and running the kernels. */
    int act;            /* activation every forward path applies right after the bias
                           (inference fusion of conv + bias + activation): 0 none,
                           1 relu, 2 clamp to [-1, 1], 3 relu6 (TFLite's codes, TX_ACT_*
                           in graph.h), 4 silu, 5 gelu (erf; the same bits as act.c's
                           passes). NaN stays NaN. Backward ignores it (the caller
                           applies the activation's own backward to dy first). */
    const float *res;   /* forward only (inference fusion of a residual add): when not
                           NULL, y = act(conv + bias + res), res laid out like y and not
                           overlapping it. Backward ignores it. */
    float *rowsum;      /* forward of a depthwise conv where tx_conv2d_rowsum_ok: when not
                           NULL, also rowsum[(n*oh + oy)*oc + o] = the sum over ox of
                           y[n, oy, ox, o] (after the activation), added up in ox order
                           whatever the thread count: a global average pool of y from
                           oh*oc floats instead of a pass over y. Backward ignores it. */
} tx_conv_shape;

/* Whether a forward of s fills s->rowsum (a depthwise conv on the fast path, no res). */
int tx_conv2d_rowsum_ok(const tx_conv_shape *s);

/* Validates and fills oh/ow (from pad_b/pad_r when oh/ow are 0). */
int tx_conv_shape_init(tx_conv_shape *s, tx_err *err);
/* Floats of scratch memory forward/backward need (im2col buffers etc.) for s; bounded
 * (does not grow with the batch), proportional to s->threads. */
size_t tx_conv2d_scratch_floats(const tx_conv_shape *s);

void tx_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const tx_conv_shape *s, float *scratch);
/* dx may be NULL (input needs no gradient); dw and db (NULL when no bias) are
 * overwritten with the gradient summed over the batch. */
void tx_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const tx_conv_shape *s, float *scratch);
/* Inference with weights packed once (a loaded model's weights do not change): wp holds
 * tx_conv2d_packed_floats(s) floats, filled by tx_conv2d_pack from the OHWI w; then
 * tx_conv2d_forward_packed computes what tx_conv2d_forward computes without repacking w
 * on each call. The packed layout depends on s but not on s->n or s->threads: a pack
 * made for one batch size serves every batch. Scratch: tx_conv2d_scratch_floats(s). */
size_t tx_conv2d_packed_floats(const tx_conv_shape *s);
void tx_conv2d_pack(float *wp, const float *w, const tx_conv_shape *s);
void tx_conv2d_forward_packed(float *y, const float *x, const float *wp, const float *b,
                              const tx_conv_shape *s, float *scratch);
/* Scratch floats tx_conv2d_forward_packed needs (at most tx_conv2d_scratch_floats(s)). */
size_t tx_conv2d_packed_scratch_floats(const tx_conv_shape *s);
/* Inference: a conv of an input gated per image and channel, y = conv(x * g) with g
 * [n, c] broadcast over the pixels (squeeze-excitation's scale before the projection);
 * wp, b, activation and residual as in tx_conv2d_forward_packed. Where tx_conv2d_gate_ok
 * (a 1x1, stride-1, ungrouped conv on the packed-GEMM path), the packed weights' rows are
 * scaled by g one image at a time and x is read once, by the GEMM; otherwise x * g is
 * written to scratch first. Scratch: tx_conv2d_gated_scratch_floats(s). */
int tx_conv2d_gate_ok(const tx_conv_shape *s);
size_t tx_conv2d_gated_scratch_floats(const tx_conv_shape *s);
void tx_conv2d_forward_packed_gated(float *y, const float *x, const float *g, const float *wp,
                                    const float *b, const tx_conv_shape *s, float *scratch);
/* Inference, AVX-512 builds: an inverted-residual block fused, y = c3(dw(c1(x))): an
 * optional conv c1 on the packed path (a 1x1 expansion, a 3x3 stem; NULL: dw reads x),
 * the depthwise conv dw, and an optional 1x1 projection c3 (NULL: y is dw's output; its
 * res is added as in tx_conv2d_forward_packed), without writing the tensors between them
 * (each thread computes what a band of dw's output rows needs into its scratch). Weights,
 * biases and activations as in tx_conv2d_forward_packed for each; the same bits as the
 * separate calls. tx_convdw_ok says whether the convs qualify (always 0 without AVX-512,
 * where this runs the convs one after the other with the tensors between them in scratch;
 * c1 and c3 not both NULL); scratch: tx_convdw_scratch_floats. */
int tx_convdw_ok(const tx_conv_shape *c1, const tx_conv_shape *dw, const tx_conv_shape *c3);
size_t tx_convdw_scratch_floats(const tx_conv_shape *c1, const tx_conv_shape *dw,
                                const tx_conv_shape *c3);
void tx_convdw_forward_packed(float *y, const float *x, const float *wp1, const float *b1,
                              const tx_conv_shape *c1, const float *wp_dw, const float *b_dw,
                              const tx_conv_shape *dw, const float *wp3, const float *b3,
                              const tx_conv_shape *c3, float *scratch);
void tx_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                           const tx_conv_shape *s);
void tx_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, const tx_conv_shape *s);

/* ---- batch normalization over the channel (last) axis (norm.c) ----------- */
/* rows = n*h*w, c channels. Training: batch statistics (biased variance for
 * normalizing), running stats updated PyTorch-style:
 *   running = (1-momentum)*running + momentum*batch (unbiased variance for running_var).
 * save_mean/save_invstd [c] are kept for backward. */
void tx_batchnorm_forward_train(float *y, float *save_mean, float *save_invstd,
                                float *running_mean, float *running_var, const float *x,
                                const float *gamma, const float *beta, int64_t rows, int c,
                                float eps, float momentum);
void tx_batchnorm_forward_eval(float *y, const float *x, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, int64_t rows, int c, float eps);
void tx_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *gamma, const float *save_mean,
                           const float *save_invstd, int64_t rows, int c);

/* ---- elementwise (act.c) -------------------------------------------------- */
void tx_relu_forward(float *y, const float *x, int64_t n);
/* dx = dy * (y > 0); uses the forward OUTPUT y (so x need not be kept). */
void tx_relu_backward(float *dx, const float *dy, const float *y, int64_t n);
void tx_add_forward(float *y, const float *a, const float *b, int64_t n);
/* Dropout (inverted): mask[i] = keep, y = x * mask / (1-p). */
void tx_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p,
                        tx_rng *rng);
void tx_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n,
                         float p);

/* ---- pooling (pool.c) ----------------------------------------------------- */
typedef struct tx_pool_shape {
    int n, h, w, c;
    int kh, kw, sh, sw;
    int pad_t, pad_l, pad_b, pad_r;
    int oh, ow;                 /* filled by tx_pool_shape_init */
    int count_include_pad;      /* avg pool: PyTorch default 1, TFLite 0 */
} tx_pool_shape;
int tx_pool_shape_init(tx_pool_shape *s, tx_err *err);

/* argmax[n,oh,ow,c] (int32 index into the input plane h*w) is saved for backward;
 * may be NULL for inference. Padding never wins (PyTorch semantics: pads are -inf). */
void tx_maxpool_forward(float *y, int32_t *argmax, const float *x, const tx_pool_shape *s);
void tx_maxpool_backward(float *dx, const float *dy, const int32_t *argmax,
                         const tx_pool_shape *s);
/* relu(maxpool(x)) == maxpool(relu(x)) (max commutes with the monotone relu, and both
 * give a zero gradient where the window's max is <= 0), so the executor fuses a relu whose
 * only reader is a max pool: forward pools x then clamps the (smaller) output in place;
 * this backward routes dy[o] to the argmax only where the clamped output y[o] > 0. */
void tx_maxpool_relu_backward(float *dx, const float *dy, const float *y, const int32_t *argmax,
                              const tx_pool_shape *s);
void tx_avgpool_forward(float *y, const float *x, const tx_pool_shape *s);
void tx_avgpool_backward(float *dx, const float *dy, const tx_pool_shape *s);
/* x[n, hw, c] -> y[n, c] */
void tx_global_avgpool_forward(float *y, const float *x, int n, int hw, int c);
void tx_global_avgpool_backward(float *dx, const float *dy, int n, int hw, int c);

/* ---- fully connected (linear.c) ------------------------------------------ */
/* y[n,out] = x[n,in] * w[out,in]^T + b[out] (b may be NULL) - PyTorch's layout. */
void tx_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t n,
                       int in, int out);
/* dx may be NULL. */
void tx_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int64_t n, int in, int out);

/* ---- loss (loss.c) -------------------------------------------------------- */
/* Softmax cross-entropy with label smoothing eps (PyTorch's CrossEntropyLoss with
 * label_smoothing): target = (1-eps)*onehot + eps/k. Returns the mean loss over n;
 * probs[n,k] (softmax) is written for backward and for metrics. */
float tx_softmax_xent_forward(float *probs, const float *logits, const int32_t *labels,
                              int n, int k, float smoothing);
/* Gradient of the mean loss: dlogits = (probs - target) / n. */
void tx_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels,
                              int n, int k, float smoothing);
/* Row-wise softmax over k; backward: dx = y * (dy - sum(dy * y)) (dx may alias dy). */
void tx_softmax_forward(float *y, const float *x, int n, int k);
void tx_softmax_backward(float *dx, const float *dy, const float *y, int n, int k);

/* ==== ops for ResNet / MobileNetV2 / EfficientNet / ConvNeXt / ViT ============== */

/* ---- smooth and piecewise activations (act.c) ------------------------------ */
/* Elementwise over n floats, PyTorch's formulas and backward rules (see act.c).
 * y may alias x and dx may alias dy. What backward reads besides dy:
 *   sigmoid: y (output)   silu, gelu, hardsigmoid, hardswish: x (input)   relu6: y.
 * gelu is the exact erf form (torch.nn.GELU(), approximate='none'). hardswish'
 * backward at exactly x = 3 is dy, as PyTorch's vectorized loop (its scalar loop: 1.5dy). */
void tx_sigmoid_forward(float *y, const float *x, int64_t n);
void tx_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n);
void tx_silu_forward(float *y, const float *x, int64_t n);
void tx_silu_backward(float *dx, const float *dy, const float *x, int64_t n);
void tx_gelu_forward(float *y, const float *x, int64_t n);
void tx_gelu_backward(float *dx, const float *dy, const float *x, int64_t n);
void tx_hardsigmoid_forward(float *y, const float *x, int64_t n);
void tx_hardsigmoid_backward(float *dx, const float *dy, const float *x, int64_t n);
void tx_hardswish_forward(float *y, const float *x, int64_t n);
void tx_hardswish_backward(float *dx, const float *dy, const float *x, int64_t n);
void tx_relu6_forward(float *y, const float *x, int64_t n);
void tx_relu6_backward(float *dx, const float *dy, const float *y, int64_t n);
/* Naive twins (double, libm) of the vectorized-exp/erfc kernels. */
void tx_sigmoid_forward_ref(float *y, const float *x, int64_t n);
void tx_sigmoid_backward_ref(float *dx, const float *dy, const float *y, int64_t n);
void tx_silu_forward_ref(float *y, const float *x, int64_t n);
void tx_silu_backward_ref(float *dx, const float *dy, const float *x, int64_t n);
void tx_gelu_forward_ref(float *y, const float *x, int64_t n);
void tx_gelu_backward_ref(float *dx, const float *dy, const float *x, int64_t n);

/* ---- products, clamps, concatenation, padding (act.c) ----------------------- */
/* y = a * b (same shape); da = dy * b, db = dy * a (either may be NULL; they must not
 * alias a or b). */
void tx_mul_forward(float *y, const float *a, const float *b, int64_t n);
void tx_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                     int64_t n);
/* y = min(max(x, lo), hi); backward passes dy where lo < y < hi (dx may alias dy). */
void tx_clamp_forward(float *y, const float *x, int64_t n, float lo, float hi);
void tx_clamp_backward(float *dx, const float *dy, const float *y, int64_t n, float lo, float hi);
/* Copies c channels of each of rows rows between row strides (concat forward writes a
 * slice of the output, its backward reads one). */
void tx_channel_copy(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                     int c);
/* Zero padding x[n,h,w,c] -> y[n, pt+h+pb, pl+w+pr, c]; backward crops dy back. */
void tx_pad_forward(float *y, const float *x, int n, int h, int w, int c, int pt, int pl, int pb,
                    int pr);
void tx_pad_backward(float *dx, const float *dy, int n, int h, int w, int c, int pt, int pl,
                     int pb, int pr);

/* Fake quantization: y = scale * (clamp(rne(x / scale) + zp, qmin, qmax) - zp);
 * backward (straight-through): dx = dy where the output lies strictly inside
 * (qmin, qmax) on the grid, else 0 (reads the forward output y; dx may alias dy). */
void tx_fakequant_forward(float *y, const float *x, int64_t n, float scale, int32_t zp, int qmin,
                          int qmax);
void tx_fakequant_backward(float *dx, const float *dy, const float *y, int64_t n, float scale,
                           int32_t zp, int qmin, int qmax);

/* ---- per-channel scaling (act.c) ------------------------------------------- */
/* Squeeze-excitation gate (NHWC, hw = h*w): y[n,hw,c] = x[n,hw,c] * s[n,c].
 * Backward: dx = dy * s, ds[n,c] = sum over hw of dy * x (double, fixed order).
 * dx or ds may be NULL. y may alias x, dx may alias dy (ds is summed first). */
void tx_chanmul_forward(float *y, const float *x, const float *s, int n, int64_t hw, int c);
void tx_chanmul_backward(float *dx, float *ds, const float *dy, const float *x,
                         const float *s, int n, int64_t hw, int c);
/* Layer scale (ConvNeXt, timm LayerScale): y[rows,c] = x[rows,c] * gamma[c];
 * dgamma = sum over rows of dy * x (double, per tile of 16 channels, rows in order).
 * dx or dgamma may be NULL; y may alias x, dx may alias dy. */
void tx_layerscale_forward(float *y, const float *x, const float *gamma, int64_t rows, int c);
void tx_layerscale_backward(float *dx, float *dgamma, const float *dy, const float *x,
                            const float *gamma, int64_t rows, int c);

/* ---- drop path / stochastic depth (act.c) ---------------------------------- */
/* x[n, per] (per = elements of one sample). keep[n] (uint8) is drawn from rng (one
 * tx_rng_u64 per sample, none when p <= 0) and kept for backward;
 * y = x * keep / (1-p) as timm's drop_path(scale_by_keep=True); p >= 1 gives zeros.
 * Training only: at inference the op is the identity and is not called.
 * Backward is the same product: dx = dy * keep / (1-p) (so it also applies a given
 * mask). y may alias x, dx may alias dy. */
void tx_droppath_forward(float *y, uint8_t *keep, const float *x, int n, int64_t per,
                         float p, tx_rng *rng);
void tx_droppath_backward(float *dx, const float *dy, const uint8_t *keep, int n,
                          int64_t per, float p);

/* ---- layer normalization over the last axis (norm.c) ------------------------ */
/* x[rows, c] -> y[rows, c], per row: y = (x - mean) * rstd * w + b,
 * rstd = 1/sqrt(var + eps), biased variance (torch.nn.LayerNorm; ViT's LayerNorm and
 * ConvNeXt's channels-last LayerNorm on NHWC with rows = n*h*w). Mean and variance are
 * two passes over the row in double. w and b may be NULL (no affine). save_mean and
 * save_rstd [rows] are written when non-NULL (training; backward needs them).
 * y may alias x. */
void tx_layernorm_forward(float *y, float *save_mean, float *save_rstd, const float *x,
                          const float *w, const float *b, int64_t rows, int c, float eps);
/* dx[rows,c], dw[c], db[c] (each may be NULL; w NULL means weight 1). Reads x, w and
 * the saved statistics (required). dw/db are sums in double: per thread in row order,
 * threads added in order (same thread count, same bits); dx does not depend on the
 * thread count. dx must not alias dy or x. */
void tx_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const float *save_mean, const float *save_rstd,
                           int64_t rows, int c);
/* Naive twins in double; backward_ref recomputes the statistics from x (test use: they
 * allocate, and leave the outputs unwritten if that fails). */
void tx_layernorm_forward_ref(float *y, float *save_mean, float *save_rstd, const float *x,
                              const float *w, const float *b, int64_t rows, int c, float eps);
void tx_layernorm_backward_ref(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int64_t rows, int c, float eps);

/* ---- multi-head attention core (attention.c) -------------------------------- */
/* Per sample b and head h, with Q, K, V the [t, hd] slices of head h:
 *   P = softmax(Q K^T * scale) (rows), O = P V, written to y[b, :, h*hd : (h+1)*hd].
 * q, k, v are [n, t, *] with row stride ldqkv floats (sample stride t*ldqkv); head h
 * occupies columns h*hd .. h*hd+hd-1 of each. timm's fused qkv Linear output
 * qkv[n, t, 3*D] (D = heads*hd, reshaped (n, t, 3, heads, hd)) is used in place:
 *   q = qkv, k = qkv + D, v = qkv + 2*D, ldqkv = 3*D   (no copies),
 * and its gradient buffer dqkv[n, t, 3*D] likewise: dq = dqkv, dk = dqkv + D, ...
 * y and dy are [n, t, D] (row stride D). No attention dropout. */
typedef struct tx_attn_shape {
    int n, t, heads, hd;
    int ldqkv;    /* row stride of q/k/v and dq/dk/dv; 0 -> heads*hd (set by init) */
    float scale;  /* 0 -> 1/sqrt(hd) (set by init), as timm */
    int threads;  /* as in tx_conv_shape: 0 -> omp_get_max_threads() (set by init);
                     kernels use min(threads, omp_get_max_threads()) */
} tx_attn_shape;
int tx_attn_shape_init(tx_attn_shape *s, tx_err *err);
/* Floats of scratch for forward (when probs is NULL) and backward (both cases):
 * 2 * threads * t * t. Bounded by the thread count, not the batch. */
size_t tx_attention_scratch_floats(const tx_attn_shape *s);
/* probs[n, heads, t, t]: the softmax, written when non-NULL (training; then the forward
 * needs no scratch, pass NULL). */
void tx_attention_forward(float *y, float *probs, const float *q, const float *k,
                          const float *v, const tx_attn_shape *s, float *scratch);
/* dq, dk, dv (row stride ldqkv; each may be NULL; they must not overlap q/k/v/dy).
 * probs from the forward, or NULL to recompute it from q and k (memory for time: saves
 * n*heads*t*t floats). scratch (tx_attention_scratch_floats) is always needed. */
void tx_attention_backward(float *dq, float *dk, float *dv, const float *dy,
                           const float *probs, const float *q, const float *k,
                           const float *v, const tx_attn_shape *s, float *scratch);
/* Naive twins: straight loops in double (test use: they allocate O(t*t) doubles and
 * leave the outputs unwritten if that fails). */
void tx_attention_forward_ref(float *y, float *probs, const float *q, const float *k,
                              const float *v, const tx_attn_shape *s);
void tx_attention_backward_ref(float *dq, float *dk, float *dv, const float *dy,
                               const float *q, const float *k, const float *v,
                               const tx_attn_shape *s);

/* ---- class token and position embedding (attention.c) ----------------------- */
/* x[n, t, d] -> y[n, t+1, d]: y[b,0] = cls + pos[0], y[b,1+i] = x[b,i] + pos[1+i]
 * (timm ViT _pos_embed: cat then add). cls NULL: no class token, y[n,t,d] = x + pos.
 * pos NULL: nothing added. pos is [t+1, d] with a class token, [t, d] without. */
void tx_cls_pos_forward(float *y, const float *x, const float *cls, const float *pos,
                        int n, int t, int d);
/* dx[n,t,d] = dy rows 1.. (or all without cls); dcls[d] = sum_b dy[b,0];
 * dpos[t(+1), d] = sum_b dy[b] (double, sample order). Any of dx/dcls/dpos may be NULL;
 * has_cls says whether the forward had a class token. */
void tx_cls_pos_backward(float *dx, float *dcls, float *dpos, const float *dy, int has_cls,
                         int n, int t, int d);
/* Class-token pooling: y[n, d] = x[n, 0, :] of x[n, t, d];
 * backward: dx[n, t, d] = dy at token 0, zeros elsewhere. */
void tx_token0_forward(float *y, const float *x, int n, int t, int d);
void tx_token0_backward(float *dx, const float *dy, int n, int t, int d);

#endif
