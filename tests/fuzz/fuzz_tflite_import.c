/* fuzz_tflite_import.c - libFuzzer target for the TFLite importer (io/tflite_import.c):
 * the parsed file -> graph nodes and parameters, the label zip appended after the
 * flatbuffer and the TFLITE_METADATA normalization, then tx_model_prepare (packing).
 * The first input byte picks the options (float graph, qmode); the rest is the file.
 * An import either fails with a message naming the file, or gives a model whose every
 * node and parameter is consistent; small models are also run once through the executor
 * (on a zero input), so ASan sees any kernel reading past a buffer the importer sized.
 * The zip and label readers are also fed the raw bytes from a few offsets. */
#include "io/tflite_import.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    data++;
    size--;
    tx_err err;
    err.msg[0] = 0;
    /* the zip reader on its own, from the start and from a byte-chosen offset */
    size_t starts[2] = {0, size ? (size_t)(flags * 131u) % size : 0};
    for (int k = 0; k < 2; k++) {
        char *txt = NULL, fname[64];
        size_t len = 0;
        int rc = tx_zip_find_labels(data, size, starts[k], "fuzz.zip", &txt, &len, fname, sizeof fname, &err);
        REQUIRE(rc == TX_OK || (rc < 0 && txt == NULL && strncmp(err.msg, "fuzz.zip: ", 10) == 0));
        if (txt) {
            REQUIRE(txt[len] == 0);
            char **names;
            int n;
            if (tx_labels_parse(txt, len, "labels", &names, &n, &err) == TX_OK) {
                REQUIRE(n >= 1);
                for (int i = 0; i < n; i++) REQUIRE(names[i] != NULL);
                tx_labels_free(names, n);
            }
            free(txt);
        }
    }
    tx_tflite_import_opts o = {.float_graph = flags & 1, .qmode = (flags >> 1) & 1};
    tx_model *m = NULL;
    int rc = tx_tflite_import_mem(data, size, "fuzz.tflite", &o, &m, &err);
    if (rc != TX_OK) {
        REQUIRE(rc < 0 && m == NULL);
        REQUIRE(err.msg[0] && strncmp(err.msg, "fuzz.tflite", 11) == 0);
        return 0;
    }
    REQUIRE(m && m->n_nodes >= 2 && m->num_classes >= 1);
    const tx_node *last = &m->nodes[m->n_nodes - 1];
    REQUIRE(last->oh == 1 && last->ow == 1 && last->oc == m->num_classes);
    REQUIRE(m->feature_node >= 0 && m->feature_node < m->n_nodes);
    int64_t elems = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        REQUIRE(nd->oh >= 1 && nd->ow >= 1 && nd->oc >= 1);
        for (int k = 0; k < nd->n_in; k++) REQUIRE(nd->in[k] >= 0 && nd->in[k] < i);
        for (int k = 0; k < nd->n_param; k++) REQUIRE(nd->param[k] >= 0 && nd->param[k] < m->n_params);
        elems += (int64_t)nd->oh * nd->ow * nd->oc;
    }
    REQUIRE(tx_model_prepare(m, &err) == TX_OK); /* idempotent */
    if (elems <= (1 << 20) && tx_model_flops(m) < 5e7) {
        tx_exec *e;
        if (tx_exec_create(m, 1, 0, 0, &e, &err) == TX_OK) {
            const tx_node *in = &m->nodes[0];
            size_t bytes = (size_t)in->oh * in->ow * in->oc * (in->dtype == TX_F32 ? sizeof(float) : 1);
            void *x = calloc(bytes ? bytes : 1, 1);
            if (x) {
                const float *y = tx_exec_forward(e, x, 1);
                REQUIRE(y != NULL);
                volatile float sink = 0;
                for (int i = 0; i < m->num_classes; i++) sink += y[i];
                (void)sink;
            }
            free(x);
            tx_exec_free(e);
        }
    }
    tx_model_free(m);
    return 0;
}
