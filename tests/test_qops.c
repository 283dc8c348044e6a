/* test_qops.c - the quantized kernels of src/ops/quant.h against TensorFlow Lite.
 *
 * tests/golden/qops.safetensors (tools/golden_tflite_ops.py) holds, for one-operator
 * models run by ai-edge-litert, the inputs, the parameters (metadata "cases", JSON) and
 * two outputs: y_xnn (TFLite's default CPU path, XNNPACK delegate) and y_ref (TFLite's
 * reference kernels). Every op runs here in both modes, through the fast kernels and
 * through the naive references, and must match its mode's output exactly: the largest
 * difference is printed per case and must be 0. The "*_disc*" cases use parameters where
 * the two paths' formulas disagree (random data almost never separates them for ADD,
 * SOFTMAX and LOGISTIC), so they show which formula each TFLite path really uses; the
 * FULLY_CONNECTED cases separate TFLite's double requantization from the fixed-point
 * one. Further cases check fast kernels against
 * the references on random shapes (every code path, tails, thread counts), the lookup
 * tables against element-wise evaluation, and the error paths.
 */
#include "io/safetensors.h"
#include "ops/quant.h"
#include "qmodel.h"
#include "testutil.h"

#include <cJSON.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *GOLDEN = "tests/golden/qops.safetensors";

static tx_safetensors g_st;
static cJSON *g_cases;
static int g_loaded;
static int g_worst[2];      /* largest |diff| against TFLite, per mode */
static int g_worst_fast;    /* largest |diff| fast kernel vs reference */
static int g_ncmp[2];

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_logu(float lo, float hi) {
    double u = (rnd() & 0xffffff) / 16777216.0;
    return (float)exp(log(lo) + u * (log(hi) - log(lo)));
}

static void *xmalloc(size_t n) {
    void *p = tx_alloc(n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- golden access -------------------------------------------------------------------- */

static int load_golden(void) {
    if (g_loaded) return g_loaded > 0;
    tx_err err = {0};
    if (tx_st_load(GOLDEN, &g_st, &err) != TX_OK) {
        g_loaded = -1;
        return 0;
    }
    const char *js = tx_st_meta_get(&g_st, "cases");
    g_cases = js ? cJSON_Parse(js) : NULL;
    g_loaded = 1;
    return 1;
}

static const tx_st_tensor *gt(const char *cname, const char *suffix) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", cname, suffix);
    const tx_st_tensor *t = tx_st_find(&g_st, full);
    if (!t) CHECK(0, "golden tensor '%s' missing", full);
    return t;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) {
        CHECK(0, "case field '%s' missing", k);
        return 0;
    }
    return v->valuedouble;
}
static int jint(const cJSON *o, const char *k) { return (int)jnum(o, k); }
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v)) {
        CHECK(0, "case field '%s' missing", k);
        return "";
    }
    return v->valuestring;
}
static int jtype(const cJSON *o, const char *k) {
    return strcmp(jstr(o, k), "s8") == 0 ? TX_QT_S8 : TX_QT_U8;
}

/* Compares n 8-bit values; returns the largest |diff| (interpreting per type). */
static int diff8(const void *a, const void *b, long n, int t, long *mism) {
    int worst = 0;
    *mism = 0;
    for (long i = 0; i < n; i++) {
        int x = t == TX_QT_S8 ? ((const int8_t *)a)[i] : ((const uint8_t *)a)[i];
        int y = t == TX_QT_S8 ? ((const int8_t *)b)[i] : ((const uint8_t *)b)[i];
        int d = abs(x - y);
        if (d) (*mism)++;
        if (d > worst) worst = d;
    }
    return worst;
}

/* got vs the golden output of mode m (y_xnn / y_ref) */
static void cmp_golden(const char *cname, int mode, const void *got, long n, int t) {
    const tx_st_tensor *want = gt(cname, mode == TX_QMODE_XNNPACK ? "y_xnn" : "y_ref");
    if (!want) return;
    if ((long)want->nbytes != n) {
        CHECK(0, "%s: golden output has %zu bytes, kernel wrote %ld", cname, want->nbytes, n);
        return;
    }
    long mism;
    int d = diff8(got, want->data, n, t, &mism);
    printf("  %-22s %-10s vs TFLite n=%-6ld max|diff|=%d mismatches=%ld\n", cname,
           tx_qmode_name(mode), n, d, mism);
    if (d > g_worst[mode]) g_worst[mode] = d;
    g_ncmp[mode]++;
    CHECK(d == 0, "%s (%s): differs from TFLite by up to %d", cname, tx_qmode_name(mode), d);
}

static void cmp_fast(const char *what, const void *fast, const void *ref, long n, int t) {
    long mism;
    int d = diff8(fast, ref, n, t, &mism);
    if (d > g_worst_fast) g_worst_fast = d;
    CHECK(d == 0, "%s: fast kernel differs from reference by up to %d (%ld values)", what, d, mism);
}

/* ---- golden cases per op ---------------------------------------------------------------- */

static void golden_conv(const cJSON *c, const char *name) {
    const char *kind = jstr(c, "kind");
    tx_qconv_desc d = {0};
    d.kind = strcmp(kind, "dw") == 0 ? TX_QCONV_DEPTHWISE
             : strcmp(kind, "fc") == 0 ? TX_QCONV_FC : TX_QCONV_CONV;
    d.type = jtype(c, "type");
    d.wtype = jtype(c, "wtype");
    d.n = jint(c, "n"), d.h = jint(c, "h"), d.w = jint(c, "w"), d.c = jint(c, "c");
    d.oc = jint(c, "oc"), d.kh = jint(c, "kh"), d.kw = jint(c, "kw");
    d.sh = jint(c, "sh"), d.sw = jint(c, "sw"), d.dh = jint(c, "dh"), d.dw = jint(c, "dw");
    d.pad_t = jint(c, "pad_t"), d.pad_b = jint(c, "pad_b");
    d.pad_l = jint(c, "pad_l"), d.pad_r = jint(c, "pad_r");
    d.depth_multiplier = jint(c, "dm");
    d.in = (tx_qparam){(float)jnum(c, "in_scale"), jint(c, "in_zp")};
    d.out = (tx_qparam){(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(c, "w_scale");
    float scales[512];
    int ns = cJSON_GetArraySize(ws);
    if (ns < 1 || ns > 512) {
        CHECK(0, "%s: bad w_scale", name);
        return;
    }
    for (int i = 0; i < ns; i++) scales[i] = (float)cJSON_GetArrayItem(ws, i)->valuedouble;
    d.w_scale = scales;
    d.n_w_scale = ns;
    d.w_zp = jint(c, "w_zp");
    d.act = jint(c, "act");
    const tx_st_tensor *x = gt(name, "x"), *w = gt(name, "w");
    const tx_st_tensor *b = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "has_bias"))
                                ? gt(name, "b") : NULL;
    if (!x || !w) return;
    int32_t *bias = NULL;
    if (b) {
        bias = xmalloc(b->nbytes);
        memcpy(bias, b->data, b->nbytes);
    }
    /* uint8 depthwise weights with quantized_dimension != 0: the delegate refuses them and
     * TFLite's optimized kernel computes what the reference does */
    const int refused = d.kind == TX_QCONV_DEPTHWISE && d.wtype == TX_QT_U8 &&
                        jint(c, "w_qdim") != 0;
    for (int mode = 0; mode < 2; mode++) {
        tx_err err = {0};
        d.mode = refused ? TX_QMODE_TFLITE_REF : mode;
        d.threads = 2;
        tx_qconv_desc dd = d;
        CHECK_OK(tx_qconv_desc_init(&dd, &err), &err);
        CHECK(dd.oh == jint(c, "oh") && dd.ow == jint(c, "ow"), "%s: output %dx%d, TFLite %dx%d",
              name, dd.oh, dd.ow, jint(c, "oh"), jint(c, "ow"));
        long ny = (long)dd.n * dd.oh * dd.ow * dd.oc;
        uint8_t *y = xmalloc((size_t)ny), *yr = xmalloc((size_t)ny);
        tx_qconv *p = NULL;
        CHECK_OK(tx_qconv_pack(&p, &dd, w->data, bias, &err), &err);
        void *scr = xmalloc(tx_qconv_scratch_bytes(p));
        tx_qconv_run(p, y, x->data, dd.n, scr);
        tx_qconv_ref(yr, x->data, w->data, bias, &dd);
        cmp_golden(name, mode, y, ny, d.type);
        cmp_fast(name, y, yr, ny, d.type);
        tx_free(scr);
        tx_qconv_free(p);
        tx_free(y);
        tx_free(yr);
    }
    tx_free(bias);
}

static void golden_binary(const cJSON *c, const char *name, int mul) {
    int t = jtype(c, "type");
    long n = jint(c, "n");
    tx_qparam a = {(float)jnum(c, "a_scale"), jint(c, "a_zp")};
    tx_qparam bq = {(float)jnum(c, "b_scale"), jint(c, "b_zp")};
    tx_qparam o = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    const tx_st_tensor *x = gt(name, "x"), *x2 = gt(name, "x2");
    if (!x || !x2) return;
    uint8_t *y = xmalloc((size_t)n), *yr = xmalloc((size_t)n);
    for (int mode = 0; mode < 2; mode++) {
        tx_qbinary p;
        tx_err err = {0};
        int rc = mul ? tx_qmul_init(&p, t, a, bq, o, jint(c, "act"), mode, &err)
                     : tx_qadd_init(&p, t, a, bq, o, jint(c, "act"), mode, &err);
        CHECK_OK(rc, &err);
        tx_qbinary_run(&p, y, x->data, x2->data, n);
        tx_qbinary_ref(&p, yr, x->data, x2->data, n);
        cmp_golden(name, mode, y, n, t);
        cmp_fast(name, y, yr, n, t);
    }
    tx_free(y);
    tx_free(yr);
}

static void golden_pool(const cJSON *c, const char *name, int maxp) {
    int t = jtype(c, "type");
    tx_pool_shape s = {.n = jint(c, "n"), .h = jint(c, "h"), .w = jint(c, "w"), .c = jint(c, "c"),
                       .kh = jint(c, "kh"), .kw = jint(c, "kw"), .sh = jint(c, "sh"),
                       .sw = jint(c, "sw"), .pad_t = jint(c, "pad_t"), .pad_l = jint(c, "pad_l"),
                       .pad_b = jint(c, "pad_b"), .pad_r = jint(c, "pad_r")};
    tx_err err = {0};
    CHECK_OK(tx_pool_shape_init(&s, &err), &err);
    CHECK(s.oh == jint(c, "oh") && s.ow == jint(c, "ow"), "%s: pool output size", name);
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    long ny = (long)s.n * s.oh * s.ow * s.c;
    uint8_t *y = xmalloc((size_t)ny);
    tx_qparam q = {(float)jnum(c, "scale"), jint(c, "zp")};
    for (int mode = 0; mode < 2; mode++) {
        int lo, hi;
        CHECK_OK(tx_qact_range(&lo, &hi, t, q, jint(c, "act"), mode, &err), &err);
        if (maxp) tx_qmaxpool(y, x->data, &s, t, lo, hi);
        else tx_qavgpool(y, x->data, &s, t, lo, hi);
        cmp_golden(name, mode, y, ny, t);
    }
    tx_free(y);
}

static void golden_mean(const cJSON *c, const char *name) {
    int t = jtype(c, "type");
    int n = jint(c, "n"), hw = jint(c, "hw"), ch = jint(c, "c");
    tx_qparam in = {(float)jnum(c, "in_scale"), jint(c, "in_zp")};
    tx_qparam out = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    uint8_t *y = xmalloc((size_t)n * ch);
    for (int mode = 0; mode < 2; mode++) {
        tx_qmean p;
        tx_err err = {0};
        CHECK_OK(tx_qmean_init(&p, t, in, out, hw, mode, &err), &err);
        tx_qmean_run(&p, y, x->data, n, ch);
        cmp_golden(name, mode, y, (long)n * ch, t);
    }
    tx_free(y);
}

static void golden_softmax(const cJSON *c, const char *name) {
    int t = jtype(c, "type");
    int rows = jint(c, "rows"), k = jint(c, "k");
    tx_qparam in = {(float)jnum(c, "in_scale"), jint(c, "in_zp")};
    tx_qparam out = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    uint8_t *y = xmalloc((size_t)rows * k);
    for (int mode = 0; mode < 2; mode++) {
        tx_qsoftmax *p = xmalloc(sizeof *p);
        tx_err err = {0};
        CHECK_OK(tx_qsoftmax_init(p, t, in, out, (float)jnum(c, "beta"), mode, &err), &err);
        tx_qsoftmax_run(p, y, x->data, rows, k);
        cmp_golden(name, mode, y, (long)rows * k, t);
        tx_free(p);
    }
    tx_free(y);
}

static void golden_unary(const cJSON *c, const char *name, const char *op) {
    int t = jtype(c, "type");
    long n = jint(c, "n");
    tx_qparam in = {(float)jnum(c, "in_scale"), jint(c, "in_zp")};
    tx_qparam out = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    uint8_t *y = xmalloc((size_t)n), *yr = xmalloc((size_t)n);
    for (int mode = 0; mode < 2; mode++) {
        tx_qlut l;
        tx_err err = {0};
        if (strcmp(op, "logistic") == 0) {
            CHECK_OK(tx_qlut_logistic(&l, t, in, out, mode, &err), &err);
            tx_qlogistic_ref(yr, x->data, n, t, in, out, mode);
        } else {
            CHECK_OK(tx_qlut_hardswish(&l, t, in, out, mode, &err), &err);
            tx_qhardswish_ref(yr, x->data, n, t, in, out);
        }
        tx_qlut_apply(&l, y, x->data, n);
        cmp_golden(name, mode, y, n, t);
        cmp_fast(name, y, yr, n, t);
    }
    tx_free(y);
    tx_free(yr);
}

static void golden_quantize(const cJSON *c, const char *name) {
    const char *tin = jstr(c, "tin");
    int tout = jtype(c, "tout");
    long n = jint(c, "n");
    tx_qparam out = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    uint8_t *y = xmalloc((size_t)n), *yr = xmalloc((size_t)n);
    if (strcmp(tin, "f32") == 0) {
        const tx_st_tensor *x = gt(name, "xf");
        if (!x || x->nbytes != (size_t)n * 4) {
            CHECK(0, "%s: bad input", name);
            return;
        }
        float *xf = xmalloc(x->nbytes);
        memcpy(xf, x->data, x->nbytes);
        for (int mode = 0; mode < 2; mode++) {
            tx_quantize_f32(y, xf, n, tout, out, mode);
            cmp_golden(name, mode, y, n, tout);
        }
        tx_free(xf);
    } else {
        int ti = jtype(c, "tin");
        tx_qparam in = {(float)jnum(c, "in_scale"), jint(c, "in_zp")};
        const tx_st_tensor *x = gt(name, "x");
        if (!x) return;
        for (int mode = 0; mode < 2; mode++) {
            tx_qlut l;
            tx_err err = {0};
            CHECK_OK(tx_qlut_requantize(&l, ti, in, tout, out, mode, &err), &err);
            tx_qlut_apply(&l, y, x->data, n);
            tx_qrequantize_ref(yr, x->data, n, ti, in, tout, out, mode);
            cmp_golden(name, mode, y, n, tout);
            cmp_fast(name, y, yr, n, tout);
        }
    }
    tx_free(y);
    tx_free(yr);
}

static void golden_dequantize(const cJSON *c, const char *name) {
    int t = jtype(c, "type");
    long n = jint(c, "n");
    tx_qparam in = {(float)jnum(c, "in_scale"), jint(c, "in_zp")};
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    float *y = xmalloc((size_t)n * 4), *want = xmalloc((size_t)n * 4);
    tx_dequantize(y, x->data, n, t, in);
    for (int mode = 0; mode < 2; mode++) {
        const tx_st_tensor *w = gt(name, mode == 0 ? "y_xnn" : "y_ref");
        if (!w || w->nbytes != (size_t)n * 4) {
            CHECK(0, "%s: bad golden output", name);
            continue;
        }
        memcpy(want, w->data, w->nbytes);
        char what[64];
        snprintf(what, sizeof what, "%s %s vs TFLite", name, tx_qmode_name(mode));
        CHECK(tu_close(what, y, want, n, 0, 0), "%s", what); /* bit-exact floats */
        g_ncmp[mode]++;
    }
    tx_free(y);
    tx_free(want);
}

static void golden_concat(const cJSON *c, const char *name) {
    int t = jtype(c, "type");
    int rows = jint(c, "rows");
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(c, "cs");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(c, "in_scale");
    const cJSON *jz = cJSON_GetObjectItemCaseSensitive(c, "in_zp");
    int k = cJSON_GetArraySize(jc);
    if (k < 1 || k > 8) {
        CHECK(0, "%s: bad input count", name);
        return;
    }
    const void *xs[8];
    int cs[8];
    tx_qparam ins[8];
    long total = 0;
    for (int i = 0; i < k; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "x%d", i & 7);
        const tx_st_tensor *x = gt(name, nm);
        if (!x) return;
        xs[i] = x->data;
        cs[i] = cJSON_GetArrayItem(jc, i)->valueint;
        ins[i] = (tx_qparam){(float)cJSON_GetArrayItem(js, i)->valuedouble,
                             cJSON_GetArrayItem(jz, i)->valueint};
        total += cs[i];
    }
    tx_qparam out = {(float)jnum(c, "out_scale"), jint(c, "out_zp")};
    uint8_t *y = xmalloc((size_t)rows * total);
    tx_qconcat(y, xs, cs, ins, k, rows, t, out);
    for (int mode = 0; mode < 2; mode++) cmp_golden(name, mode, y, rows * total, t);
    tx_free(y);
}

static void golden_pad(const cJSON *c, const char *name) {
    int t = jtype(c, "type");
    int n = jint(c, "n"), h = jint(c, "h"), w = jint(c, "w"), ch = jint(c, "c");
    int pt = jint(c, "pt"), pb = jint(c, "pb"), pl = jint(c, "pl"), pr = jint(c, "pr");
    const tx_st_tensor *x = gt(name, "x");
    if (!x) return;
    long ny = (long)n * (h + pt + pb) * (w + pl + pr) * ch;
    uint8_t *y = xmalloc((size_t)ny);
    tx_qpad(y, x->data, n, h, w, ch, pt, pb, pl, pr, (uint8_t)(jint(c, "zp") & 0xff));
    for (int mode = 0; mode < 2; mode++) cmp_golden(name, mode, y, ny, t);
    tx_free(y);
}

static void run_golden(const char *op_filter) {
    if (!load_golden()) SKIP("%s not found (run tools/golden_tflite_ops.py)", GOLDEN);
    if (!cJSON_IsArray(g_cases)) {
        CHECK(0, "%s: metadata 'cases' missing or not JSON", GOLDEN);
        return;
    }
    int count = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, g_cases) {
        const char *op = jstr(c, "op"), *name = jstr(c, "name");
        if (strcmp(op, op_filter) != 0) continue;
        count++;
        if (!strcmp(op, "conv")) golden_conv(c, name);
        else if (!strcmp(op, "add")) golden_binary(c, name, 0);
        else if (!strcmp(op, "mul")) golden_binary(c, name, 1);
        else if (!strcmp(op, "average_pool_2d")) golden_pool(c, name, 0);
        else if (!strcmp(op, "max_pool_2d")) golden_pool(c, name, 1);
        else if (!strcmp(op, "mean")) golden_mean(c, name);
        else if (!strcmp(op, "softmax")) golden_softmax(c, name);
        else if (!strcmp(op, "logistic") || !strcmp(op, "hard_swish")) golden_unary(c, name, op);
        else if (!strcmp(op, "quantize")) golden_quantize(c, name);
        else if (!strcmp(op, "dequantize")) golden_dequantize(c, name);
        else if (!strcmp(op, "concat")) golden_concat(c, name);
        else if (!strcmp(op, "pad")) golden_pad(c, name);
    }
    CHECK(count > 0, "no golden cases for op '%s'", op_filter);
}

static void golden_conv_cases(void) { run_golden("conv"); }
static void golden_add(void) { run_golden("add"); }
static void golden_mul(void) { run_golden("mul"); }
static void golden_avgpool(void) { run_golden("average_pool_2d"); }
static void golden_maxpool(void) { run_golden("max_pool_2d"); }
static void golden_mean_cases(void) { run_golden("mean"); }
static void golden_softmax_cases(void) { run_golden("softmax"); }
static void golden_logistic(void) { run_golden("logistic"); }
static void golden_hardswish(void) { run_golden("hard_swish"); }
static void golden_quantize_cases(void) { run_golden("quantize"); }
static void golden_dequantize_cases(void) { run_golden("dequantize"); }
static void golden_concat_cases(void) { run_golden("concat"); }
static void golden_pad_cases(void) { run_golden("pad"); }

/* ---- fast kernels vs references on random shapes ------------------------------------------ */

static void fill_rand8(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}

/* One random layer: fast (1 and 2 threads) vs reference, both modes. */
static void conv_random_case(int kind, int t, int per_channel, int iter) {
    tx_qconv_desc d = {0};
    d.kind = kind;
    d.type = t;
    d.wtype = t == TX_QT_S8 ? TX_QT_S8 : (rnd() % 4 ? TX_QT_U8 : TX_QT_S8);
    if (d.wtype == TX_QT_U8) per_channel = 0;
    d.n = rnd_int(1, 3);
    d.h = rnd_int(1, 12), d.w = rnd_int(1, 12);
    int cchoice[] = {1, 3, 4, 8, 12, 16, 24, 31, 32, 33, 40, 64, 96};
    d.c = cchoice[rnd() % 13];
    if (kind == TX_QCONV_FC) d.n = rnd_int(1, 30);
    if (kind == TX_QCONV_DEPTHWISE) {
        d.depth_multiplier = rnd() % 5 == 0 ? 2 : 1;
        d.oc = d.c * d.depth_multiplier;
        int ks[] = {1, 3, 3, 3, 5, 9};
        d.kh = ks[rnd() % 6];
        d.kw = rnd() % 3 ? d.kh : ks[rnd() % 6];
    } else if (kind == TX_QCONV_CONV) {
        d.oc = rnd_int(1, 80);
        int ks[] = {1, 1, 1, 2, 3, 3};
        d.kh = ks[rnd() % 6];
        d.kw = rnd() % 3 ? d.kh : ks[rnd() % 6];
    } else {
        d.oc = rnd_int(1, 150);
        d.kh = d.kw = 1;
    }
    if (kind != TX_QCONV_FC) {
        d.sh = rnd_int(1, 2), d.sw = rnd() % 4 ? d.sh : rnd_int(1, 3);
        d.dh = rnd() % 5 ? 1 : 2, d.dw = rnd() % 5 ? 1 : 2;
        int same = rnd() % 2;
        if (same) {
            int oh = (d.h + d.sh - 1) / d.sh, ow = (d.w + d.sw - 1) / d.sw;
            int th = (oh - 1) * d.sh + (d.kh - 1) * d.dh + 1 - d.h;
            int tw = (ow - 1) * d.sw + (d.kw - 1) * d.dw + 1 - d.w;
            th = th < 0 ? 0 : th, tw = tw < 0 ? 0 : tw;
            d.pad_t = th / 2, d.pad_b = th - th / 2, d.pad_l = tw / 2, d.pad_r = tw - tw / 2;
        } else {
            if ((d.kh - 1) * d.dh + 1 > d.h) d.h = (d.kh - 1) * d.dh + 1;
            if ((d.kw - 1) * d.dw + 1 > d.w) d.w = (d.kw - 1) * d.dw + 1;
        }
    }
    d.in = (tx_qparam){rnd_logu(0.005f, 0.05f), t == TX_QT_U8 ? rnd_int(0, 255) : rnd_int(-128, 127)};
    d.out = (tx_qparam){rnd_logu(0.01f, 0.5f), t == TX_QT_U8 ? rnd_int(0, 255) : rnd_int(-128, 127)};
    d.w_zp = d.wtype == TX_QT_U8 ? (rnd() % 4 == 0 ? 128 : rnd_int(0, 255)) : 0;
    float sc[300];
    d.n_w_scale = per_channel ? d.oc : 1;
    for (int i = 0; i < d.n_w_scale; i++) sc[i] = rnd_logu(0.001f, 0.02f);
    d.w_scale = sc;
    d.act = (int[]){TX_QACT_NONE, TX_QACT_RELU, TX_QACT_RELU6, TX_QACT_RELU_N1_TO_1}[rnd() % 4];
    d.mode = rnd() % 2;
    d.threads = 2;
    tx_err err = {0};
    if (tx_qconv_desc_init(&d, &err) != TX_OK) {
        /* empty activation ranges etc. are legitimate refusals; try again with NONE */
        d.act = TX_QACT_NONE;
        CHECK_OK(tx_qconv_desc_init(&d, &err), &err);
    }
    size_t nx = (size_t)d.n * d.h * d.w * d.c;
    size_t nw = kind == TX_QCONV_DEPTHWISE ? (size_t)d.kh * d.kw * d.oc
                                           : (size_t)d.oc * d.kh * d.kw * d.c;
    size_t ny = (size_t)d.n * d.oh * d.ow * d.oc;
    uint8_t *x = xmalloc(nx), *w = xmalloc(nw), *y1 = xmalloc(ny), *y2 = xmalloc(ny),
            *yr = xmalloc(ny);
    int32_t *b = xmalloc((size_t)d.oc * 4);
    fill_rand8(x, nx);
    fill_rand8(w, nw);
    for (int i = 0; i < d.oc; i++) b[i] = rnd_int(-40000, 40000);
    int use_bias = rnd() % 4 != 0;
    tx_qconv *p2 = NULL, *p1 = NULL;
    CHECK_OK(tx_qconv_pack(&p2, &d, w, use_bias ? b : NULL, &err), &err);
    tx_qconv_desc d1 = d;
    d1.threads = 1;
    CHECK_OK(tx_qconv_pack(&p1, &d1, w, use_bias ? b : NULL, &err), &err);
    void *s2 = xmalloc(tx_qconv_scratch_bytes(p2)), *s1 = xmalloc(tx_qconv_scratch_bytes(p1));
    tx_qconv_run(p2, y2, x, d.n, s2);
    tx_qconv_run(p1, y1, x, d.n, s1);
    tx_qconv_ref(yr, x, w, use_bias ? b : NULL, &d);
    char what[200];
    snprintf(what, sizeof what, "random %d: kind %d %s/%s %s n%d %dx%dx%d->%d k%dx%d s%dx%d d%dx%d "
             "pad %d,%d,%d,%d", iter, kind, t ? "s8" : "u8", d.wtype ? "s8" : "u8",
             tx_qmode_name(d.mode), d.n, d.h, d.w, d.c, d.oc, d.kh, d.kw, d.sh, d.sw, d.dh, d.dw,
             d.pad_t, d.pad_l, d.pad_b, d.pad_r);
    cmp_fast(what, y2, yr, (long)ny, t);
    cmp_fast(what, y1, y2, (long)ny, t);
    /* the batch size is a run-time argument: a batch of 1 gives image 0 */
    if (d.n > 1) {
        tx_qconv_run(p2, y1, x, 1, s2);
        cmp_fast(what, y1, yr, (long)(ny / d.n), t);
    }
    tx_free(s1);
    tx_free(s2);
    tx_qconv_free(p1);
    tx_qconv_free(p2);
    tx_free(x);
    tx_free(w);
    tx_free(y1);
    tx_free(y2);
    tx_free(yr);
    tx_free(b);
}

static void conv_fast_vs_ref(void) {
    for (int i = 0; i < 60; i++) conv_random_case(TX_QCONV_CONV, i % 3 == 2, i % 2, i);
    printf("  60 random CONV_2D layers: fast == reference (1 and 2 threads)\n");
}
static void dw_fast_vs_ref(void) {
    for (int i = 0; i < 60; i++) conv_random_case(TX_QCONV_DEPTHWISE, i % 3 == 2, i % 2, i);
    printf("  60 random DEPTHWISE_CONV_2D layers: fast == reference (1 and 2 threads)\n");
}
static void fc_fast_vs_ref(void) {
    for (int i = 0; i < 40; i++) conv_random_case(TX_QCONV_FC, i % 3 == 2, i % 2, i);
    printf("  40 random FULLY_CONNECTED layers: fast == reference (1 and 2 threads)\n");
}

/* A MobileNet-sized 1x1 layer and a depthwise layer (large M, many panels). */
static void conv_large_fast_vs_ref(void) {
    struct { int kind, h, c, oc, k, s; } L[] = {
        {TX_QCONV_CONV, 28, 144, 32, 1, 1}, {TX_QCONV_CONV, 7, 320, 1280, 1, 1},
        {TX_QCONV_DEPTHWISE, 29, 144, 144, 3, 2}, {TX_QCONV_CONV, 31, 3, 32, 3, 2}};
    for (unsigned li = 0; li < sizeof L / sizeof *L; li++)
        for (int mode = 0; mode < 2; mode++) {
            tx_qconv_desc d = {.kind = L[li].kind, .type = TX_QT_U8, .wtype = TX_QT_U8, .n = 1,
                               .h = L[li].h, .w = L[li].h, .c = L[li].c, .oc = L[li].oc,
                               .kh = L[li].k, .kw = L[li].k, .sh = L[li].s, .sw = L[li].s,
                               .dh = 1, .dw = 1, .in = {0.0235f, 128}, .out = {0.0313f, 3},
                               .w_zp = 119, .act = TX_QACT_RELU6, .mode = mode, .threads = 2};
            float ws = 0.0042f;
            d.w_scale = &ws;
            d.n_w_scale = 1;
            if (L[li].k == 3) d.pad_t = d.pad_l = 0, d.pad_b = d.pad_r = 1;
            tx_err err = {0};
            CHECK_OK(tx_qconv_desc_init(&d, &err), &err);
            size_t nx = (size_t)d.h * d.w * d.c, ny = (size_t)d.oh * d.ow * d.oc;
            size_t nw = d.kind == TX_QCONV_DEPTHWISE ? (size_t)d.kh * d.kw * d.oc
                                                     : (size_t)d.oc * d.kh * d.kw * d.c;
            uint8_t *x = xmalloc(nx), *w = xmalloc(nw), *y = xmalloc(ny), *yr = xmalloc(ny);
            int32_t *b = xmalloc((size_t)d.oc * 4);
            fill_rand8(x, nx);
            fill_rand8(w, nw);
            for (int i = 0; i < d.oc; i++) b[i] = rnd_int(-20000, 20000);
            tx_qconv *p;
            CHECK_OK(tx_qconv_pack(&p, &d, w, b, &err), &err);
            void *s = xmalloc(tx_qconv_scratch_bytes(p));
            tx_qconv_run(p, y, x, 1, s);
            tx_qconv_ref(yr, x, w, b, &d);
            long mism;
            int dd = diff8(y, yr, (long)ny, TX_QT_U8, &mism);
            printf("  %s %dx%dx%d -> %d k%d s%d: fast vs reference max|diff|=%d\n",
                   tx_qmode_name(mode), d.h, d.w, d.c, d.oc, d.kh, d.sh, dd);
            cmp_fast("large layer", y, yr, (long)ny, TX_QT_U8);
            tx_free(s);
            tx_qconv_free(p);
            tx_free(x);
            tx_free(w);
            tx_free(y);
            tx_free(yr);
            tx_free(b);
        }
}

static void binary_fast_vs_ref(void) {
    for (int it = 0; it < 200; it++) {
        int t = it % 2, mul = (it / 2) % 2, mode = (it / 4) % 2;
        long n = rnd_int(0, 100);
        tx_qparam a = {rnd_logu(0.005f, 0.2f), t ? rnd_int(-128, 127) : rnd_int(0, 255)};
        tx_qparam b = {rnd_logu(0.005f, 0.2f), t ? rnd_int(-128, 127) : rnd_int(0, 255)};
        tx_qparam o = {rnd_logu(0.005f, 0.2f), t ? rnd_int(-128, 127) : rnd_int(0, 255)};
        tx_qbinary p;
        tx_err err = {0};
        int act = (int[]){TX_QACT_NONE, TX_QACT_RELU, TX_QACT_RELU6}[rnd() % 3];
        int rc = mul ? tx_qmul_init(&p, t, a, b, o, act, mode, &err)
                     : tx_qadd_init(&p, t, a, b, o, act, mode, &err);
        if (rc) continue; /* empty relu range with a tiny scale */
        uint8_t xa[100], xb[100], y[100], yr[100];
        fill_rand8(xa, 100);
        fill_rand8(xb, 100);
        tx_qbinary_run(&p, y, xa, xb, n);
        tx_qbinary_ref(&p, yr, xa, xb, n);
        cmp_fast(mul ? "MUL random" : "ADD random", y, yr, n, t);
    }
}

static void lut_vs_direct(void) {
    uint8_t x[256], y[256], yr[256];
    for (int i = 0; i < 256; i++) x[i] = (uint8_t)i;
    for (int it = 0; it < 40; it++) {
        int t = it % 2, mode = (it / 2) % 2;
        tx_qparam in = {rnd_logu(0.01f, 0.2f), t ? rnd_int(-128, 127) : rnd_int(0, 255)};
        tx_qparam out = {1.0f / 256, t ? -128 : 0};
        tx_qlut l;
        tx_err err = {0};
        CHECK_OK(tx_qlut_logistic(&l, t, in, out, mode, &err), &err);
        tx_qlut_apply(&l, y, x, 256);
        tx_qlogistic_ref(yr, x, 256, t, in, out, mode);
        cmp_fast("LOGISTIC table", y, yr, 256, t);
        out = (tx_qparam){rnd_logu(0.01f, 0.05f), t ? rnd_int(-100, 100) : rnd_int(0, 255)};
        in.scale = rnd_logu(0.01f, 0.05f);
        if (tx_qlut_hardswish(&l, t, in, out, mode, &err) == TX_OK) {
            tx_qlut_apply(&l, y, x, 256);
            tx_qhardswish_ref(yr, x, 256, t, in, out);
            cmp_fast("HARD_SWISH table", y, yr, 256, t);
        }
        int tout = rnd() % 2;
        tx_qparam o2 = {rnd_logu(0.005f, 0.5f), tout ? rnd_int(-128, 127) : rnd_int(0, 255)};
        CHECK_OK(tx_qlut_requantize(&l, t, in, tout, o2, mode, &err), &err);
        tx_qlut_apply(&l, y, x, 256);
        tx_qrequantize_ref(yr, x, 256, t, in, tout, o2, mode);
        cmp_fast("QUANTIZE table", y, yr, 256, tout);
    }
}

/* Pooling and MEAN on many channels (the kernels work in chunks of channels) against the
 * same kernels run on one channel at a time. */
static void pool_mean_wide(void) {
    for (int t = 0; t < 2; t++) {
        const int C = 600, H = 5, W = 6;
        uint8_t *x = xmalloc((size_t)H * W * C), *x1 = xmalloc((size_t)H * W);
        uint8_t *y = xmalloc((size_t)H * W * C), *y1 = xmalloc((size_t)H * W);
        fill_rand8(x, (size_t)H * W * C);
        tx_pool_shape s = {.n = 1, .h = H, .w = W, .c = C, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                           .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1};
        tx_err err = {0};
        CHECK_OK(tx_pool_shape_init(&s, &err), &err);
        tx_pool_shape s1 = s;
        s1.c = 1;
        tx_qmean m;
        CHECK_OK(tx_qmean_init(&m, t, (tx_qparam){0.05f, t ? -3 : 120}, (tx_qparam){0.02f, t ? 5 : 100},
                               H * W, t == 0 ? TX_QMODE_XNNPACK : TX_QMODE_TFLITE_REF, &err), &err);
        long bad = 0;
        for (int pass = 0; pass < 3; pass++) {
            if (pass == 0) tx_qavgpool(y, x, &s, t, t ? -128 : 0, t ? 127 : 255);
            else if (pass == 1) tx_qmaxpool(y, x, &s, t, t ? -100 : 3, t ? 100 : 250);
            else tx_qmean_run(&m, y, x, 1, C);
            for (int ch = 0; ch < C; ch++) {
                for (int i = 0; i < H * W; i++) x1[i] = x[(size_t)i * C + ch];
                if (pass == 0) tx_qavgpool(y1, x1, &s1, t, t ? -128 : 0, t ? 127 : 255);
                else if (pass == 1) tx_qmaxpool(y1, x1, &s1, t, t ? -100 : 3, t ? 100 : 250);
                else tx_qmean_run(&m, y1, x1, 1, 1);
                int no = pass == 2 ? 1 : s.oh * s.ow;
                for (int i = 0; i < no; i++) bad += y1[i] != y[(size_t)i * C + ch];
            }
        }
        CHECK(bad == 0, "%ld values differ between %d channels at once and one at a time", bad, C);
        tx_free(x);
        tx_free(x1);
        tx_free(y);
        tx_free(y1);
    }
}

/* Fixed point helpers against an independent evaluation with 128-bit integers. */
static void fixed_point(void) {
    int32_t m;
    int sh;
    tx_quantize_multiplier(0.5, &m, &sh);
    CHECK(m == (1 << 30) && sh == 0, "QM(0.5) = %d, %d", (int)m, sh);
    tx_quantize_multiplier(1.0, &m, &sh);
    CHECK(m == (1 << 30) && sh == 1, "QM(1) = %d, %d", (int)m, sh);
    tx_quantize_multiplier(0.0, &m, &sh);
    CHECK(m == 0 && sh == 0, "QM(0)");
    long bad = 0;
    for (int it = 0; it < 100000; it++) {
        int32_t x = (int32_t)rnd();
        x >>= rnd() % 20;
        double real = exp(-10.0 * (rnd() & 0xffff) / 65536.0 + (rnd() % 8 == 0 ? 1.0 : 0.0));
        tx_quantize_multiplier(real, &m, &sh);
        if (sh > 0) x /= 1 << (sh + 1); /* keep x * 2^sh in int32 (TFLite would wrap) */
        if (!(m >= (1 << 30) && (double)m * ldexp(1.0, sh - 31) <= real * (1 + 1e-9) + 1e-300 &&
              fabs((double)m * ldexp(1.0, sh - 31) - real) <= ldexp(1.0, sh - 31)))
            bad++;
        /* double rounding: first x*m / 2^31 rounded half away from zero, then / 2^-sh
         * rounded half up (away from zero for negatives: threshold + 1) */
        /* a left shift (real >= 1) happens before the multiplication */
        __int128 p = (__int128)x * (sh > 0 ? (INT64_C(1) << sh) : 1) * m;
        /* gemmlowp: (ab + nudge) / 2^31 truncating; nudge = 2^30 or 1 - 2^30 */
        __int128 num = p + (p >= 0 ? ((__int128)1 << 30) : (1 - ((__int128)1 << 30)));
        __int128 q = num / ((__int128)1 << 31);
        int e = -sh;
        __int128 r = q;
        if (e > 0) {
            __int128 fl = q >= 0 ? q >> e : -((-q + (((__int128)1 << e) - 1)) >> e);
            __int128 rem = q - fl * ((__int128)1 << e);
            __int128 thr = ((((__int128)1 << e) - 1) >> 1) + (q < 0 ? 1 : 0);
            r = fl + (rem > thr ? 1 : 0);
        }
        if (tx_mbqm(x, m, sh) != (int32_t)r) {
            if (bad < 3) printf("  x=%d m=%d sh=%d got %d want %lld\n", (int)x, (int)m, sh, (int)tx_mbqm(x, m, sh), (long long)r);
            bad++;
        }
    }
    CHECK(bad == 0, "%ld fixed-point mismatches", bad);
}

static void errors(void) {
    tx_err err = {0};
    float s = 0.01f;
    tx_qconv_desc d = {.kind = TX_QCONV_CONV, .type = TX_QT_U8, .wtype = TX_QT_U8, .n = 1, .h = 4,
                       .w = 4, .c = 3, .oc = 2, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                       .in = {0.02f, 128}, .out = {0.1f, 0}, .w_scale = &s, .n_w_scale = 1,
                       .w_zp = 100};
    tx_qconv_desc e = d;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_OK, "valid desc refused: %s", err.msg);
    e = d, e.c = 0;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_ESHAPE && strstr(err.msg, "CONV_2D"), "c=0: %s", err.msg);
    e = d, e.w_zp = 300;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EINVAL && strstr(err.msg, "zero point"), "w_zp: %s", err.msg);
    e = d, e.type = TX_QT_S8;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EUNSUP, "s8 act with u8 weights: %s", err.msg);
    e = d, e.kind = TX_QCONV_DEPTHWISE, e.oc = 7;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_ESHAPE && strstr(err.msg, "depth multiplier"), "dm: %s", err.msg);
    e = d, e.n_w_scale = 2;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EINVAL && strstr(err.msg, "weight scales"), "scales: %s", err.msg);
    float big = 1e6f;
    e = d, e.w_scale = &big;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EUNSUP && strstr(err.msg, "256"), "scale limit: %s", err.msg);
    e = d, e.act = 4;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EUNSUP && strstr(err.msg, "activation"), "act: %s", err.msg);
    e = d, e.in.scale = NAN;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_EINVAL, "NaN scale: %s", err.msg);
    e = d, e.h = 1, e.pad_t = e.pad_b = 0;
    CHECK(tx_qconv_desc_init(&e, &err) == TX_ESHAPE && strstr(err.msg, "empty"), "empty: %s", err.msg);
    tx_qbinary b;
    CHECK(tx_qadd_init(&b, TX_QT_U8, (tx_qparam){0, 0}, (tx_qparam){1, 0}, (tx_qparam){1, 0}, 0,
                       TX_QMODE_XNNPACK, &err) == TX_EINVAL && strstr(err.msg, "ADD input 1"),
          "add scale 0: %s", err.msg);
    tx_qsoftmax *sm = xmalloc(sizeof *sm);
    CHECK(tx_qsoftmax_init(sm, TX_QT_S8, (tx_qparam){0.1f, 0}, (tx_qparam){0.1f, 0}, 1.0f,
                           TX_QMODE_XNNPACK, &err) == TX_EUNSUP, "softmax s8 output: %s", err.msg);
    tx_free(sm);
    tx_qlut l;
    CHECK(tx_qlut_logistic(&l, TX_QT_U8, (tx_qparam){0.1f, 0}, (tx_qparam){0.1f, 0},
                           TX_QMODE_TFLITE_REF, &err) == TX_EUNSUP, "logistic scale: %s", err.msg);
    int lo, hi;
    CHECK(tx_qact_range(&lo, &hi, TX_QT_U8, (tx_qparam){1e-6f, 255}, TX_QACT_RELU6,
                        TX_QMODE_TFLITE_REF, &err) == TX_OK && lo == 255 && hi == 255,
          "relu6 range at the top: %d %d", lo, hi);
}

/* Whole MobileNets from ../shared/models (tests/qmodel.h runs them on these kernels) on a
 * pseudo-random image, against ai-edge-litert's AUTO and BUILTIN_REF outputs. */
static void whole_models(void) {
    if (!load_golden()) SKIP("%s not found", GOLDEN);
    const char *shared = tu_shared_dir();
    if (!shared) SKIP("../shared not found (set TAXON_SHARED)");
    const char *js = tx_st_meta_get(&g_st, "models");
    cJSON *list = js ? cJSON_Parse(js) : NULL;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        cJSON_Delete(list);
        SKIP("the golden file has no whole-model outputs");
    }
    const cJSON *mj;
    cJSON_ArrayForEach(mj, list) {
        const char *file = jstr(mj, "file");
        uint32_t seed = (uint32_t)jint(mj, "seed");
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s", shared, file);
        for (int mode = 0; mode < 2; mode++) {
            qmodel q;
            tx_err err = {0};
            int rc = qmodel_load(&q, path, mode, 2, &err);
            if (rc) {
                CHECK(0, "%s: %s", path, err.msg);
                qmodel_free(&q);
                continue;
            }
            const tx_tflite_tensor *in = &q.g->tensors[q.in_tensor], *out = &q.g->tensors[q.out_tensor];
            uint8_t *x = q.buf[q.in_tensor];
            uint32_t st = seed;
            for (int64_t i = 0; i < in->numel; i++) {
                st = st * 1664525u + 1013904223u;
                x[i] = (uint8_t)(st >> 24);
            }
            qmodel_run(&q);
            char tname[200];
            snprintf(tname, sizeof tname, "model.%s", file);
            cmp_golden(tname, mode, q.buf[q.out_tensor], (long)out->numel, qm_type(out));
            qmodel_free(&q);
        }
    }
    cJSON_Delete(list);
}

static void summary(void) {
    if (g_loaded <= 0) SKIP("no golden file");
    printf("  golden comparisons: xnnpack %d (largest |diff| %d), tflite_ref %d (largest |diff| "
           "%d); fast vs reference largest |diff| %d\n", g_ncmp[0], g_worst[0], g_ncmp[1],
           g_worst[1], g_worst_fast);
    CHECK(g_ncmp[0] >= 80 && g_ncmp[1] >= 80, "too few golden comparisons");
}

int main(void) {
#ifdef _OPENMP
    if (omp_get_max_threads() < 2) omp_set_num_threads(2);
#endif
    RUN(golden_conv_cases);
    RUN(golden_add);
    RUN(golden_mul);
    RUN(golden_avgpool);
    RUN(golden_maxpool);
    RUN(golden_mean_cases);
    RUN(golden_softmax_cases);
    RUN(golden_logistic);
    RUN(golden_hardswish);
    RUN(golden_quantize_cases);
    RUN(golden_dequantize_cases);
    RUN(golden_concat_cases);
    RUN(golden_pad_cases);
    RUN(conv_fast_vs_ref);
    RUN(dw_fast_vs_ref);
    RUN(fc_fast_vs_ref);
    RUN(conv_large_fast_vs_ref);
    RUN(binary_fast_vs_ref);
    RUN(lut_vs_direct);
    RUN(pool_mean_wide);
    RUN(fixed_point);
    RUN(errors);
    RUN(whole_models);
    RUN(summary);
    if (g_loaded > 0) {
        cJSON_Delete(g_cases);
        tx_st_free(&g_st);
    }
    TEST_MAIN_END();
}
