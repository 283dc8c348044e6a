/* fuzz_npy.c - libFuzzer target for the .npy reader. Checks: a failure explains itself
 * and leaves no data; a success holds exactly prod(shape) readable floats. */
#include "io/npy.h"

#include <stdint.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tx_npy a;
    tx_err err;
    err.msg[0] = 0;
    int rc = tx_npy_parse(data, size, "fuzz", &a, &err);
    if (rc != TX_OK) {
        REQUIRE(rc < 0 && err.msg[0] != 0 && a.data == NULL);
        return 0;
    }
    int64_t n = 1;
    for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
    REQUIRE(n == a.numel && a.data != NULL);
    volatile float sink = 0;
    for (int64_t i = 0; i < n; i++) sink += a.data[i];
    (void)sink;
    tx_npy_free(&a);
    return 0;
}
