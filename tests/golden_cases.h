/* golden_cases.h - state and loaders shared by the op golden tests
 * (test_ops_golden.c, test_ops2_golden.c): the loaded file, per-case tensor copies
 * (released after each case) and typed lookups of "tag.name" tensors. Include after
 * testutil.h and io/safetensors.h. */
#ifndef TX_GOLDEN_CASES_H
#define TX_GOLDEN_CASES_H

static tx_safetensors g_st;
static int g_have;   /* file loaded */
static int g_absent; /* file missing: SKIP */
static char g_why[1100];

/* Copies of tensors (safetensors data is not necessarily aligned). Freed per case. */
static void *g_bufs[64];
static int g_nbufs;

static void release(void) {
    for (int i = 0; i < g_nbufs; i++) free(g_bufs[i]);
    g_nbufs = 0;
}

static void *keep(void *p) {
    if (!p || g_nbufs == (int)(sizeof g_bufs / sizeof *g_bufs)) {
        printf("out of memory or buffers\n");
        exit(2);
    }
    return g_bufs[g_nbufs++] = p;
}

static float *scratch(long n) { return keep(calloc((size_t)(n > 0 ? n : 1), sizeof(float))); }

/* The tensor `tag.name` (see tu_golden_find). */
static const tx_st_tensor *find(const char *tag, const char *name, tx_dtype dt, int ndim,
                                const int64_t *shape) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", tag, name);
    return tu_golden_find(&g_st, full, dt, ndim, shape);
}

static void *load(const char *tag, const char *name, tx_dtype dt, int ndim, const int64_t *shape) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", tag, name);
    void *p = tu_golden_copy(&g_st, full, dt, ndim, shape);
    return p ? keep(p) : NULL;
}

static float *loadf(const char *tag, const char *name, int ndim, const int64_t *shape) {
    return load(tag, name, TX_F32, ndim, shape);
}

static int32_t *loadi(const char *tag, const char *name, int ndim, const int64_t *shape) {
    return load(tag, name, TX_I32, ndim, shape);
}

#endif
