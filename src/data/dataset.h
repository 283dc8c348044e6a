/* dataset.h - labelled image sets held in memory as uint8 HWC.
 * Specs: "fashion-mnist:train", "fashion-mnist:test" (from $TAXON_DATA, else
 * /usr/share/datasets/fashion-mnist; when $TAXON_DATA has a fashion-mnist/ subfolder,
 * that subfolder is used), or a folder holding one IDX image file and one
 * IDX label file (gzip'd or not: *images-idx3-ubyte[.gz], *labels-idx1-ubyte[.gz];
 * the "images.idx3-ubyte" spelling is accepted too), where "train"/"t10k" (or "test")
 * prefixes choose the split via "FOLDER:train" / "FOLDER:test".
 * Images and labels are paired by their common prefix ("train-", "t10k-", ...). When a
 * file exists both raw and gzip'd, the raw one is read. Gzip is recognized by its magic
 * bytes, not the name. For fashion-mnist specs num_classes is 10 and class_names are the
 * Fashion-MNIST names (a label >= 10 is an error); for folders num_classes = max label
 * + 1 and class_names is NULL. On error *out is zeroed and the message names the
 * folder or file and what was wrong. */
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

/* Largest decompressed IDX file tx_idx_load accepts (2 GiB). */
#define TX_IDX_MAX_BYTES ((size_t)1 << 31)

/* Decompresses gzip data (one or more members) into a malloc'd buffer (*out, *out_n;
 * free with free()). Fails with a message naming `name` on corrupt or truncated data,
 * trailing junk, or output larger than `cap` bytes. */
int tx_gunzip(const uint8_t *in, size_t n, size_t cap, const char *name, uint8_t **out,
              size_t *out_n, tx_err *err);

/* The ten Fashion-MNIST class names, in label order. */
extern const char *const tx_fashion_mnist_classes[10];

#endif
