/* fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 * Parses the input, then checks the invariants the rest of taxon relies on: every
 * tensor lies inside the input, its size matches shape x dtype, names are unique and
 * findable, metadata strings are readable. Touches every byte so ASan sees any
 * pointer that escaped the buffer. */
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tx_safetensors st;
    tx_err err;
    err.msg[0] = 0;
    int rc = tx_st_parse(data, size, "fuzz", &st, &err);
    if (rc != TX_OK) {
        /* A failure always explains itself and leaves nothing behind. */
        REQUIRE(err.msg[0] != 0 && strlen(err.msg) < sizeof err.msg);
        REQUIRE(st.n == 0 && st.tensors == NULL && st.n_meta == 0 && st.meta == NULL);
        tx_st_free(&st);
        return 0;
    }
    REQUIRE(st.buf == NULL && st.size == size);
    volatile uint8_t sink = 0;
    for (int i = 0; i < st.n; i++) {
        const tx_st_tensor *t = &st.tensors[i];
        REQUIRE(t->name != NULL);
        REQUIRE(t->ndim >= 0 && t->ndim <= TX_MAX_DIMS);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            REQUIRE(t->shape[d] >= 0);
            numel *= (size_t)t->shape[d];
        }
        REQUIRE(numel * tx_dtype_size(t->dtype) == t->nbytes);
        REQUIRE(t->data >= data && t->data <= data + size);
        REQUIRE(t->nbytes <= (size_t)(data + size - t->data));
        uint8_t acc = 0;
        for (size_t k = 0; k < t->nbytes; k++) acc ^= t->data[k];
        sink ^= acc;
        REQUIRE(tx_st_find(&st, t->name) == t); /* names are unique */
        sink ^= (uint8_t)strlen(t->name);
    }
    for (int i = 0; i < st.n_meta; i++) {
        REQUIRE(st.meta[i].key && st.meta[i].value);
        REQUIRE(tx_st_meta_get(&st, st.meta[i].key) == st.meta[i].value);
        sink ^= (uint8_t)(strlen(st.meta[i].key) + strlen(st.meta[i].value));
    }
    (void)sink;
    tx_st_free(&st);
    return 0;
}
