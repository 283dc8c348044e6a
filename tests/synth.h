/* synth.h - the C twin of tools/golden_synth.py: synthetic weights from a tensor's name
 * and flat index, bit-identical to the Python formula (see that file). Header-only,
 * for tests. */
#ifndef TX_TESTS_SYNTH_H
#define TX_TESTS_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t synth_fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001B3ull;
    return h;
}

static inline uint64_t synth_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline int synth_ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Fills out[numel] for tensor `name` of the given PyTorch shape (ndim 0 writes one 0). */
static inline void synth_fill(float *out, const char *name, int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (ndim == 0) {
        out[0] = 0.0f;
        return;
    }
    uint64_t h = synth_fnv1a64(name);
    double scale = ndim >= 2 ? sqrt(3.0 / (double)(n / shape[0])) : 0;
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(synth_splitmix64(h + (uint64_t)i) >> 40) / (double)(1 << 24);
        double r = 2.0 * u - 1.0, x;
        if (ndim >= 2) x = scale * r;
        else if (synth_ends(name, "running_var")) x = 0.5 + u;
        else if (synth_ends(name, "weight") || synth_ends(name, "gamma")) x = 1.0 + 0.25 * r;
        else x = 0.1 * r;
        out[i] = (float)x;
    }
}

#endif
