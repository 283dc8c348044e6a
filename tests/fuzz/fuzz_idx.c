/* fuzz_idx.c - libFuzzer target for IDX parsing and the gunzip in front of it.
 * Inputs starting with the gzip magic are decompressed first (with a small cap), then
 * parsed as IDX. Checks: a failure explains itself and sets no outputs; a success
 * points inside the buffer at exactly prod(dims) bytes, all readable. */
#include "data/dataset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const uint8_t *buf, size_t size) {
    int ndim = -1;
    int64_t dims[4];
    const uint8_t *p = NULL;
    tx_err err;
    err.msg[0] = 0;
    int rc = tx_idx_parse(buf, size, "fuzz", &ndim, dims, &p, &err);
    if (rc != TX_OK) {
        REQUIRE(rc < 0 && err.msg[0] != 0 && strlen(err.msg) < sizeof err.msg);
        REQUIRE(p == NULL && ndim == 0);
        return;
    }
    REQUIRE(ndim >= 1 && ndim <= 4);
    REQUIRE(p >= buf && p <= buf + size);
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        REQUIRE(dims[i] >= 0 && dims[i] <= 0xFFFFFFFFll);
        REQUIRE(!__builtin_mul_overflow(total, (uint64_t)dims[i], &total));
    }
    REQUIRE(total == (uint64_t)(buf + size - p));
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < total; i += 31) sink ^= p[i];
    if (total) sink ^= p[total - 1];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        uint8_t *raw = NULL;
        size_t n = 0;
        tx_err err;
        err.msg[0] = 0;
        int rc = tx_gunzip(data, size, (size_t)1 << 24, "fuzz.gz", &raw, &n, &err);
        if (rc != TX_OK) {
            REQUIRE(raw == NULL && err.msg[0] != 0);
            return 0;
        }
        REQUIRE(n <= ((size_t)1 << 24));
        parse(raw, n);
        free(raw);
        return 0;
    }
    parse(data, size);
    return 0;
}
