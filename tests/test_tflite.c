/* test_tflite.c - the .tflite reader: tiny models built here byte by byte (every
 * field checked after parsing), hand-made malformed FlatBuffers (each must fail with
 * a message naming the file and the problem), semantic errors caught by validation,
 * the real models in ../shared/models (known facts, operator histograms, truncation
 * at many lengths, random corruption), and the decode budget against aliasing. */
#include "io/tflite.h"
#include "testutil.h"

#include <stdint.h>

/* ---- a minimal FlatBuffer writer -------------------------------------------------
 * Objects are written front to back: a parent first with placeholder reference slots,
 * its children after it, then the slots patched (references point forward, as the
 * format requires). Every table field sits in its own 8-byte slot. */

typedef struct { uint8_t *b; size_t n, cap; } fbw;

static size_t w_grow(fbw *f, size_t k) {
    if (f->n + k > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->n + k) cap *= 2;
        f->b = realloc(f->b, cap);
        memset(f->b + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
    size_t at = f->n;
    f->n += k;
    return at;
}
static void w_align(fbw *f, size_t a) { while (f->n % a) w_grow(f, 1); }
static void w16(fbw *f, size_t at, uint16_t v) { f->b[at] = (uint8_t)v; f->b[at + 1] = (uint8_t)(v >> 8); }
static void w32(fbw *f, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) f->b[at + i] = (uint8_t)(v >> (8 * i));
}
static void w64(fbw *f, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) f->b[at + i] = (uint8_t)(v >> (8 * i));
}
static uint32_t r32(const uint8_t *b) {
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

enum { F_REF = 0 }; /* size 0 marks a reference field */
typedef struct { int id, size; uint64_t v; } fld;

/* Writes vtable + table; slot[k] receives the position of field k. Returns the table. */
static size_t w_table(fbw *f, int n, const fld *fl, size_t *slot, size_t *vtpos) {
    int maxid = -1;
    for (int k = 0; k < n; k++) if (fl[k].id > maxid) maxid = fl[k].id;
    w_align(f, 4);
    size_t vts = 4 + 2 * (size_t)(maxid + 1);
    size_t vt = w_grow(f, vts);
    w_align(f, 8);
    size_t t = w_grow(f, 4 + 8 * (size_t)n);
    w16(f, vt, (uint16_t)vts);
    w16(f, vt + 2, (uint16_t)(4 + 8 * n));
    w32(f, t, (uint32_t)(t - vt));
    for (int k = 0; k < n; k++) {
        size_t fo = 4 + 8 * (size_t)k;
        w16(f, vt + 4 + 2 * (size_t)fl[k].id, (uint16_t)fo);
        switch (fl[k].size) {
        case 1: f->b[t + fo] = (uint8_t)fl[k].v; break;
        case 4: w32(f, t + fo, (uint32_t)fl[k].v); break;
        case 8: w64(f, t + fo, fl[k].v); break;
        }
        if (slot) slot[k] = t + fo;
    }
    if (vtpos) *vtpos = vt;
    return t;
}
static void w_ref(fbw *f, size_t slot, size_t target) { w32(f, slot, (uint32_t)(target - slot)); }
/* A vector of n elements of esz bytes (elements aligned to 8); returns its length word. */
static size_t w_vec(fbw *f, uint32_t n, size_t esz, const void *data) {
    while ((f->n + 4) % 8) w_grow(f, 1);
    size_t v = w_grow(f, 4 + n * esz);
    w32(f, v, n);
    if (data && n) memcpy(f->b + v + 4, data, n * esz);
    return v;
}
static size_t w_ivec(fbw *f, uint32_t n, const int32_t *d) {
    size_t v = w_vec(f, n, 4, NULL);
    for (uint32_t i = 0; i < n; i++) w32(f, v + 4 + 4 * i, (uint32_t)d[i]);
    return v;
}
static size_t w_fvec(fbw *f, uint32_t n, const float *d) {
    size_t v = w_vec(f, n, 4, NULL);
    for (uint32_t i = 0; i < n; i++) { uint32_t u; memcpy(&u, &d[i], 4); w32(f, v + 4 + 4 * i, u); }
    return v;
}
static size_t w_lvec(fbw *f, uint32_t n, const int64_t *d) {
    size_t v = w_vec(f, n, 8, NULL);
    for (uint32_t i = 0; i < n; i++) w64(f, v + 4 + 8 * i, (uint64_t)d[i]);
    return v;
}
static size_t w_str(fbw *f, const char *s) {
    size_t len = strlen(s);
    w_align(f, 4);
    size_t v = w_grow(f, 4 + len + 1);
    w32(f, v, (uint32_t)len);
    memcpy(f->b + v + 4, s, len + 1);
    return v;
}

/* ---- the tiny model -------------------------------------------------------------- */
/* One CONV_2D: input 'input' UINT8 [1,4,4,2] -> 'output' UINT8 [1,4,4,3], weights
 * 'conv/weights' UINT8 [3,1,1,2] (buffer 2), bias 'conv/bias' INT32 [3] (buffer 3). */

typedef struct {
    uint32_t version;
    int8_t dep_code;            /* deprecated_builtin_code */
    int32_t builtin_code;       /* INT32_MIN: field absent */
    const char *custom;
    uint32_t w_buffer;          /* weights tensor's buffer index */
    uint32_t opcode_index;
    int32_t in1, in2;           /* op inputs 1 and 2 (weights, bias) */
    int n_wscale;               /* weights: number of scales (1, or per-channel) */
    int n_wzero;                /* weights: number of zero points */
    int32_t wqdim;
    float wscale0;
    int64_t wzero0;
    uint8_t opt_type;
    int32_t stride_w;
    int w_data_len;             /* bytes in buffer 2 */
    int ext_bias;               /* bias bytes stored after the flatbuffer (offset/size) */
    uint64_t ext_off_delta;     /* added to that offset */
    uint64_t ext_off_abs;       /* if non-zero: the offset itself */
    int8_t w_type;
    int32_t w_dim0;
} tiny_cfg;

typedef struct {
    size_t root, root_vt, wshape, in_name, desc, opt_table, opt_vt, tensors_vec, op_table,
        bias_data_ext;
    size_t root_slot_opcodes;
} tiny_pos;

static tiny_cfg tiny_default(void) {
    tiny_cfg c;
    memset(&c, 0, sizeof c);
    c.version = 3;
    c.dep_code = TX_TFL_OP_CONV_2D;
    c.builtin_code = TX_TFL_OP_CONV_2D;
    c.w_buffer = 2;
    c.in1 = 1;
    c.in2 = 2;
    c.n_wscale = 1;
    c.n_wzero = -1; /* = n_wscale */
    c.wscale0 = 0.02f;
    c.wzero0 = 120;
    c.opt_type = TX_TFL_OPT_CONV2D;
    c.stride_w = 1;
    c.w_data_len = 6;
    c.w_type = TX_TFL_UINT8;
    c.w_dim0 = 3;
    return c;
}

static const uint8_t tiny_w[6] = {1, 2, 3, 250, 251, 252};
static const int32_t tiny_bias[3] = {-7, 0, 123456};

static size_t tiny_tensor(fbw *f, const char *name, int8_t type, uint32_t buffer, int nd,
                          const int32_t *shape, int nq, const float *scale, int nz,
                          const int64_t *zero, int32_t qdim, size_t *shape_vec, size_t *name_str) {
    size_t s[5];
    fld fl[5] = {{0, F_REF, 0}, {1, 1, (uint8_t)type}, {2, 4, buffer}, {3, F_REF, 0},
                 {4, F_REF, 0}};
    size_t t = w_table(f, nq >= 0 ? 5 : 4, fl, s, NULL);
    size_t v = w_ivec(f, (uint32_t)nd, shape);
    w_ref(f, s[0], v);
    if (shape_vec) *shape_vec = v;
    size_t nm = w_str(f, name);
    w_ref(f, s[3], nm);
    if (name_str) *name_str = nm;
    if (nq >= 0) {
        size_t qs[3];
        fld qf[3] = {{2, F_REF, 0}, {3, F_REF, 0}, {6, 4, (uint32_t)qdim}};
        size_t q = w_table(f, 3, qf, qs, NULL);
        w_ref(f, s[4], q);
        w_ref(f, qs[0], w_fvec(f, (uint32_t)nq, scale));
        w_ref(f, qs[1], w_lvec(f, (uint32_t)nz, zero));
    }
    return t;
}

static uint8_t *build_tiny(const tiny_cfg *c, size_t *size, tiny_pos *pos) {
    fbw f = {0};
    tiny_pos ps;
    memset(&ps, 0, sizeof ps);
    w_grow(&f, 8);
    memcpy(f.b + 4, "TFL3", 4);
    /* Model */
    size_t ms[5];
    fld mf[5] = {{0, 4, c->version}, {1, F_REF, 0}, {2, F_REF, 0}, {3, F_REF, 0}, {4, F_REF, 0}};
    ps.root = w_table(&f, 5, mf, ms, &ps.root_vt);
    ps.root_slot_opcodes = ms[1];
    w32(&f, 0, (uint32_t)ps.root);
    ps.desc = w_str(&f, "tiny test model");
    w_ref(&f, ms[3], ps.desc);
    /* operator codes */
    size_t ocv = w_vec(&f, 1, 4, NULL);
    w_ref(&f, ms[1], ocv);
    {
        fld of[3];
        int n = 0;
        size_t os[3];
        of[n++] = (fld){0, 1, (uint8_t)c->dep_code};
        if (c->custom) of[n++] = (fld){1, F_REF, 0};
        if (c->builtin_code != INT32_MIN) of[n++] = (fld){3, 4, (uint32_t)c->builtin_code};
        size_t oc = w_table(&f, n, of, os, NULL);
        w_ref(&f, ocv + 4, oc);
        if (c->custom) w_ref(&f, os[1], w_str(&f, c->custom));
    }
    /* buffers: 0 and 1 empty, 2 the weights, 3 the bias */
    size_t bv = w_vec(&f, 4, 4, NULL);
    w_ref(&f, ms[4], bv);
    size_t bias_slots[3] = {0, 0, 0};
    for (int i = 0; i < 4; i++) {
        size_t s[3];
        if (i < 2) {
            w_ref(&f, bv + 4 + 4 * (size_t)i, w_table(&f, 0, NULL, NULL, NULL));
        } else if (i == 2) {
            fld bf[1] = {{0, F_REF, 0}};
            w_ref(&f, bv + 12, w_table(&f, 1, bf, s, NULL));
            uint8_t wd[64] = {0};
            memcpy(wd, tiny_w, sizeof tiny_w);
            w_ref(&f, s[0], w_vec(&f, (uint32_t)c->w_data_len, 1, wd));
        } else if (!c->ext_bias) {
            fld bf[1] = {{0, F_REF, 0}};
            w_ref(&f, bv + 16, w_table(&f, 1, bf, s, NULL));
            w_ref(&f, s[0], w_vec(&f, 12, 1, NULL));
            for (int k = 0; k < 3; k++) w32(&f, f.n - 12 + 4 * (size_t)k, (uint32_t)tiny_bias[k]);
        } else {
            fld bf[2] = {{1, 8, 0}, {2, 8, 12}};
            w_ref(&f, bv + 16, w_table(&f, 2, bf, bias_slots, NULL));
        }
    }
    /* subgraph */
    size_t sgv = w_vec(&f, 1, 4, NULL);
    w_ref(&f, ms[2], sgv);
    size_t ss[5];
    fld sf[5] = {{0, F_REF, 0}, {1, F_REF, 0}, {2, F_REF, 0}, {3, F_REF, 0}, {4, F_REF, 0}};
    size_t sg = w_table(&f, 5, sf, ss, NULL);
    w_ref(&f, sgv + 4, sg);
    size_t tv = w_vec(&f, 4, 4, NULL);
    ps.tensors_vec = tv;
    w_ref(&f, ss[0], tv);
    {
        int32_t s_in[4] = {1, 4, 4, 2}, s_w[4] = {c->w_dim0, 1, 1, 2}, s_b[1] = {3},
                s_out[4] = {1, 4, 4, 3};
        float sc_in = 1.0f / 128, sc_out = 0.0235f, sc_b = 0.02f / 128;
        int64_t z_in = 128, z_out = 0, z_b = 0;
        float wsc[8];
        int64_t wz[8];
        for (int k = 0; k < 8; k++) { wsc[k] = c->wscale0 * (float)(k + 1); wz[k] = c->wzero0 + k; }
        size_t t0 = tiny_tensor(&f, "input", TX_TFL_UINT8, 0, 4, s_in, 1, &sc_in, 1, &z_in, 0,
                                NULL, &ps.in_name);
        size_t t1 = tiny_tensor(&f, "conv/weights", c->w_type, c->w_buffer, 4, s_w, c->n_wscale,
                                wsc, c->n_wzero >= 0 ? c->n_wzero : c->n_wscale, wz, c->wqdim,
                                &ps.wshape, NULL);
        size_t t2 = tiny_tensor(&f, "conv/bias", TX_TFL_INT32, 3, 1, s_b, 1, &sc_b, 1, &z_b, 0,
                                NULL, NULL);
        size_t t3 = tiny_tensor(&f, "output", TX_TFL_UINT8, 1, 4, s_out, 1, &sc_out, 1, &z_out, 0,
                                NULL, NULL);
        w_ref(&f, tv + 4, t0);
        w_ref(&f, tv + 8, t1);
        w_ref(&f, tv + 12, t2);
        w_ref(&f, tv + 16, t3);
    }
    int32_t sg_in[1] = {0}, sg_out[1] = {3};
    w_ref(&f, ss[1], w_ivec(&f, 1, sg_in));
    w_ref(&f, ss[2], w_ivec(&f, 1, sg_out));
    size_t opv = w_vec(&f, 1, 4, NULL);
    w_ref(&f, ss[3], opv);
    {
        size_t os[5];
        fld of[5] = {{0, 4, c->opcode_index}, {1, F_REF, 0}, {2, F_REF, 0},
                     {3, 1, c->opt_type}, {4, F_REF, 0}};
        ps.op_table = w_table(&f, 5, of, os, NULL);
        w_ref(&f, opv + 4, ps.op_table);
        int32_t in[3] = {0, c->in1, c->in2}, out[1] = {3};
        w_ref(&f, os[1], w_ivec(&f, 3, in));
        w_ref(&f, os[2], w_ivec(&f, 1, out));
        /* Conv2DOptions: padding VALID, strides, RELU6 */
        fld cf[4] = {{0, 1, TX_TFL_PAD_VALID}, {1, 4, (uint32_t)c->stride_w}, {2, 4, 1},
                     {3, 1, TX_TFL_ACT_RELU6}};
        ps.opt_table = w_table(&f, 4, cf, NULL, &ps.opt_vt);
        w_ref(&f, os[4], ps.opt_table);
    }
    w_ref(&f, ss[4], w_str(&f, "main"));
    if (c->ext_bias) { /* the bias bytes after the flatbuffer, 16-aligned */
        while (f.n % 16) w_grow(&f, 1);
        size_t at = w_grow(&f, 12);
        for (int k = 0; k < 3; k++) w32(&f, at + 4 * (size_t)k, (uint32_t)tiny_bias[k]);
        w64(&f, bias_slots[0], c->ext_off_abs ? c->ext_off_abs : at + c->ext_off_delta);
        ps.bias_data_ext = at;
    }
    /* exact-size copy so ASan sees any read past the end */
    uint8_t *out = malloc(f.n);
    memcpy(out, f.b, f.n);
    *size = f.n;
    free(f.b);
    if (pos) *pos = ps;
    return out;
}

/* ---- walking a parsed model (what later code does) ------------------------------ */

/* Touches every decoded field and checks the invariants tflite.h promises. Returns 1
 * when they all hold. */
static int walk_model(const tx_tflite_model *m, const uint8_t *buf, size_t size) {
    int ok = 1;
    volatile unsigned sink = 0;
#define W_(c) do { if (!(c)) { ok = 0; printf("  invariant failed: %s\n", #c); } } while (0)
    W_(m->description != NULL && m->version == 3);
    for (int i = 0; i < m->n_buffers; i++) {
        const tx_tflite_buffer *b = &m->buffers[i];
        if (b->size) {
            W_(b->data >= buf && b->data <= buf + size && b->size <= (size_t)(buf + size - b->data));
            sink += b->data[0] + b->data[b->size - 1];
        }
    }
    for (int i = 0; i < m->n_opcodes; i++) {
        W_(m->opcodes[i].builtin >= 0);
        if (m->opcodes[i].custom) sink += (unsigned)strlen(m->opcodes[i].custom);
        sink += (unsigned)strlen(tx_tflite_op_name(m->opcodes[i].builtin));
    }
    for (int i = 0; i < m->n_metadata; i++) {
        W_(m->metadata[i].name && m->metadata[i].buffer < (uint32_t)m->n_buffers);
        sink += (unsigned)strlen(m->metadata[i].name);
    }
    for (int s = 0; s < m->n_subgraphs; s++) {
        const tx_tflite_subgraph *sg = &m->subgraphs[s];
        W_(sg->name != NULL);
        for (int i = 0; i < sg->n_tensors; i++) {
            const tx_tflite_tensor *t = &sg->tensors[i];
            W_(t->name != NULL);
            sink += (unsigned)strlen(t->name);
            W_(t->type >= 0 && t->type < TX_TFL_TYPE_COUNT);
            W_(t->buffer < (uint32_t)m->n_buffers);
            int64_t numel = 1;
            for (int d = 0; d < t->ndim; d++) { W_(t->shape[d] >= 0); numel *= t->shape[d]; }
            W_(numel == t->numel);
            for (int d = 0; d < t->ndim_signature; d++) sink += (unsigned)t->shape_signature[d];
            size_t esz = tx_tflite_type_size(t->type);
            if (t->nbytes && esz && !t->is_sparse) W_((size_t)t->numel * esz == t->nbytes);
            if (t->nbytes) W_(t->data == m->buffers[t->buffer].data);
            if (t->q.n > 0) {
                W_(t->q.scale && t->q.zero_point);
                for (int k = 0; k < t->q.n; k++) {
                    W_(t->q.scale[k] >= 0);
                    sink += (unsigned)t->q.zero_point[k];
                }
                if (t->q.n > 1) W_(t->q.quantized_dimension >= 0 &&
                                   t->q.quantized_dimension < t->ndim &&
                                   t->shape[t->q.quantized_dimension] == t->q.n);
            }
            for (int k = 0; k < t->q.n_min; k++) sink += t->q.min[k] > 0;
            for (int k = 0; k < t->q.n_max; k++) sink += t->q.max[k] > 0;
        }
        for (int k = 0; k < sg->n_inputs; k++) W_(sg->inputs[k] >= 0 && sg->inputs[k] < sg->n_tensors);
        for (int k = 0; k < sg->n_outputs; k++) W_(sg->outputs[k] >= 0 && sg->outputs[k] < sg->n_tensors);
        for (int i = 0; i < sg->n_ops; i++) {
            const tx_tflite_op *op = &sg->ops[i];
            W_(op->opcode_index < (uint32_t)m->n_opcodes);
            W_(op->builtin == m->opcodes[op->opcode_index].builtin);
            for (int k = 0; k < op->n_inputs; k++) W_(op->inputs[k] >= -1 && op->inputs[k] < sg->n_tensors);
            for (int k = 0; k < op->n_outputs; k++) W_(op->outputs[k] >= 0 && op->outputs[k] < sg->n_tensors);
            for (int k = 0; k < op->n_intermediates; k++) W_(op->intermediates[k] >= 0 && op->intermediates[k] < sg->n_tensors);
            for (int k = 0; k < op->opt.new_shape.n; k++) sink += (unsigned)op->opt.new_shape.v[k];
            for (int k = 0; k < op->opt.squeeze_dims.n; k++) sink += (unsigned)op->opt.squeeze_dims.v[k];
            if (op->custom_options_size) {
                W_(op->custom_options >= buf && op->custom_options_size <= (size_t)(buf + size - op->custom_options));
                sink += op->custom_options[op->custom_options_size - 1];
            }
        }
    }
#undef W_
    (void)sink;
    return ok;
}

/* Expects parse failure with code `code` (0: any) and a message that starts with the
 * file name and contains `want`. */
static void expect_fail(const char *what, const uint8_t *b, size_t n, int code, const char *want) {
    tx_tflite_model m;
    tx_err err = {0};
    int rc = tx_tflite_parse(b, n, "tiny.tflite", &m, &err);
    CHECK(rc != TX_OK, "%s: parsed but should have failed", what);
    if (rc == TX_OK) { tx_tflite_free(&m); return; }
    printf("  %-28s -> %s\n", what, err.msg);
    CHECK(code == 0 || rc == code, "%s: code %d, want %d", what, rc, code);
    CHECK(strncmp(err.msg, "tiny.tflite: ", 13) == 0, "%s: message does not name the file", what);
    CHECK(strstr(err.msg, want) != NULL, "%s: message lacks '%s'", what, want);
    CHECK(m.subgraphs == NULL && m.n_subgraphs == 0 && m.arena_ == NULL, "%s: output not empty", what);
    tx_tflite_free(&m);
}

static void expect_cfg_fail(const char *what, const tiny_cfg *c, int code, const char *want) {
    size_t n;
    uint8_t *b = build_tiny(c, &n, NULL);
    expect_fail(what, b, n, code, want);
    free(b);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_names(void) {
    CHECK(strcmp(tx_tflite_op_name(TX_TFL_OP_HARD_SWISH), "HARD_SWISH") == 0, "117");
    CHECK(TX_TFL_OP_HARD_SWISH == 117 && TX_TFL_OP_QUANTIZE == 114 && TX_TFL_OP_MEAN == 40 &&
          TX_TFL_OP_GELU == 150 && TX_TFL_OP_STABLEHLO_CASE == 209, "enum values");
    CHECK(strcmp(tx_tflite_op_name(TX_TFL_OP_CONV_2D), "CONV_2D") == 0, "conv");
    CHECK(strcmp(tx_tflite_op_name(TX_TFL_OP_DEPTHWISE_CONV_2D), "DEPTHWISE_CONV_2D") == 0, "dw");
    CHECK(strcmp(tx_tflite_op_name(-1), "?") == 0 && strcmp(tx_tflite_op_name(210), "?") == 0 &&
          strcmp(tx_tflite_op_name(INT32_MAX), "?") == 0, "out of range");
    int missing = 0;
    for (int i = 0; i < TX_TFL_OP_COUNT; i++) missing += strcmp(tx_tflite_op_name(i), "?") == 0;
    CHECK(missing == 0, "%d op codes below TX_TFL_OP_COUNT without a name", missing);
    CHECK(strcmp(tx_tflite_type_name(TX_TFL_INT8), "INT8") == 0 && TX_TFL_INT8 == 9, "int8");
    CHECK(strcmp(tx_tflite_type_name(TX_TFL_UINT8), "UINT8") == 0 && TX_TFL_UINT8 == 3, "uint8");
    CHECK(strcmp(tx_tflite_type_name(99), "?") == 0, "unknown type");
    CHECK(tx_tflite_type_size(TX_TFL_FLOAT32) == 4 && tx_tflite_type_size(TX_TFL_INT64) == 8 &&
          tx_tflite_type_size(TX_TFL_INT16) == 2 && tx_tflite_type_size(TX_TFL_STRING) == 0,
          "type sizes");
    CHECK(tx_tflite_op_options_type(TX_TFL_OP_MAX_POOL_2D) == TX_TFL_OPT_POOL2D &&
          tx_tflite_op_options_type(TX_TFL_OP_MEAN) == TX_TFL_OPT_REDUCER &&
          tx_tflite_op_options_type(TX_TFL_OP_LOGISTIC) == -1, "options types");
    CHECK(strcmp(tx_tflite_act_name(TX_TFL_ACT_RELU6), "RELU6") == 0 &&
          strcmp(tx_tflite_padding_name(TX_TFL_PAD_VALID), "VALID") == 0, "enum names");
    char s[16];
    tx_tflite_safe_name(s, sizeof s, "a\nb\x80" "cdefghijklmnopqrstuvwxyz");
    CHECK(strcmp(s, "a?b?cdefghij...") == 0, "safe name '%s'", s);
}

static void test_tiny_model(void) {
    tiny_cfg c = tiny_default();
    size_t n;
    uint8_t *b = build_tiny(&c, &n, NULL);
    tx_tflite_model m;
    tx_err err = {0};
    int rc = tx_tflite_parse(b, n, "tiny.tflite", &m, &err);
    CHECK(rc == TX_OK, "%s", err.msg);
    if (rc) { free(b); return; }
    CHECK(walk_model(&m, b, n), "invariants");
    CHECK(m.version == 3 && strcmp(m.description, "tiny test model") == 0, "header");
    CHECK(m.n_opcodes == 1 && m.opcodes[0].builtin == TX_TFL_OP_CONV_2D &&
          m.opcodes[0].version == 1 && m.opcodes[0].custom == NULL, "opcode");
    CHECK(m.n_buffers == 4 && m.buffers[0].size == 0 && m.buffers[2].size == 6 &&
          m.buffers[3].size == 12 && !m.buffers[3].external, "buffers");
    CHECK(m.n_subgraphs == 1, "subgraphs");
    const tx_tflite_subgraph *sg = &m.subgraphs[0];
    CHECK(strcmp(sg->name, "main") == 0 && sg->n_tensors == 4 && sg->n_ops == 1, "subgraph");
    CHECK(sg->n_inputs == 1 && sg->inputs[0] == 0 && sg->n_outputs == 1 && sg->outputs[0] == 3,
          "io");
    const tx_tflite_tensor *in = &sg->tensors[0], *w = &sg->tensors[1], *bias = &sg->tensors[2];
    CHECK(strcmp(in->name, "input") == 0 && in->type == TX_TFL_UINT8 && in->ndim == 4 &&
          in->shape[1] == 4 && in->shape[3] == 2 && in->numel == 32 && in->data == NULL &&
          in->nbytes == 0, "input tensor");
    CHECK(in->q.n == 1 && in->q.scale[0] == 1.0f / 128 && in->q.zero_point[0] == 128, "input q");
    CHECK(strcmp(w->name, "conv/weights") == 0 && w->buffer == 2 && w->nbytes == 6 &&
          w->data && memcmp(w->data, tiny_w, 6) == 0, "weights");
    CHECK(w->q.n == 1 && w->q.scale[0] == 0.02f && w->q.zero_point[0] == 120, "weights q");
    int32_t bv[3];
    CHECK(bias->nbytes == 12, "bias bytes");
    if (bias->nbytes == 12) {
        memcpy(bv, bias->data, 12); /* little-endian host */
        CHECK(bv[0] == -7 && bv[1] == 0 && bv[2] == 123456, "bias values %d %d %d", bv[0], bv[1],
              bv[2]);
    }
    const tx_tflite_op *op = &sg->ops[0];
    CHECK(op->builtin == TX_TFL_OP_CONV_2D && op->opcode_index == 0 && op->n_inputs == 3 &&
          op->inputs[2] == 2 && op->n_outputs == 1 && op->outputs[0] == 3, "op");
    CHECK(op->options_type == TX_TFL_OPT_CONV2D && op->opt.conv2d.padding == TX_TFL_PAD_VALID &&
          op->opt.conv2d.stride_w == 1 && op->opt.conv2d.stride_h == 1 &&
          op->opt.conv2d.activation == TX_TFL_ACT_RELU6 && op->opt.conv2d.dilation_w == 1 &&
          op->opt.conv2d.dilation_h == 1, "conv options (dilations from the schema default)");
    tx_tflite_free(&m);
    CHECK(m.subgraphs == NULL && m.arena_ == NULL, "free clears");
    tx_tflite_free(&m); /* twice is harmless */
    free(b);
}

static void test_tiny_variants(void) {
    tx_tflite_model m;
    tx_err err = {0};
    size_t n;
    uint8_t *b;
    /* A new-style code above 127: deprecated field holds the placeholder 127. */
    tiny_cfg c = tiny_default();
    c.dep_code = 127;
    c.builtin_code = TX_TFL_OP_GELU;
    c.opt_type = 0;
    b = build_tiny(&c, &n, NULL);
    CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
    CHECK(m.opcodes[0].builtin == TX_TFL_OP_GELU && m.subgraphs[0].ops[0].builtin == TX_TFL_OP_GELU,
          "GELU via builtin_code, got %d", m.opcodes[0].builtin);
    tx_tflite_free(&m);
    free(b);
    /* An old file: only the int8 field. */
    c = tiny_default();
    c.builtin_code = INT32_MIN;
    b = build_tiny(&c, &n, NULL);
    CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
    CHECK(m.opcodes[0].builtin == TX_TFL_OP_CONV_2D && m.opcodes[0].builtin_raw == 0, "old code");
    tx_tflite_free(&m);
    free(b);
    /* An optional input marked absent (-1). */
    c = tiny_default();
    c.in2 = -1;
    b = build_tiny(&c, &n, NULL);
    CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
    CHECK(m.subgraphs[0].ops[0].inputs[2] == -1, "absent bias");
    tx_tflite_free(&m);
    free(b);
    /* Per-channel quantization along dimension 0 (3 output channels). */
    c = tiny_default();
    c.n_wscale = 3;
    c.w_type = TX_TFL_INT8;
    c.wzero0 = 0;
    b = build_tiny(&c, &n, NULL);
    CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
    const tx_tflite_quant *q = &m.subgraphs[0].tensors[1].q;
    CHECK(q->n == 3 && q->quantized_dimension == 0 && q->scale[2] == 0.02f * 3 &&
          q->zero_point[2] == 2, "per-channel");
    tx_tflite_free(&m);
    free(b);
    /* A buffer stored after the flatbuffer (offset/size, as in files over 2 GiB). */
    c = tiny_default();
    c.ext_bias = 1;
    tiny_pos ps;
    b = build_tiny(&c, &n, &ps);
    CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
    const tx_tflite_tensor *bias = &m.subgraphs[0].tensors[2];
    CHECK(m.buffers[3].external && bias->data == b + ps.bias_data_ext && bias->nbytes == 12,
          "external buffer");
    if (bias->nbytes == 12) {
        int32_t bv[3];
        memcpy(bv, bias->data, 12);
        CHECK(bv[2] == 123456, "external bias value %d", bv[2]);
    }
    tx_tflite_free(&m);
    free(b);
    /* Parsing borrows: tx_tflite_load owns. */
    c = tiny_default();
    b = build_tiny(&c, &n, NULL);
    char path[] = "/tmp/taxon_tflite_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        FILE *f = fdopen(fd, "wb");
        fwrite(b, 1, n, f);
        fclose(f);
        CHECK_OK(tx_tflite_load(path, &m, &err), &err);
        CHECK(m.owned != NULL && m.buf == m.owned && m.size == n, "owned");
        CHECK(walk_model(&m, m.buf, m.size), "invariants");
        tx_tflite_free(&m);
        remove(path);
    }
    int rc = tx_tflite_load("/nonexistent/model.tflite", &m, &err);
    CHECK(rc == TX_EIO && strstr(err.msg, "/nonexistent/model.tflite") != NULL, "missing file: %s",
          err.msg);
    free(b);
}

/* Hand-made malformed FlatBuffers: each mutation of the valid tiny model must fail
 * with a message that says what was wrong. */
static void test_malformed_flatbuffers(void) {
    tiny_cfg c = tiny_default();
    tiny_pos ps;
    size_t n;
    uint8_t *base = build_tiny(&c, &n, &ps);
    uint8_t *b = malloc(n);
#define MUT(what, code, want, stmt)                                                      \
    do {                                                                                 \
        memcpy(b, base, n);                                                              \
        stmt;                                                                            \
        expect_fail(what, b, n, code, want);                                             \
    } while (0)
    MUT("root offset past end", TX_EFORMAT, "past the end of the file", w32(&(fbw){b, n, n}, 0, (uint32_t)n + 100));
    MUT("root offset zero", TX_EFORMAT, "must be between 1 and 2^31-1", w32(&(fbw){b, n, n}, 0, 0));
    MUT("wrong identifier", TX_EFORMAT, "not a TFLite model", memcpy(b + 4, "PK\x03\x04", 4));
    MUT("vtable size 2", TX_EFORMAT, "has size 2", w16(&(fbw){b, n, n}, ps.root_vt, 2));
    MUT("vtable size odd", TX_EFORMAT, "must be even", w16(&(fbw){b, n, n}, ps.root_vt, 7));
    MUT("vtable before file", TX_EFORMAT, "outside the file",
        w32(&(fbw){b, n, n}, ps.root, (uint32_t)ps.root + 64));
    MUT("vtable past end", TX_EFORMAT, "outside the file",
        w32(&(fbw){b, n, n}, ps.root, (uint32_t)(-(int32_t)(n - ps.root))));
    MUT("vtable runs past end", TX_EFORMAT, "runs past the end",
        (w32(&(fbw){b, n, n}, ps.root, (uint32_t)(-(int32_t)(n - 4 - ps.root))),
         w16(&(fbw){b, n, n}, n - 4, 64)));
    MUT("table larger than file", TX_EFORMAT, "runs past the end",
        w16(&(fbw){b, n, n}, ps.root_vt + 2, 0xFFF0));
    MUT("field outside table", TX_EFORMAT, "lies outside the table",
        w16(&(fbw){b, n, n}, ps.root_vt + 4, 200));
    MUT("field overlaps soffset", TX_EFORMAT, "lies outside the table",
        w16(&(fbw){b, n, n}, ps.root_vt + 4, 2));
    MUT("vector length overflow", TX_EFORMAT, "vector of 4294967295 x 4 bytes",
        w32(&(fbw){b, n, n}, ps.wshape, 0xFFFFFFFFu));
    MUT("vector length past end", TX_EFORMAT, "runs past the end",
        w32(&(fbw){b, n, n}, ps.wshape, (uint32_t)n / 4));
    MUT("tensor vector overflow", TX_EFORMAT, "tensors: vector of 1073741824 x 4",
        w32(&(fbw){b, n, n}, ps.tensors_vec, 0x40000000u));
    MUT("string without NUL", TX_EFORMAT, "not followed by a NUL byte",
        b[ps.in_name + 4 + 5] = 'X');
    MUT("string length past end", TX_EFORMAT, "runs past the end",
        w32(&(fbw){b, n, n}, ps.desc, (uint32_t)n));
    /* The last byte of the file is the subgraph name's NUL: cut it off. */
    expect_fail("string at end, NUL cut", base, n - 1, TX_EFORMAT, "no room for its terminating NUL");
    /* "Cycles": a table that is its own vtable, a reference to itself. */
    MUT("table is its own vtable", TX_EFORMAT, "has size 0", w32(&(fbw){b, n, n}, ps.opt_table, 0));
    MUT("self reference", TX_EFORMAT, "holds 0",
        w32(&(fbw){b, n, n}, ps.root_slot_opcodes, 0));
    MUT("reference above 2^31", TX_EFORMAT, "must be between 1 and 2^31-1",
        w32(&(fbw){b, n, n}, ps.root_slot_opcodes, 0x80000004u));
    MUT("options vtable huge", TX_EFORMAT, "runs past the end",
        w16(&(fbw){b, n, n}, ps.opt_vt, 0xFFFE));
#undef MUT
    free(b);
    free(base);
}

/* Well-formed FlatBuffers that describe an inconsistent model. */
static void test_semantic_errors(void) {
    tiny_cfg c;
    c = tiny_default(); c.version = 2;
    expect_cfg_fail("schema version 2", &c, TX_EUNSUP, "schema version 2 is not supported");
    c = tiny_default(); c.w_buffer = 400;
    /* The shape of message later code relies on, exactly. */
    {
        size_t n;
        uint8_t *b = build_tiny(&c, &n, NULL);
        tx_tflite_model m;
        tx_err err = {0};
        int rc = tx_tflite_parse(b, n, "tiny.tflite", &m, &err);
        CHECK(rc == TX_EFORMAT && strcmp(err.msg, "tiny.tflite: subgraph 0 tensor 1 "
                                         "'conv/weights': buffer index 400 out of range "
                                         "(buffers: 4)") == 0, "message: %s", err.msg);
        free(b);
    }
    c = tiny_default(); c.opcode_index = 5;
    expect_cfg_fail("opcode index", &c, TX_EFORMAT, "opcode_index 5 out of range (operator codes: 1)");
    c = tiny_default(); c.in1 = 4;
    expect_cfg_fail("input tensor index", &c, TX_EFORMAT, "input 1: tensor index 4 out of range");
    c = tiny_default(); c.in2 = -2;
    expect_cfg_fail("input tensor -2", &c, TX_EFORMAT, "input 2: tensor index -2 out of range");
    c = tiny_default(); c.w_data_len = 5;
    expect_cfg_fail("weights size", &c, TX_EFORMAT, "buffer 2 holds 5 bytes but shape x UINT8 needs 6");
    c = tiny_default(); c.w_type = TX_TFL_FLOAT32;
    expect_cfg_fail("weights type size", &c, TX_EFORMAT, "needs 24");
    c = tiny_default(); c.w_type = 42;
    expect_cfg_fail("unknown type", &c, TX_EUNSUP, "type 42 unknown");
    c = tiny_default(); c.w_dim0 = -3;
    expect_cfg_fail("negative dimension", &c, TX_EFORMAT, "shape[0] is -3");
    c = tiny_default(); c.n_wscale = 2;
    expect_cfg_fail("per-channel length", &c, TX_EFORMAT, "2 scales but dimension 0 has size 3");
    c = tiny_default(); c.n_wscale = 3; c.wqdim = 4;
    expect_cfg_fail("per-channel dimension", &c, TX_EFORMAT, "along dimension 4, but the tensor has 4");
    c = tiny_default(); c.n_wzero = 0;
    expect_cfg_fail("zero points missing", &c, TX_EFORMAT, "1 scales but 0 zero points");
    c = tiny_default(); c.wscale0 = -1.0f;
    expect_cfg_fail("negative scale", &c, TX_EFORMAT, "scale 0 is -1");
    c = tiny_default(); c.wscale0 = NAN;
    expect_cfg_fail("NaN scale", &c, TX_EFORMAT, "must be finite");
    c = tiny_default(); c.wzero0 = 300;
    expect_cfg_fail("zero point range", &c, TX_EFORMAT, "zero point 0 is 300, outside the range of UINT8");
    c = tiny_default(); c.opt_type = TX_TFL_OPT_ADD;
    expect_cfg_fail("options type mismatch", &c, TX_EFORMAT, "builtin_options is AddOptions (11) but CONV_2D takes Conv2DOptions (1)");
    c = tiny_default(); c.stride_w = 0;
    expect_cfg_fail("stride 0", &c, TX_EFORMAT, "strides 0 x 1 (w x h) must be >= 1");
    c = tiny_default(); c.opt_type = 0;
    expect_cfg_fail("conv without options", &c, TX_EFORMAT, "strides 0 x 0");
    c = tiny_default(); c.dep_code = -5; c.builtin_code = -7;
    expect_cfg_fail("negative op code", &c, TX_EFORMAT, "builtin code -5 is negative");
    /* TFLite's rule takes the larger field: -5 and an absent builtin_code (0) is ADD,
     * which then meets Conv2DOptions. */
    c = tiny_default(); c.dep_code = -5; c.builtin_code = INT32_MIN;
    expect_cfg_fail("negative deprecated code", &c, TX_EFORMAT, "but ADD takes AddOptions");
    c = tiny_default(); c.dep_code = TX_TFL_OP_CUSTOM; c.builtin_code = TX_TFL_OP_CUSTOM;
    expect_cfg_fail("custom without code", &c, TX_EFORMAT, "CUSTOM operator without a custom_code");
    c = tiny_default(); c.ext_bias = 1; c.ext_off_delta = 1000;
    expect_cfg_fail("external buffer past end", &c, TX_EFORMAT, "lie past the end of the file");
    c = tiny_default(); c.ext_bias = 1; c.ext_off_abs = UINT64_MAX - 5;
    expect_cfg_fail("external offset wraps", &c, TX_EFORMAT, "lie past the end of the file");
    /* A custom operator is fine. */
    c = tiny_default(); c.dep_code = TX_TFL_OP_CUSTOM; c.builtin_code = TX_TFL_OP_CUSTOM;
    c.custom = "TFLite_Detection_PostProcess"; c.opt_type = 0;
    {
        size_t n;
        uint8_t *b = build_tiny(&c, &n, NULL);
        tx_tflite_model m;
        tx_err err = {0};
        CHECK_OK(tx_tflite_parse(b, n, "tiny.tflite", &m, &err), &err);
        CHECK(strcmp(m.opcodes[0].custom, "TFLite_Detection_PostProcess") == 0, "custom code");
        tx_tflite_free(&m);
        free(b);
    }
}

/* Every truncation of the tiny model fails cleanly (its last byte is referenced). */
static void test_truncate_tiny(void) {
    tiny_cfg c = tiny_default();
    size_t n;
    uint8_t *base = build_tiny(&c, &n, NULL);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, base, len);
        tx_tflite_model m;
        tx_err err = {0};
        int rc = tx_tflite_parse(len ? b : NULL, len, "tiny.tflite", &m, &err);
        if (rc == TX_OK) { bad++; tx_tflite_free(&m); }
        else if (strncmp(err.msg, "tiny.tflite: ", 13) != 0) bad++;
        free(b);
    }
    printf("  truncated the %zu-byte tiny model at every length: %d accepted or unnamed\n", n, bad);
    CHECK(bad == 0, "%d truncations misbehaved", bad);
    free(base);
}

/* A small file whose vectors all alias one big table must hit the decode budget
 * instead of allocating gigabytes. */
static void test_aliasing_budget(void) {
    tiny_cfg c = tiny_default();
    size_t n;
    uint8_t *base = build_tiny(&c, &n, NULL);
    /* Append a tensor vector of 100000 entries that all point to one tensor with a
     * 200-dimensional shape of ones, and aim the subgraph's tensors field at it. */
    fbw f = {0};
    w_grow(&f, n);
    memcpy(f.b, base, n);
    const uint32_t N = 100000;
    size_t vec = w_vec(&f, N, 4, NULL);
    int32_t ones[200];
    for (int i = 0; i < 200; i++) ones[i] = 1;
    size_t ts[1];
    fld tf[1] = {{0, F_REF, 0}};
    size_t t = w_table(&f, 1, tf, ts, NULL);
    w_ref(&f, ts[0], w_ivec(&f, 200, ones));
    for (uint32_t i = 0; i < N; i++) w_ref(&f, vec + 4 + 4 * (size_t)i, t);
    /* find the subgraph's tensors slot: the reference that points at the old vector */
    tiny_pos ps;
    free(build_tiny(&c, &n, &ps));
    size_t slot = 0;
    for (size_t p = 8; p + 4 <= n; p += 4)
        if (p + r32(f.b + p) == ps.tensors_vec) slot = p;
    CHECK(slot != 0, "tensors slot not found");
    if (slot) w_ref(&f, slot, vec);
    printf("  %zu-byte file naming %u tensors of 200 dimensions\n", f.n, N);
    expect_fail("aliased tensors", f.b, f.n, TX_EFORMAT, "would decode to more than");
    free(f.b);
    free(base);
}

/* ---- the real models ------------------------------------------------------------- */

static const char *models[] = {
    "mobilenet_v1_0.25_128_quant.tflite", "mobilenet_v1_0.5_160_quant.tflite",
    "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
    "mobilenet_v2_1.0_224_inat_bird_quant.tflite", "mobilenet_v2_1.0_224_quant.tflite"};
/* input side, number of outputs per class vector (0: embedding extractor) */
static const int model_side[] = {128, 160, 224, 224, 224};
static const int model_classes[] = {1001, 1001, 0, 965, 1001};

static int model_path(char *out, size_t cap, const char *leaf) {
    const char *sh = tu_shared_dir();
    if (!sh) return 0;
    snprintf(out, cap, "%s/models/%s", sh, leaf);
    FILE *f = fopen(out, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

static void print_shape(char *out, size_t cap, const tx_tflite_tensor *t) {
    size_t k = 0;
    out[0] = 0;
    for (int d = 0; d < t->ndim && k + 16 < cap; d++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", d ? "x" : "", t->shape[d]);
}

static void test_real_models(void) {
    char path[1024];
    if (!model_path(path, sizeof path, models[0])) SKIP("no ../shared/models (set TAXON_SHARED)");
    for (int mi = 0; mi < 5; mi++) {
        if (!model_path(path, sizeof path, models[mi])) {
            CHECK(0, "%s missing", models[mi]);
            continue;
        }
        tx_tflite_model m;
        tx_err err = {0};
        int rc = tx_tflite_load(path, &m, &err);
        CHECK(rc == TX_OK, "%s", err.msg);
        if (rc) continue;
        CHECK(walk_model(&m, m.buf, m.size), "%s: invariants", models[mi]);
        CHECK(m.n_subgraphs == 1 && m.version == 3, "%s: subgraphs %d", models[mi], m.n_subgraphs);
        const tx_tflite_subgraph *sg = &m.subgraphs[0];
        /* operator histogram */
        int hist[TX_TFL_OP_COUNT] = {0};
        for (int i = 0; i < sg->n_ops; i++)
            if (sg->ops[i].builtin < TX_TFL_OP_COUNT) hist[sg->ops[i].builtin]++;
        char line[512];
        size_t k = 0;
        for (int i = 0; i < TX_TFL_OP_COUNT; i++)
            if (hist[i]) k += (size_t)snprintf(line + k, sizeof line - k, " %s:%d", tx_tflite_op_name(i), hist[i]);
        printf("  %s: %d tensors, %d ops:%s\n", models[mi], sg->n_tensors, sg->n_ops, line);
        /* every operator is one a quantized MobileNet needs */
        for (int i = 0; i < sg->n_ops; i++) {
            int b = sg->ops[i].builtin;
            CHECK(b == TX_TFL_OP_CONV_2D || b == TX_TFL_OP_DEPTHWISE_CONV_2D || b == TX_TFL_OP_ADD ||
                  b == TX_TFL_OP_AVERAGE_POOL_2D || b == TX_TFL_OP_RESHAPE ||
                  b == TX_TFL_OP_SOFTMAX || b == TX_TFL_OP_FULLY_CONNECTED,
                  "%s op %d: unexpected %s", models[mi], i, tx_tflite_op_name(b));
        }
        /* input and output, per ../shared/reference/README.md */
        CHECK(sg->n_inputs == 1 && sg->n_outputs == 1, "%s: io counts", models[mi]);
        if (sg->n_inputs == 1 && sg->n_outputs == 1) {
            const tx_tflite_tensor *in = &sg->tensors[sg->inputs[0]];
            const tx_tflite_tensor *out = &sg->tensors[sg->outputs[0]];
            char si[64], so[64];
            print_shape(si, sizeof si, in);
            print_shape(so, sizeof so, out);
            printf("    input  '%s' %s %s scale %.9g zero %lld\n", in->name, si,
                   tx_tflite_type_name(in->type), in->q.n ? in->q.scale[0] : 0.0,
                   in->q.n ? (long long)in->q.zero_point[0] : 0LL);
            printf("    output '%s' %s %s scale %.9g zero %lld\n", out->name, so,
                   tx_tflite_type_name(out->type), out->q.n ? out->q.scale[0] : 0.0,
                   out->q.n ? (long long)out->q.zero_point[0] : 0LL);
            int S = model_side[mi];
            CHECK(in->type == TX_TFL_UINT8 && in->ndim == 4 && in->shape[0] == 1 &&
                  in->shape[1] == S && in->shape[2] == S && in->shape[3] == 3,
                  "%s: input %s", models[mi], si);
            CHECK(in->q.n == 1 && in->q.scale[0] == 1.0f / 128 && in->q.zero_point[0] == 128,
                  "%s: input quantization", models[mi]);
            CHECK(in->nbytes == 0 && out->nbytes == 0, "%s: io tensors are not constants", models[mi]);
            CHECK(out->type == TX_TFL_UINT8 && out->q.n == 1, "%s: output type", models[mi]);
            if (model_classes[mi]) {
                CHECK(out->ndim == 2 && out->shape[0] == 1 && out->shape[1] == model_classes[mi],
                      "%s: output %s", models[mi], so);
                CHECK(out->q.n == 1 && out->q.scale[0] == 1.0f / 256 && out->q.zero_point[0] == 0,
                      "%s: output quantization", models[mi]);
            } else {
                CHECK(out->ndim == 4 && out->numel == 1024, "%s: embedding %s", models[mi], so);
            }
        }
        /* every convolution: constant UINT8 weights [O,kh,kw,I] (depthwise [1,kh,kw,O]),
         * INT32 bias of O entries with scale = input scale x weight scale */
        int convs = 0;
        double worst_bias_scale = 0;
        for (int i = 0; i < sg->n_ops; i++) {
            const tx_tflite_op *op = &sg->ops[i];
            if (op->builtin != TX_TFL_OP_CONV_2D && op->builtin != TX_TFL_OP_DEPTHWISE_CONV_2D)
                continue;
            convs++;
            if (op->n_inputs != 3 || op->n_outputs != 1 || op->inputs[2] < 0) {
                CHECK(0, "%s op %d: %d inputs", models[mi], i, op->n_inputs);
                continue;
            }
            const tx_tflite_tensor *x = &sg->tensors[op->inputs[0]], *w = &sg->tensors[op->inputs[1]],
                                   *bb = &sg->tensors[op->inputs[2]], *y = &sg->tensors[op->outputs[0]];
            int dw = op->builtin == TX_TFL_OP_DEPTHWISE_CONV_2D;
            int oc = dw ? w->shape[3] : w->shape[0];
            CHECK(w->type == TX_TFL_UINT8 && w->ndim == 4 && w->nbytes == (size_t)w->numel &&
                  w->data != NULL, "%s op %d: weights", models[mi], i);
            CHECK(bb->type == TX_TFL_INT32 && bb->ndim == 1 && bb->shape[0] == oc &&
                  bb->nbytes == 4 * (size_t)oc, "%s op %d: bias", models[mi], i);
            CHECK(y->ndim == 4 && y->shape[3] == oc && x->ndim == 4, "%s op %d: output channels", models[mi], i);
            CHECK(!dw || op->opt.dwconv2d.depth_multiplier * x->shape[3] == oc,
                  "%s op %d: depth multiplier", models[mi], i);
            if (x->q.n == 1 && w->q.n == 1 && bb->q.n == 1) {
                double want = (double)x->q.scale[0] * w->q.scale[0];
                double d = fabs(bb->q.scale[0] - want) / want;
                if (d > worst_bias_scale) worst_bias_scale = d;
            }
        }
        printf("    %d convolutions; largest relative |bias scale - input scale x weight scale| "
               "= %.3g\n", convs, worst_bias_scale);
        CHECK(convs > 0 && worst_bias_scale < 1e-5, "%s: bias scales", models[mi]);
        if (mi == 4) {
            /* mobilenet_v2_1.0_224_quant, counted independently with Python's `tflite`
             * package: 36 CONV_2D, 17 DEPTHWISE_CONV_2D, 10 ADD, one each of
             * AVERAGE_POOL_2D, RESHAPE, SOFTMAX; 174 tensors, 177 buffers. */
            CHECK(sg->n_ops == 66 && sg->n_tensors == 174 && m.n_buffers == 177, "v2 counts");
            CHECK(hist[TX_TFL_OP_CONV_2D] == 36 && hist[TX_TFL_OP_DEPTHWISE_CONV_2D] == 17 &&
                  hist[TX_TFL_OP_ADD] == 10 && hist[TX_TFL_OP_AVERAGE_POOL_2D] == 1 &&
                  hist[TX_TFL_OP_RESHAPE] == 1 && hist[TX_TFL_OP_SOFTMAX] == 1, "v2 histogram");
            const tx_tflite_op *op0 = &sg->ops[0];
            CHECK(op0->builtin == TX_TFL_OP_CONV_2D && op0->opt.conv2d.padding == TX_TFL_PAD_SAME &&
                  op0->opt.conv2d.stride_w == 2 && op0->opt.conv2d.stride_h == 2 &&
                  op0->opt.conv2d.activation == TX_TFL_ACT_RELU6, "v2 first conv");
            const tx_tflite_op *last = &sg->ops[65];
            CHECK(last->builtin == TX_TFL_OP_SOFTMAX && last->opt.beta == 1.0f, "v2 softmax");
            const tx_tflite_op *rs = &sg->ops[64];
            CHECK(rs->builtin == TX_TFL_OP_RESHAPE && !rs->opt.new_shape.present && rs->n_inputs == 2,
                  "v2 reshape takes its shape from input 1");
            if (rs->n_inputs == 2) {
                const tx_tflite_tensor *st = &sg->tensors[rs->inputs[1]];
                int32_t v[2] = {0, 0};
                if (st->nbytes == 8) memcpy(v, st->data, 8);
                CHECK(st->type == TX_TFL_INT32 && v[0] == 1 && v[1] == 1001, "reshape to %d x %d", v[0], v[1]);
            }
            CHECK(m.n_metadata == 2 && strcmp(m.metadata[0].name, "min_runtime_version") == 0,
                  "metadata");
        }
        tx_tflite_free(&m);
    }
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* Truncation of a real model: every length over the first 4 KiB and the last 16 KiB
 * (where the converter put the tables), a stride in between. All must fail cleanly. */
static void test_truncate_real(void) {
    char path[1024];
    if (!model_path(path, sizeof path, models[0])) SKIP("no ../shared/models");
    size_t n;
    uint8_t *full = read_all(path, &n);
    tx_tflite_model m;
    tx_err err = {0};
    CHECK_OK(tx_tflite_parse(full, n, models[0], &m, &err), &err);
    size_t used = m.used_size;
    tx_tflite_free(&m);
    printf("  %s: %zu bytes, the model uses the first %zu (a zip of labels follows)\n",
           models[0], n, used);
    CHECK(used > n / 2 && used <= n, "used_size %zu", used);
    int tried = 0, bad = 0;
    for (size_t len = 0; len < n;) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, full, len);
        err.msg[0] = 0;
        int rc = tx_tflite_parse(b, len, models[0], &m, &err);
        tried++;
        if (len < used) { /* cut inside the model: must fail, naming the file */
            if (rc == TX_OK) { bad++; tx_tflite_free(&m); printf("  accepted at %zu bytes\n", len); }
            else if (strncmp(err.msg, models[0], strlen(models[0])) != 0) bad++;
        } else { /* cut inside the trailing zip: the model is whole */
            if (rc != TX_OK) { bad++; printf("  rejected at %zu bytes: %s\n", len, err.msg); }
            else tx_tflite_free(&m);
        }
        if (len == 5000) printf("  e.g. at %zu bytes: %s\n", len, err.msg);
        free(b);
        /* every length over the first 4 KiB, the last 2 KiB of the model and the last
         * 64 bytes of the file; a 31-byte stride over the rest of the tables (the
         * converter put them last), a 997-byte stride over the weights */
        if (len < 4096 || (len + 2048 >= used && len < used + 64) || len + 64 >= n) len++;
        else if (len + 48 * 1024 >= used && len < used) len += 31;
        else len += 997;
    }
    printf("  %d truncations: %d misbehaved\n", tried, bad);
    CHECK(bad == 0, "%d bad", bad);
    free(full);
}

/* Random corruption of a real model must never crash: either a clean error or a model
 * whose invariants hold. Positions are drawn mostly from the table region (the
 * weights are inert bytes). */
static void test_corrupt_real(void) {
    char path[1024];
    if (!model_path(path, sizeof path, models[0])) SKIP("no ../shared/models");
    size_t n;
    uint8_t *full = read_all(path, &n);
    tx_tflite_model clean;
    tx_err err = {0};
    CHECK_OK(tx_tflite_parse(full, n, "clean", &clean, &err), &err);
    uint8_t *is_data = calloc(n, 1);
    for (int i = 0; i < clean.n_buffers; i++)
        if (clean.buffers[i].size)
            memset(is_data + (clean.buffers[i].data - full), 1, clean.buffers[i].size);
    size_t *structure = malloc(n * sizeof *structure), ns = 0;
    for (size_t i = 0; i < n; i++) if (!is_data[i]) structure[ns++] = i;
    tx_tflite_free(&clean);
    tx_rng rng;
    tx_rng_seed(&rng, 12345);
    uint8_t *b = malloc(n);
    int ok = 0, failed = 0, bad = 0;
    const int rounds = 3000;
    for (int r = 0; r < rounds; r++) {
        memcpy(b, full, n);
        int flips = 1 + (int)tx_rng_below(&rng, 8);
        for (int k = 0; k < flips; k++) {
            size_t at = structure[tx_rng_below(&rng, (uint32_t)ns)];
            uint32_t how = tx_rng_below(&rng, 4);
            if (how == 0) b[at] ^= (uint8_t)(1u << tx_rng_below(&rng, 8));
            else if (how == 1) b[at] = 0xFF;
            else if (how == 2) b[at] = 0;
            else b[at] = (uint8_t)tx_rng_u64(&rng);
        }
        tx_tflite_model m;
        err.msg[0] = 0;
        int rc = tx_tflite_parse(b, n, "corrupt.tflite", &m, &err);
        if (rc == TX_OK) {
            ok++;
            if (!walk_model(&m, b, n)) bad++;
            tx_tflite_free(&m);
        } else {
            failed++;
            if (strncmp(err.msg, "corrupt.tflite: ", 16) != 0) bad++;
        }
    }
    printf("  %d corrupted copies (1-8 bytes each, in %zu table bytes): %d still parse, %d "
           "rejected, %d misbehaved\n", rounds, ns, ok, failed, bad);
    CHECK(bad == 0 && failed > 0, "bad %d", bad);
    free(b);
    free(structure);
    free(is_data);
    free(full);
}

/* The seed corpus (tools/make_tflite_seeds.py) parses, and one seed carries every
 * operator kind the MobileNets and their relatives need. */
static void test_seed_corpus(void) {
    size_t n;
    uint8_t *b = read_all("tests/fuzz/corpus/tflite/all_ops.tflite", &n);
    if (!b) SKIP("tests/fuzz/corpus/tflite/all_ops.tflite not found (run from the repo root)");
    tx_tflite_model m;
    tx_err err = {0};
    int rc = tx_tflite_parse(b, n, "all_ops.tflite", &m, &err);
    CHECK(rc == TX_OK, "%s", err.msg);
    if (rc) { free(b); return; }
    CHECK(walk_model(&m, b, n), "invariants");
    const tx_tflite_subgraph *sg = &m.subgraphs[0];
    int seen = 0;
    for (int i = 0; i < sg->n_ops; i++) {
        const tx_tflite_op *op = &sg->ops[i];
        const tx_tflite_options *o = &op->opt;
        switch (op->builtin) {
        case TX_TFL_OP_CONV_2D:
            CHECK(o->conv2d.padding == TX_TFL_PAD_SAME && o->conv2d.stride_w == 2 &&
                  o->conv2d.stride_h == 2 && o->conv2d.dilation_w == 1 &&
                  o->conv2d.activation == TX_TFL_ACT_RELU6, "conv");
            seen |= 1 << 0; break;
        case TX_TFL_OP_DEPTHWISE_CONV_2D:
            CHECK(o->dwconv2d.padding == TX_TFL_PAD_VALID && o->dwconv2d.depth_multiplier == 2 &&
                  o->dwconv2d.dilation_h == 2 && o->dwconv2d.activation == TX_TFL_ACT_RELU, "dw");
            seen |= 1 << 1; break;
        case TX_TFL_OP_FULLY_CONNECTED:
            CHECK(o->fc.keep_num_dims == 1 && o->fc.weights_format == 0 &&
                  o->fc.activation == TX_TFL_ACT_NONE, "fc");
            seen |= 1 << 2; break;
        case TX_TFL_OP_ADD: CHECK(o->activation == TX_TFL_ACT_RELU6, "add"); seen |= 1 << 3; break;
        case TX_TFL_OP_MUL: CHECK(o->activation == TX_TFL_ACT_RELU_N1_TO_1, "mul"); seen |= 1 << 4; break;
        case TX_TFL_OP_AVERAGE_POOL_2D:
            CHECK(o->pool2d.filter_w == 7 && o->pool2d.filter_h == 7 &&
                  o->pool2d.padding == TX_TFL_PAD_VALID, "avgpool");
            seen |= 1 << 5; break;
        case TX_TFL_OP_MAX_POOL_2D:
            CHECK(o->pool2d.filter_w == 3 && o->pool2d.stride_h == 2, "maxpool");
            seen |= 1 << 6; break;
        case TX_TFL_OP_MEAN: CHECK(o->keep_dims == 1, "mean"); seen |= 1 << 7; break;
        case TX_TFL_OP_RESHAPE:
            CHECK(o->new_shape.present && o->new_shape.n == 2 && o->new_shape.v[0] == 1 &&
                  o->new_shape.v[1] == -1, "reshape");
            seen |= 1 << 8; break;
        case TX_TFL_OP_SQUEEZE:
            CHECK(o->squeeze_dims.n == 2 && o->squeeze_dims.v[1] == 2, "squeeze");
            seen |= 1 << 9; break;
        case TX_TFL_OP_SOFTMAX: CHECK(o->beta == 0.5f, "softmax"); seen |= 1 << 10; break;
        case TX_TFL_OP_CONCATENATION:
            CHECK(o->axis == 3 && o->activation == TX_TFL_ACT_NONE, "concat");
            seen |= 1 << 11; break;
        case TX_TFL_OP_PAD: seen |= 1 << 12; break;
        case TX_TFL_OP_QUANTIZE: seen |= 1 << 13; break;
        case TX_TFL_OP_DEQUANTIZE: seen |= 1 << 14; break;
        case TX_TFL_OP_LOGISTIC: seen |= 1 << 15; break;
        case TX_TFL_OP_HARD_SWISH: seen |= 1 << 16; break;
        case TX_TFL_OP_RELU: seen |= 1 << 17; break;
        case TX_TFL_OP_RELU6: seen |= 1 << 18; break;
        }
    }
    CHECK(seen == (1 << 19) - 1, "operator kinds seen: %#x", seen);
    tx_tflite_free(&m);
    free(b);
}

int main(void) {
    RUN(test_names);
    RUN(test_tiny_model);
    RUN(test_tiny_variants);
    RUN(test_malformed_flatbuffers);
    RUN(test_semantic_errors);
    RUN(test_truncate_tiny);
    RUN(test_aliasing_budget);
    RUN(test_real_models);
    RUN(test_truncate_real);
    RUN(test_corrupt_real);
    RUN(test_seed_corpus);
    TEST_MAIN_END();
}
