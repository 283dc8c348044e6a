/* qmodel.h - a minimal runner of whole quantized TFLite classifiers on the kernels of
 * src/ops/quant.h, for tests/test_qops.c and bench/bench_qconv.c only (taxon's real
 * executor lives in src/graph). Header-only; every tensor gets its own buffer, operators
 * run in file order. Handles the operators the MobileNets use (CONV_2D,
 * DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN,
 * SOFTMAX, LOGISTIC, HARD_SWISH, RESHAPE, SQUEEZE) on 8-bit tensors.
 *
 * It also shows how a caller picks the mode per layer: everything runs in the requested
 * mode except a uint8 DEPTHWISE_CONV_2D whose weights carry quantized_dimension != 0,
 * which TFLite's XNNPACK delegate refuses (then TFLite's own kernel, equal to the
 * reference, runs). */
#ifndef TX_TESTS_QMODEL_H
#define TX_TESTS_QMODEL_H

#include "io/tflite.h"
#include "ops/quant.h"

#include <stdlib.h>
#include <string.h>

typedef struct qm_node {
    int kind; /* TX_TFL_OP_* */
    tx_qconv *conv;
    tx_qbinary bin;
    tx_pool_shape pool;
    int qmin, qmax;
    tx_qsoftmax *sm;
    tx_qmean mean;
    tx_qlut lut;
    int in[2], out;
} qm_node;

typedef struct qmodel {
    tx_tflite_model m;
    const tx_tflite_subgraph *g;
    void **buf;          /* per tensor: constant data (borrowed) or an owned buffer */
    uint8_t *owned;
    qm_node *nodes;
    void *scratch;
    int in_tensor, out_tensor;
} qmodel;

static inline int qm_type(const tx_tflite_tensor *t) {
    return t->type == TX_TFL_INT8 ? TX_QT_S8 : TX_QT_U8;
}
static inline tx_qparam qm_param(const tx_tflite_tensor *t) {
    return (tx_qparam){t->q.n ? t->q.scale[0] : 1.0f, t->q.n ? (int32_t)t->q.zero_point[0] : 0};
}
/* TFLite SAME / VALID padding as explicit leading/trailing pads */
static inline void qm_pads(int in, int k, int s, int d, int padding, int *a, int *b) {
    *a = *b = 0;
    if (padding != TX_TFL_PAD_SAME) return;
    int o = (in + s - 1) / s;
    int tot = (o - 1) * s + (k - 1) * d + 1 - in;
    tot = tot < 0 ? 0 : tot;
    *a = tot / 2;
    *b = tot - tot / 2;
}

static inline void qmodel_free(qmodel *q) {
    if (q->nodes && q->g) {
        for (int i = 0; i < q->g->n_ops; i++) {
            tx_qconv_free(q->nodes[i].conv);
            tx_free(q->nodes[i].sm);
        }
    }
    if (q->buf && q->g)
        for (int i = 0; i < q->g->n_tensors; i++)
            if (q->owned[i]) tx_free(q->buf[i]);
    free(q->buf);
    free(q->owned);
    free(q->nodes);
    tx_free(q->scratch);
    tx_tflite_free(&q->m);
    memset(q, 0, sizeof *q);
}

/* Loads and packs; mode: tx_qmode for every layer (see above); threads: 0 = OpenMP's. */
static inline int qmodel_load(qmodel *q, const char *path, int mode, int threads, tx_err *err) {
    memset(q, 0, sizeof *q);
    int rc = tx_tflite_load(path, &q->m, err);
    if (rc) return rc;
    if (q->m.n_subgraphs < 1 || q->m.subgraphs[0].n_inputs != 1 || q->m.subgraphs[0].n_outputs != 1)
        return tx_err_set(err, TX_EUNSUP, "%s: one subgraph with one input and one output expected", path);
    const tx_tflite_subgraph *g = q->g = &q->m.subgraphs[0];
    q->in_tensor = g->inputs[0];
    q->out_tensor = g->outputs[0];
    q->buf = calloc((size_t)g->n_tensors, sizeof *q->buf);
    q->owned = calloc((size_t)g->n_tensors, 1);
    q->nodes = calloc((size_t)g->n_ops ? (size_t)g->n_ops : 1, sizeof *q->nodes);
    if (!q->buf || !q->owned || !q->nodes) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < g->n_tensors; i++) {
        const tx_tflite_tensor *t = &g->tensors[i];
        if (t->data) {
            q->buf[i] = (void *)t->data;
            continue;
        }
        q->buf[i] = tx_alloc((size_t)(t->numel > 0 ? t->numel : 1));
        q->owned[i] = 1;
        if (!q->buf[i]) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
    }
    size_t scratch = 0;
    for (int oi = 0; oi < g->n_ops; oi++) {
        const tx_tflite_op *op = &g->ops[oi];
        qm_node *nd = &q->nodes[oi];
        nd->kind = op->builtin;
        if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0)
            return tx_err_set(err, TX_EUNSUP, "%s: operator %d has no input or output", path, oi);
        nd->in[0] = op->inputs[0];
        nd->in[1] = op->n_inputs > 1 ? op->inputs[1] : -1;
        nd->out = op->outputs[0];
        const tx_tflite_tensor *X = &g->tensors[op->inputs[0]], *Y = &g->tensors[nd->out];
        if ((X->type != TX_TFL_UINT8 && X->type != TX_TFL_INT8) ||
            (Y->type != TX_TFL_UINT8 && Y->type != TX_TFL_INT8))
            return tx_err_set(err, TX_EUNSUP, "%s: operator %d (%s) is not 8-bit", path, oi,
                              tx_tflite_op_name(op->builtin));
        rc = 0;
        switch (op->builtin) {
        case TX_TFL_OP_CONV_2D:
        case TX_TFL_OP_DEPTHWISE_CONV_2D:
        case TX_TFL_OP_FULLY_CONNECTED: {
            if (op->n_inputs < 2 || op->inputs[1] < 0 || !g->tensors[op->inputs[1]].data)
                return tx_err_set(err, TX_EUNSUP, "%s: operator %d: constant weights expected", path, oi);
            const tx_tflite_tensor *W = &g->tensors[op->inputs[1]];
            const tx_tflite_tensor *B = op->n_inputs > 2 && op->inputs[2] >= 0 ? &g->tensors[op->inputs[2]] : NULL;
            if (!W->q.n || W->ndim < 2 || (B && B->type != TX_TFL_INT32))
                return tx_err_set(err, TX_EUNSUP, "%s: operator %d: bad weights or bias", path, oi);
            tx_qconv_desc d = {0};
            d.type = qm_type(X);
            d.wtype = qm_type(W);
            d.in = qm_param(X);
            d.out = qm_param(Y);
            d.w_scale = W->q.scale;
            d.n_w_scale = W->q.n;
            d.w_zp = d.wtype == TX_QT_U8 ? (int32_t)W->q.zero_point[0] : 0;
            d.mode = mode;
            d.threads = threads;
            if (op->builtin == TX_TFL_OP_FULLY_CONNECTED) {
                d.kind = TX_QCONV_FC;
                d.c = W->shape[1];
                d.n = (int)(X->numel / (d.c > 0 ? d.c : 1));
                d.oc = W->shape[0];
                d.act = op->opt.fc.activation;
            } else {
                const int dw = op->builtin == TX_TFL_OP_DEPTHWISE_CONV_2D;
                if (X->ndim != 4 || W->ndim != 4)
                    return tx_err_set(err, TX_EUNSUP, "%s: operator %d: 4-D tensors expected", path, oi);
                d.kind = dw ? TX_QCONV_DEPTHWISE : TX_QCONV_CONV;
                d.n = X->shape[0], d.h = X->shape[1], d.w = X->shape[2], d.c = X->shape[3];
                d.oc = dw ? W->shape[3] : W->shape[0];
                d.kh = W->shape[1], d.kw = W->shape[2];
                int pad = dw ? op->opt.dwconv2d.padding : op->opt.conv2d.padding;
                d.sh = dw ? op->opt.dwconv2d.stride_h : op->opt.conv2d.stride_h;
                d.sw = dw ? op->opt.dwconv2d.stride_w : op->opt.conv2d.stride_w;
                d.dh = dw ? op->opt.dwconv2d.dilation_h : op->opt.conv2d.dilation_h;
                d.dw = dw ? op->opt.dwconv2d.dilation_w : op->opt.conv2d.dilation_w;
                d.act = dw ? op->opt.dwconv2d.activation : op->opt.conv2d.activation;
                d.depth_multiplier = dw ? op->opt.dwconv2d.depth_multiplier : 1;
                qm_pads(d.h, d.kh, d.sh, d.dh, pad, &d.pad_t, &d.pad_b);
                qm_pads(d.w, d.kw, d.sw, d.dw, pad, &d.pad_l, &d.pad_r);
                if (dw && d.wtype == TX_QT_U8 && W->q.quantized_dimension != 0)
                    d.mode = TX_QMODE_TFLITE_REF; /* the delegate refuses this layer */
            }
            int32_t *bias = NULL;
            if (B) {
                bias = tx_alloc(B->nbytes ? B->nbytes : 1);
                if (!bias) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
                memcpy(bias, B->data, B->nbytes); /* constant data may be unaligned */
            }
            rc = tx_qconv_pack(&nd->conv, &d, W->data, bias, err);
            tx_free(bias);
            if (!rc && tx_qconv_scratch_bytes(nd->conv) > scratch)
                scratch = tx_qconv_scratch_bytes(nd->conv);
            break;
        }
        case TX_TFL_OP_ADD:
        case TX_TFL_OP_MUL:
            if (nd->in[1] < 0 || g->tensors[nd->in[1]].numel != Y->numel || X->numel != Y->numel)
                return tx_err_set(err, TX_EUNSUP, "%s: operator %d: broadcasting", path, oi);
            rc = op->builtin == TX_TFL_OP_ADD
                     ? tx_qadd_init(&nd->bin, qm_type(X), qm_param(X), qm_param(&g->tensors[nd->in[1]]),
                                    qm_param(Y), op->opt.activation, mode, err)
                     : tx_qmul_init(&nd->bin, qm_type(X), qm_param(X), qm_param(&g->tensors[nd->in[1]]),
                                    qm_param(Y), op->opt.activation, mode, err);
            break;
        case TX_TFL_OP_AVERAGE_POOL_2D:
        case TX_TFL_OP_MAX_POOL_2D: {
            tx_pool_shape *s = &nd->pool;
            if (X->ndim != 4) return tx_err_set(err, TX_EUNSUP, "%s: operator %d: 4-D input expected", path, oi);
            s->n = X->shape[0], s->h = X->shape[1], s->w = X->shape[2], s->c = X->shape[3];
            s->kh = op->opt.pool2d.filter_h, s->kw = op->opt.pool2d.filter_w;
            s->sh = op->opt.pool2d.stride_h, s->sw = op->opt.pool2d.stride_w;
            qm_pads(s->h, s->kh, s->sh, 1, op->opt.pool2d.padding, &s->pad_t, &s->pad_b);
            qm_pads(s->w, s->kw, s->sw, 1, op->opt.pool2d.padding, &s->pad_l, &s->pad_r);
            rc = tx_pool_shape_init(s, err);
            if (!rc)
                rc = tx_qact_range(&nd->qmin, &nd->qmax, qm_type(Y), qm_param(Y),
                                   op->opt.pool2d.activation, mode, err);
            break;
        }
        case TX_TFL_OP_SOFTMAX:
            nd->sm = tx_alloc(sizeof *nd->sm);
            if (!nd->sm) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
            rc = tx_qsoftmax_init(nd->sm, qm_type(X), qm_param(X), qm_param(Y), op->opt.beta, mode, err);
            break;
        case TX_TFL_OP_MEAN:
            if (X->ndim != 4) return tx_err_set(err, TX_EUNSUP, "%s: operator %d: 4-D input expected", path, oi);
            rc = tx_qmean_init(&nd->mean, qm_type(X), qm_param(X), qm_param(Y), X->shape[1] * X->shape[2],
                               mode, err);
            break;
        case TX_TFL_OP_LOGISTIC:
            rc = tx_qlut_logistic(&nd->lut, qm_type(X), qm_param(X), qm_param(Y), mode, err);
            break;
        case TX_TFL_OP_HARD_SWISH:
            rc = tx_qlut_hardswish(&nd->lut, qm_type(X), qm_param(X), qm_param(Y), mode, err);
            break;
        case TX_TFL_OP_RESHAPE:
        case TX_TFL_OP_SQUEEZE:
            if (X->numel != Y->numel)
                return tx_err_set(err, TX_EUNSUP, "%s: operator %d: element count changes", path, oi);
            break;
        default:
            return tx_err_set(err, TX_EUNSUP, "%s: operator %d (%s) is not handled by this runner",
                              path, oi, tx_tflite_op_name(op->builtin));
        }
        if (rc) return tx_err_prefix(err, rc, "%s: operator %d (%s)", path, oi, tx_tflite_op_name(op->builtin));
    }
    q->scratch = tx_alloc(scratch ? scratch : 64);
    if (!q->scratch) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
    return TX_OK;
}

static inline void qmodel_run_op(qmodel *q, int oi) {
    const qm_node *nd = &q->nodes[oi];
    const tx_tflite_tensor *X = &q->g->tensors[nd->in[0]], *Y = &q->g->tensors[nd->out];
    void *y = q->buf[nd->out];
    const void *x = q->buf[nd->in[0]];
    switch (nd->kind) {
    case TX_TFL_OP_CONV_2D:
    case TX_TFL_OP_DEPTHWISE_CONV_2D:
    case TX_TFL_OP_FULLY_CONNECTED:
        tx_qconv_run(nd->conv, y, x, tx_qconv_get_desc(nd->conv)->n, q->scratch);
        break;
    case TX_TFL_OP_ADD:
    case TX_TFL_OP_MUL:
        tx_qbinary_run(&nd->bin, y, x, q->buf[nd->in[1]], Y->numel);
        break;
    case TX_TFL_OP_AVERAGE_POOL_2D:
        tx_qavgpool(y, x, &nd->pool, qm_type(X), nd->qmin, nd->qmax);
        break;
    case TX_TFL_OP_MAX_POOL_2D:
        tx_qmaxpool(y, x, &nd->pool, qm_type(X), nd->qmin, nd->qmax);
        break;
    case TX_TFL_OP_SOFTMAX: {
        int k = X->ndim ? X->shape[X->ndim - 1] : 1;
        tx_qsoftmax_run(nd->sm, y, x, X->numel / (k > 0 ? k : 1), k);
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
}

static inline void qmodel_run(qmodel *q) {
    for (int oi = 0; oi < q->g->n_ops; oi++) qmodel_run_op(q, oi);
}

#endif
