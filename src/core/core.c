/* core.c - errors, tensors, aligned memory, files, RNG, clock. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tx_err_set(tx_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int tx_err_prefix(tx_err *err, int code, const char *fmt, ...) {
    if (err) {
        char buf[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        size_t p = n < 0 ? 0 : (size_t)n;
        if (p > sizeof buf - 1) p = sizeof buf - 1;
        /* append ": " and the old message, truncating at the buffer's end */
        const char *sep = ": ";
        for (const char *q = sep; *q && p < sizeof buf - 1; q++) buf[p++] = *q;
        size_t old_len = strnlen(err->msg, sizeof err->msg);
        size_t room = sizeof buf - 1 - p;
        if (old_len > room) old_len = room;
        memcpy(buf + p, err->msg, old_len);
        buf[p + old_len] = 0;
        memcpy(err->msg, buf, sizeof buf);
        err->code = code;
    }
    return code;
}

size_t tx_dtype_size(tx_dtype t) {
    switch (t) {
    case TX_F32: return 4;
    case TX_U8: return 1;
    case TX_I8: return 1;
    case TX_I32: return 4;
    case TX_I64: return 8;
    case TX_F16: return 2;
    case TX_BF16: return 2;
    }
    return 0;
}

const char *tx_dtype_name(tx_dtype t) {
    switch (t) {
    case TX_F32: return "F32";
    case TX_U8: return "U8";
    case TX_I8: return "I8";
    case TX_I32: return "I32";
    case TX_I64: return "I64";
    case TX_F16: return "F16";
    case TX_BF16: return "BF16";
    }
    return "?";
}

int64_t tx_tensor_numel(const tx_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t tx_tensor_nbytes(const tx_tensor *t) {
    return (size_t)tx_tensor_numel(t) * tx_dtype_size(t->dtype);
}

int tx_mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int tx_add_ok(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

void *tx_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL;
    return aligned_alloc(64, rounded);
}

void *tx_calloc(size_t bytes) {
    void *p = tx_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void tx_free(void *p) { free(p); }

int tx_read_file(const char *path, uint8_t **data, size_t *size, tx_err *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tx_err_set(err, TX_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tx_err_set(err, TX_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return tx_err_set(err, TX_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (got != n || bad) {
        free(buf);
        return tx_err_set(err, TX_EIO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *data = buf;
    *size = n;
    return TX_OK;
}

int tx_write_file_atomic(const char *path, const void *data, size_t size, tx_err *err) {
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return tx_err_set(err, TX_EINVAL, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return tx_err_set(err, TX_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = size;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return tx_err_set(err, TX_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return tx_err_set(err, TX_EIO, "%s: sync failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return tx_err_set(err, TX_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return TX_OK;
}

/* xoshiro256** seeded through splitmix64. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tx_rng_seed(tx_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tx_rng_u64(tx_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float tx_rng_uniform(tx_rng *r) { return (float)(tx_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float tx_rng_normal(tx_rng *r) {
    /* Box-Muller; uses two uniforms per call for simplicity and determinism. */
    double u1 = ((double)(tx_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(tx_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t tx_rng_below(tx_rng *r, uint32_t n) {
    if (n == 0) return 0;
    return (uint32_t)(((tx_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

double tx_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
