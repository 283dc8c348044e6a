/* safetensors.h - reading and writing .safetensors files.
 * Format: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the data. Every offset and
 * size is checked against the file before use. */
#ifndef TX_SAFETENSORS_H
#define TX_SAFETENSORS_H

#include "core/core.h"

typedef struct tx_st_tensor {
    char *name;
    tx_dtype dtype;
    int ndim;
    int64_t shape[TX_MAX_DIMS];
    const uint8_t *data; /* points into the file buffer (not necessarily aligned) */
    size_t nbytes;
} tx_st_tensor;

typedef struct tx_st_meta {
    char *key, *value;
} tx_st_meta;

typedef struct tx_safetensors {
    uint8_t *buf;        /* owned file contents (tx_st_load) or NULL (tx_st_parse) */
    size_t size;
    int n;
    tx_st_tensor *tensors;
    int n_meta;
    tx_st_meta *meta;
} tx_safetensors;

/* Parses a buffer the caller keeps alive; `name` is used in messages. */
int tx_st_parse(const uint8_t *buf, size_t size, const char *name, tx_safetensors *out,
                tx_err *err);
int tx_st_load(const char *path, tx_safetensors *out, tx_err *err);
void tx_st_free(tx_safetensors *st);
const tx_st_tensor *tx_st_find(const tx_safetensors *st, const char *name);
const char *tx_st_meta_get(const tx_safetensors *st, const char *key);

/* Writes atomically. Tensors are laid out in the given order, 8-byte aligned header
 * (padded with spaces, as the reference implementation does). */
int tx_st_write(const char *path, const tx_st_tensor *tensors, int n,
                const tx_st_meta *meta, int n_meta, tx_err *err);

#endif
