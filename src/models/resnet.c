/* resnet.c - ResNet-18/34/50 (He et al. 2015, the "v1.5" form with the stride on the
 * 3x3 convolution of the bottleneck), as timm's and torchvision's ResNet classes build
 * them. Both libraries name every parameter the same way ("conv1", "bn1",
 * "layer1.0.conv1", "layer1.0.downsample.0", "fc"), so node names are those module paths
 * and rename is the identity.
 *
 * Initialization follows timm's ResNet: convolutions kaiming_normal (fan_out, relu),
 * batch norms weight 1 / bias 0 except the last one of each residual branch (bn2 of a
 * basic block, bn3 of a bottleneck), whose weight is 0 (timm's zero_init_last), and the
 * classifier nn.Linear's default U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
 * Eval preprocessing: timm's pretrained_cfg (a1_in1k weights): crop_pct 0.95, bicubic
 * (taxon resizes bilinear, the closest filter it has), ImageNet mean/std. No dropout and
 * no drop path (both libraries' defaults are 0). */
#include "models/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const resnet_names[] = {"resnet18", "resnet34", "resnet50", NULL};
static const char *const resnet_desc[] = {
    "ResNet-18 (basic blocks 2-2-2-2, 11.7M params at 1000 classes; timm/torchvision names)",
    "ResNet-34 (basic blocks 3-4-6-3, 21.8M params at 1000 classes; timm/torchvision names)",
    "ResNet-50 (bottlenecks 3-4-6-3, stride on the 3x3, 25.6M params; timm/torchvision names)",
};

#define TRY(x)                           \
    do {                                 \
        if ((cur = (x)) < 0) return cur; \
    } while (0)

static void fill_normal(tx_model *m, int p, float std, tx_rng *r) {
    tx_tensor *t = &m->params[p].t;
    float *d = t->data;
    for (int64_t i = 0; i < tx_tensor_numel(t); i++) d[i] = tx_rng_normal(r) * std;
}

static void fill_uniform(tx_model *m, int p, float bound, tx_rng *r) {
    tx_tensor *t = &m->params[p].t;
    float *d = t->data;
    for (int64_t i = 0; i < tx_tensor_numel(t); i++) d[i] = (2.0f * tx_rng_uniform(r) - 1.0f) * bound;
}

/* conv (no bias) + batch norm named "<prefix><conv>" / "<prefix><bn>", optional relu */
static int conv_bn(tx_model *m, int in, const char *prefix, const char *conv, const char *bn,
                   int oc, int k, int stride, int relu, tx_err *err) {
    char nm[64];
    int cur;
    snprintf(nm, sizeof nm, "%s%s", prefix, conv);
    TRY(tx_g_conv(m, in, nm, oc, k, stride, k / 2, 1, 0, err));
    snprintf(nm, sizeof nm, "%s%s", prefix, bn);
    TRY(tx_g_bn(m, cur, nm, err));
    if (relu) TRY(tx_g_relu(m, cur, err));
    return cur;
}

/* timm BasicBlock / Bottleneck "layer<s>.<b>" with `planes` channels (x4 out for the
 * bottleneck). Returns the block output. */
static int block(tx_model *m, int in, int s, int b, int planes, int stride, int bottleneck,
                 tx_err *err) {
    char pre[48];
    int cur, x = in, oc = bottleneck ? planes * 4 : planes, sc = in;
    snprintf(pre, sizeof pre, "layer%d.%d.", s, b);
    if (bottleneck) {
        TRY(conv_bn(m, x, pre, "conv1", "bn1", planes, 1, 1, 1, err));
        TRY(conv_bn(m, cur, pre, "conv2", "bn2", planes, 3, stride, 1, err));
        TRY(conv_bn(m, cur, pre, "conv3", "bn3", oc, 1, 1, 0, err));
    } else {
        TRY(conv_bn(m, x, pre, "conv1", "bn1", planes, 3, stride, 1, err));
        TRY(conv_bn(m, cur, pre, "conv2", "bn2", planes, 3, 1, 0, err));
    }
    int branch = cur;
    if (stride != 1 || m->nodes[in].oc != oc) {
        TRY(conv_bn(m, in, pre, "downsample.0", "downsample.1", oc, 1, stride, 0, err));
        sc = cur;
    }
    TRY(tx_g_add(m, branch, sc, err));
    return tx_g_relu(m, cur, err);
}

static void init_resnet(tx_model *m, tx_rng *r) {
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D) {
            const tx_tensor *w = &m->params[nd->param[0]].t;
            double fan_out = (double)w->shape[0] * w->shape[1] * w->shape[2];
            fill_normal(m, nd->param[0], (float)sqrt(2.0 / fan_out), r);
        } else if (nd->op == TX_OP_BATCHNORM) {
            /* zero_init_last: the last norm of a residual branch */
            size_t n = strlen(nd->name);
            int last = !strncmp(nd->name, "layer", 5) && n > 4 &&
                       (!strcmp(nd->name + n - 4, ".bn3") ||
                        (!strcmp(nd->name + n - 4, ".bn2") &&
                         tx_model_find_param(m, "layer1.0.conv3.weight") < 0));
            if (last) {
                tx_tensor *g = &m->params[nd->param[0]].t;
                memset(g->data, 0, tx_tensor_nbytes(g));
            }
        } else if (nd->op == TX_OP_LINEAR) {
            float bound = 1.0f / sqrtf((float)m->params[nd->param[0]].t.shape[1]);
            fill_uniform(m, nd->param[0], bound, r);
            if (nd->bias) fill_uniform(m, nd->param[1], bound, r);
        }
    }
}

static int build_resnet(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    static const int blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
    const int *nb;
    int bottleneck = 0;
    if (!strcmp(arch, "resnet18")) nb = blocks18;
    else if (!strcmp(arch, "resnet34")) nb = blocks34;
    else if (!strcmp(arch, "resnet50")) { nb = blocks34; bottleneck = 1; }
    else return tx_err_set(err, TX_EINVAL, "resnet: unknown architecture '%s'", arch);
    if (m->nodes[0].oc != 3 && m->nodes[0].oc != 1)
        return tx_err_set(err, TX_EINVAL, "%s: input must have 1 or 3 channels, got %d", arch,
                          m->nodes[0].oc);
    int cur = 0;
    TRY(conv_bn(m, cur, "", "conv1", "bn1", 64, 7, 2, 1, err));
    TRY(tx_g_maxpool(m, cur, 3, 2, 1, err));
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < nb[s]; b++)
            TRY(block(m, cur, s + 1, b, 64 << s, (b == 0 && s > 0) ? 2 : 1, bottleneck, err));
    TRY(tx_g_gap(m, cur, err));
    TRY(tx_g_linear(m, cur, "fc", classes, 1, err));
    init_resnet(m, r);
    const tx_node *in = &m->nodes[0];
    tx_preproc_default(&m->pp, in->oh, in->ow, in->oc);
    m->pp.resize = TX_RESIZE_BILINEAR; /* timm: bicubic */
    m->pp.crop_fraction = 0.95f;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < in->oc; c++) {
        m->pp.mean[c] = in->oc == 3 ? mean[c] : 0.449f;
        m->pp.std[c] = in->oc == 3 ? std[c] : 0.226f;
    }
    return cur;
}

/* timm and torchvision share every name; num_batches_tracked is dropped. */
static int rename_resnet(const char *arch, const char *from, const char *name, char *out,
                         size_t n) {
    size_t len = strlen(name);
    if (len >= n) return -1;
    if (len > 20 && !strcmp(name + len - 20, ".num_batches_tracked")) return 0;
    memcpy(out, name, len + 1);
    return 1;
}

const tx_arch_family tx_family_resnet = {resnet_names, resnet_desc, build_resnet, rename_resnet, 224, 3};
