/* cnn.c - built-in convolutional architectures for small images, and tx_model_build.
 *
 * Weight initialization follows PyTorch: nn.Conv2d / nn.Linear default
 * (kaiming_uniform with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
 * and biases) for the plain nets; kaiming_normal(fan_out, relu) for convolutions of
 * batch-normalized nets, as torchvision's ResNets do. */
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const cnn_names[] = {"small_cnn", "fmnist_net", "resnet8", NULL};
static const char *const cnn_desc[] = {
    "conv32-conv64-maxpool-fc128-fc10 (PyTorch's MNIST example net; no BN)",
    "6-conv BN-ReLU net with two max pools and global pooling (the Fashion-MNIST recipe)",
    "small pre-activation-free ResNet: stem + 3 stages of one basic block (16/32/64 wide)",
};

static void init_uniform(tx_model *m, int p, float bound, tx_rng *r) {
    tx_tensor *t = &m->params[p].t;
    float *d = t->data;
    for (int64_t i = 0; i < tx_tensor_numel(t); i++) d[i] = (2.0f * tx_rng_uniform(r) - 1.0f) * bound;
}

static void init_normal(tx_model *m, int p, float std, tx_rng *r) {
    tx_tensor *t = &m->params[p].t;
    float *d = t->data;
    for (int64_t i = 0; i < tx_tensor_numel(t); i++) d[i] = tx_rng_normal(r) * std;
}

/* Initializes every parameter of m in node order. bn_net selects kaiming_normal for convs. */
static void init_params(tx_model *m, int bn_net, tx_rng *r) {
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D) {
            const tx_tensor *w = &m->params[nd->param[0]].t;
            int fan_in = (int)(w->shape[1] * w->shape[2] * w->shape[3]);
            int fan_out = (int)(w->shape[0] / nd->groups * w->shape[1] * w->shape[2]);
            if (bn_net) init_normal(m, nd->param[0], sqrtf(2.0f / fan_out), r);
            else init_uniform(m, nd->param[0], 1.0f / sqrtf((float)fan_in), r);
            if (nd->bias) init_uniform(m, nd->param[1], 1.0f / sqrtf((float)fan_in), r);
        } else if (nd->op == TX_OP_LINEAR) {
            int fan_in = (int)m->params[nd->param[0]].t.shape[1];
            init_uniform(m, nd->param[0], 1.0f / sqrtf((float)fan_in), r);
            if (nd->bias) init_uniform(m, nd->param[1], 1.0f / sqrtf((float)fan_in), r);
        }
    }
}

#define TRY(x)                                  \
    do {                                        \
        if ((cur = (x)) < 0) return cur;        \
    } while (0)

static int conv_bn_relu(tx_model *m, int in, const char *name, int oc, int k, int stride,
                        tx_err *err) {
    char nm[64];
    int cur;
    TRY(tx_g_conv(m, in, name, oc, k, stride, k / 2, 1, 0, err));
    snprintf(nm, sizeof nm, "%s_bn", name);
    TRY(tx_g_bn(m, cur, nm, err));
    return tx_g_relu(m, cur, err);
}

static int build_small_cnn(tx_model *m, int classes, tx_err *err) {
    int cur = 0;
    TRY(tx_g_conv(m, cur, "conv1", 32, 3, 1, 0, 1, 1, err));
    TRY(tx_g_relu(m, cur, err));
    TRY(tx_g_conv(m, cur, "conv2", 64, 3, 1, 0, 1, 1, err));
    TRY(tx_g_relu(m, cur, err));
    TRY(tx_g_maxpool(m, cur, 2, 2, 0, err));
    TRY(tx_g_flatten(m, cur, err));
    TRY(tx_g_linear(m, cur, "fc1", 128, 1, err));
    TRY(tx_g_relu(m, cur, err));
    TRY(tx_g_linear(m, cur, "fc2", classes, 1, err));
    return cur;
}

static int build_fmnist_net(tx_model *m, int classes, tx_err *err) {
    int cur = 0;
    TRY(conv_bn_relu(m, cur, "conv1", 32, 3, 1, err));
    TRY(conv_bn_relu(m, cur, "conv2", 32, 3, 1, err));
    TRY(tx_g_maxpool(m, cur, 2, 2, 0, err));
    TRY(conv_bn_relu(m, cur, "conv3", 64, 3, 1, err));
    TRY(conv_bn_relu(m, cur, "conv4", 64, 3, 1, err));
    TRY(tx_g_maxpool(m, cur, 2, 2, 0, err));
    TRY(conv_bn_relu(m, cur, "conv5", 128, 3, 1, err));
    TRY(conv_bn_relu(m, cur, "conv6", 128, 3, 1, err));
    TRY(tx_g_gap(m, cur, err));
    TRY(tx_g_dropout(m, cur, 0.1f, err));
    TRY(tx_g_linear(m, cur, "fc", classes, 1, err));
    return cur;
}

/* torchvision-style basic block: conv-bn-relu-conv-bn (+ projection) add relu. */
static int basic_block(tx_model *m, int in, const char *name, int oc, int stride, tx_err *err) {
    char nm[64];
    int cur, a, sc = in;
    snprintf(nm, sizeof nm, "%s.conv1", name);
    TRY(conv_bn_relu(m, in, nm, oc, 3, stride, err));
    snprintf(nm, sizeof nm, "%s.conv2", name);
    TRY(tx_g_conv(m, cur, nm, oc, 3, 1, 1, 1, 0, err));
    snprintf(nm, sizeof nm, "%s.bn2", name);
    TRY(tx_g_bn(m, cur, nm, err));
    a = cur;
    if (stride != 1 || m->nodes[in].oc != oc) {
        snprintf(nm, sizeof nm, "%s.down", name);
        TRY(tx_g_conv(m, in, nm, oc, 1, stride, 0, 1, 0, err));
        snprintf(nm, sizeof nm, "%s.down_bn", name);
        TRY(tx_g_bn(m, cur, nm, err));
        sc = cur;
    }
    TRY(tx_g_add(m, a, sc, err));
    return tx_g_relu(m, cur, err);
}

static int build_resnet8(tx_model *m, int classes, tx_err *err) {
    int cur = 0;
    TRY(conv_bn_relu(m, cur, "stem", 16, 3, 1, err));
    TRY(basic_block(m, cur, "layer1", 16, 1, err));
    TRY(basic_block(m, cur, "layer2", 32, 2, err));
    TRY(basic_block(m, cur, "layer3", 64, 2, err));
    TRY(tx_g_gap(m, cur, err));
    TRY(tx_g_linear(m, cur, "fc", classes, 1, err));
    return cur;
}

static int build_cnn(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    int rc, bn = 1;
    if (!strcmp(arch, "small_cnn")) { rc = build_small_cnn(m, classes, err); bn = 0; }
    else if (!strcmp(arch, "fmnist_net")) rc = build_fmnist_net(m, classes, err);
    else if (!strcmp(arch, "resnet8")) rc = build_resnet8(m, classes, err);
    else return tx_err_set(err, TX_EINVAL, "cnn: unknown architecture '%s'", arch);
    if (rc < 0) return rc;
    const tx_node *in = &m->nodes[0];
    tx_preproc_default(&m->pp, in->oh, in->ow, in->oc);
    init_params(m, bn, r);
    return rc;
}

const tx_arch_family tx_family_cnn = {cnn_names, cnn_desc, build_cnn, NULL, 28, 1};
