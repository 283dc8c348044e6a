/* efficientnet.c - EfficientNet-B0 (Tan & Le 2019) as timm's efficientnet_b0 and
 * torchvision's efficientnet_b0 build it: SiLU, squeeze-excitation (reduction to a
 * quarter of the block's input width) in every block, symmetric PyTorch padding (timm's
 * default model; its tf_efficientnet_b0 twin pads 'same' and is not this network).
 * Node names are timm's; rename maps torchvision's "features.<s>.<i>.block..." names.
 * Defaults at train time (torchvision's; timm's recipe uses the same): dropout 0.2 before
 * the classifier and drop path 0.2 * i / 16 on the residual blocks. */
#include "models/mbconv.h"

#include <stdio.h>
#include <string.h>

static const char *const effnet_names[] = {"efficientnet_b0", NULL};
static const char *const effnet_desc[] = {
    "EfficientNet-B0 (MBConv + squeeze-excitation, SiLU; 5.3M params at 1000 classes; timm / "
    "torchvision efficientnet_b0 names)",
};

static const tx_mb_stage b0_stages[] = {
    {0, 1, 3, 1, 1, 16, 1},  {1, 2, 3, 2, 6, 24, 1},  {1, 2, 5, 2, 6, 40, 1},
    {1, 3, 3, 2, 6, 80, 1},  {1, 3, 5, 1, 6, 112, 1}, {1, 4, 5, 2, 6, 192, 1},
    {1, 1, 3, 1, 6, 320, 1},
};

static int build_effnet(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    if (strcmp(arch, "efficientnet_b0"))
        return tx_err_set(err, TX_EINVAL, "efficientnet: unknown architecture '%s'", arch);
    const tx_mb_config cfg = {32, 1280, TX_OP_SILU, 7, b0_stages, 0.2f, 0.2f};
    return tx_mb_build(m, &cfg, classes, r, err);
}

/* torchvision: features.0 stem (0 conv, 1 bn), features.<s>.<i> (s = 1..7) = timm's
 * blocks.<s-1>.<i>, features.8 head (0 conv, 1 bn), classifier.1 linear. In a block:
 * expand 1 (s = 1): block.0.0 dw, block.0.1 bn, block.1.fc1/fc2 se, block.2.0 pw,
 * block.2.1 bn; otherwise block.0 expand, block.1 dw, block.2 se, block.3 project. */
static int rename_effnet(const char *arch, const char *from, const char *name, char *out,
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
        tx_mb_subst(name, "features.8.0", "conv_head", out, n) ||
        tx_mb_subst(name, "features.8.1", "bn2", out, n) ||
        tx_mb_subst(name, "classifier.1", "classifier", out, n))
        return 1;
    int s, i, pos = 0;
    if (sscanf(name, "features.%d.%d.block.%n", &s, &i, &pos) != 2 || pos == 0 || s < 1 ||
        s > 7 || i < 0 || i >= b0_stages[s - 1].repeats)
        return -1;
    static const char *const ds_map[][2] = {{"0.0", "conv_dw"},           {"0.1", "bn1"},
                                            {"1.fc1", "se.conv_reduce"},   {"1.fc2", "se.conv_expand"},
                                            {"2.0", "conv_pw"},            {"2.1", "bn2"}};
    static const char *const ir_map[][2] = {
        {"0.0", "conv_pw"},         {"0.1", "bn1"},           {"1.0", "conv_dw"},
        {"1.1", "bn2"},             {"2.fc1", "se.conv_reduce"}, {"2.fc2", "se.conv_expand"},
        {"3.0", "conv_pwl"},        {"3.1", "bn3"}};
    const char *const(*map)[2] = s == 1 ? ds_map : ir_map;
    int nmap = s == 1 ? 6 : 8;
    char from_p[40], to_p[56];
    for (int k = 0; k < nmap; k++) {
        snprintf(from_p, sizeof from_p, "features.%d.%d.block.%s", s, i, map[k][0]);
        snprintf(to_p, sizeof to_p, "blocks.%d.%d.%s", s - 1, i, map[k][1]);
        if (tx_mb_subst(name, from_p, to_p, out, n)) return 1;
    }
    return -1;
}

const tx_arch_family tx_family_efficientnet = {effnet_names, effnet_desc, build_effnet,
                                               rename_effnet, 224, 3};
