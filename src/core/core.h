/* core.h - status/error messages, tensors, allocation helpers, RNG.
 *
 * Conventions used across libtaxon:
 *  - Functions that can fail return int: TX_OK (0) or a TX_E* code, and write a
 *    message naming the file, the field and what was wrong into a caller-owned tx_err.
 *  - Library code never exits, aborts or prints.
 *  - No globals.
 */
#ifndef TX_CORE_H
#define TX_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include "taxon.h"

#define TX_MAX_DIMS 4

/* Formats the message into err (if err is non-NULL) and returns code. */
int tx_err_set(tx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an existing message (used to add context such as a path). */
int tx_err_prefix(tx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- tensors ------------------------------------------------------------ */

typedef enum { TX_F32 = 0, TX_U8 = 1, TX_I8 = 2, TX_I32 = 3, TX_I64 = 4, TX_F16 = 5, TX_BF16 = 6 } tx_dtype;

size_t tx_dtype_size(tx_dtype t);
const char *tx_dtype_name(tx_dtype t); /* safetensors spelling: "F32", "U8", ... */

/* A dense row-major tensor. Activations are NHWC. `data` may be owned or borrowed;
 * ownership is documented by whoever creates it. */
typedef struct tx_tensor {
    tx_dtype dtype;
    int ndim;
    int64_t shape[TX_MAX_DIMS];
    void *data;
} tx_tensor;

int64_t tx_tensor_numel(const tx_tensor *t);
size_t tx_tensor_nbytes(const tx_tensor *t);

/* ---- memory ------------------------------------------------------------- */

/* 64-byte aligned allocation (AVX-512 line). Returns NULL on failure or size 0
 * overflow; free with tx_free. */
void *tx_alloc(size_t bytes);
void *tx_calloc(size_t bytes);
void tx_free(void *p);

/* Overflow-checked size arithmetic: returns 0 on overflow. */
int tx_mul_ok(size_t a, size_t b, size_t *out);
int tx_add_ok(size_t a, size_t b, size_t *out);

/* ---- files -------------------------------------------------------------- */

/* Reads a whole file into a malloc'd buffer (free with free()). */
int tx_read_file(const char *path, uint8_t **data, size_t *size, tx_err *err);
/* Writes atomically: data goes to PATH.tmp.PID, is fsync'd, then renamed over PATH. */
int tx_write_file_atomic(const char *path, const void *data, size_t size, tx_err *err);

/* ---- random numbers ----------------------------------------------------- */

/* Counter-free, seedable PRNG (xoshiro256**). Each thread/context owns one. */
typedef struct tx_rng { uint64_t s[4]; } tx_rng;

void tx_rng_seed(tx_rng *r, uint64_t seed);
uint64_t tx_rng_u64(tx_rng *r);
float tx_rng_uniform(tx_rng *r);          /* [0, 1) */
float tx_rng_normal(tx_rng *r);           /* N(0, 1) */
uint32_t tx_rng_below(tx_rng *r, uint32_t n); /* [0, n) */

/* ---- time --------------------------------------------------------------- */
double tx_now(void); /* monotonic seconds */

#endif
