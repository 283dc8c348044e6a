/* modelio.h - a tx_model to and from safetensors: tensors are the parameters,
 * __metadata__["taxon"] is JSON with the graph, classes, preprocessing, provenance. */
#ifndef TX_MODELIO_H
#define TX_MODELIO_H

#include "graph/graph.h"
#include "io/safetensors.h"

/* The metadata JSON text (malloc'd) describing m. */
char *tx_model_meta_json(const tx_model *m);
/* Builds a model from a parsed file. Tensors whose names start with extra_prefix
 * (e.g. "opt." in checkpoints) are skipped; any other unknown tensor is an error. */
int tx_model_from_st(const tx_safetensors *st, const char *path, const char *extra_prefix,
                     tx_model **out, tx_err *err);
/* Tensor descriptors pointing at m's parameters (caller frees the array only). */
int tx_model_tensors(const tx_model *m, tx_st_tensor **out, int *n, tx_err *err);

#endif
