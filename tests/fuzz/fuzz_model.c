/* libFuzzer target: a whole taxon model file (safetensors + graph metadata JSON).
 * Anything that parses must also build an executor and run one forward pass. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/modelio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tx_safetensors st;
    tx_err err = {0};
    if (tx_st_parse(data, size, "<fuzz>", &st, &err) != TX_OK) return 0;
    tx_model *m = NULL;
    if (tx_model_from_st(&st, "<fuzz>", "opt.", &m, &err) == TX_OK) {
        /* keep the forward pass small: skip models with huge activations */
        double acts = 0;
        for (int i = 0; i < m->n_nodes; i++) acts += (double)m->nodes[i].oh * m->nodes[i].ow * m->nodes[i].oc;
        if (acts < 1e6 && tx_model_flops(m) < 1e8) {
            tx_exec *e;
            if (tx_exec_create(m, 1, 0, 0, &e, &err) == TX_OK) {
                const tx_node *in = &m->nodes[0];
                size_t n = (size_t)in->oh * in->ow * in->oc;
                float *x = calloc(n ? n : 1, sizeof(float));
                if (x) tx_exec_forward(e, x, 1);
                free(x);
                tx_exec_free(e);
            }
        }
        tx_model_free(m);
    }
    tx_st_free(&st);
    return 0;
}
