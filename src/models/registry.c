/* registry.c - the architecture families, tx_model_build and the list of names. */
#include "models/models.h"

#include <stdio.h>
#include <string.h>

/* families defined in resnet.c, mobilenet.c, efficientnet.c, vit.c and convnext.c */
extern const tx_arch_family tx_family_resnet, tx_family_mobilenet, tx_family_efficientnet;
extern const tx_arch_family tx_family_vit, tx_family_convnext;

static const tx_arch_family *const families[] = {&tx_family_cnn, &tx_family_resnet,
                                                 &tx_family_mobilenet, &tx_family_efficientnet,
                                                 &tx_family_vit,
                                                 &tx_family_convnext, NULL};

/* every family's names, in family order (filled from the families at compile time is not
 * possible in C, so the list is spelled out; test_graph checks it against the families) */
const char *const tx_arch_names[] = {"small_cnn", "fmnist_net", "resnet8",
                                     "resnet18", "resnet34", "resnet50", "mobilenet_v2",
                                     "efficientnet_b0",
                                     "vit_tiny_patch16_224", "vit_small_patch16_224",
                                     "vit_base_patch16_224", "convnext_tiny", NULL};

const tx_arch_family *tx_arch_family_of(const char *arch) {
    for (int f = 0; families[f]; f++)
        for (int i = 0; families[f]->names[i]; i++)
            if (!strcmp(families[f]->names[i], arch)) return families[f];
    return NULL;
}

const char *tx_arch_describe(const char *arch) {
    for (int f = 0; families[f]; f++)
        for (int i = 0; families[f]->names[i]; i++)
            if (!strcmp(families[f]->names[i], arch)) return families[f]->descriptions[i];
    return NULL;
}

void tx_arch_default_input(const char *arch, int *size, int *channels) {
    const tx_arch_family *f = tx_arch_family_of(arch);
    *size = f && f->default_size > 0 ? f->default_size : 224;
    *channels = f && f->default_channels > 0 ? f->default_channels : 3;
}

int tx_model_build(const char *arch, int h, int w, int c, int classes, uint64_t seed,
                   tx_model **out, tx_err *err) {
    *out = NULL;
    if (classes < 1) return tx_err_set(err, TX_EINVAL, "--classes must be at least 1, got %d", classes);
    const tx_arch_family *fam = tx_arch_family_of(arch);
    if (!fam) {
        char list[512] = "";
        for (int i = 0; tx_arch_names[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     tx_arch_names[i]);
        return tx_err_set(err, TX_EINVAL, "unknown architecture '%s' (known: %s)", arch, list);
    }
    tx_model *m = tx_model_new(arch);
    if (!m) return tx_err_set(err, TX_ENOMEM, "out of memory");
    tx_rng r;
    tx_rng_seed(&r, seed ^ 0x5eed5eedULL);
    int rc = tx_g_input(m, h, w, c, err);
    if (rc >= 0) rc = fam->build(m, arch, classes, &r, err);
    if (rc < 0) {
        tx_model_free(m);
        return tx_err_prefix(err, rc, "%s", arch);
    }
    m->num_classes = classes;
    *out = m;
    return TX_OK;
}
