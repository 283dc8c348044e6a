/* tflite.c - a hand-written, bounds-checked reader for .tflite FlatBuffers
 * (see tflite.h).
 *
 * FlatBuffer layout, as far as this reader needs it (all little-endian):
 *   - offset 0: u32 offset of the root table; offset 4: the file identifier "TFL3".
 *   - a table at position T starts with an i32 s; its vtable is at T - s. The vtable
 *     holds u16 vtable size, u16 table size, then one u16 per field id: the field's
 *     offset from T, or 0 when the field is absent (the schema default applies).
 *   - a field referring to a table, vector or string holds a u32 offset from the
 *     field's own position (so references only ever point forward).
 *   - a vector is a u32 element count followed by the elements; a vector of tables
 *     holds one u32 offset (from the element's position) per table. A string is a
 *     byte vector followed by a NUL byte that its length does not count.
 *   - a union is two fields: a u8 type id (0 = none) and the reference to the table.
 *
 * Every read goes through the fb_* layer below, which checks before touching memory:
 * the table's own 4 bytes, its vtable (even size >= 4, inside the file), its
 * declared inline size, each field's bytes against that size, every reference
 * (non-zero, < 2^31, target inside the file), every vector's length times its
 * element size (overflow-checked) and every string's terminator. Nothing here
 * recurses: the reader walks the TFLite schema, whose tables nest at most five deep
 * (Model > SubGraph > Operator > options > vector), and references point strictly
 * forward, so even a file whose offsets alias or "loop" terminates. What aliasing can
 * still do is make a small file describe a huge model (a million entries of a tensor
 * vector all naming one tensor with a big shape): the decoded size is budgeted at
 * TFL_BUDGET_FIXED + TFL_BUDGET_PER_BYTE x file size, far above any real model.
 *
 * Decoded arrays live in an arena owned by the model; strings, constant data and
 * custom options point into the file. After reading, tx_tflite_validate checks the
 * model's cross references, so a model that parses can be walked without checks. */
#include "io/tflite.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TFL_SCHEMA_VERSION 3u
#define TFL_MAX_OFFSET 0x7FFFFFFFu /* FlatBuffers' 2 GiB limit on uoffset_t values */
#define TFL_BUDGET_FIXED ((size_t)4 << 20)
#define TFL_BUDGET_PER_BYTE 32

/* ---- names ------------------------------------------------------------------ */

const char *tx_tflite_type_name(int type) {
    switch (type) {
#define TFL_TYPE_CASE_(name, v) case v: return #name;
        TX_TFLITE_TYPES(TFL_TYPE_CASE_)
#undef TFL_TYPE_CASE_
    }
    return "?";
}

size_t tx_tflite_type_size(int type) {
    switch (type) {
    case TX_TFL_FLOAT32: return 4;
    case TX_TFL_FLOAT16: return 2;
    case TX_TFL_INT32: return 4;
    case TX_TFL_UINT8: return 1;
    case TX_TFL_INT64: return 8;
    case TX_TFL_BOOL: return 1;
    case TX_TFL_INT16: return 2;
    case TX_TFL_COMPLEX64: return 8;
    case TX_TFL_INT8: return 1;
    case TX_TFL_FLOAT64: return 8;
    case TX_TFL_COMPLEX128: return 16;
    case TX_TFL_UINT64: return 8;
    case TX_TFL_UINT32: return 4;
    case TX_TFL_UINT16: return 2;
    case TX_TFL_BFLOAT16: return 2;
    default: return 0; /* STRING, RESOURCE, VARIANT, INT4, unknown */
    }
}

static const char *const tfl_op_names[TX_TFL_OP_COUNT] = {
#define TFL_OP_NAME_(name, v) [v] = #name,
    TX_TFLITE_OPS(TFL_OP_NAME_)
#undef TFL_OP_NAME_
};

const char *tx_tflite_op_name(int32_t code) {
    if (code < 0 || code >= TX_TFL_OP_COUNT || !tfl_op_names[code]) return "?";
    return tfl_op_names[code];
}

const char *tx_tflite_act_name(int act) {
    static const char *const n[] = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH",
                                    "SIGN_BIT"};
    return act >= 0 && act < 6 ? n[act] : "?";
}

const char *tx_tflite_padding_name(int pad) {
    return pad == TX_TFL_PAD_SAME ? "SAME" : pad == TX_TFL_PAD_VALID ? "VALID" : "?";
}

const char *tx_tflite_options_name(int t) {
    switch (t) {
    case TX_TFL_OPT_NONE: return "NONE";
    case TX_TFL_OPT_CONV2D: return "Conv2DOptions";
    case TX_TFL_OPT_DEPTHWISE_CONV2D: return "DepthwiseConv2DOptions";
    case TX_TFL_OPT_POOL2D: return "Pool2DOptions";
    case TX_TFL_OPT_FULLY_CONNECTED: return "FullyConnectedOptions";
    case TX_TFL_OPT_SOFTMAX: return "SoftmaxOptions";
    case TX_TFL_OPT_CONCATENATION: return "ConcatenationOptions";
    case TX_TFL_OPT_ADD: return "AddOptions";
    case TX_TFL_OPT_L2_NORM: return "L2NormOptions";
    case TX_TFL_OPT_RESIZE_BILINEAR: return "ResizeBilinearOptions";
    case TX_TFL_OPT_RESHAPE: return "ReshapeOptions";
    case TX_TFL_OPT_SPACE_TO_DEPTH: return "SpaceToDepthOptions";
    case TX_TFL_OPT_MUL: return "MulOptions";
    case TX_TFL_OPT_PAD: return "PadOptions";
    case TX_TFL_OPT_GATHER: return "GatherOptions";
    case TX_TFL_OPT_TRANSPOSE: return "TransposeOptions";
    case TX_TFL_OPT_REDUCER: return "ReducerOptions";
    case TX_TFL_OPT_SUB: return "SubOptions";
    case TX_TFL_OPT_DIV: return "DivOptions";
    case TX_TFL_OPT_SQUEEZE: return "SqueezeOptions";
    case TX_TFL_OPT_STRIDED_SLICE: return "StridedSliceOptions";
    case TX_TFL_OPT_SPLIT: return "SplitOptions";
    case TX_TFL_OPT_DEQUANTIZE: return "DequantizeOptions";
    case TX_TFL_OPT_MAXIMUM_MINIMUM: return "MaximumMinimumOptions";
    case TX_TFL_OPT_PADV2: return "PadV2Options";
    case TX_TFL_OPT_TRANSPOSE_CONV: return "TransposeConvOptions";
    case TX_TFL_OPT_PACK: return "PackOptions";
    case TX_TFL_OPT_UNPACK: return "UnpackOptions";
    case TX_TFL_OPT_RESIZE_NEAREST_NEIGHBOR: return "ResizeNearestNeighborOptions";
    case TX_TFL_OPT_LEAKY_RELU: return "LeakyReluOptions";
    case TX_TFL_OPT_QUANTIZE: return "QuantizeOptions";
    case TX_TFL_OPT_HARD_SWISH: return "HardSwishOptions";
    case TX_TFL_OPT_DEPTH_TO_SPACE: return "DepthToSpaceOptions";
    case TX_TFL_OPT_BATCH_MATMUL: return "BatchMatMulOptions";
    case TX_TFL_OPT_GELU: return "GeluOptions";
    }
    return "?";
}

int tx_tflite_op_options_type(int32_t code) {
    switch (code) {
    case TX_TFL_OP_CONV_2D: return TX_TFL_OPT_CONV2D;
    case TX_TFL_OP_DEPTHWISE_CONV_2D: return TX_TFL_OPT_DEPTHWISE_CONV2D;
    case TX_TFL_OP_AVERAGE_POOL_2D:
    case TX_TFL_OP_MAX_POOL_2D:
    case TX_TFL_OP_L2_POOL_2D: return TX_TFL_OPT_POOL2D;
    case TX_TFL_OP_FULLY_CONNECTED: return TX_TFL_OPT_FULLY_CONNECTED;
    case TX_TFL_OP_SOFTMAX: return TX_TFL_OPT_SOFTMAX;
    case TX_TFL_OP_CONCATENATION: return TX_TFL_OPT_CONCATENATION;
    case TX_TFL_OP_ADD: return TX_TFL_OPT_ADD;
    case TX_TFL_OP_L2_NORMALIZATION: return TX_TFL_OPT_L2_NORM;
    case TX_TFL_OP_RESIZE_BILINEAR: return TX_TFL_OPT_RESIZE_BILINEAR;
    case TX_TFL_OP_RESHAPE: return TX_TFL_OPT_RESHAPE;
    case TX_TFL_OP_SPACE_TO_DEPTH: return TX_TFL_OPT_SPACE_TO_DEPTH;
    case TX_TFL_OP_MUL: return TX_TFL_OPT_MUL;
    case TX_TFL_OP_PAD: return TX_TFL_OPT_PAD;
    case TX_TFL_OP_GATHER: return TX_TFL_OPT_GATHER;
    case TX_TFL_OP_TRANSPOSE: return TX_TFL_OPT_TRANSPOSE;
    case TX_TFL_OP_MEAN:
    case TX_TFL_OP_SUM:
    case TX_TFL_OP_REDUCE_PROD:
    case TX_TFL_OP_REDUCE_MAX:
    case TX_TFL_OP_REDUCE_MIN:
    case TX_TFL_OP_REDUCE_ANY:
    case TX_TFL_OP_REDUCE_ALL: return TX_TFL_OPT_REDUCER;
    case TX_TFL_OP_SUB: return TX_TFL_OPT_SUB;
    case TX_TFL_OP_DIV: return TX_TFL_OPT_DIV;
    case TX_TFL_OP_SQUEEZE: return TX_TFL_OPT_SQUEEZE;
    case TX_TFL_OP_STRIDED_SLICE: return TX_TFL_OPT_STRIDED_SLICE;
    case TX_TFL_OP_SPLIT: return TX_TFL_OPT_SPLIT;
    case TX_TFL_OP_DEQUANTIZE: return TX_TFL_OPT_DEQUANTIZE;
    case TX_TFL_OP_MAXIMUM:
    case TX_TFL_OP_MINIMUM: return TX_TFL_OPT_MAXIMUM_MINIMUM;
    case TX_TFL_OP_PADV2: return TX_TFL_OPT_PADV2;
    case TX_TFL_OP_TRANSPOSE_CONV: return TX_TFL_OPT_TRANSPOSE_CONV;
    case TX_TFL_OP_PACK: return TX_TFL_OPT_PACK;
    case TX_TFL_OP_UNPACK: return TX_TFL_OPT_UNPACK;
    case TX_TFL_OP_RESIZE_NEAREST_NEIGHBOR: return TX_TFL_OPT_RESIZE_NEAREST_NEIGHBOR;
    case TX_TFL_OP_LEAKY_RELU: return TX_TFL_OPT_LEAKY_RELU;
    case TX_TFL_OP_QUANTIZE: return TX_TFL_OPT_QUANTIZE;
    case TX_TFL_OP_HARD_SWISH: return TX_TFL_OPT_HARD_SWISH;
    case TX_TFL_OP_DEPTH_TO_SPACE: return TX_TFL_OPT_DEPTH_TO_SPACE;
    case TX_TFL_OP_BATCH_MATMUL: return TX_TFL_OPT_BATCH_MATMUL;
    case TX_TFL_OP_GELU: return TX_TFL_OPT_GELU;
    }
    return -1;
}

void tx_tflite_safe_name(char *out, size_t cap, const char *name) {
    if (cap == 0) return;
    if (!name) name = "";
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        out[i] = (c < 0x20 || c >= 0x7F) ? '?' : (char)c;
    }
    out[i] = 0;
    if (name[i] && cap >= 4) memcpy(out + cap - 4, "...", 4);
}

/* ---- the arena ----------------------------------------------------------------- */

typedef struct tfl_block {
    struct tfl_block *next;
    size_t used, cap;
    max_align_t data[];
} tfl_block;

static void tfl_arena_free(tfl_block *b) {
    while (b) {
        tfl_block *n = b->next;
        free(b);
        b = n;
    }
}

/* ---- parser state and errors ----------------------------------------------- */

typedef struct {
    const uint8_t *b;
    size_t n;
    const char *name;
    tx_err *err;
    char where[256]; /* e.g. "subgraph 0 tensor 12 'conv/weights'" */
    tfl_block *arena;
    size_t budget;   /* bytes the arena may still hand out */
    size_t used;     /* one past the last byte read so far */
} tflp;

static void tfl_touch(tflp *p, size_t end) {
    if (end > p->used) p->used = end;
}

static int tfl_fail(tflp *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int tfl_fail(tflp *p, int code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->where[0])
        return tx_err_set(p->err, code, "%s: %s: %s", p->name, p->where, msg);
    return tx_err_set(p->err, code, "%s: %s", p->name, msg);
}

/* Zeroed memory for count x size bytes from the arena (count may be 0: returns a
 * valid non-NULL pointer to nothing). */
static int tfl_alloc(tflp *p, size_t count, size_t size, void *out, const char *what) {
    size_t bytes;
    *(void **)out = NULL;
    if (!tx_mul_ok(count, size, &bytes) || bytes > SIZE_MAX / 2)
        return tfl_fail(p, TX_EFORMAT, "%s: %zu entries of %zu bytes overflow", what, count, size);
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes > p->budget)
        return tfl_fail(p, TX_EFORMAT,
                        "%s: the model would decode to more than %zu bytes for a %zu-byte "
                        "file (tables referenced many times over?)",
                        what, TFL_BUDGET_FIXED + TFL_BUDGET_PER_BYTE * p->n, p->n);
    p->budget -= bytes;
    tfl_block *blk = p->arena;
    if (!blk || blk->cap - blk->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        blk = malloc(sizeof *blk + cap);
        if (!blk) return tfl_fail(p, TX_ENOMEM, "%s: out of memory (%zu bytes)", what, cap);
        blk->cap = cap;
        blk->used = 0;
        blk->next = p->arena;
        p->arena = blk;
    }
    void *mem = (char *)blk->data + blk->used;
    blk->used += bytes;
    memset(mem, 0, bytes);
    *(void **)out = mem;
    return TX_OK;
}

/* ---- the flatbuffer layer ------------------------------------------------------ */

static uint16_t rd16(const uint8_t *s) { return (uint16_t)(s[0] | (s[1] << 8)); }
static uint32_t rd32(const uint8_t *s) {
    return (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16) |
           ((uint32_t)s[3] << 24);
}
static uint64_t rd64(const uint8_t *s) { return rd32(s) | ((uint64_t)rd32(s + 4) << 32); }
static float rdf32(const uint8_t *s) {
    uint32_t u = rd32(s);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

typedef struct {
    size_t pos;          /* 0: absent (position 0 holds the root offset, never a table) */
    size_t vt;           /* vtable position */
    uint32_t vtsize, tsize;
} fbt;

typedef struct {
    size_t pos;          /* first element */
    uint32_t n;
    int present;
} fbv;

/* A table at pos: its vtable and inline size must lie inside the file. */
static int fb_table_at(tflp *p, size_t pos, fbt *t, const char *what) {
    memset(t, 0, sizeof *t);
    if (p->n < 4 || pos > p->n - 4)
        return tfl_fail(p, TX_EFORMAT, "%s: table at offset %zu runs past the end of the file "
                        "(%zu bytes)", what, pos, p->n);
    int64_t so = (int32_t)rd32(p->b + pos);
    int64_t vt = (int64_t)pos - so;
    if (vt < 0 || (uint64_t)vt > p->n - 4)
        return tfl_fail(p, TX_EFORMAT, "%s: table at offset %zu has its vtable at %" PRId64
                        ", outside the file (%zu bytes)", what, pos, vt, p->n);
    uint32_t vs = rd16(p->b + vt), ts = rd16(p->b + vt + 2);
    if (vs < 4 || (vs & 1))
        return tfl_fail(p, TX_EFORMAT, "%s: vtable at offset %" PRId64 " has size %u (must be "
                        "even and at least 4)", what, vt, vs);
    if (vs > p->n - (size_t)vt)
        return tfl_fail(p, TX_EFORMAT, "%s: vtable of %u bytes at offset %" PRId64 " runs past "
                        "the end of the file (%zu bytes)", what, vs, vt, p->n);
    if (ts < 4)
        return tfl_fail(p, TX_EFORMAT, "%s: table at offset %zu declares %u inline bytes "
                        "(at least 4 needed)", what, pos, ts);
    if (ts > p->n - pos)
        return tfl_fail(p, TX_EFORMAT, "%s: table of %u bytes at offset %zu runs past the end "
                        "of the file (%zu bytes)", what, ts, pos, p->n);
    tfl_touch(p, (size_t)vt + vs);
    tfl_touch(p, pos + ts);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vtsize = vs;
    t->tsize = ts;
    return TX_OK;
}

/* Position of field `id` (fsz bytes) inside table t, 0 when absent. */
static int fb_field(tflp *p, const fbt *t, int id, size_t fsz, size_t *at, const char *what) {
    *at = 0;
    if (!t->pos) return TX_OK;
    size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vtsize) return TX_OK;
    uint32_t fo = rd16(p->b + t->vt + slot);
    if (fo == 0) return TX_OK;
    if (fo < 4 || fo + fsz > t->tsize)
        return tfl_fail(p, TX_EFORMAT, "%s: field of %zu bytes at offset %u of a %u-byte table "
                        "(offset %zu) lies outside the table", what, fsz, fo, t->tsize, t->pos);
    *at = t->pos + fo;
    return TX_OK;
}

static int fb_u8(tflp *p, const fbt *t, int id, uint8_t def, uint8_t *v, const char *what) {
    size_t at;
    int rc = fb_field(p, t, id, 1, &at, what);
    *v = at ? p->b[at] : def;
    return rc;
}
static int fb_i8(tflp *p, const fbt *t, int id, int8_t def, int8_t *v, const char *what) {
    size_t at;
    int rc = fb_field(p, t, id, 1, &at, what);
    *v = at ? (int8_t)p->b[at] : def;
    return rc;
}
static int fb_bool(tflp *p, const fbt *t, int id, int def, int32_t *v, const char *what) {
    uint8_t u;
    int rc = fb_u8(p, t, id, (uint8_t)def, &u, what);
    *v = u != 0;
    return rc;
}
static int fb_u32(tflp *p, const fbt *t, int id, uint32_t def, uint32_t *v, const char *what) {
    size_t at;
    int rc = fb_field(p, t, id, 4, &at, what);
    *v = at ? rd32(p->b + at) : def;
    return rc;
}
static int fb_i32(tflp *p, const fbt *t, int id, int32_t def, int32_t *v, const char *what) {
    uint32_t u;
    int rc = fb_u32(p, t, id, (uint32_t)def, &u, what);
    *v = (int32_t)u;
    return rc;
}
static int fb_u64(tflp *p, const fbt *t, int id, uint64_t def, uint64_t *v, const char *what) {
    size_t at;
    int rc = fb_field(p, t, id, 8, &at, what);
    *v = at ? rd64(p->b + at) : def;
    return rc;
}
static int fb_f32(tflp *p, const fbt *t, int id, float def, float *v, const char *what) {
    size_t at;
    int rc = fb_field(p, t, id, 4, &at, what);
    *v = at ? rdf32(p->b + at) : def;
    return rc;
}

/* Follows the u32 reference stored at position at; the target must leave room for
 * at least 4 bytes (a table's vtable offset or a vector's length). */
static int fb_follow(tflp *p, size_t at, size_t *target, const char *what) {
    uint32_t off = rd32(p->b + at);
    if (off == 0 || off > TFL_MAX_OFFSET)
        return tfl_fail(p, TX_EFORMAT, "%s: reference at offset %zu holds %u (must be between 1 "
                        "and 2^31-1)", what, at, off);
    if (off > p->n - at || p->n - at - off < 4)
        return tfl_fail(p, TX_EFORMAT, "%s: reference at offset %zu points to %zu, past the end "
                        "of the file (%zu bytes)", what, at, at + (size_t)off, p->n);
    *target = at + off;
    return TX_OK;
}

/* Sub-table in field id; sub->pos == 0 when absent. */
static int fb_subtable(tflp *p, const fbt *t, int id, fbt *sub, const char *what) {
    size_t at, target;
    memset(sub, 0, sizeof *sub);
    int rc = fb_field(p, t, id, 4, &at, what);
    if (rc || !at) return rc;
    if ((rc = fb_follow(p, at, &target, what))) return rc;
    return fb_table_at(p, target, sub, what);
}

/* Vector in field id with elements of esz bytes; v->present == 0 when absent. */
static int fb_vector(tflp *p, const fbt *t, int id, size_t esz, fbv *v, const char *what) {
    size_t at, target, bytes;
    memset(v, 0, sizeof *v);
    int rc = fb_field(p, t, id, 4, &at, what);
    if (rc || !at) return rc;
    if ((rc = fb_follow(p, at, &target, what))) return rc;
    uint32_t len = rd32(p->b + target);
    size_t room = p->n - target - 4;
    if (len > INT32_MAX || !tx_mul_ok(len, esz, &bytes) || bytes > room)
        return tfl_fail(p, TX_EFORMAT, "%s: vector of %u x %zu bytes at offset %zu runs past the "
                        "end of the file (%zu bytes)", what, len, esz, target, p->n);
    v->pos = target + 4;
    v->n = len;
    v->present = 1;
    tfl_touch(p, v->pos + bytes);
    return TX_OK;
}

/* String in field id: NULL when absent, else a pointer into the file that is
 * NUL-terminated where its length says (checked). */
static int fb_string(tflp *p, const fbt *t, int id, const char **s, const char *what) {
    fbv v;
    *s = NULL;
    int rc = fb_vector(p, t, id, 1, &v, what);
    if (rc || !v.present) return rc;
    if (v.n >= p->n - v.pos)
        return tfl_fail(p, TX_EFORMAT, "%s: string of %u bytes at offset %zu has no room for its "
                        "terminating NUL before the end of the file", what, v.n, v.pos - 4);
    if (p->b[v.pos + v.n] != 0)
        return tfl_fail(p, TX_EFORMAT, "%s: string of %u bytes at offset %zu is not followed by a "
                        "NUL byte", what, v.n, v.pos - 4);
    tfl_touch(p, v.pos + v.n + 1);
    *s = (const char *)p->b + v.pos;
    return TX_OK;
}

/* Element i of a vector of tables. */
static int fb_vec_table(tflp *p, const fbv *v, uint32_t i, fbt *t, const char *what) {
    size_t target;
    int rc = fb_follow(p, v->pos + 4 * (size_t)i, &target, what);
    if (rc) return rc;
    return fb_table_at(p, target, t, what);
}

/* Vectors of scalars copied into the arena (aligned, host order). */
static int fb_ivec(tflp *p, const fbt *t, int id, int32_t *n, const int32_t **out,
                   uint8_t *present, const char *what) {
    fbv v;
    int32_t *a;
    *n = 0;
    *out = NULL;
    if (present) *present = 0;
    int rc = fb_vector(p, t, id, 4, &v, what);
    if (rc || !v.present) return rc;
    if ((rc = tfl_alloc(p, v.n, sizeof *a, &a, what))) return rc;
    for (uint32_t i = 0; i < v.n; i++) a[i] = (int32_t)rd32(p->b + v.pos + 4 * (size_t)i);
    *n = (int32_t)v.n;
    *out = a;
    if (present) *present = 1;
    return TX_OK;
}

static int fb_fvec(tflp *p, const fbt *t, int id, int32_t *n, const float **out,
                   const char *what) {
    fbv v;
    float *a;
    *n = 0;
    *out = NULL;
    int rc = fb_vector(p, t, id, 4, &v, what);
    if (rc || !v.present) return rc;
    if ((rc = tfl_alloc(p, v.n, sizeof *a, &a, what))) return rc;
    for (uint32_t i = 0; i < v.n; i++) a[i] = rdf32(p->b + v.pos + 4 * (size_t)i);
    *n = (int32_t)v.n;
    *out = a;
    return TX_OK;
}

static int fb_lvec(tflp *p, const fbt *t, int id, int32_t *n, const int64_t **out,
                   const char *what) {
    fbv v;
    int64_t *a;
    *n = 0;
    *out = NULL;
    int rc = fb_vector(p, t, id, 8, &v, what);
    if (rc || !v.present) return rc;
    if ((rc = tfl_alloc(p, v.n, sizeof *a, &a, what))) return rc;
    for (uint32_t i = 0; i < v.n; i++) a[i] = (int64_t)rd64(p->b + v.pos + 8 * (size_t)i);
    *n = (int32_t)v.n;
    *out = a;
    return TX_OK;
}

/* ---- the TFLite schema ---------------------------------------------------------- */

/* Field ids (the order of fields in schema.fbs; a union takes two ids: type, value). */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3,
       MODEL_BUFFERS = 4, MODEL_METADATA = 6, MODEL_SIGNATURES = 7 };
enum { OPC_DEPRECATED = 0, OPC_CUSTOM = 1, OPC_VERSION = 2, OPC_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPS = 3, SG_NAME = 4 };
enum { TEN_SHAPE = 0, TEN_TYPE = 1, TEN_BUFFER = 2, TEN_NAME = 3, TEN_QUANT = 4,
       TEN_VARIABLE = 5, TEN_SPARSITY = 6, TEN_SHAPE_SIG = 7, TEN_HAS_RANK = 8 };
enum { Q_MIN = 0, Q_MAX = 1, Q_SCALE = 2, Q_ZERO = 3, Q_DETAILS_TYPE = 4, Q_DIM = 6 };
enum { OP_OPCODE = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4,
       OP_CUSTOM = 5, OP_INTERMEDIATES = 8, OP_LARGE_CUSTOM_OFFSET = 9,
       OP_LARGE_CUSTOM_SIZE = 10, OP_OPTIONS2_TYPE = 11 };
enum { BUF_DATA = 0, BUF_OFFSET = 1, BUF_SIZE = 2 };
enum { MD_NAME = 0, MD_BUFFER = 1 };

static void tfl_where(tflp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tfl_where(tflp *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->where, sizeof p->where, fmt, ap);
    va_end(ap);
}

/* Data stored outside the flatbuffer: offset (from the file's start) and size. */
static int tfl_external(tflp *p, uint64_t off, uint64_t size, const uint8_t **data,
                        const char *what) {
    if (off > p->n || size > p->n - off)
        return tfl_fail(p, TX_EFORMAT, "%s: %" PRIu64 " bytes at file offset %" PRIu64 " lie "
                        "past the end of the file (%zu bytes)", what, size, off, p->n);
    *data = size ? p->b + off : NULL;
    if (size) tfl_touch(p, (size_t)(off + size));
    return TX_OK;
}

static int tfl_buffers(tflp *p, const fbt *model, tx_tflite_model *m) {
    fbv v;
    int rc = fb_vector(p, model, MODEL_BUFFERS, 4, &v, "buffers");
    if (rc) return rc;
    if ((rc = tfl_alloc(p, v.n, sizeof *m->buffers, &m->buffers, "buffers"))) return rc;
    m->n_buffers = (int32_t)v.n;
    for (uint32_t i = 0; i < v.n; i++) {
        tx_tflite_buffer *b = &m->buffers[i];
        fbt t;
        fbv data;
        uint64_t off, size;
        tfl_where(p, "buffer %u", i);
        if ((rc = fb_vec_table(p, &v, i, &t, "table"))) return rc;
        if ((rc = fb_vector(p, &t, BUF_DATA, 1, &data, "data"))) return rc;
        if ((rc = fb_u64(p, &t, BUF_OFFSET, 0, &off, "offset"))) return rc;
        if ((rc = fb_u64(p, &t, BUF_SIZE, 0, &size, "size"))) return rc;
        /* As TFLite: an offset above 1 means the bytes live past the flatbuffer
         * (files over 2 GiB), whatever the data vector holds. */
        if (off > 1) {
            if ((rc = tfl_external(p, off, size, &b->data, "offset/size"))) return rc;
            b->size = (size_t)size;
            b->external = 1;
        } else if (data.n) {
            b->data = p->b + data.pos;
            b->size = data.n;
        }
    }
    p->where[0] = 0;
    return TX_OK;
}

static int tfl_opcodes(tflp *p, const fbt *model, tx_tflite_model *m) {
    fbv v;
    int rc = fb_vector(p, model, MODEL_OPCODES, 4, &v, "operator_codes");
    if (rc) return rc;
    if ((rc = tfl_alloc(p, v.n, sizeof *m->opcodes, &m->opcodes, "operator_codes"))) return rc;
    m->n_opcodes = (int32_t)v.n;
    for (uint32_t i = 0; i < v.n; i++) {
        tx_tflite_opcode *c = &m->opcodes[i];
        fbt t;
        tfl_where(p, "operator code %u", i);
        if ((rc = fb_vec_table(p, &v, i, &t, "table"))) return rc;
        if ((rc = fb_i8(p, &t, OPC_DEPRECATED, 0, &c->deprecated_builtin,
                        "deprecated_builtin_code"))) return rc;
        if ((rc = fb_string(p, &t, OPC_CUSTOM, &c->custom, "custom_code"))) return rc;
        if ((rc = fb_i32(p, &t, OPC_VERSION, 1, &c->version, "version"))) return rc;
        if ((rc = fb_i32(p, &t, OPC_BUILTIN, 0, &c->builtin_raw, "builtin_code"))) return rc;
        /* TFLite's rule: the int8 field holds codes below 127, the int32 field all of
         * them (0 when written by old converters), so the larger one wins. */
        c->builtin = c->builtin_raw > c->deprecated_builtin ? c->builtin_raw
                                                             : c->deprecated_builtin;
        if (c->builtin < 0)
            return tfl_fail(p, TX_EFORMAT, "builtin code %d is negative (deprecated_builtin_code "
                            "%d, builtin_code %d)", c->builtin, c->deprecated_builtin,
                            c->builtin_raw);
        if (c->builtin == TX_TFL_OP_CUSTOM && !c->custom)
            return tfl_fail(p, TX_EFORMAT, "CUSTOM operator without a custom_code");
    }
    p->where[0] = 0;
    return TX_OK;
}

static int tfl_quant(tflp *p, const fbt *t, tx_tflite_quant *q) {
    fbt qt;
    int rc = fb_subtable(p, t, TEN_QUANT, &qt, "quantization");
    if (rc || !qt.pos) return rc;
    int32_t nz;
    if ((rc = fb_fvec(p, &qt, Q_MIN, &q->n_min, &q->min, "quantization.min"))) return rc;
    if ((rc = fb_fvec(p, &qt, Q_MAX, &q->n_max, &q->max, "quantization.max"))) return rc;
    if ((rc = fb_fvec(p, &qt, Q_SCALE, &q->n, &q->scale, "quantization.scale"))) return rc;
    if ((rc = fb_lvec(p, &qt, Q_ZERO, &nz, &q->zero_point, "quantization.zero_point")))
        return rc;
    if ((rc = fb_u8(p, &qt, Q_DETAILS_TYPE, 0, &q->details_type, "quantization.details_type")))
        return rc;
    if ((rc = fb_i32(p, &qt, Q_DIM, 0, &q->quantized_dimension,
                     "quantization.quantized_dimension"))) return rc;
    if (q->n == 0) { /* no scales: not quantized, whatever else the table holds */
        q->scale = NULL;
        q->zero_point = NULL;
        return TX_OK;
    }
    if (nz != q->n)
        return tfl_fail(p, TX_EFORMAT, "quantization has %d scales but %d zero points", q->n, nz);
    return TX_OK;
}

static int tfl_tensor(tflp *p, const fbt *t, tx_tflite_tensor *x) {
    int rc;
    int8_t type;
    uint8_t u;
    fbt sparsity;
    if ((rc = fb_string(p, t, TEN_NAME, &x->name, "name"))) return rc;
    if (!x->name) x->name = "";
    char nm[100];
    tx_tflite_safe_name(nm, sizeof nm, x->name);
    size_t wl = strlen(p->where);
    snprintf(p->where + wl, sizeof p->where - wl, " '%s'", nm);
    if ((rc = fb_ivec(p, t, TEN_SHAPE, &x->ndim, &x->shape, NULL, "shape"))) return rc;
    if ((rc = fb_i8(p, t, TEN_TYPE, 0, &type, "type"))) return rc;
    x->type = type;
    if ((rc = fb_u32(p, t, TEN_BUFFER, 0, &x->buffer, "buffer"))) return rc;
    if ((rc = tfl_quant(p, t, &x->q))) return rc;
    if ((rc = fb_u8(p, t, TEN_VARIABLE, 0, &u, "is_variable"))) return rc;
    x->is_variable = u != 0;
    if ((rc = fb_subtable(p, t, TEN_SPARSITY, &sparsity, "sparsity"))) return rc;
    x->is_sparse = sparsity.pos != 0;
    if ((rc = fb_ivec(p, t, TEN_SHAPE_SIG, &x->ndim_signature, &x->shape_signature, NULL,
                      "shape_signature"))) return rc;
    if ((rc = fb_u8(p, t, TEN_HAS_RANK, 0, &u, "has_rank"))) return rc;
    x->has_rank = u != 0;
    return TX_OK;
}

/* Fills the schema's defaults for every decoded options table (what an empty table
 * reads as), so an operator without options still has meaningful values. */
static void tfl_default_options(tx_tflite_options *o) {
    memset(o, 0, sizeof *o);
    o->conv2d.dilation_w = o->conv2d.dilation_h = 1;
    o->dwconv2d.dilation_w = o->dwconv2d.dilation_h = 1;
    o->pot_scale_int16 = 1;
}

static int tfl_options(tflp *p, const fbt *ot, int type, tx_tflite_options *o) {
    int rc = TX_OK;
    /* Each case reads its fields in schema order; `rc = rc ? rc : f(...)` stops at the
     * first error without a cascade of ifs. */
#define R_(call) do { if (!rc) rc = (call); } while (0)
    switch (type) {
    case TX_TFL_OPT_CONV2D: {
        tx_tflite_conv2d_opts *c = &o->conv2d;
        int8_t pad, act, qbt;
        R_(fb_i8(p, ot, 0, 0, &pad, "Conv2DOptions.padding"));
        R_(fb_i32(p, ot, 1, 0, &c->stride_w, "Conv2DOptions.stride_w"));
        R_(fb_i32(p, ot, 2, 0, &c->stride_h, "Conv2DOptions.stride_h"));
        R_(fb_i8(p, ot, 3, 0, &act, "Conv2DOptions.fused_activation_function"));
        R_(fb_i32(p, ot, 4, 1, &c->dilation_w, "Conv2DOptions.dilation_w_factor"));
        R_(fb_i32(p, ot, 5, 1, &c->dilation_h, "Conv2DOptions.dilation_h_factor"));
        R_(fb_i8(p, ot, 6, 0, &qbt, "Conv2DOptions.quantized_bias_type"));
        if (!rc) { c->padding = pad; c->activation = act; c->quantized_bias_type = qbt; }
        break;
    }
    case TX_TFL_OPT_DEPTHWISE_CONV2D: {
        tx_tflite_dwconv2d_opts *c = &o->dwconv2d;
        int8_t pad, act;
        R_(fb_i8(p, ot, 0, 0, &pad, "DepthwiseConv2DOptions.padding"));
        R_(fb_i32(p, ot, 1, 0, &c->stride_w, "DepthwiseConv2DOptions.stride_w"));
        R_(fb_i32(p, ot, 2, 0, &c->stride_h, "DepthwiseConv2DOptions.stride_h"));
        R_(fb_i32(p, ot, 3, 0, &c->depth_multiplier, "DepthwiseConv2DOptions.depth_multiplier"));
        R_(fb_i8(p, ot, 4, 0, &act, "DepthwiseConv2DOptions.fused_activation_function"));
        R_(fb_i32(p, ot, 5, 1, &c->dilation_w, "DepthwiseConv2DOptions.dilation_w_factor"));
        R_(fb_i32(p, ot, 6, 1, &c->dilation_h, "DepthwiseConv2DOptions.dilation_h_factor"));
        if (!rc) { c->padding = pad; c->activation = act; }
        break;
    }
    case TX_TFL_OPT_POOL2D: {
        tx_tflite_pool2d_opts *c = &o->pool2d;
        int8_t pad, act;
        R_(fb_i8(p, ot, 0, 0, &pad, "Pool2DOptions.padding"));
        R_(fb_i32(p, ot, 1, 0, &c->stride_w, "Pool2DOptions.stride_w"));
        R_(fb_i32(p, ot, 2, 0, &c->stride_h, "Pool2DOptions.stride_h"));
        R_(fb_i32(p, ot, 3, 0, &c->filter_w, "Pool2DOptions.filter_width"));
        R_(fb_i32(p, ot, 4, 0, &c->filter_h, "Pool2DOptions.filter_height"));
        R_(fb_i8(p, ot, 5, 0, &act, "Pool2DOptions.fused_activation_function"));
        if (!rc) { c->padding = pad; c->activation = act; }
        break;
    }
    case TX_TFL_OPT_FULLY_CONNECTED: {
        tx_tflite_fc_opts *c = &o->fc;
        int8_t act, wf, qbt;
        R_(fb_i8(p, ot, 0, 0, &act, "FullyConnectedOptions.fused_activation_function"));
        R_(fb_i8(p, ot, 1, 0, &wf, "FullyConnectedOptions.weights_format"));
        R_(fb_bool(p, ot, 2, 0, &c->keep_num_dims, "FullyConnectedOptions.keep_num_dims"));
        R_(fb_bool(p, ot, 3, 0, &c->asymmetric_quantize_inputs,
                   "FullyConnectedOptions.asymmetric_quantize_inputs"));
        R_(fb_i8(p, ot, 4, 0, &qbt, "FullyConnectedOptions.quantized_bias_type"));
        if (!rc) { c->activation = act; c->weights_format = wf; c->quantized_bias_type = qbt; }
        break;
    }
    case TX_TFL_OPT_TRANSPOSE_CONV: {
        tx_tflite_transpose_conv_opts *c = &o->tconv;
        int8_t pad, act, qbt;
        R_(fb_i8(p, ot, 0, 0, &pad, "TransposeConvOptions.padding"));
        R_(fb_i32(p, ot, 1, 0, &c->stride_w, "TransposeConvOptions.stride_w"));
        R_(fb_i32(p, ot, 2, 0, &c->stride_h, "TransposeConvOptions.stride_h"));
        R_(fb_i8(p, ot, 3, 0, &act, "TransposeConvOptions.fused_activation_function"));
        R_(fb_i8(p, ot, 4, 0, &qbt, "TransposeConvOptions.quantized_bias_type"));
        if (!rc) { c->padding = pad; c->activation = act; c->quantized_bias_type = qbt; }
        break;
    }
    case TX_TFL_OPT_SOFTMAX:
        R_(fb_f32(p, ot, 0, 0.0f, &o->beta, "SoftmaxOptions.beta"));
        break;
    case TX_TFL_OPT_CONCATENATION: {
        int8_t act;
        R_(fb_i32(p, ot, 0, 0, &o->axis, "ConcatenationOptions.axis"));
        R_(fb_i8(p, ot, 1, 0, &act, "ConcatenationOptions.fused_activation_function"));
        if (!rc) o->activation = act;
        break;
    }
    case TX_TFL_OPT_ADD:
    case TX_TFL_OPT_SUB: {
        int8_t act;
        R_(fb_i8(p, ot, 0, 0, &act, "fused_activation_function"));
        R_(fb_bool(p, ot, 1, 1, &o->pot_scale_int16, "pot_scale_int16"));
        if (!rc) o->activation = act;
        break;
    }
    case TX_TFL_OPT_MUL:
    case TX_TFL_OPT_DIV:
    case TX_TFL_OPT_L2_NORM: {
        int8_t act;
        R_(fb_i8(p, ot, 0, 0, &act, "fused_activation_function"));
        if (!rc) o->activation = act;
        break;
    }
    case TX_TFL_OPT_RESHAPE:
        R_(fb_ivec(p, ot, 0, &o->new_shape.n, &o->new_shape.v, &o->new_shape.present,
                   "ReshapeOptions.new_shape"));
        break;
    case TX_TFL_OPT_SQUEEZE:
        R_(fb_ivec(p, ot, 0, &o->squeeze_dims.n, &o->squeeze_dims.v, &o->squeeze_dims.present,
                   "SqueezeOptions.squeeze_dims"));
        break;
    case TX_TFL_OPT_REDUCER:
        R_(fb_bool(p, ot, 0, 0, &o->keep_dims, "ReducerOptions.keep_dims"));
        break;
    case TX_TFL_OPT_RESIZE_BILINEAR:
        R_(fb_bool(p, ot, 2, 0, &o->align_corners, "ResizeBilinearOptions.align_corners"));
        R_(fb_bool(p, ot, 3, 0, &o->half_pixel_centers,
                   "ResizeBilinearOptions.half_pixel_centers"));
        break;
    case TX_TFL_OPT_RESIZE_NEAREST_NEIGHBOR:
        R_(fb_bool(p, ot, 0, 0, &o->align_corners, "ResizeNearestNeighborOptions.align_corners"));
        R_(fb_bool(p, ot, 1, 0, &o->half_pixel_centers,
                   "ResizeNearestNeighborOptions.half_pixel_centers"));
        break;
    case TX_TFL_OPT_SPACE_TO_DEPTH:
    case TX_TFL_OPT_DEPTH_TO_SPACE:
        R_(fb_i32(p, ot, 0, 0, &o->block_size, "block_size"));
        break;
    case TX_TFL_OPT_GATHER:
        R_(fb_i32(p, ot, 0, 0, &o->axis, "GatherOptions.axis"));
        R_(fb_i32(p, ot, 1, 0, &o->batch_dims, "GatherOptions.batch_dims"));
        break;
    case TX_TFL_OPT_STRIDED_SLICE:
        R_(fb_i32(p, ot, 0, 0, &o->begin_mask, "StridedSliceOptions.begin_mask"));
        R_(fb_i32(p, ot, 1, 0, &o->end_mask, "StridedSliceOptions.end_mask"));
        R_(fb_i32(p, ot, 2, 0, &o->ellipsis_mask, "StridedSliceOptions.ellipsis_mask"));
        R_(fb_i32(p, ot, 3, 0, &o->new_axis_mask, "StridedSliceOptions.new_axis_mask"));
        R_(fb_i32(p, ot, 4, 0, &o->shrink_axis_mask, "StridedSliceOptions.shrink_axis_mask"));
        R_(fb_bool(p, ot, 5, 0, &o->offset, "StridedSliceOptions.offset"));
        break;
    case TX_TFL_OPT_SPLIT:
        R_(fb_i32(p, ot, 0, 0, &o->count, "SplitOptions.num_splits"));
        break;
    case TX_TFL_OPT_PACK:
        R_(fb_i32(p, ot, 0, 0, &o->count, "PackOptions.values_count"));
        R_(fb_i32(p, ot, 1, 0, &o->axis, "PackOptions.axis"));
        break;
    case TX_TFL_OPT_UNPACK:
        R_(fb_i32(p, ot, 0, 0, &o->count, "UnpackOptions.num"));
        R_(fb_i32(p, ot, 1, 0, &o->axis, "UnpackOptions.axis"));
        break;
    case TX_TFL_OPT_LEAKY_RELU:
        R_(fb_f32(p, ot, 0, 0.0f, &o->alpha, "LeakyReluOptions.alpha"));
        break;
    case TX_TFL_OPT_BATCH_MATMUL:
        R_(fb_bool(p, ot, 0, 0, &o->adj_x, "BatchMatMulOptions.adj_x"));
        R_(fb_bool(p, ot, 1, 0, &o->adj_y, "BatchMatMulOptions.adj_y"));
        break;
    case TX_TFL_OPT_GELU:
        R_(fb_bool(p, ot, 0, 0, &o->approximate, "GeluOptions.approximate"));
        break;
    default: /* tables without fields (PadOptions, ...) or not decoded here */
        break;
    }
#undef R_
    return rc;
}

static int tfl_operator(tflp *p, const fbt *t, const tx_tflite_model *m, tx_tflite_op *op) {
    int rc;
    fbt ot;
    fbv custom;
    uint64_t loff, lsize;
    if ((rc = fb_u32(p, t, OP_OPCODE, 0, &op->opcode_index, "opcode_index"))) return rc;
    if (op->opcode_index >= (uint32_t)m->n_opcodes)
        return tfl_fail(p, TX_EFORMAT, "opcode_index %u out of range (operator codes: %d)",
                        op->opcode_index, m->n_opcodes);
    op->builtin = m->opcodes[op->opcode_index].builtin;
    size_t wl = strlen(p->where);
    snprintf(p->where + wl, sizeof p->where - wl, " (%s)", tx_tflite_op_name(op->builtin));
    if ((rc = fb_ivec(p, t, OP_INPUTS, &op->n_inputs, &op->inputs, NULL, "inputs"))) return rc;
    if ((rc = fb_ivec(p, t, OP_OUTPUTS, &op->n_outputs, &op->outputs, NULL, "outputs")))
        return rc;
    if ((rc = fb_ivec(p, t, OP_INTERMEDIATES, &op->n_intermediates, &op->intermediates, NULL,
                      "intermediates"))) return rc;
    if ((rc = fb_u8(p, t, OP_OPTIONS_TYPE, 0, &op->options_type, "builtin_options_type")))
        return rc;
    tfl_default_options(&op->opt);
    if ((rc = fb_subtable(p, t, OP_OPTIONS, &ot, "builtin_options"))) return rc;
    if (op->options_type && ot.pos &&
        (rc = tfl_options(p, &ot, op->options_type, &op->opt))) return rc;
    if ((rc = fb_u8(p, t, OP_OPTIONS2_TYPE, 0, &op->options2_type, "builtin_options_2_type")))
        return rc;
    if ((rc = fb_vector(p, t, OP_CUSTOM, 1, &custom, "custom_options"))) return rc;
    if ((rc = fb_u64(p, t, OP_LARGE_CUSTOM_OFFSET, 0, &loff, "large_custom_options_offset")))
        return rc;
    if ((rc = fb_u64(p, t, OP_LARGE_CUSTOM_SIZE, 0, &lsize, "large_custom_options_size")))
        return rc;
    if (loff > 1) {
        if ((rc = tfl_external(p, loff, lsize, &op->custom_options,
                               "large_custom_options_offset/size"))) return rc;
        op->custom_options_size = (size_t)lsize;
    } else if (custom.n) {
        op->custom_options = p->b + custom.pos;
        op->custom_options_size = custom.n;
    }
    return TX_OK;
}

static int tfl_subgraph(tflp *p, const fbt *t, uint32_t si, const tx_tflite_model *m,
                        tx_tflite_subgraph *sg) {
    int rc;
    fbv tv, ov;
    tfl_where(p, "subgraph %u", si);
    if ((rc = fb_string(p, t, SG_NAME, &sg->name, "name"))) return rc;
    if (!sg->name) sg->name = "";
    if ((rc = fb_ivec(p, t, SG_INPUTS, &sg->n_inputs, &sg->inputs, NULL, "inputs"))) return rc;
    if ((rc = fb_ivec(p, t, SG_OUTPUTS, &sg->n_outputs, &sg->outputs, NULL, "outputs")))
        return rc;
    if ((rc = fb_vector(p, t, SG_TENSORS, 4, &tv, "tensors"))) return rc;
    if ((rc = tfl_alloc(p, tv.n, sizeof *sg->tensors, &sg->tensors, "tensors"))) return rc;
    sg->n_tensors = (int32_t)tv.n;
    for (uint32_t i = 0; i < tv.n; i++) {
        fbt tt;
        tfl_where(p, "subgraph %u tensor %u", si, i);
        if ((rc = fb_vec_table(p, &tv, i, &tt, "table"))) return rc;
        if ((rc = tfl_tensor(p, &tt, &sg->tensors[i]))) return rc;
    }
    tfl_where(p, "subgraph %u", si);
    if ((rc = fb_vector(p, t, SG_OPS, 4, &ov, "operators"))) return rc;
    if ((rc = tfl_alloc(p, ov.n, sizeof *sg->ops, &sg->ops, "operators"))) return rc;
    sg->n_ops = (int32_t)ov.n;
    for (uint32_t i = 0; i < ov.n; i++) {
        fbt ot;
        tfl_where(p, "subgraph %u operator %u", si, i);
        if ((rc = fb_vec_table(p, &ov, i, &ot, "table"))) return rc;
        if ((rc = tfl_operator(p, &ot, m, &sg->ops[i]))) return rc;
    }
    p->where[0] = 0;
    return TX_OK;
}

static int tfl_model(tflp *p, tx_tflite_model *m) {
    int rc;
    fbt root;
    fbv sv, mv, sigv;
    if (p->n < 8)
        return tfl_fail(p, TX_EFORMAT, "%zu bytes is too small for a TFLite model", p->n);
    if (memcmp(p->b + 4, "TFL3", 4) != 0) {
        char id[8];
        for (int i = 0; i < 4; i++) {
            unsigned char c = p->b[4 + i];
            id[i] = (c < 0x20 || c >= 0x7F) ? '?' : (char)c;
        }
        id[4] = 0;
        return tfl_fail(p, TX_EFORMAT, "not a TFLite model: file identifier is '%s' (bytes 4-7), "
                        "expected 'TFL3'", id);
    }
    size_t rootpos;
    tfl_touch(p, 8);
    if ((rc = fb_follow(p, 0, &rootpos, "root table"))) return rc;
    if ((rc = fb_table_at(p, rootpos, &root, "root table (Model)"))) return rc;
    if ((rc = fb_u32(p, &root, MODEL_VERSION, 0, &m->version, "version"))) return rc;
    if (m->version != TFL_SCHEMA_VERSION)
        return tfl_fail(p, TX_EUNSUP, "schema version %u is not supported (only version %u)",
                        m->version, TFL_SCHEMA_VERSION);
    if ((rc = fb_string(p, &root, MODEL_DESCRIPTION, &m->description, "description"))) return rc;
    if (!m->description) m->description = "";
    if ((rc = tfl_buffers(p, &root, m))) return rc;
    if ((rc = tfl_opcodes(p, &root, m))) return rc;

    if ((rc = fb_vector(p, &root, MODEL_SUBGRAPHS, 4, &sv, "subgraphs"))) return rc;
    if (sv.n == 0) return tfl_fail(p, TX_EFORMAT, "the model has no subgraphs");
    if ((rc = tfl_alloc(p, sv.n, sizeof *m->subgraphs, &m->subgraphs, "subgraphs"))) return rc;
    m->n_subgraphs = (int32_t)sv.n;
    for (uint32_t i = 0; i < sv.n; i++) {
        fbt st;
        tfl_where(p, "subgraph %u", i);
        if ((rc = fb_vec_table(p, &sv, i, &st, "table"))) return rc;
        if ((rc = tfl_subgraph(p, &st, i, m, &m->subgraphs[i]))) return rc;
    }

    if ((rc = fb_vector(p, &root, MODEL_METADATA, 4, &mv, "metadata"))) return rc;
    if ((rc = tfl_alloc(p, mv.n, sizeof *m->metadata, &m->metadata, "metadata"))) return rc;
    m->n_metadata = (int32_t)mv.n;
    for (uint32_t i = 0; i < mv.n; i++) {
        fbt mt;
        tfl_where(p, "metadata %u", i);
        if ((rc = fb_vec_table(p, &mv, i, &mt, "table"))) return rc;
        if ((rc = fb_string(p, &mt, MD_NAME, &m->metadata[i].name, "name"))) return rc;
        if (!m->metadata[i].name) m->metadata[i].name = "";
        if ((rc = fb_u32(p, &mt, MD_BUFFER, 0, &m->metadata[i].buffer, "buffer"))) return rc;
    }
    p->where[0] = 0;
    /* Signature defs are not decoded (subgraph 0's inputs/outputs are what we run);
     * their count is kept, its vector checked. */
    if ((rc = fb_vector(p, &root, MODEL_SIGNATURES, 4, &sigv, "signature_defs"))) return rc;
    m->n_signatures = (int32_t)sigv.n;
    return TX_OK;
}

/* ---- validation ------------------------------------------------------------------ */

static int tfl_check_act(tflp *p, int32_t act, const char *what) {
    if (act < TX_TFL_ACT_NONE || act > TX_TFL_ACT_SIGN_BIT)
        return tfl_fail(p, TX_EFORMAT, "%s: fused activation %d unknown", what, act);
    return TX_OK;
}

static int tfl_check_window(tflp *p, const char *what, int32_t pad, int32_t sw, int32_t sh,
                            int32_t a, int32_t b, const char *ab, int32_t act) {
    if (pad != TX_TFL_PAD_SAME && pad != TX_TFL_PAD_VALID)
        return tfl_fail(p, TX_EFORMAT, "%s: padding %d unknown (0 SAME, 1 VALID)", what, pad);
    if (sw < 1 || sh < 1)
        return tfl_fail(p, TX_EFORMAT, "%s: strides %d x %d (w x h) must be >= 1", what, sw, sh);
    if (a < 1 || b < 1)
        return tfl_fail(p, TX_EFORMAT, "%s: %s %d x %d (w x h) must be >= 1", what, ab, a, b);
    return tfl_check_act(p, act, what);
}

static int tfl_check_op(tflp *p, const tx_tflite_model *m, const tx_tflite_subgraph *sg,
                        const tx_tflite_op *op) {
    if (op->opcode_index >= (uint32_t)m->n_opcodes)
        return tfl_fail(p, TX_EFORMAT, "opcode_index %u out of range (operator codes: %d)",
                        op->opcode_index, m->n_opcodes);
    for (int32_t k = 0; k < op->n_inputs; k++) {
        int32_t x = op->inputs[k];
        if (x < -1 || x >= sg->n_tensors)
            return tfl_fail(p, TX_EFORMAT, "input %d: tensor index %d out of range (tensors: %d; "
                            "-1 marks an absent optional input)", k, x, sg->n_tensors);
    }
    for (int32_t k = 0; k < op->n_outputs; k++) {
        int32_t x = op->outputs[k];
        if (x < 0 || x >= sg->n_tensors)
            return tfl_fail(p, TX_EFORMAT, "output %d: tensor index %d out of range (tensors: %d)",
                            k, x, sg->n_tensors);
    }
    for (int32_t k = 0; k < op->n_intermediates; k++) {
        int32_t x = op->intermediates[k];
        if (x < 0 || x >= sg->n_tensors)
            return tfl_fail(p, TX_EFORMAT, "intermediate %d: tensor index %d out of range "
                            "(tensors: %d)", k, x, sg->n_tensors);
    }
    int want = tx_tflite_op_options_type(op->builtin);
    if (op->options_type && want >= 0 && op->options_type != want)
        return tfl_fail(p, TX_EFORMAT, "builtin_options is %s (%d) but %s takes %s (%d)",
                        tx_tflite_options_name(op->options_type), op->options_type,
                        tx_tflite_op_name(op->builtin), tx_tflite_options_name(want), want);
    const tx_tflite_options *o = &op->opt;
    switch (op->builtin) {
    case TX_TFL_OP_CONV_2D:
        return tfl_check_window(p, "Conv2DOptions", o->conv2d.padding, o->conv2d.stride_w,
                                o->conv2d.stride_h, o->conv2d.dilation_w, o->conv2d.dilation_h,
                                "dilations", o->conv2d.activation);
    case TX_TFL_OP_DEPTHWISE_CONV_2D:
        if (o->dwconv2d.depth_multiplier < 0)
            return tfl_fail(p, TX_EFORMAT, "DepthwiseConv2DOptions: depth_multiplier %d is "
                            "negative", o->dwconv2d.depth_multiplier);
        return tfl_check_window(p, "DepthwiseConv2DOptions", o->dwconv2d.padding,
                                o->dwconv2d.stride_w, o->dwconv2d.stride_h,
                                o->dwconv2d.dilation_w, o->dwconv2d.dilation_h, "dilations",
                                o->dwconv2d.activation);
    case TX_TFL_OP_AVERAGE_POOL_2D:
    case TX_TFL_OP_MAX_POOL_2D:
    case TX_TFL_OP_L2_POOL_2D:
        return tfl_check_window(p, "Pool2DOptions", o->pool2d.padding, o->pool2d.stride_w,
                                o->pool2d.stride_h, o->pool2d.filter_w, o->pool2d.filter_h,
                                "filter", o->pool2d.activation);
    case TX_TFL_OP_TRANSPOSE_CONV:
        return tfl_check_window(p, "TransposeConvOptions", o->tconv.padding, o->tconv.stride_w,
                                o->tconv.stride_h, 1, 1, "-", o->tconv.activation);
    case TX_TFL_OP_FULLY_CONNECTED:
        if (o->fc.weights_format != 0 && o->fc.weights_format != 1)
            return tfl_fail(p, TX_EFORMAT, "FullyConnectedOptions: weights_format %d unknown",
                            o->fc.weights_format);
        return tfl_check_act(p, o->fc.activation, "FullyConnectedOptions");
    case TX_TFL_OP_ADD:
    case TX_TFL_OP_SUB:
    case TX_TFL_OP_MUL:
    case TX_TFL_OP_DIV:
    case TX_TFL_OP_CONCATENATION:
    case TX_TFL_OP_L2_NORMALIZATION:
        return tfl_check_act(p, o->activation, tx_tflite_options_name(want));
    }
    return TX_OK;
}

static int tfl_check_zero_point(tflp *p, int32_t type, int64_t zp, int32_t i) {
    int64_t lo, hi;
    switch (type) {
    case TX_TFL_UINT8: lo = 0; hi = 255; break;
    case TX_TFL_INT8: lo = -128; hi = 127; break;
    case TX_TFL_INT16: lo = -32768; hi = 32767; break;
    default: return TX_OK;
    }
    if (zp < lo || zp > hi)
        return tfl_fail(p, TX_EFORMAT, "quantization: zero point %d is %" PRId64 ", outside the "
                        "range of %s", i, zp, tx_tflite_type_name(type));
    return TX_OK;
}

/* numel of a shape whose dimensions are >= 0; -1 when it exceeds INT64_MAX. */
static int64_t tfl_numel(const int32_t *shape, int32_t ndim) {
    uint64_t numel = 1;
    int overflow = 0;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] == 0) return 0;
        if (numel > (uint64_t)INT64_MAX / (uint64_t)shape[d]) overflow = 1;
        else numel *= (uint64_t)shape[d];
    }
    return overflow ? -1 : (int64_t)numel;
}

static int tfl_check_tensor(tflp *p, const tx_tflite_model *m, const tx_tflite_tensor *t) {
    int rc;
    if (t->type < 0 || t->type >= TX_TFL_TYPE_COUNT)
        return tfl_fail(p, TX_EUNSUP, "type %d unknown", t->type);
    if (t->buffer >= (uint32_t)m->n_buffers)
        return tfl_fail(p, TX_EFORMAT, "buffer index %u out of range (buffers: %d)", t->buffer,
                        m->n_buffers);
    for (int32_t d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0)
            return tfl_fail(p, TX_EFORMAT, "shape[%d] is %d (dimensions must be >= 0)", d,
                            t->shape[d]);
    int64_t numel = tfl_numel(t->shape, t->ndim);
    if (numel < 0)
        return tfl_fail(p, TX_EFORMAT, "shape of %d dimensions has more than 2^63 elements",
                        t->ndim);
    const tx_tflite_buffer *b = &m->buffers[t->buffer];
    if (b->size && !t->is_sparse) {
        size_t esz = tx_tflite_type_size(t->type), want = 0;
        int known = 1;
        if (t->type == TX_TFL_INT4) want = (size_t)(numel / 2 + numel % 2);
        else if (esz == 0) known = 0; /* STRING, RESOURCE, VARIANT */
        else if ((uint64_t)numel > SIZE_MAX / esz) want = SIZE_MAX;
        else want = (size_t)numel * esz;
        if (known && want != b->size)
            return tfl_fail(p, TX_EFORMAT, "buffer %u holds %zu bytes but shape x %s needs %zu",
                            t->buffer, b->size, tx_tflite_type_name(t->type), want);
    }
    const tx_tflite_quant *q = &t->q;
    if (q->n > 0) {
        if (q->n > 1) {
            int32_t qd = q->quantized_dimension;
            if (qd < 0 || qd >= t->ndim)
                return tfl_fail(p, TX_EFORMAT, "quantization: %d scales along dimension %d, but "
                                "the tensor has %d dimensions", q->n, qd, t->ndim);
            if (t->shape[qd] != q->n)
                return tfl_fail(p, TX_EFORMAT, "quantization: %d scales but dimension %d has "
                                "size %d (need 1 or that size)", q->n, qd, t->shape[qd]);
        }
        for (int32_t i = 0; i < q->n; i++) {
            if (!isfinite(q->scale[i]) || q->scale[i] < 0)
                return tfl_fail(p, TX_EFORMAT, "quantization: scale %d is %g (must be finite and "
                                ">= 0)", i, (double)q->scale[i]);
            if ((rc = tfl_check_zero_point(p, t->type, q->zero_point[i], i))) return rc;
        }
    }
    return TX_OK;
}

static int tfl_validate(tflp *p, const tx_tflite_model *m) {
    int rc;
    for (int32_t i = 0; i < m->n_metadata; i++)
        if (m->metadata[i].buffer >= (uint32_t)m->n_buffers) {
            char nm[100];
            tx_tflite_safe_name(nm, sizeof nm, m->metadata[i].name);
            tfl_where(p, "metadata %d '%s'", i, nm);
            return tfl_fail(p, TX_EFORMAT, "buffer index %u out of range (buffers: %d)",
                            m->metadata[i].buffer, m->n_buffers);
        }
    for (int32_t s = 0; s < m->n_subgraphs; s++) {
        const tx_tflite_subgraph *sg = &m->subgraphs[s];
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            char nm[100];
            tx_tflite_safe_name(nm, sizeof nm, sg->tensors[i].name);
            tfl_where(p, "subgraph %d tensor %d '%s'", s, i, nm);
            if ((rc = tfl_check_tensor(p, m, &sg->tensors[i]))) return rc;
        }
        tfl_where(p, "subgraph %d", s);
        for (int32_t k = 0; k < sg->n_inputs; k++)
            if (sg->inputs[k] < 0 || sg->inputs[k] >= sg->n_tensors)
                return tfl_fail(p, TX_EFORMAT, "input %d: tensor index %d out of range "
                                "(tensors: %d)", k, sg->inputs[k], sg->n_tensors);
        for (int32_t k = 0; k < sg->n_outputs; k++)
            if (sg->outputs[k] < 0 || sg->outputs[k] >= sg->n_tensors)
                return tfl_fail(p, TX_EFORMAT, "output %d: tensor index %d out of range "
                                "(tensors: %d)", k, sg->outputs[k], sg->n_tensors);
        for (int32_t i = 0; i < sg->n_ops; i++) {
            tfl_where(p, "subgraph %d operator %d (%s)", s, i, tx_tflite_op_name(sg->ops[i].builtin));
            if ((rc = tfl_check_op(p, m, sg, &sg->ops[i]))) return rc;
        }
    }
    p->where[0] = 0;
    return TX_OK;
}

/* After validation: each tensor's element count and constant data. */
static void tfl_resolve(tx_tflite_model *m) {
    for (int32_t s = 0; s < m->n_subgraphs; s++)
        for (int32_t i = 0; i < m->subgraphs[s].n_tensors; i++) {
            tx_tflite_tensor *t = &m->subgraphs[s].tensors[i];
            t->numel = tfl_numel(t->shape, t->ndim);
            t->data = m->buffers[t->buffer].data;
            t->nbytes = m->buffers[t->buffer].size;
        }
}

int tx_tflite_validate(const tx_tflite_model *m, const char *name, tx_err *err) {
    tflp p;
    memset(&p, 0, sizeof p);
    p.b = m->buf;
    p.n = m->size;
    p.name = name ? name : "<tflite>";
    p.err = err;
    return tfl_validate(&p, m);
}

/* ---- entry points ------------------------------------------------------------------ */

int tx_tflite_parse(const uint8_t *buf, size_t size, const char *name, tx_tflite_model *out,
                    tx_err *err) {
    tflp p;
    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    p.name = name ? name : "<tflite>";
    p.err = err;
    if (!buf && size)
        return tx_err_set(err, TX_EINVAL, "%s: NULL buffer of %zu bytes", p.name, size);
    p.b = buf;
    p.n = size;
    p.budget = TFL_BUDGET_FIXED +
               (size > (SIZE_MAX - TFL_BUDGET_FIXED) / TFL_BUDGET_PER_BYTE
                    ? SIZE_MAX - TFL_BUDGET_FIXED
                    : size * TFL_BUDGET_PER_BYTE);
    out->buf = buf;
    out->size = size;
    int rc = tfl_model(&p, out);
    if (!rc) rc = tfl_validate(&p, out);
    if (!rc) tfl_resolve(out);
    if (rc) {
        tfl_arena_free(p.arena);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->arena_ = p.arena;
    out->used_size = p.used;
    return TX_OK;
}

int tx_tflite_load(const char *path, tx_tflite_model *out, tx_err *err) {
    uint8_t *data;
    size_t size;
    memset(out, 0, sizeof *out);
    int rc = tx_read_file(path, &data, &size, err);
    if (rc) return rc;
    if ((rc = tx_tflite_parse(data, size, path, out, err))) {
        free(data);
        return rc;
    }
    out->owned = data;
    return TX_OK;
}

void tx_tflite_free(tx_tflite_model *m) {
    if (!m) return;
    tfl_arena_free(m->arena_);
    free(m->owned);
    memset(m, 0, sizeof *m);
}
