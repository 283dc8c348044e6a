/* mobilenet.c - MobileNetV2 (Sandler et al. 2018) at width 1.0: timm's mobilenetv2_100,
 * torchvision's mobilenet_v2 (same network; relu6 activations, no squeeze-excitation).
 * Node names are timm's; rename maps torchvision's "features.<i>..." names.
 * Defaults at train time: dropout 0.2 before the classifier (torchvision's default;
 * timm's constructor default is 0, its ImageNet recipe uses 0.2). */
#include "models/mbconv.h"

#include <stdio.h>
#include <string.h>

static const char *const mnv2_names[] = {"mobilenet_v2", NULL};
static const char *const mnv2_desc[] = {
    "MobileNetV2 1.0 (inverted residuals, relu6; 3.5M params at 1000 classes; timm "
    "mobilenetv2_100 / torchvision mobilenet_v2 names)",
};

static const tx_mb_stage mnv2_stages[] = {
    {0, 1, 3, 1, 1, 16, 0},  {1, 2, 3, 2, 6, 24, 0},  {1, 3, 3, 2, 6, 32, 0},
    {1, 4, 3, 2, 6, 64, 0},  {1, 3, 3, 1, 6, 96, 0},  {1, 3, 3, 2, 6, 160, 0},
    {1, 1, 3, 1, 6, 320, 0},
};

static int build_mnv2(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    if (strcmp(arch, "mobilenet_v2"))
        return tx_err_set(err, TX_EINVAL, "mobilenet: unknown architecture '%s'", arch);
    const tx_mb_config cfg = {32, 1280, TX_OP_RELU6, 7, mnv2_stages, 0.2f, 0.0f};
    return tx_mb_build(m, &cfg, classes, r, err);
}

/* torchvision: features.0 = stem (0: conv, 1: bn), features.1..17 = blocks in order,
 * features.18 = head (0: conv, 1: bn), classifier.1 = linear. In a block "conv.*":
 * expand 1 (features.1): conv.0.0 dw, conv.0.1 bn, conv.1 pw, conv.2 bn;
 * otherwise conv.0.0 pw, conv.0.1 bn, conv.1.0 dw, conv.1.1 bn, conv.2 pwl, conv.3 bn. */
static int rename_mnv2(const char *arch, const char *from, const char *name, char *out,
                       size_t n) {
    size_t len = strlen(name);
    if (len > 20 && !strcmp(name + len - 20, ".num_batches_tracked")) return 0;
    if (strcmp(from, "torchvision")) {
        if (len >= n) return -1;
        memcpy(out, name, len + 1);
        return 1;
    }
    if (tx_mb_subst(name, "features.0.0", "conv_stem", out, n) ||
        tx_mb_subst(name, "features.0.1", "bn1", out, n) ||
        tx_mb_subst(name, "features.18.0", "conv_head", out, n) ||
        tx_mb_subst(name, "features.18.1", "bn2", out, n) ||
        tx_mb_subst(name, "classifier.1", "classifier", out, n))
        return 1;
    int f, pos = 0;
    if (sscanf(name, "features.%d.conv.%n", &f, &pos) != 1 || pos == 0 || f < 1 || f > 17)
        return -1;
    int g = f - 1, s = 0;
    while (g >= mnv2_stages[s].repeats) g -= mnv2_stages[s++].repeats;
    char from_p[32], to_p[48];
    static const char *const ds_map[][2] = {
        {"0.0", "conv_dw"}, {"0.1", "bn1"}, {"1", "conv_pw"}, {"2", "bn2"}};
    static const char *const ir_map[][2] = {{"0.0", "conv_pw"}, {"0.1", "bn1"},
                                            {"1.0", "conv_dw"}, {"1.1", "bn2"},
                                            {"2", "conv_pwl"},  {"3", "bn3"}};
    const char *const(*map)[2] = f == 1 ? ds_map : ir_map;
    int nmap = f == 1 ? 4 : 6;
    for (int k = 0; k < nmap; k++) {
        snprintf(from_p, sizeof from_p, "features.%d.conv.%s", f, map[k][0]);
        snprintf(to_p, sizeof to_p, "blocks.%d.%d.%s", s, g, map[k][1]);
        if (tx_mb_subst(name, from_p, to_p, out, n)) return 1;
    }
    return -1;
}

const tx_arch_family tx_family_mobilenet = {mnv2_names, mnv2_desc, build_mnv2, rename_mnv2, 224, 3};
