/* dataset.h - labelled image sets held in memory as uint8 HWC.
 * Specs: "fashion-mnist:train", "fashion-mnist:test" (from $TAXON_DATA, else
 * /usr/share/datasets/fashion-mnist), or a folder holding one IDX image file and one
 * IDX label file (gzip'd or not: *images-idx3-ubyte[.gz], *labels-idx1-ubyte[.gz]),
 * where "train"/"t10k" prefixes choose the split via "FOLDER:train" / "FOLDER:test". */
#ifndef TX_DATASET_H
#define TX_DATASET_H

#include "core/core.h"

typedef struct tx_dataset {
    int64_t n;
    int h, w, c;
    uint8_t *images;     /* n*h*w*c, malloc'd */
    int32_t *labels;     /* n, malloc'd, each in [0, num_classes) */
    int num_classes;
    char **class_names;  /* num_classes strings (malloc'd), or NULL when unknown */
    char name[256];      /* the spec it was opened from */
} tx_dataset;

int tx_dataset_open(const char *spec, tx_dataset *out, tx_err *err);
/* IDX pair (gzip'd or raw); checks magic, dims, sizes and that counts match. */
int tx_idx_load(const char *images_path, const char *labels_path, tx_dataset *out,
                tx_err *err);
/* Parses one IDX buffer (already decompressed). Exposed for tests and fuzzing:
 * *dims gets up to 4 sizes, *ndim their count, *data points into buf. */
int tx_idx_parse(const uint8_t *buf, size_t size, const char *name, int *ndim,
                 int64_t dims[4], const uint8_t **data, tx_err *err);
void tx_dataset_free(tx_dataset *d);

/* The ten Fashion-MNIST class names, in label order. */
extern const char *const tx_fashion_mnist_classes[10];

#endif
