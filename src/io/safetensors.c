/* safetensors.c - reading and writing .safetensors files (see safetensors.h).
 *
 * Reader: the header is checked byte by byte (UTF-8, no raw control characters),
 * parsed with cJSON, and every entry is validated before any pointer into the data
 * is formed: dtype known and supported, shape of at most TX_MAX_DIMS non-negative
 * integers whose element count fits in int64, data_offsets inside the data and
 * exactly as long as the shape says. Tensors may overlap; names must be unique.
 *
 * Writer: the header JSON is emitted by hand (integers printed exactly, strings
 * escaped), padded with spaces to a multiple of 8 bytes, followed by the tensors
 * back to back in the order given. */
#include "io/safetensors.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Every integer up to 2^53-1 is exact in a double (what cJSON gives us), and every
 * integer >= 2^53 rounds to >= 2^53, so this bound lets no rounded value through. */
#define ST_MAX_INT 9007199254740991.0

/* ---- helpers -------------------------------------------------------------- */

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int st_utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static const char *st_label(const char *name) { return name ? name : "<buffer>"; }

/* Known safetensors dtype spellings; only some map to tx_dtype. */
typedef struct { const char *name; int supported; tx_dtype dt; } st_dtype_entry;
static const st_dtype_entry st_dtypes[] = {
    {"F32", 1, TX_F32},  {"U8", 1, TX_U8},    {"I8", 1, TX_I8},    {"I32", 1, TX_I32},
    {"I64", 1, TX_I64},  {"F16", 1, TX_F16},  {"BF16", 1, TX_BF16}, {"F64", 0, TX_F32},
    {"I16", 0, TX_F32},  {"U16", 0, TX_F32},  {"U32", 0, TX_F32},  {"U64", 0, TX_F32},
    {"BOOL", 0, TX_F32}, {"F8_E4M3", 0, TX_F32}, {"F8_E5M2", 0, TX_F32},
};

static void st_fmt_shape(char *out, size_t cap, const int64_t *shape, int ndim) {
    size_t len = 0;
    out[0] = 0;
    len += (size_t)snprintf(out + len, cap - len, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%" PRId64, i ? "," : "", shape[i]);
    if (len < cap) snprintf(out + len, cap - len, "]");
}

/* A JSON number that is a non-negative integer small enough to be exact. */
static int st_json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT)) return 0; /* also rejects NaN */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *out = u;
    return 1;
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns a duplicated string among names[0..n), or NULL. Sorts names. */
static const char *st_find_dup(const char **names, int n) {
    if (n < 2) return NULL;
    qsort(names, (size_t)n, sizeof *names, st_cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

/* ---- reader --------------------------------------------------------------- */

/* cJSON is more lenient than JSON (and than the reference reader): it hands every
 * number back as a double, so "4.0", "1e2", "-0" and "007" would all pass as
 * integers, and it accepts raw control characters and \u0000 inside strings. A valid
 * safetensors header holds only strings and non-negative integers, so one pass over
 * the (already parsed, hence well-formed) header text rejects all of these. */
static int st_check_tokens(const char *h, size_t n, const char *file, tx_err *err) {
    size_t i = 0;
    while (i < n) {
        char c = h[i];
        if (c == '"') {
            size_t start = i++;
            while (i < n && h[i] != '"') {
                if ((unsigned char)h[i] < 0x20)
                    return tx_err_set(err, TX_EFORMAT,
                                      "%s: header: raw control character in the string at "
                                      "byte %zu",
                                      file, start);
                if (h[i] == '\\') {
                    if (i + 5 < n && h[i + 1] == 'u' && memcmp(h + i + 2, "0000", 4) == 0)
                        return tx_err_set(err, TX_EFORMAT,
                                          "%s: header: \\u0000 in the string at byte %zu",
                                          file, start);
                    i++;
                }
                i++;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            int plain = 1;
            while (i < n && h[i] && strchr("0123456789+-.eE", h[i])) {
                if (!(h[i] >= '0' && h[i] <= '9')) plain = 0;
                i++;
            }
            if (!plain || (h[start] == '0' && i - start > 1))
                return tx_err_set(err, TX_EFORMAT,
                                  "%s: header: number '%.*s' at byte %zu is not a plain "
                                  "non-negative integer",
                                  file, (int)(i - start > 40 ? 40 : i - start), h + start,
                                  start);
        } else {
            i++;
        }
    }
    return TX_OK;
}

void tx_st_free(tx_safetensors *st) {
    if (!st) return;
    if (st->tensors)
        for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    if (st->meta)
        for (int i = 0; i < st->n_meta; i++) {
            free(st->meta[i].key);
            free(st->meta[i].value);
        }
    free(st->meta);
    free(st->buf);
    memset(st, 0, sizeof *st);
}

static int st_parse_tensor(const cJSON *e, const char *file, const uint8_t *data,
                           uint64_t data_size, tx_st_tensor *t, tx_err *err) {
    const char *tn = e->string;
    if (!cJSON_IsObject(e))
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': entry is not an object",
                          file, tn);
    const cJSON *jd = NULL, *js = NULL, *jo = NULL;
    for (const cJSON *f = e->child; f; f = f->next) {
        const cJSON **slot = NULL;
        if (strcmp(f->string, "dtype") == 0) slot = &jd;
        else if (strcmp(f->string, "shape") == 0) slot = &js;
        else if (strcmp(f->string, "data_offsets") == 0) slot = &jo;
        else
            return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': unknown field '%.100s'",
                              file, tn, f->string);
        if (*slot)
            return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': duplicate field '%s'",
                              file, tn, f->string);
        *slot = f;
    }
    if (!jd) return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': missing dtype", file, tn);
    if (!js) return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': missing shape", file, tn);
    if (!jo)
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': missing data_offsets", file,
                          tn);

    /* dtype */
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': dtype is not a string", file,
                          tn);
    const st_dtype_entry *de = NULL;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof *st_dtypes; i++)
        if (strcmp(st_dtypes[i].name, jd->valuestring) == 0) de = &st_dtypes[i];
    if (!de)
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': unknown dtype '%.50s'", file,
                          tn, jd->valuestring);
    if (!de->supported)
        return tx_err_set(err, TX_EUNSUP,
                          "%s: tensor '%.200s': dtype %s is not supported "
                          "(supported: F32, F16, BF16, U8, I8, I32, I64)",
                          file, tn, de->name);
    t->dtype = de->dt;

    /* shape */
    if (!cJSON_IsArray(js))
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': shape is not an array", file,
                          tn);
    int nd = cJSON_GetArraySize(js);
    if (nd > TX_MAX_DIMS)
        return tx_err_set(err, TX_EUNSUP, "%s: tensor '%.200s': shape has %d dims (at most %d)",
                          file, tn, nd, TX_MAX_DIMS);
    t->ndim = nd;
    int64_t numel = 1;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        uint64_t v;
        if (!st_json_uint(d, &v))
            return tx_err_set(err, TX_EFORMAT,
                              "%s: tensor '%.200s': shape[%d] is not a non-negative integer",
                              file, tn, k);
        t->shape[k] = (int64_t)v;
        if (__builtin_mul_overflow(numel, (int64_t)v, &numel))
            return tx_err_set(err, TX_EFORMAT,
                              "%s: tensor '%.200s': shape has too many elements (overflow)",
                              file, tn);
    }
    size_t want;
    if ((uint64_t)numel > SIZE_MAX || !tx_mul_ok((size_t)numel, tx_dtype_size(t->dtype), &want))
        return tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s': shape too large (overflow)",
                          file, tn);

    /* data_offsets */
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !st_json_uint(jo->child, &b) ||
        !st_json_uint(jo->child->next, &en))
        return tx_err_set(err, TX_EFORMAT,
                          "%s: tensor '%.200s': data_offsets is not [begin, end] of "
                          "non-negative integers",
                          file, tn);
    if (b > en)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] begin after end",
                          file, tn, b, en);
    if (en > data_size)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] end past the data (%" PRIu64 " bytes after the header)",
                          file, tn, b, en, data_size);
    if (en - b != (uint64_t)want) {
        char sh[128];
        st_fmt_shape(sh, sizeof sh, t->shape, t->ndim);
        return tx_err_set(err, TX_EFORMAT,
                          "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] do not match shape %s of %s (%zu bytes)",
                          file, tn, b, en, sh, de->name, want);
    }
    t->data = data + b;
    t->nbytes = want;
    t->name = st_strdup(tn);
    if (!t->name) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    return TX_OK;
}

static int st_parse_meta(const cJSON *m, const char *file, tx_safetensors *out, tx_err *err) {
    if (!cJSON_IsObject(m))
        return tx_err_set(err, TX_EFORMAT, "%s: __metadata__ is not an object", file);
    int n = cJSON_GetArraySize(m);
    if (n == 0) return TX_OK;
    out->meta = calloc((size_t)n, sizeof *out->meta);
    if (!out->meta) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    for (const cJSON *v = m->child; v; v = v->next) {
        if (!cJSON_IsString(v) || !v->valuestring)
            return tx_err_set(err, TX_EFORMAT,
                              "%s: __metadata__ key '%.200s': value is not a string", file,
                              v->string);
        tx_st_meta *e = &out->meta[out->n_meta];
        e->key = st_strdup(v->string);
        e->value = st_strdup(v->valuestring);
        out->n_meta++;
        if (!e->key || !e->value) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    }
    const char **keys = malloc((size_t)n * sizeof *keys);
    if (!keys) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    for (int i = 0; i < n; i++) keys[i] = out->meta[i].key;
    const char *dup = st_find_dup(keys, n);
    int rc = dup ? tx_err_set(err, TX_EFORMAT, "%s: __metadata__ key '%.200s' appears twice",
                              file, dup)
                 : TX_OK;
    free(keys);
    return rc;
}

static int st_parse_root(const cJSON *root, const char *file, const uint8_t *data,
                         uint64_t data_size, tx_safetensors *out, tx_err *err) {
    const cJSON *meta = NULL;
    int nt = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (meta)
                return tx_err_set(err, TX_EFORMAT, "%s: __metadata__ appears twice", file);
            meta = e;
        } else {
            nt++;
        }
    }
    if (meta) {
        int rc = st_parse_meta(meta, file, out, err);
        if (rc) return rc;
    }
    if (nt == 0) return TX_OK;
    out->tensors = calloc((size_t)nt, sizeof *out->tensors);
    if (!out->tensors) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta) continue;
        int rc = st_parse_tensor(e, file, data, data_size, &out->tensors[out->n], err);
        if (out->tensors[out->n].name) out->n++;
        if (rc) return rc;
    }
    const char **names = malloc((size_t)nt * sizeof *names);
    if (!names) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", file);
    for (int i = 0; i < nt; i++) names[i] = out->tensors[i].name;
    const char *dup = st_find_dup(names, nt);
    int rc = dup ? tx_err_set(err, TX_EFORMAT, "%s: tensor '%.200s' appears twice", file, dup)
                 : TX_OK;
    free(names);
    return rc;
}

int tx_st_parse(const uint8_t *buf, size_t size, const char *name, tx_safetensors *out,
                tx_err *err) {
    const char *file = st_label(name);
    if (!out) return tx_err_set(err, TX_EINVAL, "%s: tx_st_parse: out is NULL", file);
    memset(out, 0, sizeof *out);
    if (!buf && size) return tx_err_set(err, TX_EINVAL, "%s: tx_st_parse: buf is NULL", file);
    if (size < 8)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: file is %zu bytes, too short for the 8-byte header length", file,
                          size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > ST_MAX_HEADER)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: header length %" PRIu64 " is absurd (limit %" PRIu64 " bytes)",
                          file, hlen, ST_MAX_HEADER);
    if (hlen > size - 8)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: header length %" PRIu64 " is larger than the file (%zu bytes)",
                          file, hlen, size);
    if (hlen < 2)
        return tx_err_set(err, TX_EFORMAT, "%s: header length %" PRIu64 " is too short", file,
                          hlen);
    const uint8_t *h = buf + 8;
    for (uint64_t i = 0; i < hlen; i++)
        if (h[i] < 0x20 && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r')
            return tx_err_set(err, TX_EFORMAT,
                              "%s: header: control byte 0x%02x at offset %" PRIu64, file,
                              h[i], i);
    if (!st_utf8_ok(h, (size_t)hlen))
        return tx_err_set(err, TX_EFORMAT, "%s: header is not valid UTF-8", file);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = (end && end >= (const char *)h && end <= (const char *)h + hlen)
                        ? (size_t)(end - (const char *)h)
                        : 0;
        return tx_err_set(err, TX_EFORMAT, "%s: header is not valid JSON (near byte %zu)", file,
                          at);
    }
    int rc = TX_OK;
    for (const char *p = end; p && p < (const char *)h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = tx_err_set(err, TX_EFORMAT,
                            "%s: header: unexpected bytes after the JSON object (byte %zu)",
                            file, (size_t)(p - (const char *)h));
            break;
        }
    if (!rc && !cJSON_IsObject(root))
        rc = tx_err_set(err, TX_EFORMAT, "%s: header is not a JSON object", file);
    if (!rc)
        rc = st_parse_root(root, file, h + hlen, (uint64_t)(size - 8 - hlen), out, err);
    if (!rc) rc = st_check_tokens((const char *)h, (size_t)hlen, file, err);
    cJSON_Delete(root);
    if (rc) {
        tx_st_free(out);
        return rc;
    }
    out->size = size;
    return TX_OK;
}

int tx_st_load(const char *path, tx_safetensors *out, tx_err *err) {
    if (!out) return tx_err_set(err, TX_EINVAL, "tx_st_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return tx_err_set(err, TX_EINVAL, "tx_st_load: path is NULL");
    uint8_t *buf;
    size_t size;
    int rc = tx_read_file(path, &buf, &size, err);
    if (rc) return rc;
    rc = tx_st_parse(buf, size, path, out, err);
    if (rc) {
        free(buf);
        return rc;
    }
    out->buf = buf;
    return TX_OK;
}

const tx_st_tensor *tx_st_find(const tx_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *tx_st_meta_get(const tx_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

/* ---- writer --------------------------------------------------------------- */

typedef struct { char *p; size_t len, cap; int oom; } st_sb;

static void sb_put(st_sb *s, const char *d, size_t n) {
    if (s->oom) return;
    if (s->cap - s->len < n + 1) {
        size_t nc = s->cap ? s->cap : 256;
        while (nc - s->len < n + 1) {
            if (nc > SIZE_MAX / 2) { s->oom = 1; return; }
            nc *= 2;
        }
        char *np = realloc(s->p, nc);
        if (!np) { s->oom = 1; return; }
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->len, d, n);
    s->len += n;
    s->p[s->len] = 0;
}

static void sb_str(st_sb *s, const char *str) { sb_put(s, str, strlen(str)); }

static void sb_u64(st_sb *s, uint64_t v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    sb_put(s, tmp, (size_t)n);
}

/* A JSON string literal; the input is known to be valid UTF-8. */
static void sb_jstr(st_sb *s, const char *str) {
    sb_put(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        char tmp[8];
        if (*p == '"') sb_put(s, "\\\"", 2);
        else if (*p == '\\') sb_put(s, "\\\\", 2);
        else if (*p < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", *p);
            sb_put(s, tmp, 6);
        } else sb_put(s, (const char *)p, 1);
    }
    sb_put(s, "\"", 1);
}

static int st_check_write_args(const char *path, const tx_st_tensor *tensors, int n,
                               const tx_st_meta *meta, int n_meta, tx_err *err) {
    if (n < 0 || (n > 0 && !tensors))
        return tx_err_set(err, TX_EINVAL, "%s: bad tensor list (n=%d)", path, n);
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return tx_err_set(err, TX_EINVAL, "%s: bad metadata list (n_meta=%d)", path, n_meta);
    for (int i = 0; i < n; i++) {
        const tx_st_tensor *t = &tensors[i];
        if (!t->name || !t->name[0])
            return tx_err_set(err, TX_EINVAL, "%s: tensor %d has no name", path, i);
        if (!st_utf8_ok((const uint8_t *)t->name, strlen(t->name)))
            return tx_err_set(err, TX_EINVAL, "%s: tensor %d: name is not valid UTF-8", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return tx_err_set(err, TX_EINVAL, "%s: tensor %d: name '__metadata__' is reserved",
                              path, i);
        size_t es = tx_dtype_size(t->dtype);
        if (es == 0)
            return tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s': bad dtype %d", path,
                              t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > TX_MAX_DIMS)
            return tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s': ndim %d not in 0..%d", path,
                              t->name, t->ndim, TX_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return tx_err_set(err, TX_EINVAL,
                                  "%s: tensor '%.200s': shape[%d] = %" PRId64 " is negative",
                                  path, t->name, d, t->shape[d]);
            if (__builtin_mul_overflow(numel, t->shape[d], &numel))
                return tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s': shape overflows", path,
                                  t->name);
        }
        size_t want;
        if ((uint64_t)numel > SIZE_MAX || !tx_mul_ok((size_t)numel, es, &want))
            return tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s': shape overflows", path,
                              t->name);
        if (t->nbytes != want) {
            char sh[128];
            st_fmt_shape(sh, sizeof sh, t->shape, t->ndim);
            return tx_err_set(err, TX_EINVAL,
                              "%s: tensor '%.200s': nbytes %zu does not match shape %s of %s "
                              "(%zu bytes)",
                              path, t->name, t->nbytes, sh, tx_dtype_name(t->dtype), want);
        }
        if (want && !t->data)
            return tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s': data is NULL", path,
                              t->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].key[0])
            return tx_err_set(err, TX_EINVAL, "%s: metadata entry %d has no key", path, i);
        if (!meta[i].value)
            return tx_err_set(err, TX_EINVAL, "%s: metadata key '%.200s': value is NULL", path,
                              meta[i].key);
        if (!st_utf8_ok((const uint8_t *)meta[i].key, strlen(meta[i].key)))
            return tx_err_set(err, TX_EINVAL, "%s: metadata entry %d: key is not valid UTF-8",
                              path, i);
        if (!st_utf8_ok((const uint8_t *)meta[i].value, strlen(meta[i].value)))
            return tx_err_set(err, TX_EINVAL,
                              "%s: metadata key '%.200s': value is not valid UTF-8", path,
                              meta[i].key);
    }
    /* Uniqueness. */
    int m = n > n_meta ? n : n_meta;
    if (m < 2) return TX_OK;
    const char **names = malloc((size_t)m * sizeof *names);
    if (!names) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", path);
    int rc = TX_OK;
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    const char *dup = st_find_dup(names, n);
    if (dup) rc = tx_err_set(err, TX_EINVAL, "%s: tensor '%.200s' given twice", path, dup);
    if (!rc) {
        for (int i = 0; i < n_meta; i++) names[i] = meta[i].key;
        dup = st_find_dup(names, n_meta);
        if (dup)
            rc = tx_err_set(err, TX_EINVAL, "%s: metadata key '%.200s' given twice", path, dup);
    }
    free(names);
    return rc;
}

int tx_st_write(const char *path, const tx_st_tensor *tensors, int n,
                const tx_st_meta *meta, int n_meta, tx_err *err) {
    if (!path) return tx_err_set(err, TX_EINVAL, "tx_st_write: path is NULL");
    int rc = st_check_write_args(path, tensors, n, meta, n_meta, err);
    if (rc) return rc;

    st_sb s = {0};
    uint64_t off = 0;
    sb_put(&s, "{", 1);
    if (n_meta > 0) {
        sb_str(&s, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_put(&s, ",", 1);
            sb_jstr(&s, meta[i].key);
            sb_put(&s, ":", 1);
            sb_jstr(&s, meta[i].value);
        }
        sb_put(&s, "}", 1);
    }
    for (int i = 0; i < n; i++) {
        const tx_st_tensor *t = &tensors[i];
        if (i || n_meta > 0) sb_put(&s, ",", 1);
        sb_jstr(&s, t->name);
        sb_str(&s, ":{\"dtype\":\"");
        sb_str(&s, tx_dtype_name(t->dtype));
        sb_str(&s, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_put(&s, ",", 1);
            sb_u64(&s, (uint64_t)t->shape[d]);
        }
        sb_str(&s, "],\"data_offsets\":[");
        sb_u64(&s, off);
        sb_put(&s, ",", 1);
        if (__builtin_add_overflow(off, (uint64_t)t->nbytes, &off)) {
            free(s.p);
            return tx_err_set(err, TX_EINVAL, "%s: total tensor size overflows", path);
        }
        sb_u64(&s, off);
        sb_str(&s, "]}");
    }
    sb_put(&s, "}", 1);
    while (!s.oom && s.len % 8) sb_put(&s, " ", 1);
    if (s.oom) {
        free(s.p);
        return tx_err_set(err, TX_ENOMEM, "%s: out of memory building the header", path);
    }
    size_t total;
    if (off > SIZE_MAX || !tx_add_ok(8 + s.len, (size_t)off, &total)) {
        free(s.p);
        return tx_err_set(err, TX_EINVAL, "%s: file size overflows", path);
    }
    uint8_t *file = malloc(total);
    if (!file) {
        free(s.p);
        return tx_err_set(err, TX_ENOMEM, "%s: out of memory (%zu bytes)", path, total);
    }
    uint64_t hl = s.len;
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)(hl >> (8 * i));
    memcpy(file + 8, s.p, s.len);
    free(s.p);
    size_t pos = 8 + (size_t)hl;
    for (int i = 0; i < n; i++) {
        if (tensors[i].nbytes) memcpy(file + pos, tensors[i].data, tensors[i].nbytes);
        pos += tensors[i].nbytes;
    }
    rc = tx_write_file_atomic(path, file, total, err);
    free(file);
    return rc;
}
