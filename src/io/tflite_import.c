/* tflite_import.c - .tflite -> tx_model (see tflite_import.h). The file itself is parsed
 * and validated by tflite.c; this file walks the operators and emits graph nodes, and
 * reads the two extras TFLite files carry: the label zip appended after the flatbuffer
 * and the input normalization in the TFLITE_METADATA buffer (both bounds-checked here,
 * fuzzed by tests/fuzz/fuzz_tflite_import.c). */
#include "io/tflite_import.h"

#include "ops/quant.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- small helpers ------------------------------------------------------------------ */

int tx_is_tflite(const uint8_t *buf, size_t size) {
    return size >= 8 && memcmp(buf + 4, "TFL3", 4) == 0;
}

int tx_file_is_tflite(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t h[8];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    return tx_is_tflite(h, n);
}

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static float rdf32(const uint8_t *p) {
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, u;
    if (e == 0) {
        if (m == 0) u = s;
        else { /* subnormal */
            e = 127 - 15 + 1;
            while (!(m & 1024)) { m <<= 1; e--; }
            m &= 1023;
            u = s | e << 23 | m << 13;
        }
    } else if (e == 31) {
        u = s | 0x7f800000u | m << 13;
    } else {
        u = s | (e - 15 + 127) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- labels ------------------------------------------------------------------------- */

void tx_labels_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int tx_labels_parse(const char *text, size_t len, const char *where, char ***names, int *n,
                    tx_err *err) {
    *names = NULL;
    *n = 0;
    /* drop trailing empty lines (and a UTF-8 byte order mark at the start) */
    size_t start = 0;
    if (len >= 3 && (uint8_t)text[0] == 0xEF && (uint8_t)text[1] == 0xBB && (uint8_t)text[2] == 0xBF) start = 3;
    size_t end = len;
    while (end > start && (text[end - 1] == '\n' || text[end - 1] == '\r')) end--;
    if (end == start) return tx_err_set(err, TX_EFORMAT, "%s: no labels (empty file)", where);
    int count = 1;
    for (size_t i = start; i < end; i++) {
        if (text[i] == '\n') count++;
        if (text[i] == 0) return tx_err_set(err, TX_EFORMAT, "%s: a NUL byte at offset %zu (not a text file)",
                                            where, i);
        if (count > (1 << 24)) return tx_err_set(err, TX_EFORMAT, "%s: too many lines", where);
    }
    char **v = calloc((size_t)count, sizeof *v);
    if (!v) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", where);
    size_t p = start;
    for (int k = 0; k < count; k++) {
        size_t q = p;
        while (q < end && text[q] != '\n') q++;
        size_t l = q - p;
        if (l > 0 && text[p + l - 1] == '\r') l--;
        v[k] = malloc(l + 1);
        if (!v[k]) {
            tx_labels_free(v, k);
            return tx_err_set(err, TX_ENOMEM, "%s: out of memory", where);
        }
        memcpy(v[k], text + p, l);
        v[k][l] = 0;
        p = q + 1;
    }
    *names = v;
    *n = count;
    return TX_OK;
}

/* ---- the appended zip ------------------------------------------------------------------ */

static int ends_with_ci(const char *s, size_t n, const char *suf) {
    size_t l = strlen(suf);
    if (n < l) return 0;
    for (size_t i = 0; i < l; i++)
        if (tolower((unsigned char)s[n - l + i]) != suf[i]) return 0;
    return 1;
}

static int contains_ci(const char *s, size_t n, const char *sub) {
    size_t l = strlen(sub);
    for (size_t i = 0; i + l <= n; i++) {
        size_t k = 0;
        while (k < l && tolower((unsigned char)s[i + k]) == sub[k]) k++;
        if (k == l) return 1;
    }
    return 0;
}

int tx_zip_find_labels(const uint8_t *buf, size_t size, size_t start, const char *where,
                       char **text, size_t *len, char *fname, size_t fname_cap, tx_err *err) {
    *text = NULL;
    *len = 0;
    if (fname_cap) fname[0] = 0;
    if (start >= size || size - start < 22) return TX_OK;
    /* offsets below are absolute positions in buf; the zip lies in [start, size) */
    const uint8_t *z = buf;
    const size_t zn = size;
    /* End of central directory: the last "PK\5\6" whose comment reaches the end */
    size_t eocd = (size_t)-1;
    size_t lo = zn - start > 22 + 65535 ? zn - 22 - 65535 : start;
    for (size_t i = zn - 22 + 1; i-- > lo;) {
        if (rd32(z + i) == 0x06054b50u && i + 22 + rd16(z + i + 20) == zn) { eocd = i; break; }
    }
    if (eocd == (size_t)-1) {
        if (rd32(z + start) == 0x04034b50u)
            return tx_err_set(err, TX_EFORMAT, "%s: the zip appended at offset %zu has no end of central "
                              "directory", where, start);
        return TX_OK; /* trailing bytes that are not a zip: no labels */
    }
    uint32_t n_entries = rd16(z + eocd + 10), cd_size = rd32(z + eocd + 12), cd_off = rd32(z + eocd + 16);
    if ((uint64_t)cd_size > eocd - start)
        return tx_err_set(err, TX_EFORMAT, "%s: zip central directory size %u exceeds the data", where, cd_size);
    size_t cd_pos = eocd - cd_size;
    /* the writer's offsets count from the file start or from the zip start: take them
     * relative to where the central directory really is (as zip readers do) */
    if ((uint64_t)cd_off > cd_pos)
        return tx_err_set(err, TX_EFORMAT, "%s: zip central directory offset %u out of range", where, cd_off);
    size_t concat = cd_pos - cd_off;
    size_t best_pos = (size_t)-1;
    int best_rank = 0;
    size_t p = cd_pos;
    for (uint32_t e = 0; e < n_entries; e++) {
        if (p + 46 > eocd || rd32(z + p) != 0x02014b50u)
            return tx_err_set(err, TX_EFORMAT, "%s: zip central directory entry %u is malformed", where, e);
        size_t nl = rd16(z + p + 28), xl = rd16(z + p + 30), cl = rd16(z + p + 32);
        if (p + 46 + nl + xl + cl > eocd)
            return tx_err_set(err, TX_EFORMAT, "%s: zip central directory entry %u runs past the end", where, e);
        const char *nm = (const char *)z + p + 46;
        int rank = ends_with_ci(nm, nl, ".txt") ? (contains_ci(nm, nl, "label") ? 2 : 1) : 0;
        if (rank > best_rank) {
            best_rank = rank;
            best_pos = p;
        }
        p += 46 + nl + xl + cl;
    }
    if (best_rank == 0) return TX_OK;
    p = best_pos;
    const uint8_t *c = z + p;
    uint32_t flags = rd16(c + 8), method = rd16(c + 10), crc = rd32(c + 16), csize = rd32(c + 20),
             usize = rd32(c + 24), loc = rd32(c + 42);
    size_t nl = rd16(c + 28);
    char name[256];
    tx_tflite_safe_name(name, sizeof name, "");
    {
        size_t k = nl < sizeof name - 1 ? nl : sizeof name - 1;
        memcpy(name, c + 46, k);
        name[k] = 0;
        char safe[256];
        tx_tflite_safe_name(safe, sizeof safe, name);
        snprintf(name, sizeof name, "%s", safe);
    }
    if (flags & 1) return tx_err_set(err, TX_EUNSUP, "%s: zip entry '%s' is encrypted", where, name);
    if (method != 0 && method != 8)
        return tx_err_set(err, TX_EUNSUP, "%s: zip entry '%s' uses compression method %u (stored and "
                          "deflate are supported)", where, name, method);
    if (usize > (64u << 20) || csize > (64u << 20))
        return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s' is too large (%u bytes)", where, name, usize);
    if ((uint64_t)concat + loc < start || (uint64_t)concat + loc + 30 > cd_pos)
        return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s': local header offset %u out of range", where,
                          name, loc);
    const uint8_t *lh = z + concat + loc;
    if (rd32(lh) != 0x04034b50u)
        return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s': no local header at offset %u", where, name, loc);
    size_t data = concat + loc + 30 + rd16(lh + 26) + rd16(lh + 28);
    if (data > cd_pos || csize > cd_pos - data)
        return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s': data (%u bytes) runs past the end", where,
                          name, csize);
    char *out = malloc((size_t)usize + 1);
    if (!out) return tx_err_set(err, TX_ENOMEM, "%s: out of memory", where);
    if (method == 0) {
        if (csize != usize) {
            free(out);
            return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s' is stored but its sizes differ (%u, %u)",
                              where, name, csize, usize);
        }
        memcpy(out, z + data, usize);
    } else {
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -15) != Z_OK) {
            free(out);
            return tx_err_set(err, TX_ENOMEM, "%s: zlib init failed", where);
        }
        s.next_in = (Bytef *)(uintptr_t)(z + data);
        s.avail_in = csize;
        s.next_out = (Bytef *)out;
        s.avail_out = usize;
        int zr = inflate(&s, Z_FINISH);
        size_t got = s.total_out;
        inflateEnd(&s);
        if (zr != Z_STREAM_END || got != usize) {
            free(out);
            return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s' does not inflate to %u bytes", where, name,
                              usize);
        }
    }
    uint32_t got_crc = (uint32_t)crc32(0L, (const Bytef *)out, usize);
    if (got_crc != crc) {
        free(out);
        return tx_err_set(err, TX_EFORMAT, "%s: zip entry '%s': CRC %08x, header says %08x", where, name,
                          got_crc, crc);
    }
    out[usize] = 0;
    *text = out;
    *len = usize;
    if (fname_cap) snprintf(fname, fname_cap, "%s", name);
    return TX_OK;
}

/* ---- TFLite metadata (metadata_schema.fbs), just the input normalization ---------------- */

typedef struct fbuf {
    const uint8_t *b;
    size_t n;
} fbuf;

/* Table at t: the absolute position of field f, 0 when absent, (size_t)-1 when malformed. */
static size_t fb_field(const fbuf *f, size_t t, int field, size_t width) {
    if (t + 4 > f->n) return (size_t)-1;
    int64_t vt = (int64_t)t - (int32_t)rd32(f->b + t);
    if (vt < 0 || (uint64_t)vt + 4 > f->n) return (size_t)-1;
    uint32_t vsize = rd16(f->b + vt), tsize = rd16(f->b + vt + 2);
    if (vsize < 4 || (uint64_t)vt + vsize > f->n || (uint64_t)t + tsize > f->n) return (size_t)-1;
    if (4 + 2 * (uint32_t)field + 2 > vsize) return 0;
    uint32_t fo = rd16(f->b + vt + 4 + 2 * field);
    if (!fo) return 0;
    if (fo + width > tsize) return (size_t)-1;
    return t + fo;
}

/* Follows the uoffset at field f of table t: the referenced position, 0 when absent. */
static size_t fb_ref(const fbuf *f, size_t t, int field) {
    size_t p = fb_field(f, t, field, 4);
    if (p == 0 || p == (size_t)-1) return p;
    uint64_t q = (uint64_t)p + rd32(f->b + p);
    if (q + 4 > f->n) return (size_t)-1;
    return (size_t)q;
}

/* Vector at v: its length (elements of width bytes), or -1 when it does not fit. */
static int64_t fb_vec(const fbuf *f, size_t v, size_t width) {
    if (v + 4 > f->n) return -1;
    uint64_t len = rd32(f->b + v);
    if (len > (f->n - v - 4) / width) return -1;
    return (int64_t)len;
}

/* Element i of a vector of tables. */
static size_t fb_vec_table(const fbuf *f, size_t v, int64_t i) {
    size_t p = v + 4 + (size_t)i * 4;
    uint64_t q = (uint64_t)p + rd32(f->b + p);
    if (q + 4 > f->n) return (size_t)-1;
    return (size_t)q;
}

int tx_tflite_input_normalization(const tx_tflite_model *tf, float mean[3], float std[3],
                                  int *n, const char *where, tx_err *err) {
    *n = 0;
    const tx_tflite_buffer *mb = NULL;
    for (int i = 0; i < tf->n_metadata; i++)
        if (strcmp(tf->metadata[i].name, "TFLITE_METADATA") == 0) mb = &tf->buffers[tf->metadata[i].buffer];
    if (!mb || !mb->data || mb->size < 8) return 0;
    fbuf f = {mb->data, mb->size};
#define BAD(what) tx_err_set(err, TX_EFORMAT, "%s: TFLITE_METADATA: %s", where, what)
    size_t root = rd32(f.b);
    if (root + 4 > f.n) return BAD("root offset out of range");
    size_t sgv = fb_ref(&f, root, 3); /* subgraph_metadata */
    if (sgv == (size_t)-1) return BAD("subgraph_metadata");
    if (!sgv) return 0;
    int64_t nsg = fb_vec(&f, sgv, 4);
    if (nsg < 0) return BAD("subgraph_metadata vector");
    if (nsg == 0) return 0;
    size_t sg = fb_vec_table(&f, sgv, 0);
    if (sg == (size_t)-1) return BAD("subgraph 0");
    size_t inv = fb_ref(&f, sg, 2); /* input_tensor_metadata */
    if (inv == (size_t)-1) return BAD("input_tensor_metadata");
    if (!inv) return 0;
    int64_t nin = fb_vec(&f, inv, 4);
    if (nin < 0) return BAD("input_tensor_metadata vector");
    if (nin == 0) return 0;
    size_t tm = fb_vec_table(&f, inv, 0);
    if (tm == (size_t)-1) return BAD("input tensor 0");
    size_t puv = fb_ref(&f, tm, 4); /* process_units */
    if (puv == (size_t)-1) return BAD("process_units");
    if (!puv) return 0;
    int64_t npu = fb_vec(&f, puv, 4);
    if (npu < 0) return BAD("process_units vector");
    for (int64_t i = 0; i < npu; i++) {
        size_t pu = fb_vec_table(&f, puv, i);
        if (pu == (size_t)-1) return BAD("process unit");
        size_t tp = fb_field(&f, pu, 0, 1);
        if (tp == (size_t)-1) return BAD("process unit options type");
        if (!tp || f.b[tp] != 1) continue; /* 1 = NormalizationOptions */
        size_t no = fb_ref(&f, pu, 1);
        if (no == (size_t)-1 || !no) return BAD("NormalizationOptions");
        size_t mv = fb_ref(&f, no, 0), sv = fb_ref(&f, no, 1);
        if (mv == (size_t)-1 || sv == (size_t)-1 || !mv || !sv) return BAD("normalization mean/std");
        int64_t nm = fb_vec(&f, mv, 4), ns = fb_vec(&f, sv, 4);
        if (nm < 1 || ns != nm || (nm != 1 && nm != 3)) return BAD("normalization mean/std: 1 or 3 values each");
        for (int k = 0; k < nm; k++) {
            mean[k] = rdf32(f.b + mv + 4 + 4 * k);
            std[k] = rdf32(f.b + sv + 4 + 4 * k);
            if (!isfinite(mean[k]) || !(std[k] > 0) || !isfinite(std[k]))
                return BAD("normalization mean/std must be finite, std > 0");
        }
        *n = (int)nm;
        return 1;
    }
#undef BAD
    return 0;
}

/* ---- the importer ---------------------------------------------------------------------- */

typedef struct imp {
    const tx_tflite_model *tf;
    const tx_tflite_subgraph *g;
    const char *name;
    const tx_tflite_import_opts *o;
    tx_model *m;
    int *node_of;       /* tensor -> node id, -1 when none */
    uint8_t *probs;     /* node -> its output is probabilities (softmax) */
    int oi;             /* current operator index (messages) */
    int qmode;
} imp;

/* Sets err to "<file>: operator <i> (<NAME>): <message>" and returns code. */
#define OPERR(s, err, code, ...)                                                           \
    (tx_err_set((err), (code), __VA_ARGS__),                                               \
     tx_err_prefix((err), (code), "%s: operator %d (%s)", (s)->name, (s)->oi,               \
                   tx_tflite_op_name((s)->g->ops[(s)->oi].builtin)))

static const tx_tflite_tensor *T(const imp *s, int ti) { return &s->g->tensors[ti]; }

static const char *tname(const imp *s, int ti, char *buf, size_t cap) {
    tx_tflite_safe_name(buf, cap, T(s, ti)->name);
    return buf;
}

/* Per-sample shape [h, w, c] of an activation tensor [1, ...]. */
static int sample_shape(const tx_tflite_tensor *t, int *h, int *w, int *c) {
    if (t->ndim < 1 || t->shape[0] != 1) return 0;
    switch (t->ndim) {
    case 1: *h = 1, *w = 1, *c = 1; return 0;
    case 2: *h = 1, *w = 1, *c = t->shape[1]; break;
    case 3: *h = t->shape[1], *w = 1, *c = t->shape[2]; break;
    case 4: *h = t->shape[1], *w = t->shape[2], *c = t->shape[3]; break;
    default: return 0;
    }
    return *h > 0 && *w > 0 && *c > 0;
}

static int is8(int type) { return type == TX_TFL_UINT8 || type == TX_TFL_INT8; }

/* Whether the op's output tensor is computed on the integer path. */
static int quant_out(const imp *s, const tx_tflite_tensor *t) {
    return !s->o->float_graph && is8(t->type);
}

/* Fills the output type of proto from tensor t (8-bit: dtype and quantization). */
static int set_out_type(imp *s, tx_node *nd, const tx_tflite_tensor *t, tx_err *err) {
    nd->qmode = s->qmode;
    if (!quant_out(s, t)) {
        nd->dtype = TX_F32;
        if (is8(t->type) && !s->o->no_fake_quant && t->q.n == 1 && t->q.scale[0] > 0 && isfinite(t->q.scale[0])) {
            /* the float graph of an 8-bit tensor rounds to its grid (node.fq), so it keeps
             * the integer model's decisions */
            nd->fq = t->type == TX_TFL_INT8 ? TX_I8 : TX_U8;
            nd->qscale = t->q.scale[0];
            nd->qzp = (int32_t)t->q.zero_point[0];
        }
        if (t->type != TX_TFL_FLOAT32 && !is8(t->type) && t->type != TX_TFL_FLOAT16) {
            char b[96];
            return OPERR(s, err, TX_EUNSUP, "output tensor '%s' is %s (float32 or 8-bit activations "
                         "are supported)", tname(s, (int)(t - s->g->tensors), b, sizeof b),
                         tx_tflite_type_name(t->type));
        }
        return TX_OK;
    }
    if (t->q.n != 1) {
        char b[96];
        return OPERR(s, err, TX_EUNSUP, "8-bit activation tensor '%s' has %d scales (one, per-tensor, "
                     "expected)", tname(s, (int)(t - s->g->tensors), b, sizeof b), t->q.n);
    }
    if (!(t->q.scale[0] > 0) || !isfinite(t->q.scale[0]) || t->q.details_type) {
        char b[96];
        return OPERR(s, err, TX_EUNSUP, "tensor '%s': quantization scale %g", tname(s, (int)(t - s->g->tensors), b,
                     sizeof b), (double)t->q.scale[0]);
    }
    nd->dtype = t->type == TX_TFL_INT8 ? TX_I8 : TX_U8;
    nd->qscale = t->q.scale[0];
    nd->qzp = (int32_t)t->q.zero_point[0];
    return TX_OK;
}

/* The node producing activation tensor ti, checked. */
static int input_node(imp *s, int ti, int k, tx_err *err) {
    if (ti < 0) return OPERR(s, err, TX_EFORMAT, "input %d is missing", k);
    if (s->node_of[ti] < 0) {
        char b[96];
        if (T(s, ti)->data)
            return OPERR(s, err, TX_EUNSUP, "input %d '%s' is a constant tensor (only activations are "
                         "supported here)", k, tname(s, ti, b, sizeof b));
        return OPERR(s, err, TX_EFORMAT, "input %d '%s' is not produced by an earlier operator", k,
                     tname(s, ti, b, sizeof b));
    }
    return s->node_of[ti];
}

/* Appends a node named "<prefix>_<op index>" and checks the resulting per-sample shape
 * against the output tensor (when given). */
static int add(imp *s, tx_node *nd, const char *prefix, const tx_tflite_tensor *out, tx_err *err) {
    snprintf(nd->name, sizeof nd->name, "%s_%d", prefix, s->oi);
    int id = tx_g_node(s->m, nd, err);
    if (id < 0) return tx_err_prefix(err, id, "%s: operator %d (%s)", s->name, s->oi,
                                     tx_tflite_op_name(s->g->ops[s->oi].builtin));
    const tx_node *r = &s->m->nodes[id];
    if (out) {
        int64_t want = out->numel, got = (int64_t)r->oh * r->ow * r->oc;
        if (want != got) {
            char b[96];
            return OPERR(s, err, TX_ESHAPE, "output '%s' has %lld elements, the graph computes %dx%dx%d",
                         tname(s, (int)(out - s->g->tensors), b, sizeof b), (long long)want, r->oh, r->ow,
                         r->oc);
        }
    }
    return id;
}

/* TFLite SAME padding: total = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0),
 * the smaller half first. In int64 and capped (hostile sizes): shape inference refuses
 * what does not fit. */
static void tflite_pads(int in, int k, int st, int d, int padding, int *a, int *b) {
    *a = *b = 0;
    if (padding != TX_TFL_PAD_SAME || st < 1 || d < 1 || k < 1) return;
    int64_t o = ((int64_t)in + st - 1) / st;
    int64_t tot = (o - 1) * st + (int64_t)(k - 1) * d + 1 - in;
    if (tot < 0) tot = 0;
    if (tot > (1 << 24)) tot = 1 << 24;
    *a = (int)(tot / 2);
    *b = (int)(tot - tot / 2);
}

/* A constant operand: t itself, or the constant behind a DEQUANTIZE (float16 or
 * 8-bit weights stored for a float graph). Sets *deq when found behind DEQUANTIZE. */
static const tx_tflite_tensor *const_of(const imp *s, int ti, int *deq) {
    *deq = 0;
    if (ti < 0) return NULL;
    const tx_tflite_tensor *t = T(s, ti);
    if (t->data) return t;
    for (int i = 0; i < s->g->n_ops; i++) {
        const tx_tflite_op *op = &s->g->ops[i];
        if (op->builtin == TX_TFL_OP_DEQUANTIZE && op->n_outputs == 1 && op->outputs[0] == ti &&
            op->n_inputs >= 1 && op->inputs[0] >= 0 && T(s, op->inputs[0])->data) {
            *deq = 1;
            return T(s, op->inputs[0]);
        }
    }
    return NULL;
}

/* Element i of a constant as float (dequantized with channel ch's parameters). */
static float const_value(const tx_tflite_tensor *t, int64_t i, int ch) {
    const uint8_t *p = t->data;
    float sc = t->q.n ? t->q.scale[t->q.n > 1 ? ch : 0] : 1.0f;
    int64_t zp = t->q.n ? t->q.zero_point[t->q.n > 1 ? ch : 0] : 0;
    switch (t->type) {
    case TX_TFL_FLOAT32: return rdf32(p + 4 * i);
    case TX_TFL_FLOAT16: return half_to_float((uint16_t)rd16(p + 2 * i));
    case TX_TFL_UINT8: return sc * (float)((int64_t)p[i] - zp);
    case TX_TFL_INT8: return sc * (float)((int64_t)(int8_t)p[i] - zp);
    case TX_TFL_INT32: return sc * (float)((int64_t)(int32_t)rd32(p + 4 * i) - zp);
    default: return 0.0f;
    }
}

static int const_type_ok(int type) {
    return type == TX_TFL_FLOAT32 || type == TX_TFL_FLOAT16 || type == TX_TFL_UINT8 || type == TX_TFL_INT8;
}

/* Constant int32 vector (axes, paddings, shapes). */
static int const_i32(const imp *s, int ti, int32_t *v, int cap, int *n) {
    if (ti < 0) return 0;
    const tx_tflite_tensor *t = T(s, ti);
    if (!t->data || (t->type != TX_TFL_INT32 && t->type != TX_TFL_INT64) || t->numel > cap) return 0;
    for (int64_t i = 0; i < t->numel; i++)
        v[i] = t->type == TX_TFL_INT32 ? (int32_t)rd32(t->data + 4 * i)
                                       : (int32_t)rd32(t->data + 8 * i); /* low word */
    *n = (int)t->numel;
    return 1;
}

/* CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED */
static int import_conv(imp *s, const tx_tflite_op *op, tx_err *err) {
    const int kind = op->builtin;
    const int fc = kind == TX_TFL_OP_FULLY_CONNECTED, dwc = kind == TX_TFL_OP_DEPTHWISE_CONV_2D;
    if (op->n_inputs < 2) return OPERR(s, err, TX_EFORMAT, "needs an input and weights");
    int x = input_node(s, op->inputs[0], 0, err);
    if (x < 0) return x;
    int wdeq = 0, bdeq = 0;
    const tx_tflite_tensor *W = const_of(s, op->inputs[1], &wdeq);
    const int has_bias = op->n_inputs > 2 && op->inputs[2] >= 0;
    const tx_tflite_tensor *B = has_bias ? const_of(s, op->inputs[2], &bdeq) : NULL;
    const tx_tflite_tensor *X = T(s, op->inputs[0]), *Y = T(s, op->outputs[0]);
    char b[96];
    if (!W) return OPERR(s, err, TX_EUNSUP, "weights '%s' are not constant", tname(s, op->inputs[1], b, sizeof b));
    if (has_bias && !B) return OPERR(s, err, TX_EUNSUP, "bias '%s' is not constant", tname(s, op->inputs[2], b, sizeof b));
    if (W->is_sparse || (B && B->is_sparse)) return OPERR(s, err, TX_EUNSUP, "sparse weights");
    if (!const_type_ok(W->type))
        return OPERR(s, err, TX_EUNSUP, "weights are %s", tx_tflite_type_name(W->type));
    if (W->q.details_type || (B && B->q.details_type))
        return OPERR(s, err, TX_EUNSUP, "custom (blockwise) weight quantization");
    const tx_node *xn = &s->m->nodes[x];
    tx_node nd = {0};
    int rc = set_out_type(s, &nd, Y, err);
    if (rc) return rc;
    const int quant = nd.dtype != TX_F32;
    const int c = xn->oc;
    int oc, kh = 1, kw = 1, ic;
    if (fc) {
        if (op->opt.fc.weights_format != 0)
            return OPERR(s, err, TX_EUNSUP, "shuffled weights format %d", op->opt.fc.weights_format);
        if (W->ndim != 2) return OPERR(s, err, TX_EFORMAT, "weights have %d dimensions, 2 expected", W->ndim);
        oc = W->shape[0];
        ic = W->shape[1];
        nd.act = op->opt.fc.activation;
    } else {
        if (W->ndim != 4) return OPERR(s, err, TX_EFORMAT, "weights have %d dimensions, 4 expected", W->ndim);
        kh = W->shape[1], kw = W->shape[2];
        if (dwc) {
            if (W->shape[0] != 1) return OPERR(s, err, TX_EFORMAT, "depthwise weights [%d, ...], [1, kh, kw, oc] "
                                               "expected", W->shape[0]);
            oc = W->shape[3];
            ic = 1;
            if (c <= 0 || oc % c != 0)
                return OPERR(s, err, TX_ESHAPE, "%d output channels is not a multiple of the %d input channels",
                             oc, c);
            int dm = op->opt.dwconv2d.depth_multiplier;
            if (dm > 0 && dm != oc / c)
                return OPERR(s, err, TX_EFORMAT, "depth_multiplier %d but weights give %d", dm, oc / c);
        } else {
            oc = W->shape[0];
            ic = W->shape[3];
            if (ic <= 0 || c % ic != 0)
                return OPERR(s, err, TX_ESHAPE, "weights take %d channels, the input has %d", ic, c);
        }
    }
    if (oc <= 0 || ic <= 0 || kh <= 0 || kw <= 0) return OPERR(s, err, TX_EFORMAT, "empty weights");
    if ((int64_t)kh * kw > (1 << 20)) return OPERR(s, err, TX_EUNSUP, "a %dx%d kernel", kh, kw);
    /* the weight quantization */
    const int wq = is8(W->type) && !wdeq;
    if (is8(W->type) && W->q.n < 1) return OPERR(s, err, TX_EFORMAT, "8-bit weights without quantization");
    const int chdim = fc ? 0 : dwc ? 3 : 0;
    if (W->q.n > 1 && W->q.quantized_dimension != chdim)
        return OPERR(s, err, TX_EUNSUP, "weights quantized along dimension %d (the output channels, %d, "
                     "expected)", W->q.quantized_dimension, chdim);
    if (quant) {
        if (!wq) return OPERR(s, err, TX_EUNSUP, "8-bit activations with %s weights", tx_tflite_type_name(W->type));
        if (X->type != Y->type)
            return OPERR(s, err, TX_EUNSUP, "input %s, output %s", tx_tflite_type_name(X->type),
                         tx_tflite_type_name(Y->type));
        if (B && B->type != TX_TFL_INT32)
            return OPERR(s, err, TX_EUNSUP, "bias is %s (INT32 expected)", tx_tflite_type_name(B->type));
        if (W->type == TX_TFL_UINT8 && W->q.n > 1)
            return OPERR(s, err, TX_EUNSUP, "per-channel uint8 weights");
        if (W->type == TX_TFL_INT8)
            for (int i = 0; i < W->q.n; i++)
                if (W->q.zero_point[i] != 0)
                    return OPERR(s, err, TX_EUNSUP, "int8 weights with zero point %lld (0 expected)",
                                 (long long)W->q.zero_point[i]);
    } else if (B && B->type == TX_TFL_INT32 && !(X->q.n >= 1 && W->q.n >= 1)) {
        return OPERR(s, err, TX_EUNSUP, "int32 bias without input/weight scales to dequantize it");
    }
    if (B && B->numel != oc) return OPERR(s, err, TX_EFORMAT, "bias has %lld values for %d outputs",
                                          (long long)B->numel, oc);
    /* the node */
    if (fc) {
        if (ic != c) {
            if ((int64_t)xn->oh * xn->ow * xn->oc != ic)
                return OPERR(s, err, TX_ESHAPE, "weights take %d features, the input is %dx%dx%d", ic, xn->oh,
                             xn->ow, xn->oc);
            tx_node fl = {.op = TX_OP_FLATTEN, .n_in = 1, .in = {x}, .dtype = xn->dtype,
                          .qscale = xn->qscale, .qzp = xn->qzp, .qmode = s->qmode};
            x = add(s, &fl, "flatten", NULL, err);
            if (x < 0) return x;
        }
        nd.op = TX_OP_LINEAR;
    } else {
        nd.op = TX_OP_CONV2D;
        const int pad = dwc ? op->opt.dwconv2d.padding : op->opt.conv2d.padding;
        nd.kh = kh, nd.kw = kw;
        nd.sh = dwc ? op->opt.dwconv2d.stride_h : op->opt.conv2d.stride_h;
        nd.sw = dwc ? op->opt.dwconv2d.stride_w : op->opt.conv2d.stride_w;
        nd.dh = dwc ? op->opt.dwconv2d.dilation_h : op->opt.conv2d.dilation_h;
        nd.dw = dwc ? op->opt.dwconv2d.dilation_w : op->opt.conv2d.dilation_w;
        nd.act = dwc ? op->opt.dwconv2d.activation : op->opt.conv2d.activation;
        tflite_pads(xn->oh, kh, nd.sh, nd.dh, pad, &nd.pad_t, &nd.pad_b);
        tflite_pads(xn->ow, kw, nd.sw, nd.dw, pad, &nd.pad_l, &nd.pad_r);
        nd.groups = dwc ? c : c / ic;
        if (quant && dwc && W->type == TX_TFL_UINT8 && W->q.quantized_dimension != 0)
            nd.qmode = TX_QMODE_TFLITE_REF; /* the delegate refuses this layer: TFLite's own runs */
    }
    if (nd.act < 0 || nd.act > TX_ACT_RELU6)
        return OPERR(s, err, TX_EUNSUP, "fused activation %s", tx_tflite_act_name(nd.act));
    nd.n_in = 1;
    nd.in[0] = x;
    nd.out_c = oc;
    nd.bias = B != NULL;
    const char *prefix = fc ? "fc" : dwc ? "dwconv" : "conv";
    int id = add(s, &nd, prefix, Y, err);
    if (id < 0) return id;
    tx_model *m = s->m;
    const int taps = kh * kw;
    const int64_t wn = (int64_t)oc * taps * ic;
    if (W->numel != wn) return OPERR(s, err, TX_EFORMAT, "weights have %lld values, %lld expected",
                                     (long long)W->numel, (long long)wn);
    const char *nn = m->nodes[id].name;
    if (quant) {
        int64_t wshape[4] = {oc, kh, kw, ic}, one = 1, ocs = oc, nsc = W->q.n;
        int pw, ps, pz, pb = -1;
        if (fc) wshape[1] = ic;
        if ((pw = tx_model_add_param(m, nn, "weight", W->type == TX_TFL_INT8 ? TX_I8 : TX_U8, fc ? 2 : 4, wshape,
                                     0, 0, err)) < 0 ||
            (ps = tx_model_add_param(m, nn, "weight_scale", TX_F32, 1, &nsc, 0, 0, err)) < 0 ||
            (pz = tx_model_add_param(m, nn, "weight_zp", TX_I32, 1, &one, 0, 0, err)) < 0 ||
            (B && (pb = tx_model_add_param(m, nn, "bias", TX_I32, 1, &ocs, 0, 0, err)) < 0))
            return tx_err_prefix(err, TX_ENOMEM, "%s: operator %d", s->name, s->oi);
        uint8_t *wd = m->params[pw].t.data;
        if (dwc) /* [1, kh, kw, oc] -> [oc, kh, kw, 1] */
            for (int o = 0; o < oc; o++)
                for (int t = 0; t < taps; t++) wd[(size_t)o * taps + t] = W->data[(size_t)t * oc + o];
        else
            memcpy(wd, W->data, (size_t)wn);
        float *sc = m->params[ps].t.data;
        for (int i = 0; i < W->q.n; i++) sc[i] = W->q.scale[i];
        ((int32_t *)m->params[pz].t.data)[0] = W->type == TX_TFL_UINT8 ? (int32_t)W->q.zero_point[0] : 0;
        if (B) memcpy(m->params[pb].t.data, B->data, (size_t)oc * 4);
        tx_node *n2 = &m->nodes[id];
        n2->n_param = 0;
        n2->param[n2->n_param++] = pw;
        n2->param[n2->n_param++] = ps;
        n2->param[n2->n_param++] = pz;
        if (B) n2->param[n2->n_param++] = pb;
        return id;
    }
    /* float graph: weights (and bias) dequantized into the parameters add_node created */
    const tx_node *n2 = &m->nodes[id];
    if (n2->n_param < (B ? 2 : 1)) return OPERR(s, err, TX_EINVAL, "float node without parameters");
    tx_tensor *wt = &m->params[n2->param[0]].t;
    if (wt->dtype != TX_F32 || tx_tensor_numel(wt) != wn)
        return OPERR(s, err, TX_EINVAL, "float weight parameter has %lld values, %lld expected",
                     (long long)tx_tensor_numel(wt), (long long)wn);
    float *wf = wt->data;
    for (int o = 0; o < oc; o++)
        for (int t = 0; t < taps; t++)
            for (int i = 0; i < ic; i++) {
                int64_t src = dwc ? (int64_t)t * oc + o : ((int64_t)o * taps + t) * ic + i;
                wf[((int64_t)o * taps + t) * ic + i] = const_value(W, src, W->q.n > 1 ? o : 0);
            }
    if (B) {
        tx_tensor *bt = &m->params[n2->param[1]].t;
        float *bf = bt->data;
        for (int o = 0; o < oc; o++) {
            if (B->type == TX_TFL_INT32) {
                double sw = W->q.scale[W->q.n > 1 ? o : 0], sx = X->q.scale[0];
                bf[o] = (float)((double)(int32_t)rd32(B->data + 4 * o) * sx * sw);
            } else if (const_type_ok(B->type)) {
                bf[o] = const_value(B, o, B->q.n > 1 ? o : 0);
            } else {
                return OPERR(s, err, TX_EUNSUP, "bias is %s", tx_tflite_type_name(B->type));
            }
        }
    }
    return id;
}

/* Maps the op's output tensor to an existing node (no computation). */
static int alias(imp *s, const tx_tflite_op *op, int node) {
    s->node_of[op->outputs[0]] = node;
    return node;
}

static int same_q(const tx_tflite_tensor *a, const tx_tflite_tensor *b) {
    if (a->type != b->type) return 0;
    if (!is8(a->type)) return 1;
    return a->q.n == b->q.n && a->q.n >= 1 && a->q.scale[0] == b->q.scale[0] &&
           a->q.zero_point[0] == b->q.zero_point[0];
}

static const int32_t SUPPORTED[] = {
    TX_TFL_OP_CONV_2D, TX_TFL_OP_DEPTHWISE_CONV_2D, TX_TFL_OP_FULLY_CONNECTED, TX_TFL_OP_ADD, TX_TFL_OP_MUL,
    TX_TFL_OP_AVERAGE_POOL_2D, TX_TFL_OP_MAX_POOL_2D, TX_TFL_OP_MEAN, TX_TFL_OP_RESHAPE, TX_TFL_OP_SQUEEZE,
    TX_TFL_OP_SOFTMAX, TX_TFL_OP_LOGISTIC, TX_TFL_OP_CONCATENATION, TX_TFL_OP_PAD, TX_TFL_OP_QUANTIZE,
    TX_TFL_OP_DEQUANTIZE, TX_TFL_OP_HARD_SWISH, TX_TFL_OP_RELU, TX_TFL_OP_RELU6,
};

static int import_op(imp *s, const tx_tflite_op *op, tx_err *err) {
    const int code = op->builtin;
    int known = 0;
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED; i++) known |= SUPPORTED[i] == code;
    if (!known) {
        char list[512];
        size_t p = 0;
        for (size_t i = 0; i < sizeof SUPPORTED / sizeof *SUPPORTED && p < sizeof list; i++)
            p += (size_t)snprintf(list + p, sizeof list - p, "%s%s", i ? ", " : "", tx_tflite_op_name(SUPPORTED[i]));
        const tx_tflite_opcode *oc = &s->tf->opcodes[op->opcode_index];
        char custom[96] = "";
        if (oc->custom) {
            char safe[64];
            tx_tflite_safe_name(safe, sizeof safe, oc->custom);
            snprintf(custom, sizeof custom, " '%s'", safe);
        }
        return tx_err_set(err, TX_EUNSUP, "%s: operator %d (%s%s) is not supported by taxon's TFLite import "
                          "(supported: %s)", s->name, s->oi, code >= TX_TFL_OP_COUNT ? "code" : tx_tflite_op_name(code),
                          custom, list);
    }
    if (op->n_outputs != 1) return OPERR(s, err, TX_EUNSUP, "%d outputs (one expected)", op->n_outputs);
    if (op->n_inputs < 1) return OPERR(s, err, TX_EFORMAT, "no inputs");
    const tx_tflite_tensor *Y = T(s, op->outputs[0]);
    switch (code) {
    case TX_TFL_OP_CONV_2D:
    case TX_TFL_OP_DEPTHWISE_CONV_2D:
    case TX_TFL_OP_FULLY_CONNECTED: {
        int id = import_conv(s, op, err);
        if (id >= 0) s->node_of[op->outputs[0]] = id;
        return id;
    }
    default: break;
    }
    if (code == TX_TFL_OP_DEQUANTIZE && op->inputs[0] >= 0 && T(s, op->inputs[0])->data)
        return 0; /* a constant (float16 / 8-bit weights): its readers take it (const_of) */
    int x = input_node(s, op->inputs[0], 0, err);
    if (x < 0) return x;
    const tx_tflite_tensor *X = T(s, op->inputs[0]);
    const tx_node *xn = &s->m->nodes[x];
    tx_node nd = {.n_in = 1, .in = {x}};
    int rc = set_out_type(s, &nd, Y, err);
    if (rc) return rc;
    const int quant = nd.dtype != TX_F32;
    /* ops other than (DE)QUANTIZE keep the activation type */
    if (code != TX_TFL_OP_QUANTIZE && code != TX_TFL_OP_DEQUANTIZE && quant != (xn->dtype != TX_F32))
        return OPERR(s, err, TX_EUNSUP, "input is %s but output %s", tx_tflite_type_name(X->type),
                     tx_tflite_type_name(Y->type));
    int32_t v[16];
    int nv = 0;
    const char *prefix = NULL;
    switch (code) {
    case TX_TFL_OP_ADD:
    case TX_TFL_OP_MUL: {
        if (op->n_inputs != 2) return OPERR(s, err, TX_EFORMAT, "%d inputs (2 expected)", op->n_inputs);
        int y2 = input_node(s, op->inputs[1], 1, err);
        if (y2 < 0) return y2;
        const tx_node *yn = &s->m->nodes[y2];
        if (T(s, op->inputs[1])->type != X->type) return OPERR(s, err, TX_EUNSUP, "inputs of different types");
        int same = xn->oh == yn->oh && xn->ow == yn->ow && xn->oc == yn->oc;
        if (!same && code == TX_TFL_OP_MUL && xn->oh * xn->ow == 1 && xn->oc == yn->oc) {
            int t = x; /* put the [1, 1, c] gate second */
            x = y2;
            y2 = t;
        } else if (!same && !(code == TX_TFL_OP_MUL && yn->oh * yn->ow == 1 && xn->oc == yn->oc)) {
            return OPERR(s, err, TX_EUNSUP, "broadcast of %dx%dx%d and %dx%dx%d (equal shapes, or a "
                         "per-channel multiplier, are supported)", xn->oh, xn->ow, xn->oc, yn->oh, yn->ow, yn->oc);
        }
        nd.op = code == TX_TFL_OP_ADD ? TX_OP_ADD : TX_OP_MUL;
        nd.n_in = 2;
        nd.in[0] = x;
        nd.in[1] = y2;
        nd.act = op->opt.activation;
        prefix = code == TX_TFL_OP_ADD ? "add" : "mul";
        break;
    }
    case TX_TFL_OP_AVERAGE_POOL_2D:
    case TX_TFL_OP_MAX_POOL_2D: {
        const tx_tflite_pool2d_opts *p = &op->opt.pool2d;
        nd.op = code == TX_TFL_OP_AVERAGE_POOL_2D ? TX_OP_AVGPOOL : TX_OP_MAXPOOL;
        nd.kh = p->filter_h, nd.kw = p->filter_w, nd.sh = p->stride_h, nd.sw = p->stride_w;
        tflite_pads(xn->oh, nd.kh, nd.sh, 1, p->padding, &nd.pad_t, &nd.pad_b);
        tflite_pads(xn->ow, nd.kw, nd.sw, 1, p->padding, &nd.pad_l, &nd.pad_r);
        nd.count_include_pad = 0;
        nd.act = p->activation;
        prefix = code == TX_TFL_OP_AVERAGE_POOL_2D ? "avgpool" : "maxpool";
        break;
    }
    case TX_TFL_OP_MEAN: {
        if (op->n_inputs < 2 || !const_i32(s, op->inputs[1], v, 16, &nv))
            return OPERR(s, err, TX_EUNSUP, "axes are not a constant int32 vector");
        int seen[4] = {0};
        for (int i = 0; i < nv; i++) {
            int a = v[i] < 0 ? v[i] + X->ndim : v[i];
            if (a < 0 || a >= X->ndim || X->ndim != 4) return OPERR(s, err, TX_EUNSUP, "axis %d of a %d-D input", v[i], X->ndim);
            seen[a] = 1;
        }
        if (nv < 1 || seen[0] || seen[3] || !seen[1] || !seen[2])
            return OPERR(s, err, TX_EUNSUP, "mean over axes other than height and width (1, 2)");
        nd.op = TX_OP_GLOBAL_AVGPOOL;
        prefix = "mean";
        break;
    }
    case TX_TFL_OP_RESHAPE:
    case TX_TFL_OP_SQUEEZE: {
        int h, w, c;
        if (Y->numel != X->numel) return OPERR(s, err, TX_ESHAPE, "element count changes");
        if (!sample_shape(Y, &h, &w, &c))
            return OPERR(s, err, TX_EUNSUP, "output shape of %d dimensions with batch %d (batch 1 expected)",
                         Y->ndim, Y->ndim ? Y->shape[0] : 0);
        if (quant && !same_q(X, Y)) return OPERR(s, err, TX_EUNSUP, "output quantization differs from the input's");
        if (h == xn->oh && w == xn->ow && c == xn->oc) return alias(s, op, x);
        if (h == 1 && w == 1) {
            nd.op = TX_OP_FLATTEN;
            prefix = "flatten";
        } else {
            nd.op = TX_OP_RESHAPE;
            nd.rh = h, nd.rw = w, nd.rc = c;
            prefix = "reshape";
        }
        break;
    }
    case TX_TFL_OP_SOFTMAX:
        nd.op = TX_OP_SOFTMAX;
        nd.beta = op->opt.beta;
        if (!(nd.beta > 0) || !isfinite(nd.beta)) return OPERR(s, err, TX_EUNSUP, "beta %g", (double)nd.beta);
        if (!quant && nd.beta != 1.0f) return OPERR(s, err, TX_EUNSUP, "float softmax with beta %g", (double)nd.beta);
        prefix = "softmax";
        break;
    case TX_TFL_OP_LOGISTIC: nd.op = TX_OP_SIGMOID; prefix = "sigmoid"; break;
    case TX_TFL_OP_HARD_SWISH: nd.op = TX_OP_HARDSWISH; prefix = "hardswish"; break;
    case TX_TFL_OP_RELU: nd.op = TX_OP_RELU; prefix = "relu"; break;
    case TX_TFL_OP_RELU6: nd.op = TX_OP_RELU6; prefix = "relu6"; break;
    case TX_TFL_OP_CONCATENATION: {
        int axis = op->opt.axis < 0 ? op->opt.axis + X->ndim : op->opt.axis;
        if (axis != X->ndim - 1) return OPERR(s, err, TX_EUNSUP, "concatenation along axis %d (only the last, "
                                              "channels, is supported)", op->opt.axis);
        if (op->opt.activation != TX_TFL_ACT_NONE)
            return OPERR(s, err, TX_EUNSUP, "fused activation %s", tx_tflite_act_name(op->opt.activation));
        if (op->n_inputs > TX_MAX_NODE_INPUTS)
            return OPERR(s, err, TX_EUNSUP, "%d inputs (at most %d)", op->n_inputs, TX_MAX_NODE_INPUTS);
        nd.op = TX_OP_CONCAT;
        nd.n_in = op->n_inputs;
        for (int k = 0; k < op->n_inputs; k++) {
            int id = input_node(s, op->inputs[k], k, err);
            if (id < 0) return id;
            if (T(s, op->inputs[k])->type != X->type) return OPERR(s, err, TX_EUNSUP, "inputs of different types");
            nd.in[k] = id;
        }
        prefix = "concat";
        break;
    }
    case TX_TFL_OP_PAD: {
        if (op->n_inputs < 2 || !const_i32(s, op->inputs[1], v, 16, &nv) || nv != 2 * X->ndim || X->ndim != 4)
            return OPERR(s, err, TX_EUNSUP, "paddings are not a constant [4, 2] int32 tensor of a 4-D input");
        if (v[0] || v[1] || v[6] || v[7]) return OPERR(s, err, TX_EUNSUP, "padding of the batch or channel axis");
        for (int i = 2; i < 6; i++)
            if (v[i] < 0 || v[i] > 4096) return OPERR(s, err, TX_EFORMAT, "padding %d", v[i]);
        if (quant && !same_q(X, Y)) return OPERR(s, err, TX_EUNSUP, "output quantization differs from the input's");
        nd.op = TX_OP_PAD;
        nd.pad_t = v[2], nd.pad_b = v[3], nd.pad_l = v[4], nd.pad_r = v[5];
        prefix = "pad";
        break;
    }
    case TX_TFL_OP_QUANTIZE:
        if (!quant) return alias(s, op, x); /* float graph: values stay real */
        if (xn->dtype == nd.dtype && xn->qscale == nd.qscale && xn->qzp == nd.qzp) return alias(s, op, x);
        nd.op = TX_OP_QUANTIZE;
        prefix = "quantize";
        break;
    case TX_TFL_OP_DEQUANTIZE:
        if (xn->dtype == TX_F32) return alias(s, op, x);
        nd.op = TX_OP_DEQUANTIZE;
        nd.dtype = TX_F32;
        prefix = "dequantize";
        break;
    default:
        return tx_err_set(err, TX_EUNSUP, "%s: operator %d (%s) is not supported", s->name, s->oi,
                          tx_tflite_op_name(code));
    }
    if (nd.act < 0 || nd.act > TX_ACT_RELU6)
        return OPERR(s, err, TX_EUNSUP, "fused activation %s", tx_tflite_act_name(nd.act));
    int id = add(s, &nd, prefix, Y, err);
    if (id < 0) return id;
    s->node_of[op->outputs[0]] = id;
    return id;
}

static void set_provenance(imp *s, size_t file_size) {
    char buf[1024];
    const char *base = strrchr(s->name, '/');
    base = base ? base + 1 : s->name;
    char safe[200], desc[200];
    tx_tflite_safe_name(safe, sizeof safe, base);
    tx_tflite_safe_name(desc, sizeof desc, s->tf->description);
    /* JSON-escape: safe names hold printable ASCII only; drop quotes and backslashes */
    for (char *p = safe; *p; p++) if (*p == '"' || *p == '\\') *p = '_';
    for (char *p = desc; *p; p++) if (*p == '"' || *p == '\\') *p = '_';
    snprintf(buf, sizeof buf,
             "{\"imported_from\": \"tflite\", \"file\": \"%s\", \"file_bytes\": %zu, \"description\": \"%s\", "
             "\"graph\": \"%s\", \"qmode\": \"%s\"}",
             safe, file_size, desc, s->o->float_graph ? "float" : "integer", tx_qmode_name(s->qmode));
    tx_model_set_provenance(s->m, buf);
}

int tx_tflite_to_model(const tx_tflite_model *tf, const char *name,
                       const tx_tflite_import_opts *opts, tx_model **out, tx_err *err) {
    *out = NULL;
    static const tx_tflite_import_opts defaults = {0};
    if (!opts) opts = &defaults;
    if (opts->qmode != TX_QMODE_XNNPACK && opts->qmode != TX_QMODE_TFLITE_REF)
        return tx_err_set(err, TX_EINVAL, "%s: unknown qmode %d", name, opts->qmode);
    if (tf->n_subgraphs != 1)
        return tx_err_set(err, TX_EUNSUP, "%s: %d subgraphs (one expected)", name, tf->n_subgraphs);
    const tx_tflite_subgraph *g = &tf->subgraphs[0];
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return tx_err_set(err, TX_EUNSUP, "%s: %d inputs and %d outputs (one image input and one output "
                          "expected)", name, g->n_inputs, g->n_outputs);
    imp s = {.tf = tf, .g = g, .name = name, .o = opts, .oi = 0, .qmode = opts->qmode};
    const tx_tflite_tensor *in = &g->tensors[g->inputs[0]];
    char b[96];
    tx_tflite_safe_name(b, sizeof b, in->name);
    if (in->ndim != 4 || in->shape[0] != 1 || in->shape[1] < 1 || in->shape[2] < 1 || in->shape[1] > 16384 ||
        in->shape[2] > 16384 || (in->shape[3] != 1 && in->shape[3] != 3))
        return tx_err_set(err, TX_EUNSUP, "%s: input '%s' must be [1, H, W, 1 or 3] (an image, sides up to 16384)", name, b);
    if (in->type != TX_TFL_FLOAT32 && !is8(in->type))
        return tx_err_set(err, TX_EUNSUP, "%s: input '%s' is %s (float32, uint8 or int8 expected)", name, b,
                          tx_tflite_type_name(in->type));
    if (is8(in->type) && (in->q.n != 1 || !(in->q.scale[0] > 0)))
        return tx_err_set(err, TX_EUNSUP, "%s: 8-bit input '%s' without per-tensor quantization", name, b);
    if (in->data) return tx_err_set(err, TX_EFORMAT, "%s: input '%s' is a constant", name, b);
    s.node_of = malloc((size_t)g->n_tensors * sizeof(int));
    uint8_t *needed = calloc((size_t)g->n_ops + 1, 1);
    uint8_t *live = calloc((size_t)g->n_tensors, 1);
    if (!s.node_of || !needed || !live) {
        free(s.node_of); free(needed); free(live);
        return tx_err_set(err, TX_ENOMEM, "%s: out of memory", name);
    }
    for (int i = 0; i < g->n_tensors; i++) s.node_of[i] = -1;
    /* operators that lead to the output */
    live[g->outputs[0]] = 1;
    for (int i = g->n_ops - 1; i >= 0; i--) {
        const tx_tflite_op *op = &g->ops[i];
        int any = 0;
        for (int k = 0; k < op->n_outputs; k++) any |= live[op->outputs[k]];
        if (!any) continue;
        needed[i] = 1;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0) live[op->inputs[k]] = 1;
    }
    int rc = TX_OK;
    tx_model *m = s.m = tx_model_new("tflite");
    if (!m) rc = tx_err_set(err, TX_ENOMEM, "%s: out of memory", name);
    if (!rc) {
        tx_node nd = {.op = TX_OP_INPUT, .oh = in->shape[1], .ow = in->shape[2], .oc = in->shape[3]};
        snprintf(nd.name, sizeof nd.name, "input");
        nd.qmode = s.qmode;
        if (is8(in->type) && !opts->float_graph) {
            nd.dtype = in->type == TX_TFL_INT8 ? TX_I8 : TX_U8;
            nd.qscale = in->q.scale[0];
            nd.qzp = (int32_t)in->q.zero_point[0];
        }
        int id = tx_g_node(m, &nd, err);
        if (id < 0) rc = tx_err_prefix(err, id, "%s: input", name);
        else s.node_of[g->inputs[0]] = id;
    }
    for (int i = 0; !rc && i < g->n_ops; i++) {
        if (!needed[i]) continue;
        s.oi = i;
        int id = import_op(&s, &g->ops[i], err);
        if (id < 0) rc = id;
    }
    int out_node = rc ? -1 : s.node_of[g->outputs[0]];
    if (!rc && out_node != m->n_nodes - 1)
        rc = tx_err_set(err, TX_EUNSUP, "%s: the output is not computed by the last operator", name);
    if (!rc && out_node == 0) rc = tx_err_set(err, TX_EUNSUP, "%s: the graph has no operators", name);
    if (!rc) {
        const tx_node *o = &m->nodes[out_node];
        if (o->oh != 1 || o->ow != 1)
            rc = tx_err_set(err, TX_EUNSUP, "%s: the output is %dx%dx%d per image (a vector of class scores "
                            "or features expected)", name, o->oh, o->ow, o->oc);
    }
    /* probabilities, the head, the feature node */
    int probs = 0, head = -1;
    if (!rc) {
        int j = out_node;
        for (;;) {
            const tx_node *nd = &m->nodes[j];
            if (nd->op == TX_OP_SOFTMAX) probs = 1;
            if (nd->op == TX_OP_SOFTMAX || nd->op == TX_OP_FLATTEN || nd->op == TX_OP_RESHAPE ||
                nd->op == TX_OP_QUANTIZE || nd->op == TX_OP_DEQUANTIZE || nd->op == TX_OP_DROPOUT) {
                j = nd->in[0];
                continue;
            }
            if (nd->op == TX_OP_LINEAR || nd->op == TX_OP_CONV2D) head = j;
            break;
        }
    }
    /* labels */
    char **names = NULL;
    int n_names = 0;
    const int n_out = rc ? 0 : m->nodes[out_node].oc;
    if (!rc && opts->labels) {
        uint8_t *txt = NULL;
        size_t len = 0;
        rc = tx_read_file(opts->labels, &txt, &len, err);
        if (!rc) rc = tx_labels_parse((const char *)txt, len, opts->labels, &names, &n_names, err);
        free(txt);
        if (!rc && n_names != n_out)
            rc = tx_err_set(err, TX_EINVAL, "%s: %d labels, but %s has %d outputs", opts->labels, n_names, name,
                            n_out);
    } else if (!rc && tf->used_size < tf->size) {
        char *txt = NULL, fname[128];
        size_t len = 0;
        rc = tx_zip_find_labels(tf->buf, tf->size, tf->used_size, name, &txt, &len, fname, sizeof fname, err);
        if (!rc && txt) {
            char where[400];
            snprintf(where, sizeof where, "%s: label file '%s'", name, fname);
            rc = tx_labels_parse(txt, len, where, &names, &n_names, err);
            if (!rc && n_names != n_out) { /* not the class list: ignore it */
                tx_labels_free(names, n_names);
                names = NULL;
                n_names = 0;
            }
        }
        free(txt);
    }
    if (!rc) rc = tx_model_set_classes(m, n_out, (const char *const *)names, err);
    tx_labels_free(names, n_names);
    if (!rc) {
        m->output_probs = probs;
        if (!probs && !m->class_names) {
            m->feature_node = out_node; /* an embedding model */
            snprintf(m->arch, sizeof m->arch, "tflite-embedding");
        } else {
            m->feature_node = head > 0 ? m->nodes[head].in[0] : 0;
            while (m->feature_node > 0 && (m->nodes[m->feature_node].op == TX_OP_FLATTEN ||
                                           m->nodes[m->feature_node].op == TX_OP_RESHAPE))
                m->feature_node = m->nodes[m->feature_node].in[0];
        }
        /* preprocessing */
        tx_preproc_default(&m->pp, in->shape[1], in->shape[2], in->shape[3]);
        if (is8(in->type)) {
            float sc = in->q.scale[0];
            float zp = (float)in->q.zero_point[0] + (in->type == TX_TFL_INT8 ? 128.0f : 0.0f);
            for (int c = 0; c < 3; c++) {
                m->pp.mean[c] = zp / 255.0f;
                m->pp.std[c] = 1.0f / (255.0f * sc);
            }
        } else {
            float mean[3], sd[3];
            int nn = 0;
            int r = tx_tflite_input_normalization(tf, mean, sd, &nn, name, err);
            if (r < 0) rc = r;
            for (int c = 0; c < 3; c++) {
                m->pp.mean[c] = r == 1 ? mean[nn == 3 ? c : 0] / 255.0f : 0.5f;
                m->pp.std[c] = r == 1 ? sd[nn == 3 ? c : 0] / 255.0f : 0.5f;
            }
        }
        if (!rc) rc = tx_preproc_check(&m->pp, name, err);
    }
    if (!rc) {
        set_provenance(&s, tf->size);
        rc = tx_model_prepare(m, err);
        if (rc) rc = tx_err_prefix(err, rc, "%s", name);
    }
    free(s.node_of);
    free(needed);
    free(live);
    if (rc) {
        tx_model_free(m);
        return rc;
    }
    *out = m;
    return TX_OK;
}

int tx_tflite_import_mem(const uint8_t *buf, size_t size, const char *name,
                         const tx_tflite_import_opts *opts, tx_model **out, tx_err *err) {
    *out = NULL;
    tx_tflite_model tf;
    int rc = tx_tflite_parse(buf, size, name, &tf, err);
    if (rc) return rc;
    rc = tx_tflite_to_model(&tf, name, opts, out, err);
    tx_tflite_free(&tf);
    return rc;
}

int tx_tflite_import(const char *path, const tx_tflite_import_opts *opts, tx_model **out,
                     tx_err *err) {
    *out = NULL;
    tx_tflite_model tf;
    int rc = tx_tflite_load(path, &tf, err);
    if (rc) return rc;
    rc = tx_tflite_to_model(&tf, path, opts, out, err);
    tx_tflite_free(&tf);
    return rc;
}

int tx_model_open(const char *path, const tx_tflite_import_opts *opts, tx_model **out,
                  tx_err *err) {
    *out = NULL;
    if (tx_file_is_tflite(path)) return tx_tflite_import(path, opts, out, err);
    if (opts && opts->float_graph)
        return tx_err_set(err, TX_EINVAL, "%s: --float applies to .tflite files only", path);
    int rc = tx_model_load(path, out, err);
    if (rc || !opts || !opts->labels) return rc;
    uint8_t *txt = NULL;
    size_t len = 0;
    char **names = NULL;
    int n = 0;
    rc = tx_read_file(opts->labels, &txt, &len, err);
    if (!rc) rc = tx_labels_parse((const char *)txt, len, opts->labels, &names, &n, err);
    free(txt);
    if (!rc && n != (*out)->num_classes)
        rc = tx_err_set(err, TX_EINVAL, "%s: %d labels, but %s has %d classes", opts->labels, n, path,
                        (*out)->num_classes);
    if (!rc) rc = tx_model_set_classes(*out, n, (const char *const *)names, err);
    tx_labels_free(names, n);
    if (rc) {
        tx_model_free(*out);
        *out = NULL;
    }
    return rc;
}
