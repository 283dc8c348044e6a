/* idx.c - IDX files (the MNIST / Fashion-MNIST container), raw or gzip'd.
 *
 * IDX layout: magic 00 00 TT NN (TT = element type, 0x08 = unsigned byte; NN = number
 * of dimensions), then NN big-endian uint32 sizes, then the elements, row-major.
 * Images are 0x00000803 (count, rows, cols) and labels 0x00000801 (count). Every size
 * is checked against the buffer, the product of the sizes with overflow checks. */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t rd32be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const char *idx_type_name(int t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return NULL;
    }
}

int tx_idx_parse(const uint8_t *buf, size_t size, const char *name, int *ndim,
                 int64_t dims[4], const uint8_t **data, tx_err *err) {
    if (!name) name = "<buffer>";
    *ndim = 0;
    *data = NULL;
    for (int i = 0; i < 4; i++) dims[i] = 0;
    if (!buf || size < 4)
        return tx_err_set(err, TX_EFORMAT, "%s: IDX header needs 4 bytes, file has %zu", name,
                          buf ? size : 0);
    if (buf[0] != 0 || buf[1] != 0)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: bad IDX magic 0x%02x%02x%02x%02x (expected 0x000008NN)", name,
                          buf[0], buf[1], buf[2], buf[3]);
    int type = buf[2], nd = buf[3];
    if (type != 0x08) {
        const char *tn = idx_type_name(type);
        if (tn)
            return tx_err_set(err, TX_EUNSUP,
                              "%s: IDX element type 0x%02x (%s) is not supported; only unsigned "
                              "bytes (0x08) are",
                              name, type, tn);
        return tx_err_set(err, TX_EFORMAT, "%s: IDX magic has unknown element type 0x%02x", name,
                          type);
    }
    if (nd < 1 || nd > 4)
        return tx_err_set(err, TX_EFORMAT, "%s: IDX has %d dimensions, supported are 1 to 4",
                          name, nd);
    size_t header = 4 + 4 * (size_t)nd;
    if (size < header)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: IDX header with %d dimensions needs %zu bytes, file has %zu", name,
                          nd, header, size);
    size_t total = 1;
    char shape[64] = "";
    size_t sl = 0;
    for (int i = 0; i < nd; i++) {
        uint32_t d = rd32be(buf + 4 + 4 * (size_t)i);
        dims[i] = d;
        if (!tx_mul_ok(total, d, &total) || total > (size_t)INT64_MAX)
            return tx_err_set(err, TX_EFORMAT, "%s: IDX dimensions overflow (dimension %d is %u)",
                              name, i, d);
        int k = snprintf(shape + sl, sizeof shape - sl, "%s%u", i ? "x" : "", d);
        if (k > 0 && (size_t)k < sizeof shape - sl) sl += (size_t)k;
    }
    if (size - header != total)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: IDX dimensions %s need %zu bytes of data after the %zu-byte "
                          "header, file has %zu",
                          name, shape, total, header, size - header);
    *ndim = nd;
    *data = buf + header;
    return TX_OK;
}

int tx_gunzip(const uint8_t *in, size_t n, size_t cap, const char *name, uint8_t **out,
              size_t *out_n, tx_err *err) {
    if (!name) name = "<buffer>";
    *out = NULL;
    *out_n = 0;
    if (!in || n < 18 || in[0] != 0x1f || in[1] != 0x8b)
        return tx_err_set(err, TX_EFORMAT, "%s: not gzip data (%s)", name,
                          (in && n >= 2 && in[0] == 0x1f && in[1] == 0x8b)
                              ? "file truncated inside the gzip header"
                              : "no 1f 8b magic");
    /* The trailer's ISIZE (size mod 2^32 of the last member) is only a first guess, and
     * never trusted beyond deflate's best ratio (1032:1), so a forged trailer cannot make
     * us reserve gigabytes up front. */
    size_t capacity = (size_t)in[n - 4] | ((size_t)in[n - 3] << 8) | ((size_t)in[n - 2] << 16) |
                      ((size_t)in[n - 1] << 24);
    if (n <= (SIZE_MAX - 4096) / 1032 && capacity > n * 1032 + 4096) capacity = n * 1032 + 4096;
    if (capacity < 4096) capacity = 4096;
    if (capacity > cap) capacity = cap ? cap : 1;
    uint8_t *buf = malloc(capacity);
    if (!buf) return tx_err_set(err, TX_ENOMEM, "%s: out of memory (%zu bytes) for gunzip", name,
                                capacity);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(buf);
        return tx_err_set(err, TX_ENOMEM, "%s: cannot initialize zlib", name);
    }
    size_t in_pos = 0, len = 0;
    int rc = TX_OK;
    for (;;) {
        if (len == capacity) {
            if (capacity >= cap) {
                rc = tx_err_set(err, TX_EFORMAT,
                                "%s: gzip data decompresses to more than the limit of %zu bytes",
                                name, cap);
                break;
            }
            size_t nc = capacity > cap / 2 ? cap : capacity * 2;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                rc = tx_err_set(err, TX_ENOMEM, "%s: out of memory (%zu bytes) for gunzip", name,
                                nc);
                break;
            }
            buf = nb;
            capacity = nc;
        }
        size_t ain = n - in_pos, aout = capacity - len;
        zs.next_in = (Bytef *)(uintptr_t)(in + in_pos);
        zs.avail_in = ain > UINT_MAX ? UINT_MAX : (uInt)ain;
        zs.next_out = buf + len;
        zs.avail_out = aout > UINT_MAX ? UINT_MAX : (uInt)aout;
        uInt given_in = zs.avail_in, given_out = zs.avail_out;
        int zr = inflate(&zs, Z_NO_FLUSH);
        in_pos += given_in - zs.avail_in;
        len += given_out - zs.avail_out;
        if (zr == Z_STREAM_END) {
            if (in_pos == n) break;
            /* Another gzip member follows (as `cat a.gz b.gz` makes), or junk. */
            if (n - in_pos >= 2 && in[in_pos] == 0x1f && in[in_pos + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            rc = tx_err_set(err, TX_EFORMAT, "%s: %zu bytes of trailing data after the gzip "
                            "stream at offset %zu", name, n - in_pos, in_pos);
            break;
        }
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT || zr == Z_STREAM_ERROR) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: corrupt gzip data near input offset %zu: %s",
                            name, in_pos, zs.msg ? zs.msg : "invalid stream");
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = tx_err_set(err, TX_ENOMEM, "%s: out of memory in zlib", name);
            break;
        }
        /* Z_OK or Z_BUF_ERROR: stuck only when all input is used and output has room. */
        if ((in_pos == n && len < capacity) ||
            (zs.avail_in == given_in && zs.avail_out == given_out && given_out > 0)) {
            rc = tx_err_set(err, TX_EFORMAT,
                            "%s: gzip data truncated: the %zu-byte file ends before the end of "
                            "the compressed stream",
                            name, n);
            break;
        }
    }
    inflateEnd(&zs);
    if (rc != TX_OK) {
        free(buf);
        return rc;
    }
    uint8_t *shrunk = realloc(buf, len ? len : 1);
    *out = shrunk ? shrunk : buf;
    *out_n = len;
    return TX_OK;
}

/* Reads a whole IDX file, gunzipping when it starts with the gzip magic. */
static int idx_read(const char *path, uint8_t **buf, size_t *size, tx_err *err) {
    int rc = tx_read_file(path, buf, size, err);
    if (rc) return rc;
    if (*size >= 2 && (*buf)[0] == 0x1f && (*buf)[1] == 0x8b) {
        uint8_t *raw;
        size_t n;
        rc = tx_gunzip(*buf, *size, TX_IDX_MAX_BYTES, path, &raw, &n, err);
        free(*buf);
        *buf = NULL;
        *size = 0;
        if (rc) return rc;
        *buf = raw;
        *size = n;
    }
    return TX_OK;
}

int tx_idx_load(const char *images_path, const char *labels_path, tx_dataset *out,
                tx_err *err) {
    memset(out, 0, sizeof *out);
    uint8_t *ib = NULL, *lb = NULL;
    size_t isz = 0, lsz = 0;
    int ind, lnd, rc;
    int64_t idims[4], ldims[4];
    const uint8_t *idata, *ldata;
    if ((rc = idx_read(images_path, &ib, &isz, err))) goto fail;
    if ((rc = tx_idx_parse(ib, isz, images_path, &ind, idims, &idata, err))) goto fail;
    if (!(ind == 3 || (ind == 4 && (idims[3] == 1 || idims[3] == 3)))) {
        rc = tx_err_set(err, TX_EFORMAT,
                        "%s: IDX images must have magic 0x00000803 (count, rows, cols) or "
                        "0x00000804 with 1 or 3 channels; this file has %d dimensions%s",
                        images_path, ind, ind == 4 ? " and another channel count" : "");
        goto fail;
    }
    if (idims[0] < 1 || idims[1] < 1 || idims[2] < 1) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: IDX images have a zero size (%lld x %lld x %lld)",
                        images_path, (long long)idims[0], (long long)idims[1],
                        (long long)idims[2]);
        goto fail;
    }
    if (idims[1] > 65535 || idims[2] > 65535) {
        rc = tx_err_set(err, TX_EUNSUP, "%s: IDX images of %lld x %lld pixels are too large",
                        images_path, (long long)idims[1], (long long)idims[2]);
        goto fail;
    }
    if ((rc = idx_read(labels_path, &lb, &lsz, err))) goto fail;
    if ((rc = tx_idx_parse(lb, lsz, labels_path, &lnd, ldims, &ldata, err))) goto fail;
    if (lnd != 1) {
        rc = tx_err_set(err, TX_EFORMAT,
                        "%s: IDX labels must have magic 0x00000801 (one dimension); this file "
                        "has %d dimensions",
                        labels_path, lnd);
        goto fail;
    }
    if (ldims[0] != idims[0]) {
        rc = tx_err_set(err, TX_EFORMAT, "%s holds %lld images but %s holds %lld labels",
                        images_path, (long long)idims[0], labels_path, (long long)ldims[0]);
        goto fail;
    }
    int64_t n = idims[0];
    out->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!out->labels) {
        rc = tx_err_set(err, TX_ENOMEM, "%s: out of memory for %lld labels", labels_path,
                        (long long)n);
        goto fail;
    }
    int maxl = 0;
    for (int64_t i = 0; i < n; i++) {
        out->labels[i] = ldata[i];
        if (ldata[i] > maxl) maxl = ldata[i];
    }
    size_t nbytes = isz - (size_t)(idata - ib);
    memmove(ib, idata, nbytes); /* keep the decompressed buffer, without its header */
    uint8_t *shrunk = realloc(ib, nbytes ? nbytes : 1);
    out->images = shrunk ? shrunk : ib;
    ib = NULL;
    out->n = n;
    out->h = (int)idims[1];
    out->w = (int)idims[2];
    out->c = ind == 4 ? (int)idims[3] : 1;
    out->num_classes = maxl + 1;
    out->class_names = NULL;
    snprintf(out->name, sizeof out->name, "%s", images_path);
    free(lb);
    return TX_OK;
fail:
    free(ib);
    free(lb);
    tx_dataset_free(out);
    return rc;
}
