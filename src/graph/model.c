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
    case TX_OP_LINEAR:
        if (a->oh != 1 || a->ow != 1)
            return tx_err_set(err, TX_ESHAPE,
                              "node '%s': linear needs a flat input, got %dx%dx%d (add flatten)",
                              nd->name, a->oh, a->ow, a->oc);
        if (nd->out_c <= 0)
            return tx_err_set(err, TX_ESHAPE, "node '%s': out features %d", nd->name, nd->out_c);
        nd->oh = 1; nd->ow = 1; nd->oc = nd->out_c;
        return TX_OK;
    case TX_OP_ADD: {
        const tx_node *b = &m->nodes[nd->in[1]];
        if (a->oh != b->oh || a->ow != b->ow || a->oc != b->oc)
            return tx_err_set(err, TX_ESHAPE, "node '%s': add of %dx%dx%d and %dx%dx%d",
                              nd->name, a->oh, a->ow, a->oc, b->oh, b->ow, b->oc);
        nd->oh = a->oh; nd->ow = a->ow; nd->oc = a->oc;
        return TX_OK;
    }
    default: break;
    }
    return tx_err_set(err, TX_EUNSUP, "node '%s': unknown op %d", nd->name, (int)nd->op);
}

static int n_inputs_of(tx_op_kind k) {
    return k == TX_OP_INPUT ? 0 : k == TX_OP_ADD ? 2 : 1;
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
    if (nd.n_in != n_inputs_of(nd.op))
        return tx_err_set(err, TX_EINVAL, "node '%s': %s takes %d inputs, got %d", nd.name,
                          tx_op_name(nd.op), n_inputs_of(nd.op), nd.n_in);
    for (int i = 0; i < nd.n_in; i++)
        if (nd.in[i] < 0 || nd.in[i] >= id)
            return tx_err_set(err, TX_EINVAL, "node '%s': input %d refers to node %d (must be < %d)",
                              nd.name, i, nd.in[i], id);
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, nd.name) == 0)
            return tx_err_set(err, TX_EINVAL, "node name '%s' used twice", nd.name);
    int rc = infer(m, &nd, err);
    if (rc) return rc;
    {
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
        default: break;
        }
    }
    return f;
}
