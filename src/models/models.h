/* models.h - architecture families. Each family (cnn.c, resnet.c, mobilenet.c, vit.c,
 * ...) builds its graphs and says how torchvision / timm parameter names map to its own;
 * registry.c lists the families and implements tx_model_build / tx_arch_names.
 *
 * Naming: nodes are named after the PyTorch modules they stand for (timm's module
 * paths), so parameter names ("<node>.<role>") equal timm's state-dict names wherever
 * the structure allows; rename maps the rest (and every torchvision name). */
#ifndef TX_MODELS_H
#define TX_MODELS_H

#include "graph/graph.h"

typedef struct tx_arch_family {
    /* NULL-terminated architecture names and, index for index, one-line descriptions */
    const char *const *names;
    const char *const *descriptions;
    /* Adds arch's nodes after the input (node 0, already in m) for `classes` outputs,
     * initializes every parameter from rng the way the reference library initializes
     * that layer, and sets m->pp (input size from node 0) to the reference library's
     * eval preprocessing. Returns the output node id (>= 0) or a TX_E* code. */
    int (*build)(tx_model *m, const char *arch, int classes, tx_rng *rng, tx_err *err);
    /* For `taxon convert --from torchvision|timm`: maps a state-dict tensor name to the
     * taxon parameter name (written to out). Returns 1 (mapped), 0 (tensor carries
     * nothing taxon keeps, e.g. num_batches_tracked) or -1 (not a name of this arch).
     * NULL when the family has no external weights. */
    int (*rename)(const char *arch, const char *from, const char *name, char *out, size_t n);
    /* default input side and channels when the user gives none (0: 224 and 3) */
    int default_size, default_channels;
} tx_arch_family;

/* The default input of arch (224 x 224 x 3 unless its family says otherwise). */
void tx_arch_default_input(const char *arch, int *size, int *channels);

/* The family that builds arch, or NULL. */
const tx_arch_family *tx_arch_family_of(const char *arch);

extern const tx_arch_family tx_family_cnn;   /* small_cnn, fmnist_net, resnet8 */

#endif
