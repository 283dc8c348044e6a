/* torchimport.h - PyTorch state dicts (saved as .safetensors, e.g. with
 * safetensors.torch.save_file(model.state_dict(), path)) with torchvision's or timm's
 * parameter names -> a taxon model of a built-in architecture. */
#ifndef TX_TORCHIMPORT_H
#define TX_TORCHIMPORT_H

#include "graph/graph.h"

/* Builds `arch` (tx_model_build) for a square image_size x image_size x 3 input (<= 0:
 * the architecture's default, 224) and fills it
 * from the state dict at `path`, whose names are `from`'s ("timm" or "torchvision"):
 *  - every tensor name is mapped with the architecture family's rename; buffers taxon
 *    does not keep (num_batches_tracked) are skipped;
 *  - every name and shape is checked: conv weights OIHW are transposed to taxon's OHWI,
 *    other shapes must be equal up to dimensions of size 1 (pos_embed [1,T,D] = [T,D],
 *    layer_scale [C,1,1] = [C]: the same data order); dtypes F32,
 *    F16 and BF16 (converted to float32). Anything that does not fit (missing, unexpected,
 *    wrong shape or dtype) is an error that lists all of it: err holds the start of the
 *    list, `report` (when given) the whole list;
 *  - classes <= 0: the file's classifier head decides the class count. classes > 0 and
 *    different from the file's head: the head is re-initialized as the builder does
 *    (from seed) and `report` says which tensors were re-initialized.
 * The model's preprocessing is the library's eval default for the architecture (timm's
 * pretrained_cfg, or torchvision's DEFAULT weights' transforms: resize, crop fraction,
 * mean/std; bicubic is resized bilinear, the closest filter taxon has), and its
 * provenance records the source, the file and what was re-initialized.
 * report (may be NULL) receives a short human-readable summary. */
int tx_torch_import(const char *path, const char *from, const char *arch, int classes,
                    int image_size, uint64_t seed, tx_model **out, char *report,
                    size_t report_n, tx_err *err);

#endif
