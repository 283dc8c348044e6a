/* taxon.h - the public interface of libtaxon: image classification in C.
 *
 * Every function that can fail returns TX_OK (0) or a negative TX_E* code and
 * writes a human-readable message (naming the file, the field and what was wrong)
 * into a caller-owned tx_err. The library never exits, aborts or prints.
 *
 * A loaded tx_model is immutable and may be shared between threads; each thread
 * runs it through its own tx_session (scratch memory).
 */
#ifndef TAXON_H
#define TAXON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAXON_VERSION "0.1.0"

enum {
    TX_OK = 0,
    TX_EINVAL = -1,   /* bad argument or bad configuration */
    TX_EIO = -2,      /* file could not be opened, read or written */
    TX_EFORMAT = -3,  /* malformed or unsupported file contents */
    TX_ENOMEM = -4,   /* allocation failed */
    TX_EUNSUP = -5,   /* valid but unsupported (operator, dtype, ...) */
    TX_ESHAPE = -6,   /* tensor shapes do not fit together */
};

typedef struct tx_err {
    int code;
    char msg[1024];
} tx_err;

/* ---- models ------------------------------------------------------------- */

typedef struct tx_model tx_model;

/* Loads a taxon model file (.safetensors with taxon metadata). */
int tx_model_load(const char *path, tx_model **out, tx_err *err);
/* Saves atomically (write to a temporary file, then rename). */
int tx_model_save(const tx_model *m, const char *path, tx_err *err);
void tx_model_free(tx_model *m);

int tx_model_num_classes(const tx_model *m);
const char *tx_model_class_name(const tx_model *m, int index);

/* ---- prediction --------------------------------------------------------- */

typedef struct tx_session tx_session;

/* A session holds the per-caller scratch memory for running a shared model. */
int tx_session_create(const tx_model *m, tx_session **out, tx_err *err);
void tx_session_free(tx_session *s);

typedef struct tx_prediction {
    int index;
    float score;
} tx_prediction;

/* Decodes an image file (PNG, JPEG, BMP, PGM/PPM), applies the model's stored
 * preprocessing and writes the best min(k, classes) predictions, best first. */
int tx_predict_file(tx_session *s, const char *path, int k, tx_prediction *out,
                    int *n_out, tx_err *err);

/* The best min(k, n) of n scores, best first; ties go to the lower index. */
void tx_topk(const float *scores, int n, int k, tx_prediction *out);

#ifdef __cplusplus
}
#endif
#endif
