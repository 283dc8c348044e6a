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
} tx_conv_shape;

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
/* Row-wise softmax (inference). */
void tx_softmax_forward(float *y, const float *x, int n, int k);

#endif
