/* model.c - building graphs: nodes, shape inference, parameters, model queries. */
#include "graph/graph.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[TX_OP_COUNT] = {
    [TX_OP_INPUT] = "input",         [TX_OP_CONV2D] = "conv2d",
    [TX_OP_BATCHNORM] = "batchnorm", [TX_OP_RELU] = "relu",
    [TX_OP_MAXPOOL] = "maxpool",     [TX_OP_AVGPOOL] = "avgpool",
    [TX_OP_GLOBAL_AVGPOOL] = "global_avgpool",
    [TX_OP_LINEAR] = "linear",       [TX_OP_DROPOUT] = "dropout",
    [TX_OP_FLATTEN] = "flatten",     [TX_OP_ADD] = "add",
    [TX_OP_RELU6] = "relu6",         [TX_OP_SIGMOID] = "sigmoid",
    [TX_OP_SILU] = "silu",           [TX_OP_GELU] = "gelu",
    [TX_OP_HARDSWISH] = "hardswish", [TX_OP_HARDSIGMOID] = "hardsigmoid",
    [TX_OP_MUL] = "mul",             [TX_OP_LAYERNORM] = "layernorm",
    [TX_OP_LAYERSCALE] = "layerscale", [TX_OP_DROPPATH] = "droppath",
    [TX_OP_CLS_POS] = "cls_pos",     [TX_OP_ATTENTION] = "attention",
    [TX_OP_TOKEN0] = "token0",       [TX_OP_SOFTMAX] = "softmax",
    [TX_OP_CONCAT] = "concat",       [TX_OP_PAD] = "pad",
    [TX_OP_RESHAPE] = "reshape",     [TX_OP_QUANTIZE] = "quantize",
    [TX_OP_DEQUANTIZE] = "dequantize",
};

const char *tx_op_name(tx_op_kind k) {
    return (k >= 0 && k < TX_OP_COUNT) ? op_names[k] : "?";
}

int tx_op_from_name(const char *s) {
    for (int i = 0; i < TX_OP_COUNT; i++)
        if (strcmp(op_names[i], s) == 0) return i;
    return -1;
}

tx_model *tx_model_new(const char *arch) {
    tx_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->arch, sizeof m->arch, "%s", arch ? arch : "custom");
    return m;
}

void tx_model_free(tx_model *m) {
    if (!m) return;
    tx_model_release(m);
    for (int i = 0; i < m->n_params; i++) tx_free(m->params[i].t.data);
    free(m->params);
    free(m->nodes);
    if (m->class_names) {
        for (int i = 0; i < m->num_classes; i++) free(m->class_names[i]);
        free(m->class_names);
    }
    free(m->provenance);
    free(m);
}

int tx_model_num_classes(const tx_model *m) { return m->num_classes; }

const char *tx_model_class_name(const tx_model *m, int i) {
    if (!m->class_names || i < 0 || i >= m->num_classes) return NULL;
    return m->class_names[i];
}

int tx_model_output_node(const tx_model *m) { return m->n_nodes - 1; }

int tx_model_find_param(const tx_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return i;
    return -1;
}

int tx_model_set_classes(tx_model *m, int n, const char *const *names, tx_err *err) {
    if (m->class_names) {
        for (int i = 0; i < m->num_classes; i++) free(m->class_names[i]);
        free(m->class_names);
        m->class_names = NULL;
    }
    m->num_classes = n;
    if (!names) return TX_OK;
    m->class_names = calloc((size_t)n, sizeof(char *));
    if (!m->class_names) return tx_err_set(err, TX_ENOMEM, "out of memory (class names)");
    for (int i = 0; i < n; i++) {
        m->class_names[i] = strdup(names[i] ? names[i] : "");
        if (!m->class_names[i]) return tx_err_set(err, TX_ENOMEM, "out of memory (class names)");
    }
    return TX_OK;
}

int tx_model_set_provenance(tx_model *m, const char *json) {
    free(m->provenance);
    m->provenance = json ? strdup(json) : NULL;
    return (json && !m->provenance) ? TX_ENOMEM : TX_OK;
}

int tx_model_add_param(tx_model *m, const char *node, const char *role, tx_dtype dt, int ndim,
                       const int64_t *shape, int trainable, int decay, tx_err *err) {
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? m->cap_params * 2 : 16;
        tx_param *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) return tx_err_set(err, TX_ENOMEM, "out of memory (parameters)");
        m->params = p;
        m->cap_params = cap;
    }
    tx_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", node, role);
    if (tx_model_find_param(m, p->name) >= 0)
        return tx_err_set(err, TX_EINVAL, "parameter '%s' defined twice", p->name);
    if (ndim < 0 || ndim > TX_MAX_DIMS)
        return tx_err_set(err, TX_EINVAL, "parameter '%s': %d dimensions", p->name, ndim);
    p->t.dtype = dt;
    p->t.ndim = ndim;
    for (int i = 0; i < ndim; i++) p->t.shape[i] = shape[i];
    p->t.data = tx_calloc(tx_tensor_nbytes(&p->t));
    if (!p->t.data) return tx_err_set(err, TX_ENOMEM, "out of memory (parameter %s)", p->name);
    p->trainable = trainable;
    p->decay = decay;
    return m->n_params++;
}

static int add_param(tx_model *m, const char *node, const char *role, int ndim,
                     const int64_t *shape, int trainable, int decay, tx_err *err) {
    return tx_model_add_param(m, node, role, TX_F32, ndim, shape, trainable, decay, err);
}

/* Infers the output shape of node nd (inputs already in m) and checks attributes. */
static int infer(tx_model *m, tx_node *nd, tx_err *err) {
    const tx_node *a = nd->n_in > 0 ? &m->nodes[nd->in[0]] : NULL;
    switch (nd->op) {
    case TX_OP_INPUT:
        if (nd->oh <= 0 || nd->ow <= 0 || nd->oc <= 0)
            return tx_err_set(err, TX_ESHAPE, "input: bad shape %dx%dx%d", nd->oh, nd->ow, nd->oc);
        return TX_OK;
    case TX_OP_CONV2D: {
        tx_conv_shape s = {.n = 1, .h = a->oh, .w = a->ow, .c = a->oc, .oc = nd->out_c,
                           .kh = nd->kh, .kw = nd->kw, .sh = nd->sh, .sw = nd->sw,
                           .pad_t = nd->pad_t, .pad_l = nd->pad_l, .pad_b = nd->pad_b,
                           .pad_r = nd->pad_r, .dh = nd->dh, .dw = nd->dw, .groups = nd->groups};
        int rc = tx_conv_shape_init(&s, err);
        if (rc) return tx_err_prefix(err, rc, "node '%s'", nd->name);
        nd->oh = s.oh; nd->ow = s.ow; nd->oc = nd->out_c;
        return TX_OK;
    }
    case TX_OP_MAXPOOL:
    case TX_OP_AVGPOOL: {
        tx_pool_shape s = {.n = 1, .h = a->oh, .w = a->ow, .c = a->oc, .kh = nd->kh,
                           .kw = nd->kw, .sh = nd->sh, .sw = nd->sw, .pad_t = nd->pad_t,
                           .pad_l = nd->pad_l, .pad_b = nd->pad_b, .pad_r = nd->pad_r,
                           .count_include_pad = nd->count_include_pad};
        int rc = tx_pool_shape_init(&s, err);
        if (rc) return tx_err_prefix(err, rc, "node '%s'", nd->name);
        nd->oh = s.oh; nd->ow = s.ow; nd->oc = a->oc;
        return TX_OK;
    }
    case TX_OP_BATCHNORM:
    case TX_OP_RELU:
    case TX_OP_DROPOUT:
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        if (nd->op == TX_OP_DROPOUT && !(nd->p >= 0 && nd->p < 1))
            return tx_err_set(err, TX_EINVAL, "node '%s': dropout p=%g not in [0,1)", nd->name, nd->p);
        if (nd->op == TX_OP_BATCHNORM && !(nd->eps > 0 && nd->momentum >= 0 && nd->momentum <= 1))
            return tx_err_set(err, TX_EINVAL, "node '%s': bad eps/momentum", nd->name);
        return TX_OK;
    case TX_OP_GLOBAL_AVGPOOL:
        nd->oh = 1; nd->ow = 1; nd->oc = a->oc;
        return TX_OK;
    case TX_OP_FLATTEN: {
        int64_t f = (int64_t)a->oh * a->ow * a->oc;
        if (f > (1 << 30)) return tx_err_set(err, TX_ESHAPE, "node '%s': too large", nd->name);
        nd->oh = 1; nd->ow = 1; nd->oc = (int)f;
        return TX_OK;
    }
    case TX_OP_LINEAR: /* over the last axis: [h, w, c] -> [h, w, out] */
        if (nd->out_c <= 0)
            return tx_err_set(err, TX_ESHAPE, "node '%s': out features %d", nd->name, nd->out_c);
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = nd->out_c;
        return TX_OK;
    case TX_OP_ADD:
    case TX_OP_MUL: {
        const tx_node *b = &m->nodes[nd->in[1]];
        int same = a->oh == b->oh && a->ow == b->ow && a->oc == b->oc;
        int gate = nd->op == TX_OP_MUL && b->oh == 1 && b->ow == 1 && b->oc == a->oc;
        if (!same && !gate)
            return tx_err_set(err, TX_ESHAPE, "node '%s': %s of %dx%dx%d and %dx%dx%d", nd->name,
                              tx_op_name(nd->op), a->oh, a->ow, a->oc, b->oh, b->ow, b->oc);
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        return TX_OK;
    }
    case TX_OP_RELU6:
    case TX_OP_SIGMOID:
    case TX_OP_SILU:
    case TX_OP_GELU:
    case TX_OP_HARDSWISH:
    case TX_OP_HARDSIGMOID:
    case TX_OP_LAYERSCALE:
    case TX_OP_SOFTMAX:
    case TX_OP_QUANTIZE:
    case TX_OP_DEQUANTIZE:
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        return TX_OK;
    case TX_OP_LAYERNORM:
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        if (!(nd->eps > 0))
            return tx_err_set(err, TX_EINVAL, "node '%s': layer norm eps %g must be > 0", nd->name, nd->eps);
        return TX_OK;
    case TX_OP_DROPPATH:
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        if (!(nd->p >= 0 && nd->p < 1))
            return tx_err_set(err, TX_EINVAL, "node '%s': drop path p=%g not in [0,1)", nd->name, nd->p);
        return TX_OK;
    case TX_OP_CLS_POS: {
        int64_t t = (int64_t)a->oh * a->ow + (nd->cls ? 1 : 0);
        if (t > (1 << 20)) return tx_err_set(err, TX_ESHAPE, "node '%s': %lld tokens", nd->name, (long long)t);
        nd->oh = (int)t; nd->ow = 1; nd->oc = a->oc;
        return TX_OK;
    }
    case TX_OP_ATTENTION:
        if (a->ow != 1 || nd->heads < 1 || a->oc % 3 || (a->oc / 3) % nd->heads)
            return tx_err_set(err, TX_ESHAPE,
                              "node '%s': attention needs qkv tokens [t, 1, 3*heads*hd], got %dx%dx%d "
                              "with %d heads", nd->name, a->oh, a->ow, a->oc, nd->heads);
        nd->oh = a->oh; nd->ow = 1; nd->oc = a->oc / 3;
        return TX_OK;
    case TX_OP_TOKEN0:
        if (a->ow != 1)
            return tx_err_set(err, TX_ESHAPE, "node '%s': token0 needs tokens [t, 1, d], got %dx%dx%d",
                              nd->name, a->oh, a->ow, a->oc);
        nd->oh = 1; nd->ow = 1; nd->oc = a->oc;
        return TX_OK;
    case TX_OP_CONCAT: {
        int64_t c = 0;
        for (int k = 0; k < nd->n_in; k++) {
            const tx_node *b = &m->nodes[nd->in[k]];
            if (b->oh != a->oh || b->ow != a->ow)
                return tx_err_set(err, TX_ESHAPE, "node '%s': concat input %d is %dx%d, input 0 %dx%d",
                                  nd->name, k, b->oh, b->ow, a->oh, a->ow);
            c += b->oc;
        }
        if (c > (1 << 24)) return tx_err_set(err, TX_ESHAPE, "node '%s': too many channels", nd->name);
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = (int)c;
        return TX_OK;
    }
    case TX_OP_PAD:
        if (nd->pad_t < 0 || nd->pad_l < 0 || nd->pad_b < 0 || nd->pad_r < 0 || nd->pad_t > 4096 ||
            nd->pad_l > 4096 || nd->pad_b > 4096 || nd->pad_r > 4096)
            return tx_err_set(err, TX_ESHAPE, "node '%s': padding must be in [0, 4096]", nd->name);
        nd->oh = a->oh + nd->pad_t + nd->pad_b;
        nd->ow = a->ow + nd->pad_l + nd->pad_r;
        nd->oc = a->oc;
        return TX_OK;
    case TX_OP_RESHAPE:
        if (nd->rh < 1 || nd->rw < 1 || nd->rc < 1 ||
            (int64_t)nd->rh * nd->rw * nd->rc != (int64_t)a->oh * a->ow * a->oc)
            return tx_err_set(err, TX_ESHAPE, "node '%s': cannot reshape %dx%dx%d to %dx%dx%d", nd->name,
                              a->oh, a->ow, a->oc, nd->rh, nd->rw, nd->rc);
        nd->oh = nd->rh; nd->ow = nd->rw; nd->oc = nd->rc;
        return TX_OK;
    default: break;
    }
    return tx_err_set(err, TX_EUNSUP, "node '%s': unknown op %d", nd->name, (int)nd->op);
}

static int n_inputs_of(tx_op_kind k) {
    return k == TX_OP_INPUT ? 0 : (k == TX_OP_ADD || k == TX_OP_MUL) ? 2 : 1;
}

static int is_q(tx_dtype t) { return t == TX_U8 || t == TX_I8; }

/* Checks the node's output type against its op and inputs (quantized nodes read 8-bit
 * inputs; QUANTIZE and DEQUANTIZE convert), the fused activation and the quantization. */
static int check_types(const tx_model *m, tx_node *nd, tx_err *err) {
    if (nd->act < TX_ACT_NONE || nd->act > TX_ACT_RELU6)
        return tx_err_set(err, TX_EINVAL, "node '%s': unknown fused activation %d", nd->name, nd->act);
    if (nd->act && nd->op != TX_OP_CONV2D && nd->op != TX_OP_LINEAR && nd->op != TX_OP_ADD &&
        nd->op != TX_OP_MUL && nd->op != TX_OP_MAXPOOL && nd->op != TX_OP_AVGPOOL)
        return tx_err_set(err, TX_EINVAL, "node '%s': %s takes no fused activation", nd->name,
                          tx_op_name(nd->op));
    if (nd->op == TX_OP_INPUT) {
        if (nd->dtype != TX_F32 && !is_q(nd->dtype))
            return tx_err_set(err, TX_EUNSUP, "node '%s': input type must be float32, uint8 or int8", nd->name);
    } else {
        tx_dtype in = m->nodes[nd->in[0]].dtype;
        for (int k = 1; k < nd->n_in; k++)
            if (is_q(m->nodes[nd->in[k]].dtype) != is_q(in))
                return tx_err_set(err, TX_EINVAL, "node '%s': inputs mix float and 8-bit tensors", nd->name);
        if (nd->op == TX_OP_FLATTEN || nd->op == TX_OP_RESHAPE || nd->op == TX_OP_DROPOUT) {
            /* data unchanged: the output has the input's type and quantization */
            const tx_node *a = &m->nodes[nd->in[0]];
            nd->dtype = a->dtype; nd->qscale = a->qscale; nd->qzp = a->qzp;
        } else if (nd->op == TX_OP_QUANTIZE) {
            if (!is_q(nd->dtype))
                return tx_err_set(err, TX_EINVAL, "node '%s': quantize must output uint8 or int8", nd->name);
        } else if (nd->op == TX_OP_DEQUANTIZE) {
            if (nd->dtype != TX_F32 || !is_q(in))
                return tx_err_set(err, TX_EINVAL, "node '%s': dequantize reads 8-bit and outputs float32", nd->name);
        } else if (is_q(nd->dtype) != is_q(in) || (nd->dtype != TX_F32 && !is_q(nd->dtype))) {
            return tx_err_set(err, TX_EINVAL, "node '%s': %s output is %s but its input is %s (insert a "
                              "quantize or dequantize node)", nd->name, tx_op_name(nd->op),
                              tx_dtype_name(nd->dtype), tx_dtype_name(in));
        } else if (is_q(nd->dtype)) {
            switch (nd->op) {
            case TX_OP_CONV2D: case TX_OP_LINEAR: case TX_OP_ADD: case TX_OP_MUL:
            case TX_OP_MAXPOOL: case TX_OP_AVGPOOL: case TX_OP_GLOBAL_AVGPOOL: case TX_OP_SOFTMAX:
            case TX_OP_SIGMOID: case TX_OP_HARDSWISH: case TX_OP_CONCAT: case TX_OP_PAD:
            case TX_OP_RELU: case TX_OP_RELU6:
                break;
            default:
                return tx_err_set(err, TX_EUNSUP, "node '%s': %s has no 8-bit kernel", nd->name,
                                  tx_op_name(nd->op));
            }
        }
    }
    if (nd->fq && (!is_q(nd->fq) || nd->dtype != TX_F32))
        return tx_err_set(err, TX_EINVAL, "node '%s': fake quantization needs a float node and type uint8 or int8",
                          nd->name);
    int qt = nd->fq ? nd->fq : nd->dtype;
    if (is_q(qt) && !(nd->qscale > 0 && nd->qscale < 1e30f))
        return tx_err_set(err, TX_EINVAL, "node '%s': quantization scale %g must be positive and finite",
                          nd->name, nd->qscale);
    if (is_q(qt) && (qt == TX_U8 ? (nd->qzp < 0 || nd->qzp > 255) : (nd->qzp < -128 || nd->qzp > 127)))
        return tx_err_set(err, TX_EINVAL, "node '%s': zero point %d out of range", nd->name, (int)nd->qzp);
    if (nd->qmode < 0 || nd->qmode > 1)
        return tx_err_set(err, TX_EINVAL, "node '%s': qmode %d", nd->name, nd->qmode);
    return TX_OK;
}

/* Adds a node: validates inputs, infers its shape, creates its parameters (zeroed,
 * batch-norm scale and running variance 1; builders and the loader fill them). */
static int add_node(tx_model *m, const tx_node *proto, tx_err *err) {
    tx_node nd = *proto;
    int id = m->n_nodes;
    if (nd.op < 0 || nd.op >= TX_OP_COUNT)
        return tx_err_set(err, TX_EUNSUP, "node %d: unknown op", id);
    if (!nd.name[0]) snprintf(nd.name, sizeof nd.name, "%s%d", tx_op_name(nd.op), id);
    if ((nd.op == TX_OP_INPUT) != (id == 0))
        return tx_err_set(err, TX_EINVAL, "node '%s': the input must be node 0 and only node 0", nd.name);
    if (nd.op == TX_OP_CONCAT ? (nd.n_in < 1 || nd.n_in > TX_MAX_NODE_INPUTS) : nd.n_in != n_inputs_of(nd.op))
        return tx_err_set(err, TX_EINVAL, "node '%s': %s takes %d inputs, got %d", nd.name,
                          tx_op_name(nd.op), n_inputs_of(nd.op), nd.n_in);
    for (int i = 0; i < nd.n_in; i++)
        if (nd.in[i] < 0 || nd.in[i] >= id)
            return tx_err_set(err, TX_EINVAL, "node '%s': input %d refers to node %d (must be < %d)",
                              nd.name, i, nd.in[i], id);
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, nd.name) == 0)
            return tx_err_set(err, TX_EINVAL, "node name '%s' used twice", nd.name);
    int rc = check_types(m, &nd, err);
    if (rc) return rc;
    rc = infer(m, &nd, err);
    if (rc) return rc;
    if (is_q(nd.dtype) && (nd.op == TX_OP_CONV2D || nd.op == TX_OP_LINEAR)) {
        nd.n_param = 0; /* the importer / loader adds weight, weight_scale, weight_zp, bias */
    } else {
        const tx_node *a = nd.n_in ? &m->nodes[nd.in[0]] : NULL;
        nd.n_param = 0;
        if (nd.op == TX_OP_CONV2D) {
            int64_t ws[4] = {nd.out_c, nd.kh, nd.kw, a->oc / nd.groups};
            if ((rc = add_param(m, nd.name, "weight", 4, ws, 1, 1, err)) < 0) return rc;
            nd.param[nd.n_param++] = rc;
            if (nd.bias) {
                int64_t bs[1] = {nd.out_c};
                if ((rc = add_param(m, nd.name, "bias", 1, bs, 1, 0, err)) < 0) return rc;
                nd.param[nd.n_param++] = rc;
            }
        } else if (nd.op == TX_OP_LINEAR) {
            int64_t ws[2] = {nd.out_c, a->oc};
            if ((rc = add_param(m, nd.name, "weight", 2, ws, 1, 1, err)) < 0) return rc;
            nd.param[nd.n_param++] = rc;
            if (nd.bias) {
                int64_t bs[1] = {nd.out_c};
                if ((rc = add_param(m, nd.name, "bias", 1, bs, 1, 0, err)) < 0) return rc;
                nd.param[nd.n_param++] = rc;
            }
        } else if (nd.op == TX_OP_BATCHNORM) {
            int64_t cs[1] = {a->oc};
            static const char *const roles[4] = {"weight", "bias", "running_mean", "running_var"};
            for (int r = 0; r < 4; r++) {
                if ((rc = add_param(m, nd.name, roles[r], 1, cs, r < 2, 0, err)) < 0) return rc;
                nd.param[nd.n_param++] = rc;
            }
            float *g = m->params[nd.param[0]].t.data, *v = m->params[nd.param[3]].t.data;
            for (int i = 0; i < a->oc; i++) g[i] = v[i] = 1.0f;
        } else if (nd.op == TX_OP_LAYERNORM || nd.op == TX_OP_LAYERSCALE) {
            int64_t cs[1] = {a->oc};
            int nr = nd.op == TX_OP_LAYERNORM ? 2 : 1;
            for (int r = 0; r < nr; r++) {
                const char *role = nd.op == TX_OP_LAYERSCALE ? "gamma" : r ? "bias" : "weight";
                if ((rc = add_param(m, nd.name, role, 1, cs, 1, 0, err)) < 0) return rc;
                nd.param[nd.n_param++] = rc;
            }
            float *g = m->params[nd.param[0]].t.data;
            for (int i = 0; i < a->oc; i++) g[i] = 1.0f;
        } else if (nd.op == TX_OP_CLS_POS) {
            int64_t cs[1] = {a->oc}, ps[2] = {nd.oh, a->oc};
            if (nd.cls) {
                if ((rc = add_param(m, nd.name, "cls_token", 1, cs, 1, 0, err)) < 0) return rc;
                nd.param[nd.n_param++] = rc;
            }
            if ((rc = add_param(m, nd.name, "pos_embed", 2, ps, 1, 0, err)) < 0) return rc;
            nd.param[nd.n_param++] = rc;
        }
    }
    if (m->n_nodes == m->cap_nodes) {
        int cap = m->cap_nodes ? m->cap_nodes * 2 : 32;
        tx_node *p = realloc(m->nodes, (size_t)cap * sizeof *p);
        if (!p) return tx_err_set(err, TX_ENOMEM, "out of memory (nodes)");
        m->nodes = p;
        m->cap_nodes = cap;
    }
    m->nodes[m->n_nodes++] = nd;
    return id;
}

int tx_g_node(tx_model *m, const tx_node *proto, tx_err *err) { return add_node(m, proto, err); }


int tx_g_input(tx_model *m, int h, int w, int c, tx_err *err) {
    tx_node nd = {.op = TX_OP_INPUT, .oh = h, .ow = w, .oc = c};
    snprintf(nd.name, sizeof nd.name, "input");
    return add_node(m, &nd, err);
}

int tx_g_conv(tx_model *m, int in, const char *name, int oc, int k, int stride, int pad,
              int groups, int bias, tx_err *err) {
    tx_node nd = {.op = TX_OP_CONV2D, .n_in = 1, .in = {in}, .kh = k, .kw = k, .sh = stride,
                  .sw = stride, .pad_t = pad, .pad_l = pad, .pad_b = pad, .pad_r = pad,
                  .dh = 1, .dw = 1, .groups = groups, .out_c = oc, .bias = bias};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_g_bn(tx_model *m, int in, const char *name, tx_err *err) {
    tx_node nd = {.op = TX_OP_BATCHNORM, .n_in = 1, .in = {in}, .eps = 1e-5f, .momentum = 0.1f};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

static int simple(tx_model *m, tx_op_kind op, int in, tx_err *err) {
    tx_node nd = {.op = op, .n_in = 1, .in = {in}};
    return add_node(m, &nd, err);
}

int tx_g_relu(tx_model *m, int in, tx_err *err) { return simple(m, TX_OP_RELU, in, err); }
int tx_g_gap(tx_model *m, int in, tx_err *err) { return simple(m, TX_OP_GLOBAL_AVGPOOL, in, err); }
int tx_g_flatten(tx_model *m, int in, tx_err *err) { return simple(m, TX_OP_FLATTEN, in, err); }

static int pool(tx_model *m, tx_op_kind op, int in, int k, int stride, int pad, tx_err *err) {
    tx_node nd = {.op = op, .n_in = 1, .in = {in}, .kh = k, .kw = k, .sh = stride, .sw = stride,
                  .pad_t = pad, .pad_l = pad, .pad_b = pad, .pad_r = pad, .count_include_pad = 1};
    return add_node(m, &nd, err);
}

int tx_g_maxpool(tx_model *m, int in, int k, int s, int p, tx_err *err) {
    return pool(m, TX_OP_MAXPOOL, in, k, s, p, err);
}
int tx_g_avgpool(tx_model *m, int in, int k, int s, int p, tx_err *err) {
    return pool(m, TX_OP_AVGPOOL, in, k, s, p, err);
}

int tx_g_linear(tx_model *m, int in, const char *name, int out, int bias, tx_err *err) {
    tx_node nd = {.op = TX_OP_LINEAR, .n_in = 1, .in = {in}, .out_c = out, .bias = bias};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_g_dropout(tx_model *m, int in, float p, tx_err *err) {
    tx_node nd = {.op = TX_OP_DROPOUT, .n_in = 1, .in = {in}, .p = p};
    return add_node(m, &nd, err);
}

int tx_g_add(tx_model *m, int a, int b, tx_err *err) {
    tx_node nd = {.op = TX_OP_ADD, .n_in = 2, .in = {a, b}};
    return add_node(m, &nd, err);
}

int tx_g_act(tx_model *m, tx_op_kind op, int in, tx_err *err) {
    switch (op) {
    case TX_OP_RELU: case TX_OP_RELU6: case TX_OP_SIGMOID: case TX_OP_SILU: case TX_OP_GELU:
    case TX_OP_HARDSWISH: case TX_OP_HARDSIGMOID: case TX_OP_SOFTMAX: case TX_OP_TOKEN0:
        return simple(m, op, in, err);
    default:
        return tx_err_set(err, TX_EINVAL, "tx_g_act: %s is not an activation", tx_op_name(op));
    }
}

int tx_g_mul(tx_model *m, int a, int b, tx_err *err) {
    tx_node nd = {.op = TX_OP_MUL, .n_in = 2, .in = {a, b}};
    return add_node(m, &nd, err);
}

int tx_g_layernorm(tx_model *m, int in, const char *name, float eps, tx_err *err) {
    tx_node nd = {.op = TX_OP_LAYERNORM, .n_in = 1, .in = {in}, .eps = eps};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_g_layerscale(tx_model *m, int in, const char *name, tx_err *err) {
    tx_node nd = {.op = TX_OP_LAYERSCALE, .n_in = 1, .in = {in}};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_g_droppath(tx_model *m, int in, float p, tx_err *err) {
    tx_node nd = {.op = TX_OP_DROPPATH, .n_in = 1, .in = {in}, .p = p};
    return add_node(m, &nd, err);
}

int tx_g_cls_pos(tx_model *m, int in, const char *name, int cls, tx_err *err) {
    tx_node nd = {.op = TX_OP_CLS_POS, .n_in = 1, .in = {in}, .cls = cls ? 1 : 0};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_g_attention(tx_model *m, int qkv, int heads, tx_err *err) {
    tx_node nd = {.op = TX_OP_ATTENTION, .n_in = 1, .in = {qkv}, .heads = heads};
    return add_node(m, &nd, err);
}

int tx_g_token0(tx_model *m, int in, tx_err *err) { return simple(m, TX_OP_TOKEN0, in, err); }

int tx_g_conv_ex(tx_model *m, int in, const char *name, int oc, int kh, int kw, int sh, int sw,
                 const int pad[4], int dh, int dw, int groups, int bias, int act, tx_err *err) {
    tx_node nd = {.op = TX_OP_CONV2D, .n_in = 1, .in = {in}, .kh = kh, .kw = kw, .sh = sh, .sw = sw,
                  .pad_t = pad[0], .pad_l = pad[1], .pad_b = pad[2], .pad_r = pad[3], .dh = dh,
                  .dw = dw, .groups = groups, .out_c = oc, .bias = bias, .act = act};
    snprintf(nd.name, sizeof nd.name, "%s", name);
    return add_node(m, &nd, err);
}

int tx_model_feature_node(const tx_model *m) {
    if (m->feature_node > 0 && m->feature_node < m->n_nodes) return m->feature_node;
    int i = m->n_nodes - 1;
    /* skip what follows the head (softmax, reshape, dequantize ...) */
    while (i > 0 && m->nodes[i].op != TX_OP_LINEAR &&
           !(m->nodes[i].op == TX_OP_CONV2D && m->nodes[i].kh == 1 && m->nodes[i].kw == 1))
        i--;
    if (i <= 0) return m->n_nodes - 1;
    int j = m->nodes[i].in[0];
    while (j > 0 && (m->nodes[j].op == TX_OP_FLATTEN || m->nodes[j].op == TX_OP_DROPOUT ||
                     m->nodes[j].op == TX_OP_RESHAPE))
        j = m->nodes[j].in[0];
    return j;
}

int64_t tx_model_param_count(const tx_model *m, int trainable_only) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!trainable_only || m->params[i].trainable) n += tx_tensor_numel(&m->params[i].t);
    return n;
}

double tx_model_flops(const tx_model *m) {
    double f = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        const tx_node *a = nd->n_in ? &m->nodes[nd->in[0]] : NULL;
        double out = (double)nd->oh * nd->ow * nd->oc;
        switch (nd->op) {
        case TX_OP_CONV2D: f += 2.0 * out * nd->kh * nd->kw * (a->oc / nd->groups); break;
        case TX_OP_LINEAR: f += 2.0 * out * a->oc; break;
        case TX_OP_ATTENTION: f += 4.0 * nd->oh * (double)nd->oh * nd->oc; break;
        default: break;
        }
    }
    return f;
}
