/* npy.h - NumPy .npy arrays (format versions 1.0, 2.0 and 3.0), for `taxon predict
 * --tensor`: a float32 N x C x H x W tensor in PyTorch's layout.
 *
 * The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False,
 * 'shape': (1, 3, 224, 224), }. Accepted: descr '<f4' (float32), '<f8' (float64) and
 * '<f2' (float16), converted to float32; C order only; 0 to 4 dimensions. Every length
 * and the data size are checked against the buffer; anything else is an error naming the
 * file and the field. */
#ifndef TX_NPY_H
#define TX_NPY_H

#include "core/core.h"

typedef struct tx_npy {
    int ndim;
    int64_t shape[TX_MAX_DIMS];
    int64_t numel;
    float *data;   /* numel floats, tx_alloc'd (free with tx_npy_free) */
} tx_npy;

int tx_npy_parse(const uint8_t *buf, size_t size, const char *name, tx_npy *out, tx_err *err);
int tx_npy_load(const char *path, tx_npy *out, tx_err *err);
void tx_npy_free(tx_npy *a);

#endif
