/* npy.c - reading NumPy .npy files (see npy.h). */
#include "io/npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tx_npy_free(tx_npy *a) {
    if (!a) return;
    tx_free(a->data);
    memset(a, 0, sizeof *a);
}

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The value text after key 'key' in the header dict (p..end), or NULL. Keys appear once. */
static const char *find_key(const char *p, const char *end, const char *key) {
    size_t kl = strlen(key);
    for (const char *q = p; q + kl + 2 <= end; q++)
        if ((q[0] == '\'' || q[0] == '"') && memcmp(q + 1, key, kl) == 0 && q[kl + 1] == q[0]) {
            const char *v = skip_ws(q + kl + 2, end);
            if (v >= end || *v != ':') return NULL;
            return skip_ws(v + 1, end);
        }
    return NULL;
}

static float half_to_float(uint16_t h) {
    int e = (h >> 10) & 31, f = h & 1023;
    float v = e == 0 ? ldexpf((float)f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexpf((float)(f | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

int tx_npy_parse(const uint8_t *buf, size_t size, const char *name, tx_npy *out, tx_err *err) {
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return tx_err_set(err, TX_EFORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    int major = buf[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return tx_err_set(err, TX_EFORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hoff = 12;
    } else {
        return tx_err_set(err, TX_EUNSUP, "%s: .npy format version %d is not supported (1, 2, 3)", name, major);
    }
    if (hlen > size - hoff)
        return tx_err_set(err, TX_EFORMAT, "%s: .npy header length %zu exceeds the file (%zu bytes)", name, hlen,
                          size);
    const char *h = (const char *)buf + hoff, *hend = h + hlen;
    const char *d = find_key(h, hend, "descr");
    int esize;
    if (!d || d + 5 > hend || (d[0] != '\'' && d[0] != '"'))
        return tx_err_set(err, TX_EFORMAT, "%s: .npy header has no 'descr'", name);
    if (!memcmp(d + 1, "<f4", 3) && d[4] == d[0]) esize = 4;
    else if (!memcmp(d + 1, "<f8", 3) && d[4] == d[0]) esize = 8;
    else if (!memcmp(d + 1, "<f2", 3) && d[4] == d[0]) esize = 2;
    else
        return tx_err_set(err, TX_EUNSUP, "%s: .npy dtype %.5s is not supported (float32 '<f4', also <f8, <f2): "
                          "save with x.astype(numpy.float32)", name, d);
    const char *fo = find_key(h, hend, "fortran_order");
    if (!fo) return tx_err_set(err, TX_EFORMAT, "%s: .npy header has no 'fortran_order'", name);
    if (hend - fo >= 4 && !memcmp(fo, "True", 4))
        return tx_err_set(err, TX_EUNSUP, "%s: Fortran-ordered .npy arrays are not supported (save with "
                          "numpy.ascontiguousarray)", name);
    if (!(hend - fo >= 5 && !memcmp(fo, "False", 5)))
        return tx_err_set(err, TX_EFORMAT, "%s: .npy 'fortran_order' must be True or False", name);
    const char *s = find_key(h, hend, "shape");
    if (!s || s >= hend || *s != '(') return tx_err_set(err, TX_EFORMAT, "%s: .npy header has no 'shape' tuple", name);
    s++;
    int ndim = 0;
    int64_t numel = 1;
    for (;;) {
        s = skip_ws(s, hend);
        if (s >= hend) return tx_err_set(err, TX_EFORMAT, "%s: .npy 'shape' is not closed", name);
        if (*s == ')') break;
        if (*s < '0' || *s > '9') return tx_err_set(err, TX_EFORMAT, "%s: .npy 'shape' holds a non-number", name);
        int64_t v = 0;
        while (s < hend && *s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            if (v > ((int64_t)1 << 40)) return tx_err_set(err, TX_EFORMAT, "%s: .npy dimension too large", name);
            s++;
        }
        if (ndim == TX_MAX_DIMS)
            return tx_err_set(err, TX_EUNSUP, "%s: .npy arrays of more than %d dimensions are not supported", name,
                              TX_MAX_DIMS);
        out->shape[ndim++] = v;
        if (v && numel > ((int64_t)1 << 40) / v) return tx_err_set(err, TX_EFORMAT, "%s: .npy array too large", name);
        numel *= v;
        s = skip_ws(s, hend);
        if (s < hend && *s == ',') s++;
    }
    size_t doff = hoff + hlen, need = (size_t)numel * (size_t)esize;
    if (size - doff != need)
        return tx_err_set(err, TX_EFORMAT, "%s: .npy data is %zu bytes, the shape needs %zu (truncated or padded file)",
                          name, size - doff, need);
    float *f = tx_alloc((size_t)(numel ? numel : 1) * sizeof(float));
    if (!f) return tx_err_set(err, TX_ENOMEM, "%s: out of memory (%lld floats)", name, (long long)numel);
    const uint8_t *p = buf + doff;
    for (int64_t i = 0; i < numel; i++) {
        if (esize == 4) memcpy(&f[i], p + 4 * i, 4);
        else if (esize == 8) {
            double v;
            memcpy(&v, p + 8 * i, 8);
            f[i] = (float)v;
        } else {
            uint16_t v;
            memcpy(&v, p + 2 * i, 2);
            f[i] = half_to_float(v);
        }
    }
    out->ndim = ndim;
    out->numel = numel;
    out->data = f;
    return TX_OK;
}

int tx_npy_load(const char *path, tx_npy *out, tx_err *err) {
    uint8_t *buf;
    size_t size;
    memset(out, 0, sizeof *out);
    int rc = tx_read_file(path, &buf, &size, err);
    if (rc) return rc;
    rc = tx_npy_parse(buf, size, path, out, err);
    free(buf);
    return rc;
}
