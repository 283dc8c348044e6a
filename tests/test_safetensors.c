/* test_safetensors.c - safetensors reader/writer: round trip, every malformed
 * header case, truncation at every length, and interop with Python's safetensors. */
#include "io/safetensors.h"
#include "testutil.h"

#include <stdint.h>
#include <unistd.h>

static char tmpdir[64];

static void tmp_path(char *out, size_t cap, const char *leaf) {
    snprintf(out, cap, "%s/%s", tmpdir, leaf);
}

/* A file image: 8-byte little-endian length, the JSON, then `dn` data bytes
 * (values i*7). Returns a malloc'd buffer of exactly *size bytes. */
static uint8_t *mkfile(const char *json, size_t dn, size_t *size) {
    size_t hl = strlen(json);
    *size = 8 + hl + dn;
    uint8_t *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    for (size_t i = 0; i < dn; i++) b[8 + hl + i] = (uint8_t)(i * 7);
    return b;
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

/* ---- round trip ----------------------------------------------------------- */

static float f32v[2 * 3 * 4];
static uint8_t u8v[5];
static int8_t i8v[4];
static int32_t i32v[1];
static int64_t i64v[3];

static int make_tensors(tx_st_tensor *t) {
    for (int i = 0; i < 24; i++) f32v[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 5; i++) u8v[i] = (uint8_t)(250 + i);
    for (int i = 0; i < 4; i++) i8v[i] = (int8_t)(-128 + 85 * i);
    i32v[0] = -123456789;
    i64v[0] = -3;
    i64v[1] = 0;
    i64v[2] = (int64_t)1 << 40;
    memset(t, 0, 6 * sizeof *t);
    t[0] = (tx_st_tensor){.name = "conv1.weight", .dtype = TX_F32, .ndim = 3,
                          .shape = {2, 3, 4}, .data = (const uint8_t *)f32v, .nbytes = sizeof f32v};
    t[1] = (tx_st_tensor){.name = "bytes", .dtype = TX_U8, .ndim = 1, .shape = {5},
                          .data = u8v, .nbytes = sizeof u8v};
    t[2] = (tx_st_tensor){.name = "q \"quoted\" \\ na\xc3\xafve", .dtype = TX_I8, .ndim = 2,
                          .shape = {2, 2}, .data = (const uint8_t *)i8v, .nbytes = sizeof i8v};
    t[3] = (tx_st_tensor){.name = "scalar", .dtype = TX_I32, .ndim = 0,
                          .data = (const uint8_t *)i32v, .nbytes = sizeof i32v};
    t[4] = (tx_st_tensor){.name = "empty", .dtype = TX_F32, .ndim = 2, .shape = {0, 7},
                          .data = NULL, .nbytes = 0};
    t[5] = (tx_st_tensor){.name = "ids", .dtype = TX_I64, .ndim = 1, .shape = {3},
                          .data = (const uint8_t *)i64v, .nbytes = sizeof i64v};
    return 6;
}

static void test_roundtrip(void) {
    tx_st_tensor t[6];
    int n = make_tensors(t);
    tx_st_meta meta[3] = {{"format", "taxon"},
                          {"graph", "{\"layers\": [1, 2]}\n\ttab \\ end"},
                          {"unicode \xe2\x9c\x93", "caf\xc3\xa9"}};
    char path[128];
    tmp_path(path, sizeof path, "rt.safetensors");
    tx_err err = {0};
    CHECK_OK(tx_st_write(path, t, n, meta, 3, &err), &err);

    /* Layout: header multiple of 8, padded with spaces, tensors back to back. */
    size_t fsize;
    uint8_t *raw = read_all(path, &fsize);
    CHECK(raw && fsize >= 8, "cannot read %s back", path);
    if (!raw) return;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | raw[i];
    size_t total = 0;
    for (int i = 0; i < n; i++) total += t[i].nbytes;
    CHECK(hl % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hl);
    CHECK(8 + hl + total == fsize, "file is %zu bytes, expected %llu", fsize,
          (unsigned long long)(8 + hl + total));
    CHECK(raw[8] == '{', "header starts with 0x%02x", raw[8]);
    size_t last = 8 + (size_t)hl - 1;
    while (last > 8 && raw[last] == ' ') last--;
    CHECK(raw[last] == '}', "header does not end in '}' + spaces");
    CHECK(8 + (size_t)hl - 1 - last < 8, "more than 7 bytes of padding");

    tx_safetensors st;
    CHECK_OK(tx_st_parse(raw, fsize, "rt", &st, &err), &err);
    CHECK(st.n == n, "read %d tensors, wrote %d", st.n, n);
    const uint8_t *expect_at = raw + 8 + hl;
    for (int i = 0; i < n && i < st.n; i++) {
        const tx_st_tensor *r = &st.tensors[i];
        CHECK(strcmp(r->name, t[i].name) == 0, "tensor %d: name '%s' vs '%s'", i, r->name,
              t[i].name);
        CHECK(r->dtype == t[i].dtype, "tensor %s: dtype %d vs %d", t[i].name, r->dtype,
              t[i].dtype);
        CHECK(r->ndim == t[i].ndim, "tensor %s: ndim %d vs %d", t[i].name, r->ndim, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++)
            CHECK(r->shape[d] == t[i].shape[d], "tensor %s: shape[%d]", t[i].name, d);
        CHECK(r->nbytes == t[i].nbytes, "tensor %s: nbytes %zu vs %zu", t[i].name, r->nbytes,
              t[i].nbytes);
        CHECK(r->data == expect_at, "tensor %s: not contiguous with the previous one",
              t[i].name);
        if (t[i].nbytes)
            CHECK(memcmp(r->data, t[i].data, t[i].nbytes) == 0, "tensor %s: bytes differ",
                  t[i].name);
        expect_at += t[i].nbytes;
        CHECK(tx_st_find(&st, t[i].name) == r, "tx_st_find(%s)", t[i].name);
    }
    CHECK(st.n_meta == 3, "n_meta %d", st.n_meta);
    for (int i = 0; i < 3; i++) {
        const char *v = tx_st_meta_get(&st, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "metadata %s = '%s', wrote '%s'",
              meta[i].key, v ? v : "(null)", meta[i].value);
    }
    CHECK(tx_st_find(&st, "nope") == NULL, "found a tensor that is not there");
    CHECK(tx_st_meta_get(&st, "nope") == NULL, "found a key that is not there");
    tx_st_free(&st);
    tx_st_free(&st); /* idempotent */

    /* tx_st_load gives the same and owns its buffer. */
    CHECK_OK(tx_st_load(path, &st, &err), &err);
    CHECK(st.buf != NULL && st.size == fsize, "load: buf %p size %zu", (void *)st.buf, st.size);
    const tx_st_tensor *w = tx_st_find(&st, "conv1.weight");
    CHECK(w && w->nbytes == sizeof f32v, "load: conv1.weight missing");
    if (w) {
        float got[24];
        memcpy(got, w->data, sizeof got);
        CHECK(tu_close("conv1.weight round trip", got, f32v, 24, 0, 0), "values differ");
    }
    tx_st_free(&st);
    free(raw);

    /* No metadata -> no "__metadata__" key; no tensors at all is fine too. */
    CHECK_OK(tx_st_write(path, t, 2, NULL, 0, &err), &err);
    raw = read_all(path, &fsize);
    CHECK(raw && !memmem(raw, fsize, "__metadata__", 12), "__metadata__ written with n_meta=0");
    free(raw);
    CHECK_OK(tx_st_write(path, NULL, 0, NULL, 0, &err), &err);
    CHECK_OK(tx_st_load(path, &st, &err), &err);
    CHECK(st.n == 0 && st.n_meta == 0, "empty file has %d tensors", st.n);
    tx_st_free(&st);
    unlink(path);
}

/* ---- malformed headers ---------------------------------------------------- */

typedef struct {
    const char *json;
    size_t data;    /* bytes of data after the header */
    const char *w1; /* substrings the message must contain */
    const char *w2;
} bad_case;

static const bad_case bad_cases[] = {
    {"{abc", 0, "not valid JSON", NULL},
    {"", 0, "header length 0", NULL},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "not valid JSON", NULL},
    {"[1,2]", 0, "not a JSON object", NULL},
    {"\"str\"", 0, "not a JSON object", NULL},
    {"{} x", 0, "after the JSON", NULL},
    {"{\"w\xff\":1}", 0, "UTF-8", NULL},
    {"{\"w\":5}", 0, "'w'", "not an object"},
    {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "missing dtype"},
    {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "'w'", "missing shape"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'w'", "missing data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"foo\":1}}", 4, "'w'",
     "unknown field 'foo'"},
    {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "'w'", "duplicate field 'dtype'"},
    {"{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "dtype"},
    {"{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "F33"},
    {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "'w'", "F16"},
    {"{\"w\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'w'", "BF16"},
    {"{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "'w'", "F64"},
    {"{\"w\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "'w'", "I16"},
    {"{\"w\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "'w'", "BOOL"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, "'w'", "shape"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "'w'", "shape[0]"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4, "'w'",
     "shape[1]"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "'w'",
     "shape[0]"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "'w'",
     "shape[0]"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "'w'",
     "5 dims"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,4]}}",
     4, "'w'", "overflow"},
    {"{\"w\":{\"dtype\":\"I64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,4]}}", 4,
     "'w'", "overflow"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 4, "'w'", "data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "'w'", "data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "'w'",
     "data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "'w'",
     "data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4, "'w'",
     "data_offsets"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "'w'",
     "begin after end"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 6, "'w'",
     "past the data"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "'w'",
     "do not match shape [2] of F32 (8 bytes)"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "'w'", "twice"},
    /* cJSON would hand these back as integral doubles; the reference rejects them. */
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", 16, "'4.0'",
     "plain"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e0]}}", 4, "'4e0'",
     "plain"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0, "'-0'", "plain"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "'01'", "plain"},
    {"{\"w\":{\"dtype\":\"U8\",\"shape\":[9007199254740993],"
     "\"data_offsets\":[0,9007199254740993]}}",
     4, "'w'", "shape[0]"},
    {"{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9007199254740993,"
     "9007199254740993]}}",
     4, "'w'", "data_offsets"},
    {"{\"a\tb\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "raw control",
     NULL},
    {"{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "u0000",
     NULL},
    {"{\"__metadata__\":{\"k\":\"line\nbreak\"}}", 0, "raw control", NULL},
    {"{\"__metadata__\":[1]}", 0, "__metadata__", "not an object"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "'k'", "not a string"},
    {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "'k'", "twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__", "twice"},
};

static void expect_bad(const uint8_t *buf, size_t size, const char *w1, const char *w2,
                       const char *what) {
    /* Exact-size copy so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, buf, size);
    tx_safetensors st;
    tx_err err = {0};
    int rc = tx_st_parse(copy, size, "t.safetensors", &st, &err);
    CHECK(rc != 0, "%s: accepted", what);
    if (rc != 0) {
        CHECK(strncmp(err.msg, "t.safetensors: ", 15) == 0, "%s: message lacks the file: %s",
              what, err.msg);
        CHECK(!w1 || strstr(err.msg, w1), "%s: message lacks \"%s\": %s", what, w1, err.msg);
        CHECK(!w2 || strstr(err.msg, w2), "%s: message lacks \"%s\": %s", what, w2, err.msg);
        CHECK(st.n == 0 && st.tensors == NULL && st.meta == NULL, "%s: out not cleared", what);
    } else {
        tx_st_free(&st);
    }
    free(copy);
}

static void test_malformed(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        size_t size;
        uint8_t *b = mkfile(c->json, c->data, &size);
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        expect_bad(b, size, c->w1, c->w2, what);
        free(b);
    }
    /* A NUL byte inside the header (strlen-based mkfile cannot express it). */
    {
        size_t size;
        uint8_t *b = mkfile("{}xx", 0, &size);
        b[8 + 2] = 0;
        b[8 + 3] = ' ';
        expect_bad(b, size, "control byte", NULL, "NUL in header");
        free(b);
    }
    /* Short files. */
    uint8_t zeros[8] = {0};
    for (size_t n = 0; n < 8; n++) expect_bad(zeros, n, "too short", NULL, "short file");
    /* Header length past the end of the file, and absurd. */
    {
        size_t size;
        uint8_t *b = mkfile("{}", 0, &size);
        b[0] = 3;
        expect_bad(b, size, "larger than the file", NULL, "header length 3 of 2");
        b[0] = 0;
        b[5] = 1; /* 2^40 */
        expect_bad(b, size, "absurd", NULL, "header length 2^40");
        memset(b, 0xff, 8);
        expect_bad(b, size, "absurd", NULL, "header length 2^64-1");
        free(b);
    }
    /* The exact wording of the shape mismatch message. */
    {
        size_t size;
        uint8_t *b = mkfile("{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[8,3,3,3],"
                            "\"data_offsets\":[0,400]}}",
                            400, &size);
        tx_safetensors st;
        tx_err err = {0};
        int rc = tx_st_parse(b, size, "model.safetensors", &st, &err);
        const char *want = "model.safetensors: tensor 'conv1.weight': data_offsets [0, 400] do "
                           "not match shape [8,3,3,3] of F32 (864 bytes)";
        CHECK(rc == TX_EFORMAT && strcmp(err.msg, want) == 0, "rc %d, message: %s", rc,
              err.msg);
        free(b);
    }
    /* Unsupported dtypes are TX_EUNSUP, unknown ones TX_EFORMAT; half precision is read
     * (2 bytes per element; importers convert it). */
    {
        size_t size;
        uint8_t *b = mkfile("{\"h\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
                            16, &size);
        tx_safetensors st;
        tx_err err = {0};
        int rc = tx_st_parse(b, size, "x", &st, &err);
        CHECK(rc == TX_EUNSUP, "F64: rc %d (%s)", rc, err.msg);
        free(b);
        b = mkfile("{\"h\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &size);
        rc = tx_st_parse(b, size, "x", &st, &err);
        CHECK(rc == TX_OK && st.n == 1 && st.tensors[0].dtype == TX_BF16 && st.tensors[0].nbytes == 4,
              "BF16: rc %d (%s)", rc, err.msg);
        if (rc == TX_OK) tx_st_free(&st);
        free(b);
    }
    /* A missing file is an I/O error naming the path. */
    {
        char path[128];
        tmp_path(path, sizeof path, "does-not-exist.safetensors");
        tx_safetensors st;
        tx_err err = {0};
        int rc = tx_st_load(path, &st, &err);
        CHECK(rc == TX_EIO && strstr(err.msg, path), "rc %d, message: %s", rc, err.msg);
    }
}

/* Things the reader must accept. */
static void test_accepts(void) {
    static const struct { const char *json; size_t data; int n; } ok[] = {
        {"{}", 0, 0},
        {"  {}  \n\t ", 0, 0},
        {"{\"__metadata__\":{}}", 0, 0},
        /* Overlapping and out-of-order tensors, a gap, and trailing data. */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"shape\":[4],\"data_offsets\":[4,8],\"dtype\":\"U8\"},"
         "\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}}",
         32, 3},
        /* Escapes in names and values; numbers with surrounding whitespace. */
        {"{\"a\\tb\\u00e9\\\"\":{\"dtype\":\"U8\",\"shape\":[ 0 ],\"data_offsets\":[ 0 , 0 ]},"
         "\"__metadata__\":{\"k\":\"x\\n\\u0041\"}}",
         0, 1},
        /* Zero-sized tensors, at the very end of the data too. */
        {"{\"z\":{\"dtype\":\"I32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
         "\"e\":{\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
         4, 2},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        size_t size;
        uint8_t *b = mkfile(ok[i].json, ok[i].data, &size);
        tx_safetensors st;
        tx_err err = {0};
        int rc = tx_st_parse(b, size, "ok", &st, &err);
        CHECK(rc == 0, "case %zu rejected: %s", i, err.msg);
        if (rc == 0) {
            CHECK(st.n == ok[i].n, "case %zu: %d tensors, want %d", i, st.n, ok[i].n);
            CHECK(st.buf == NULL && st.size == size, "case %zu: parse set buf/size", i);
            tx_st_free(&st);
        }
        free(b);
    }
    /* JSON escapes are decoded in names and metadata. */
    {
        size_t size;
        uint8_t *b = mkfile("{\"a\\tb\\u00e9\\\"\":{\"dtype\":\"U8\",\"shape\":[0],"
                            "\"data_offsets\":[0,0]},\"__metadata__\":{\"k\":\"x\\n\\u0041\"}}",
                            0, &size);
        tx_safetensors st;
        tx_err err = {0};
        CHECK_OK(tx_st_parse(b, size, "esc", &st, &err), &err);
        CHECK(tx_st_find(&st, "a\tb\xc3\xa9\"") != NULL, "escaped name not decoded: '%s'",
              st.n ? st.tensors[0].name : "");
        const char *v = tx_st_meta_get(&st, "k");
        CHECK(v && strcmp(v, "x\nA") == 0, "escaped value not decoded: '%s'", v ? v : "");
        tx_st_free(&st);
        free(b);
    }
    /* Data pointers land where the offsets say. */
    size_t size;
    const char *j = "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}";
    uint8_t *b = mkfile(j, 8, &size);
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_parse(b, size, "ok", &st, &err), &err);
    const tx_st_tensor *t = tx_st_find(&st, "b");
    CHECK(t && t->data == b + 8 + strlen(j) + 4 && t->data[1] == 35, "offset 4 misread");
    tx_st_free(&st);
    free(b);
}

/* ---- truncation ----------------------------------------------------------- */

static void test_truncation(void) {
    tx_st_tensor t[6];
    int n = make_tensors(t);
    tx_st_meta meta[1] = {{"k", "v"}};
    char path[128];
    tmp_path(path, sizeof path, "trunc.safetensors");
    tx_err err = {0};
    CHECK_OK(tx_st_write(path, t, n, meta, 1, &err), &err);
    size_t size;
    uint8_t *full = read_all(path, &size);
    CHECK(full != NULL, "cannot read back");
    if (!full) return;
    int accepted = 0, empty_msg = 0;
    for (size_t len = 0; len < size; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, full, len);
        tx_safetensors st;
        tx_err e2 = {0};
        int rc = tx_st_parse(b, len, "trunc", &st, &e2);
        if (rc == 0) {
            accepted++;
            tx_st_free(&st);
        } else if (!e2.msg[0] || !strstr(e2.msg, "trunc")) {
            empty_msg++;
        }
        free(b);
    }
    CHECK(accepted == 0, "%d truncated files accepted (of %zu lengths)", accepted, size);
    CHECK(empty_msg == 0, "%d truncations errored without naming the file", empty_msg);
    tx_safetensors st;
    CHECK_OK(tx_st_parse(full, size, "full", &st, &err), &err);
    tx_st_free(&st);
    free(full);
    unlink(path);
}

/* ---- writer validation ---------------------------------------------------- */

static void expect_write_fails(const tx_st_tensor *t, int n, const tx_st_meta *m, int nm,
                               const char *w, const char *what) {
    char path[128];
    tmp_path(path, sizeof path, "bad-write.safetensors");
    unlink(path);
    tx_err err = {0};
    int rc = tx_st_write(path, t, n, m, nm, &err);
    CHECK(rc == TX_EINVAL, "%s: rc %d", what, rc);
    CHECK(!w || strstr(err.msg, w), "%s: message lacks \"%s\": %s", what, w, err.msg);
    CHECK(strstr(err.msg, path) != NULL, "%s: message lacks the path: %s", what, err.msg);
    CHECK(access(path, F_OK) != 0, "%s: a file was written", what);
}

static void test_writer_validation(void) {
    float v[4] = {1, 2, 3, 4};
    tx_st_tensor good = {.name = "a", .dtype = TX_F32, .ndim = 2, .shape = {2, 2},
                         .data = (const uint8_t *)v, .nbytes = 16};
    tx_st_tensor t[2] = {good, good};
    t[1].name = "b";
    tx_st_meta m[2] = {{"k", "v"}, {"k2", "v"}};

    tx_st_tensor x[2] = {t[0], t[1]};
    x[1].name = "a";
    expect_write_fails(x, 2, NULL, 0, "'a'", "duplicate name");
    x[1] = t[1];
    x[1].name = "";
    expect_write_fails(x, 2, NULL, 0, "no name", "empty name");
    x[1].name = NULL;
    expect_write_fails(x, 2, NULL, 0, "no name", "NULL name");
    x[1] = t[1];
    x[1].name = "__metadata__";
    expect_write_fails(x, 2, NULL, 0, "reserved", "reserved name");
    x[1] = t[1];
    x[1].name = "bad\xc3";
    expect_write_fails(x, 2, NULL, 0, "UTF-8", "invalid UTF-8 name");
    x[1] = t[1];
    x[1].nbytes = 12;
    expect_write_fails(x, 2, NULL, 0, "'b': nbytes 12 does not match shape [2,2] of F32",
                       "nbytes mismatch");
    x[1] = t[1];
    x[1].shape[0] = -2;
    expect_write_fails(x, 2, NULL, 0, "'b'", "negative dim");
    x[1] = t[1];
    x[1].ndim = 5;
    expect_write_fails(x, 2, NULL, 0, "'b'", "5 dims");
    x[1] = t[1];
    x[1].ndim = -1;
    expect_write_fails(x, 2, NULL, 0, "'b'", "ndim -1");
    x[1] = t[1];
    x[1].dtype = (tx_dtype)42;
    expect_write_fails(x, 2, NULL, 0, "'b'", "bad dtype");
    x[1] = t[1];
    x[1].data = NULL;
    expect_write_fails(x, 2, NULL, 0, "'b'", "NULL data");
    x[1] = t[1];
    x[1].ndim = 3;
    x[1].shape[0] = x[1].shape[1] = x[1].shape[2] = (int64_t)1 << 31;
    expect_write_fails(x, 2, NULL, 0, "'b'", "shape overflow");
    expect_write_fails(NULL, 2, NULL, 0, NULL, "NULL tensors");
    expect_write_fails(t, -1, NULL, 0, NULL, "negative n");

    tx_st_meta mm[2] = {m[0], m[1]};
    mm[1].key = "k";
    expect_write_fails(t, 2, mm, 2, "'k'", "duplicate meta key");
    mm[1].key = "";
    expect_write_fails(t, 2, mm, 2, "no key", "empty meta key");
    mm[1] = m[1];
    mm[1].value = NULL;
    expect_write_fails(t, 2, mm, 2, "'k2'", "NULL meta value");
    mm[1].value = "\xff";
    expect_write_fails(t, 2, mm, 2, "'k2'", "invalid UTF-8 value");
    expect_write_fails(t, 2, NULL, 1, NULL, "NULL meta list");

    /* And the good ones do write. */
    char path[128];
    tmp_path(path, sizeof path, "good-write.safetensors");
    tx_err err = {0};
    CHECK_OK(tx_st_write(path, t, 2, m, 2, &err), &err);
    unlink(path);
}

/* ---- Python interop ------------------------------------------------------- */

static int find_python(char *out, size_t cap) {
    static const char *cands[] = {".venv/bin/python", "/work/main/.venv/bin/python", "python3"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import safetensors, numpy' >/dev/null 2>&1",
                 cands[i]);
        if (system(cmd) == 0) {
            snprintf(out, cap, "%s", cands[i]);
            return 1;
        }
    }
    return 0;
}

static const char *py_script =
    "import sys, numpy as np\n"
    "from safetensors import safe_open\n"
    "from safetensors.numpy import save_file\n"
    "d = sys.argv[1]\n"
    "with safe_open(d + '/c.safetensors', framework='np') as f:\n"
    "    keys = list(f.keys())\n"
    "    assert sorted(keys) == sorted(['conv1.weight', 'bytes', 'q \"quoted\" \\\\ na\\u00efve',\n"
    "                                  'scalar', 'empty', 'ids']), keys\n"
    "    w = f.get_tensor('conv1.weight')\n"
    "    assert w.dtype == np.float32 and w.shape == (2, 3, 4), (w.dtype, w.shape)\n"
    "    assert np.array_equal(w.ravel(), np.arange(24, dtype=np.float32) * 0.5 - 3), w\n"
    "    ids = f.get_tensor('ids')\n"
    "    assert ids.dtype == np.int64 and ids.tolist() == [-3, 0, 1 << 40], ids\n"
    "    s = f.get_tensor('scalar')\n"
    "    assert s.shape == () and int(s) == -123456789, s\n"
    "    e = f.get_tensor('empty')\n"
    "    assert e.shape == (0, 7) and e.dtype == np.float32, e.shape\n"
    "    q = f.get_tensor('q \"quoted\" \\\\ na\\u00efve')\n"
    "    assert q.dtype == np.int8 and q.ravel().tolist() == [-128, -43, 42, 127], q\n"
    "    b = f.get_tensor('bytes')\n"
    "    assert b.dtype == np.uint8 and b.tolist() == [250, 251, 252, 253, 254], b\n"
    "    md = f.metadata()\n"
    "    assert md == {'format': 'taxon', 'graph': '{\"layers\": [1]}\\n\"q\"',\n"
    "                  'unicode \\u2713': 'caf\\u00e9'}, md\n"
    "save_file({'x': np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(7),\n"
    "           'y': np.array([-1, 2, -3], dtype=np.int32),\n"
    "           'z': np.array([[-5, 6]], dtype=np.int8),\n"
    "           'n': np.zeros((0,), dtype=np.uint8),\n"
    "           'big': np.array([-(1 << 62), 7], dtype=np.int64)},\n"
    "          d + '/py.safetensors', metadata={'made_by': 'python', 'q': 'x\"y\\u00e9'})\n"
    "print('python ok')\n";

static void test_python_interop(void) {
    char py[256];
    if (!find_python(py, sizeof py))
        SKIP("no Python with the safetensors and numpy packages (run tools/venv.sh)");
    tx_st_tensor t[6];
    int n = make_tensors(t);
    tx_st_meta meta[3] = {{"format", "taxon"},
                          {"graph", "{\"layers\": [1]}\n\"q\""},
                          {"unicode \xe2\x9c\x93", "caf\xc3\xa9"}};
    char path[128], script[128], cmd[1024];
    tmp_path(path, sizeof path, "c.safetensors");
    tmp_path(script, sizeof script, "interop.py");
    tx_err err = {0};
    CHECK_OK(tx_st_write(path, t, n, meta, 3, &err), &err);
    FILE *f = fopen(script, "w");
    CHECK(f != NULL, "cannot write %s", script);
    if (!f) return;
    fputs(py_script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s", py, script, tmpdir);
    int rc = system(cmd);
    CHECK(rc == 0, "Python could not read the C file or write its own (rc %d)", rc);
    if (rc != 0) return;

    char pypath[128];
    tmp_path(pypath, sizeof pypath, "py.safetensors");
    tx_safetensors st;
    CHECK_OK(tx_st_load(pypath, &st, &err), &err);
    CHECK(st.n == 5, "%d tensors from Python", st.n);
    const tx_st_tensor *x = tx_st_find(&st, "x");
    CHECK(x && x->dtype == TX_F32 && x->ndim == 2 && x->shape[0] == 3 && x->shape[1] == 4,
          "x: wrong dtype/shape");
    if (x && x->nbytes == 48) {
        float got[12], want[12];
        memcpy(got, x->data, sizeof got);
        for (int i = 0; i < 12; i++) want[i] = (float)i / 7.0f;
        CHECK(tu_close("python x = arange(12)/7", got, want, 12, 0, 0), "x differs");
    }
    const tx_st_tensor *y = tx_st_find(&st, "y");
    CHECK(y && y->dtype == TX_I32 && y->nbytes == 12, "y: wrong dtype/size");
    if (y && y->nbytes == 12) {
        int32_t g[3];
        memcpy(g, y->data, sizeof g);
        CHECK(g[0] == -1 && g[1] == 2 && g[2] == -3, "y = %d %d %d", g[0], g[1], g[2]);
    }
    const tx_st_tensor *z = tx_st_find(&st, "z");
    CHECK(z && z->dtype == TX_I8 && z->ndim == 2 && z->nbytes == 2 &&
              (int8_t)z->data[0] == -5 && z->data[1] == 6,
          "z wrong");
    const tx_st_tensor *nn = tx_st_find(&st, "n");
    CHECK(nn && nn->dtype == TX_U8 && nn->ndim == 1 && nn->shape[0] == 0 && nn->nbytes == 0,
          "n wrong");
    const tx_st_tensor *big = tx_st_find(&st, "big");
    CHECK(big && big->dtype == TX_I64 && big->nbytes == 16, "big wrong");
    if (big && big->nbytes == 16) {
        int64_t g[2];
        memcpy(g, big->data, sizeof g);
        CHECK(g[0] == -((int64_t)1 << 62) && g[1] == 7, "big = %lld %lld", (long long)g[0],
              (long long)g[1]);
    }
    const char *mb = tx_st_meta_get(&st, "made_by");
    const char *q = tx_st_meta_get(&st, "q");
    CHECK(mb && strcmp(mb, "python") == 0, "made_by = %s", mb ? mb : "(null)");
    CHECK(q && strcmp(q, "x\"y\xc3\xa9") == 0, "q = %s", q ? q : "(null)");
    tx_st_free(&st);
    unlink(pypath);
    unlink(path);
    unlink(script);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tx_st_test_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL setup: mkdtemp\n");
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_malformed);
    RUN(test_accepts);
    RUN(test_truncation);
    RUN(test_writer_validation);
    RUN(test_python_interop);
    rmdir(tmpdir);
    TEST_MAIN_END();
}
