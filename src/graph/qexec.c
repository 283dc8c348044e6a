/* qexec.c - quantized nodes: kernels prepared from the parameters once per model
 * (m->kern) and the per-node dispatch the executor calls.
 *
 * A node is quantized when its dtype is TX_U8 or TX_I8; it reads the 8-bit outputs of
 * its inputs with their (dtype, qscale, qzp) and writes real = qscale * (q - qzp) in its
 * own dtype, with the arithmetic of ops/quant.h in the node's qmode. QUANTIZE (float or
 * 8-bit in) and DEQUANTIZE (8-bit in, float out) run here too, whatever their dtype.
 *
 * tx_model_prepare turns the parameters into kernel state once: convolutions and linear
 * layers are packed (tx_qconv_pack: weights re-laid out for the VNNI kernels,
 * requantization multipliers precomputed), the fixed-point constants of add/mul/mean/
 * softmax and the 256-entry tables of the elementwise ops are computed. Every check that
 * can fail (shapes, scales the kernels refuse, unsupported combinations) fails there, with
 * the node's name, so tx_qexec_node itself cannot fail. */
#include "graph/graph.h"
#include "ops/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qkern {
    int op;
    tx_qconv *conv;          /* CONV2D, LINEAR */
    tx_qbinary bin;          /* ADD, MUL */
    int bcast;               /* MUL: b is [1, 1, c], broadcast over a's h, w */
    tx_pool_shape pool;      /* AVGPOOL, MAXPOOL (n set per call) */
    int qmin, qmax;
    tx_qmean mean;           /* GLOBAL_AVGPOOL */
    tx_qsoftmax sm;          /* SOFTMAX */
    tx_qlut lut;             /* SIGMOID, HARDSWISH, RELU, RELU6, QUANTIZE 8->8 */
    int in_type, out_type;   /* tx_qtype (or -1 for float) */
    tx_qparam in, out;
    int n_cat;               /* CONCAT */
    int cs[TX_MAX_NODE_INPUTS];
    tx_qparam cins[TX_MAX_NODE_INPUTS];
} qkern;

static int is_q(int dtype) { return dtype == TX_U8 || dtype == TX_I8; }
static int qtype_of(int dtype) { return dtype == TX_I8 ? TX_QT_S8 : TX_QT_U8; }
static tx_qparam qparam_of(const tx_node *nd) { return (tx_qparam){nd->qscale, nd->qzp}; }

static int runs_here(const tx_node *nd) {
    return is_q(nd->dtype) || nd->op == TX_OP_QUANTIZE || nd->op == TX_OP_DEQUANTIZE;
}

void tx_model_release(tx_model *m) {
    if (!m || !m->kern) return;
    for (int i = 0; i < m->n_nodes; i++) {
        qkern *k = m->kern[i];
        if (!k) continue;
        tx_qconv_free(k->conv);
        tx_free(k);
    }
    free(m->kern);
    m->kern = NULL;
}

/* The parameter of node nd whose name ends in ".role", or NULL. */
static const tx_param *param_of(const tx_model *m, const tx_node *nd, const char *role) {
    size_t rl = strlen(role);
    for (int k = 0; k < nd->n_param; k++) {
        int pi = nd->param[k];
        if (pi < 0 || pi >= m->n_params) continue;
        const char *n = m->params[pi].name;
        size_t l = strlen(n);
        if (l > rl && n[l - rl - 1] == '.' && strcmp(n + l - rl, role) == 0) return &m->params[pi];
    }
    return NULL;
}

/* Packs a quantized conv2d (plain or depthwise) or linear node. */
static int prep_conv(const tx_model *m, const tx_node *nd, qkern *k, tx_err *err) {
    const tx_node *a = &m->nodes[nd->in[0]];
    const tx_param *W = param_of(m, nd, "weight"), *S = param_of(m, nd, "weight_scale"),
                   *Z = param_of(m, nd, "weight_zp"), *B = param_of(m, nd, "bias");
    if (!W || !S || !Z)
        return tx_err_set(err, TX_EFORMAT, "node '%s': a quantized %s needs the parameters "
                          "weight, weight_scale and weight_zp", nd->name, tx_op_name(nd->op));
    if (W->t.dtype != TX_U8 && W->t.dtype != TX_I8)
        return tx_err_set(err, TX_EFORMAT, "node '%s': weight is %s (U8 or I8 expected)", nd->name,
                          tx_dtype_name(W->t.dtype));
    if (S->t.dtype != TX_F32 || Z->t.dtype != TX_I32 || tx_tensor_numel(&Z->t) != 1)
        return tx_err_set(err, TX_EFORMAT, "node '%s': weight_scale must be F32 and weight_zp one I32",
                          nd->name);
    if (nd->bias && !B)
        return tx_err_set(err, TX_EFORMAT, "node '%s': bias missing", nd->name);
    if (B && (B->t.dtype != TX_I32 || tx_tensor_numel(&B->t) != nd->out_c))
        return tx_err_set(err, TX_EFORMAT, "node '%s': bias must be I32 [%d]", nd->name, nd->out_c);
    tx_qconv_desc d = {0};
    d.type = qtype_of(a->dtype);
    d.wtype = W->t.dtype == TX_I8 ? TX_QT_S8 : TX_QT_U8;
    d.in = qparam_of(a);
    d.out = qparam_of(nd);
    d.w_scale = S->t.data;
    d.n_w_scale = (int)tx_tensor_numel(&S->t);
    d.w_zp = ((const int32_t *)Z->t.data)[0];
    d.act = nd->act;
    d.mode = nd->qmode;
    d.threads = 0;
    d.n = 1;
    if (a->dtype != nd->dtype)
        return tx_err_set(err, TX_EUNSUP, "node '%s': input is %s but output %s (one 8-bit type "
                          "per layer)", nd->name, tx_dtype_name(a->dtype), tx_dtype_name(nd->dtype));
    const void *wdata = W->t.data;
    void *wtmp = NULL;
    int64_t wn = tx_tensor_numel(&W->t);
    if (nd->op == TX_OP_LINEAR) {
        d.kind = TX_QCONV_FC;
        d.c = a->oc;
        d.oc = nd->out_c;
        d.h = d.w = d.kh = d.kw = d.sh = d.sw = d.dh = d.dw = 1;
        if (wn != (int64_t)d.oc * d.c)
            return tx_err_set(err, TX_EFORMAT, "node '%s': weight has %lld elements, [%d, %d] expected",
                              nd->name, (long long)wn, d.oc, d.c);
    } else {
        const int c = a->oc, g = nd->groups > 0 ? nd->groups : 1;
        d.h = a->oh, d.w = a->ow, d.c = c, d.oc = nd->out_c;
        d.kh = nd->kh, d.kw = nd->kw, d.sh = nd->sh, d.sw = nd->sw;
        d.dh = nd->dh > 0 ? nd->dh : 1, d.dw = nd->dw > 0 ? nd->dw : 1;
        d.pad_t = nd->pad_t, d.pad_l = nd->pad_l, d.pad_b = nd->pad_b, d.pad_r = nd->pad_r;
        d.oh = nd->oh, d.ow = nd->ow;
        if (g == 1) {
            d.kind = TX_QCONV_CONV;
            if (wn != (int64_t)d.oc * d.kh * d.kw * c)
                return tx_err_set(err, TX_EFORMAT, "node '%s': weight has %lld elements, OHWI [%d, %d, "
                                  "%d, %d] expected", nd->name, (long long)wn, d.oc, d.kh, d.kw, c);
        } else if (g == c && d.oc % c == 0) {
            /* depthwise: taxon stores [oc, kh, kw, 1]; the kernel wants [1, kh, kw, oc] */
            d.kind = TX_QCONV_DEPTHWISE;
            d.depth_multiplier = d.oc / c;
            const int taps = d.kh * d.kw;
            if (wn != (int64_t)d.oc * taps)
                return tx_err_set(err, TX_EFORMAT, "node '%s': depthwise weight has %lld elements, "
                                  "[%d, %d, %d, 1] expected", nd->name, (long long)wn, d.oc, d.kh, d.kw);
            wtmp = malloc((size_t)wn ? (size_t)wn : 1);
            if (!wtmp) return tx_err_set(err, TX_ENOMEM, "node '%s': out of memory", nd->name);
            const uint8_t *src = W->t.data;
            uint8_t *dst = wtmp;
            for (int o = 0; o < d.oc; o++)
                for (int t = 0; t < taps; t++) dst[(size_t)t * d.oc + o] = src[(size_t)o * taps + t];
            wdata = wtmp;
        } else {
            return tx_err_set(err, TX_EUNSUP, "node '%s': quantized grouped convolution (%d groups "
                              "of %d input channels) is not supported (only plain and depthwise)",
                              nd->name, g, c / g);
        }
    }
    if (d.n_w_scale != 1 && d.n_w_scale != d.oc) {
        free(wtmp);
        return tx_err_set(err, TX_EFORMAT, "node '%s': %d weight scales for %d output channels",
                          nd->name, d.n_w_scale, d.oc);
    }
    int rc = tx_qconv_desc_init(&d, err);
    if (!rc) rc = tx_qconv_pack(&k->conv, &d, wdata, B ? (const int32_t *)B->t.data : NULL, err);
    free(wtmp);
    if (rc) return tx_err_prefix(err, rc, "node '%s'", nd->name);
    return TX_OK;
}

static int prep_node(const tx_model *m, int i, qkern *k, tx_err *err) {
    const tx_node *nd = &m->nodes[i];
    const tx_node *a = nd->n_in > 0 ? &m->nodes[nd->in[0]] : NULL;
    k->op = nd->op;
    k->out_type = is_q(nd->dtype) ? qtype_of(nd->dtype) : -1;
    k->out = qparam_of(nd);
    k->in_type = a && is_q(a->dtype) ? qtype_of(a->dtype) : -1;
    k->in = a ? qparam_of(a) : (tx_qparam){1.0f, 0};
    const int mode = nd->qmode;
    int rc = TX_OK;
    if (nd->op == TX_OP_DEQUANTIZE) {
        if (k->in_type < 0 || nd->dtype != TX_F32)
            return tx_err_set(err, TX_EINVAL, "node '%s': dequantize reads an 8-bit input and writes "
                              "float", nd->name);
        return TX_OK;
    }
    if (nd->op == TX_OP_QUANTIZE) {
        if (k->out_type < 0)
            return tx_err_set(err, TX_EINVAL, "node '%s': quantize must write U8 or I8", nd->name);
        if (k->in_type >= 0)
            rc = tx_qlut_requantize(&k->lut, k->in_type, k->in, k->out_type, k->out, mode, err);
        else if (a->dtype != TX_F32)
            return tx_err_set(err, TX_EINVAL, "node '%s': quantize of a %s input", nd->name,
                              tx_dtype_name(a->dtype));
        return rc ? tx_err_prefix(err, rc, "node '%s'", nd->name) : TX_OK;
    }
    if (nd->op == TX_OP_INPUT) return TX_OK;
    /* every other quantized node reads 8-bit inputs of its own type */
    for (int j = 0; j < nd->n_in; j++) {
        const tx_node *x = &m->nodes[nd->in[j]];
        if (x->dtype != nd->dtype)
            return tx_err_set(err, TX_EUNSUP, "node '%s' (%s, %s): input %d '%s' is %s (insert a "
                              "quantize/dequantize node)", nd->name, tx_op_name(nd->op),
                              tx_dtype_name(nd->dtype), j, x->name, tx_dtype_name(x->dtype));
    }
    const int t = k->out_type;
    switch (nd->op) {
    case TX_OP_CONV2D:
    case TX_OP_LINEAR:
        return prep_conv(m, nd, k, err);
    case TX_OP_ADD:
    case TX_OP_MUL: {
        const tx_node *b = &m->nodes[nd->in[1]];
        if (nd->op == TX_OP_MUL && (b->oh != a->oh || b->ow != a->ow)) {
            if (b->oh != 1 || b->ow != 1 || b->oc != a->oc)
                return tx_err_set(err, TX_ESHAPE, "node '%s': mul of %dx%dx%d by %dx%dx%d", nd->name,
                                  a->oh, a->ow, a->oc, b->oh, b->ow, b->oc);
            k->bcast = 1;
        }
        rc = nd->op == TX_OP_ADD
                 ? tx_qadd_init(&k->bin, t, qparam_of(a), qparam_of(b), k->out, nd->act, mode, err)
                 : tx_qmul_init(&k->bin, t, qparam_of(a), qparam_of(b), k->out, nd->act, mode, err);
        break;
    }
    case TX_OP_AVGPOOL:
    case TX_OP_MAXPOOL: {
        tx_pool_shape *s = &k->pool;
        *s = (tx_pool_shape){.n = 1, .h = a->oh, .w = a->ow, .c = a->oc, .kh = nd->kh, .kw = nd->kw,
                             .sh = nd->sh, .sw = nd->sw, .pad_t = nd->pad_t, .pad_l = nd->pad_l,
                             .pad_b = nd->pad_b, .pad_r = nd->pad_r, .count_include_pad = 0};
        if (nd->op == TX_OP_AVGPOOL && nd->count_include_pad &&
            (nd->pad_t | nd->pad_l | nd->pad_b | nd->pad_r))
            return tx_err_set(err, TX_EUNSUP, "node '%s': quantized average pooling counts only the "
                              "valid taps (count_include_pad must be 0)", nd->name);
        rc = tx_pool_shape_init(s, err);
        if (!rc) rc = tx_qact_range(&k->qmin, &k->qmax, t, k->out, nd->act, mode, err);
        if (!rc && nd->op == TX_OP_AVGPOOL && (k->in.scale != k->out.scale || k->in.zero_point != k->out.zero_point))
            rc = tx_err_set(err, TX_EUNSUP, "quantized average pooling needs equal input and output "
                            "quantization (%g, %d) vs (%g, %d)", (double)k->in.scale,
                            (int)k->in.zero_point, (double)k->out.scale, (int)k->out.zero_point);
        if (!rc && nd->op == TX_OP_MAXPOOL && (k->in.scale != k->out.scale || k->in.zero_point != k->out.zero_point))
            rc = tx_err_set(err, TX_EUNSUP, "quantized max pooling needs equal input and output "
                            "quantization");
        break;
    }
    case TX_OP_GLOBAL_AVGPOOL:
        if ((int64_t)a->oh * a->ow > (1 << 24))
            return tx_err_set(err, TX_EUNSUP, "node '%s': mean over %dx%d values", nd->name, a->oh, a->ow);
        rc = tx_qmean_init(&k->mean, t, k->in, k->out, a->oh * a->ow, mode, err);
        break;
    case TX_OP_SOFTMAX:
        rc = tx_qsoftmax_init(&k->sm, t, k->in, k->out, nd->beta > 0 ? nd->beta : 1.0f, mode, err);
        break;
    case TX_OP_SIGMOID:
        rc = tx_qlut_logistic(&k->lut, t, k->in, k->out, mode, err);
        break;
    case TX_OP_HARDSWISH:
        rc = tx_qlut_hardswish(&k->lut, t, k->in, k->out, mode, err);
        break;
    case TX_OP_RELU:
    case TX_OP_RELU6: {
        /* a standalone activation: only where input and output quantization agree (TFLite's
         * converters fuse the others), as a clamp table */
        if (k->in.scale != k->out.scale || k->in.zero_point != k->out.zero_point)
            return tx_err_set(err, TX_EUNSUP, "node '%s': quantized %s with a different output "
                              "quantization is not supported", nd->name, tx_op_name(nd->op));
        int lo, hi;
        rc = tx_qact_range(&lo, &hi, t, k->out, nd->op == TX_OP_RELU ? TX_QACT_RELU : TX_QACT_RELU6,
                           mode, err);
        if (!rc)
            for (int v = 0; v < 256; v++) {
                int x = t == TX_QT_U8 ? v : (int)(int8_t)(uint8_t)v;
                x = x < lo ? lo : x > hi ? hi : x;
                k->lut.t[v] = (uint8_t)(x & 0xff);
            }
        break;
    }
    case TX_OP_CONCAT:
        if (nd->n_in > TX_MAX_NODE_INPUTS) return tx_err_set(err, TX_EINVAL, "node '%s': inputs", nd->name);
        k->n_cat = nd->n_in;
        for (int j = 0; j < nd->n_in; j++) {
            const tx_node *x = &m->nodes[nd->in[j]];
            if (x->oh != nd->oh || x->ow != nd->ow)
                return tx_err_set(err, TX_ESHAPE, "node '%s': concat input %d is %dx%d, output %dx%d",
                                  nd->name, j, x->oh, x->ow, nd->oh, nd->ow);
            k->cs[j] = x->oc;
            k->cins[j] = qparam_of(x);
            if (!(x->qscale > 0))
                return tx_err_set(err, TX_EINVAL, "node '%s': input %d has scale %g", nd->name, j,
                                  (double)x->qscale);
        }
        if (!(nd->qscale > 0)) return tx_err_set(err, TX_EINVAL, "node '%s': scale %g", nd->name, (double)nd->qscale);
        break;
    case TX_OP_PAD:
    case TX_OP_RESHAPE:
    case TX_OP_FLATTEN:
    case TX_OP_DROPOUT:
        if ((int64_t)a->oh * a->ow * a->oc > (int64_t)nd->oh * nd->ow * nd->oc && nd->op != TX_OP_PAD)
            return tx_err_set(err, TX_ESHAPE, "node '%s': element count changes", nd->name);
        if (nd->op != TX_OP_PAD && (k->in.scale != k->out.scale || k->in.zero_point != k->out.zero_point))
            return tx_err_set(err, TX_EUNSUP, "node '%s': %s changes the quantization", nd->name,
                              tx_op_name(nd->op));
        break;
    default:
        return tx_err_set(err, TX_EUNSUP, "node '%s': %s has no quantized (%s) kernel", nd->name,
                          tx_op_name(nd->op), tx_dtype_name(nd->dtype));
    }
    if (rc) return tx_err_prefix(err, rc, "node '%s' (%s)", nd->name, tx_op_name(nd->op));
    return TX_OK;
}

int tx_model_prepare(tx_model *m, tx_err *err) {
    if (m->kern) return TX_OK;
    int any = 0;
    for (int i = 0; i < m->n_nodes; i++) any |= runs_here(&m->nodes[i]) && m->nodes[i].op != TX_OP_INPUT;
    if (!any) return TX_OK;
    m->kern = calloc((size_t)m->n_nodes, sizeof *m->kern);
    if (!m->kern) return tx_err_set(err, TX_ENOMEM, "out of memory (kernels)");
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (!runs_here(nd) || nd->op == TX_OP_INPUT) continue;
        if (nd->qmode != TX_QMODE_XNNPACK && nd->qmode != TX_QMODE_TFLITE_REF) {
            tx_model_release(m);
            return tx_err_set(err, TX_EINVAL, "node '%s': unknown qmode %d", nd->name, nd->qmode);
        }
        if (is_q(nd->dtype) && !(nd->qscale > 0 && nd->qscale < 3.4e38f)) {
            tx_model_release(m);
            return tx_err_set(err, TX_EINVAL, "node '%s': quantization scale %g (must be > 0)",
                              nd->name, (double)nd->qscale);
        }
        qkern *k = tx_calloc(sizeof *k);
        if (!k) {
            tx_model_release(m);
            return tx_err_set(err, TX_ENOMEM, "out of memory (kernels)");
        }
        m->kern[i] = k;
        int rc = prep_node(m, i, k, err);
        if (rc) {
            tx_model_release(m);
            return rc;
        }
    }
    return TX_OK;
}

size_t tx_qexec_scratch_bytes(const tx_model *m) {
    size_t s = 0;
    if (!m->kern) return 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const qkern *k = m->kern[i];
        if (k && k->conv && tx_qconv_scratch_bytes(k->conv) > s) s = tx_qconv_scratch_bytes(k->conv);
    }
    return s;
}

void tx_qexec_node(const tx_model *m, int i, void *y, const void *const *xs, int n,
                   void *scratch) {
    const qkern *k = m->kern ? m->kern[i] : NULL;
    if (!k || n <= 0) return;
    const tx_node *nd = &m->nodes[i];
    const tx_node *a = nd->n_in > 0 ? &m->nodes[nd->in[0]] : NULL;
    const void *x = xs[0];
    const int64_t in_el = a ? (int64_t)n * a->oh * a->ow * a->oc : 0;
    const int64_t out_el = (int64_t)n * nd->oh * nd->ow * nd->oc;
    switch (k->op) {
    case TX_OP_CONV2D:
        tx_qconv_run(k->conv, y, x, n, scratch);
        break;
    case TX_OP_LINEAR:
        tx_qconv_run(k->conv, y, x, n * a->oh * a->ow, scratch);
        break;
    case TX_OP_ADD:
        tx_qbinary_run(&k->bin, y, x, xs[1], out_el);
        break;
    case TX_OP_MUL:
        if (k->bcast) {
            const int64_t rows = (int64_t)a->oh * a->ow;
            const int c = a->oc;
            for (int b = 0; b < n; b++)
                for (int64_t r = 0; r < rows; r++) {
                    size_t off = ((size_t)b * rows + r) * c;
                    tx_qbinary_run(&k->bin, (uint8_t *)y + off, (const uint8_t *)x + off,
                                   (const uint8_t *)xs[1] + (size_t)b * c, c);
                }
        } else {
            tx_qbinary_run(&k->bin, y, x, xs[1], out_el);
        }
        break;
    case TX_OP_AVGPOOL:
    case TX_OP_MAXPOOL: {
        tx_pool_shape s = k->pool;
        s.n = n;
        if (k->op == TX_OP_AVGPOOL) tx_qavgpool(y, x, &s, k->out_type, k->qmin, k->qmax);
        else tx_qmaxpool(y, x, &s, k->out_type, k->qmin, k->qmax);
        break;
    }
    case TX_OP_GLOBAL_AVGPOOL:
        tx_qmean_run(&k->mean, y, x, n, a->oc);
        break;
    case TX_OP_SOFTMAX:
        tx_qsoftmax_run(&k->sm, y, x, out_el / nd->oc, nd->oc);
        break;
    case TX_OP_SIGMOID:
    case TX_OP_HARDSWISH:
    case TX_OP_RELU:
    case TX_OP_RELU6:
        tx_qlut_apply(&k->lut, y, x, out_el);
        break;
    case TX_OP_CONCAT:
        tx_qconcat(y, xs, k->cs, k->cins, k->n_cat, (int64_t)n * nd->oh * nd->ow, k->out_type, k->out);
        break;
    case TX_OP_PAD:
        tx_qpad(y, x, n, a->oh, a->ow, a->oc, nd->pad_t, nd->pad_b, nd->pad_l, nd->pad_r,
                (uint8_t)(nd->qzp & 0xff));
        break;
    case TX_OP_RESHAPE:
    case TX_OP_FLATTEN:
    case TX_OP_DROPOUT:
        if (y != x) memmove(y, x, (size_t)in_el);
        break;
    case TX_OP_QUANTIZE:
        if (k->in_type >= 0) tx_qlut_apply(&k->lut, y, x, out_el);
        else tx_quantize_f32(y, x, out_el, k->out_type, k->out, nd->qmode);
        break;
    case TX_OP_DEQUANTIZE:
        tx_dequantize(y, x, in_el, k->in_type, k->in);
        break;
    default:
        break;
    }
}
