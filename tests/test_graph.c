/* Graph building, the executor and the model file: shape errors, save/load round trips,
 * the inference memory plan against the training executor, whole-graph finite
 * differences through every op, and malformed model metadata. */
#include "testutil.h"

#include <cJSON.h>
#include <math.h>

#include "graph/modelio.h"
#include "ops/ops.h"

/* A tiny graph that uses every op: conv(+bias, groups) bn relu maxpool avgpool add
 * dropout gap flatten linear. */
static tx_model *tiny(tx_err *err) {
    tx_model *m = tx_model_new("custom");
    int x = tx_g_input(m, 6, 6, 3, err);
    int c1 = tx_g_conv(m, x, "c1", 4, 3, 1, 1, 1, 1, err);
    int b1 = tx_g_bn(m, c1, "b1", err);
    int r1 = tx_g_relu(m, b1, err);
    int c2 = tx_g_conv(m, r1, "c2", 4, 3, 1, 1, 2, 0, err); /* grouped */
    int a = tx_g_add(m, c2, r1, err);
    int mp = tx_g_maxpool(m, a, 2, 2, 0, err);
    int ap = tx_g_avgpool(m, mp, 3, 1, 1, err);
    int d = tx_g_dropout(m, ap, 0.0f, err);
    int g = tx_g_gap(m, d, err);
    int f = tx_g_flatten(m, mp, err);
    int l1 = tx_g_linear(m, f, "l1", 4, 1, err);
    int s = tx_g_add(m, l1, g, err);
    int out = tx_g_linear(m, s, "out", 3, 1, err);
    if (out < 0) { tx_model_free(m); return NULL; }
    m->num_classes = 3;
    tx_preproc_default(&m->pp, 6, 6, 3);
    tx_rng r;
    tx_rng_seed(&r, 3);
    for (int i = 0; i < m->n_params; i++) {
        float *p = m->params[i].t.data;
        int is_var = strstr(m->params[i].name, "running_var") != NULL;
        for (int64_t k = 0; k < tx_tensor_numel(&m->params[i].t); k++)
            p[k] = is_var ? 0.5f + tx_rng_uniform(&r) : tx_rng_normal(&r) * 0.5f;
    }
    return m;
}

static tx_node proto(tx_op_kind op, int in0, int in1) {
    tx_node nd = {.op = op, .n_in = in1 >= 0 ? 2 : 1, .in = {in0, in1 >= 0 ? in1 : 0}};
    return nd;
}

/* A tiny graph with every op of the modern architectures and of imported graphs:
 * depthwise conv with fused relu6, layer norm, layer scale, drop path, add, gelu, silu,
 * hardswish, squeeze-excitation (gap, 1x1 convs, sigmoid, broadcast mul), pad, reshape,
 * relu6, hardsigmoid, concat, class token + position embedding, attention, token0,
 * elementwise mul, softmax. */
static tx_model *tiny_modern(tx_err *err) {
    tx_model *m = tx_model_new("custom");
    int x = tx_g_input(m, 4, 4, 3, err);
    int pad1[4] = {1, 1, 1, 1};
    int c0 = tx_g_conv(m, x, "c0", 8, 1, 1, 0, 1, 0, err);
    int dw = tx_g_conv_ex(m, c0, "dw", 8, 3, 3, 1, 1, pad1, 1, 1, 8, 1, TX_ACT_RELU6, err);
    int ln = tx_g_layernorm(m, dw, "ln", 1e-5f, err);
    int ls = tx_g_layerscale(m, ln, "ls", err);
    int dp = tx_g_droppath(m, ls, 0.0f, err);
    int ad = tx_g_add(m, dp, dw, err);
    int ge = tx_g_act(m, TX_OP_GELU, ad, err);
    int si = tx_g_act(m, TX_OP_SILU, ge, err);
    int hs = tx_g_act(m, TX_OP_HARDSWISH, si, err);
    int gp = tx_g_gap(m, hs, err);
    int se1 = tx_g_conv(m, gp, "se1", 4, 1, 1, 0, 1, 1, err);
    int se2 = tx_g_conv(m, se1, "se2", 8, 1, 1, 0, 1, 1, err);
    int sg = tx_g_act(m, TX_OP_SIGMOID, se2, err);
    int mu = tx_g_mul(m, hs, sg, err);
    tx_node nd = proto(TX_OP_PAD, mu, -1);
    nd.pad_t = 1; nd.pad_r = 2;
    int pd = tx_g_node(m, &nd, err);
    nd = proto(TX_OP_RESHAPE, pd, -1);
    nd.rh = 6; nd.rw = 5; nd.rc = 8; /* 5x6x8 -> 6x5x8 */
    int rs = tx_g_node(m, &nd, err);
    int r6 = tx_g_act(m, TX_OP_RELU6, rs, err);
    int hg = tx_g_act(m, TX_OP_HARDSIGMOID, r6, err);
    int g2 = tx_g_gap(m, hg, err);
    int l2 = tx_g_linear(m, g2, "l2", 16, 1, err);
    nd = proto(TX_OP_CONCAT, mu, hs);
    int cc = tx_g_node(m, &nd, err);
    int cp = tx_g_cls_pos(m, cc, "emb", 1, err);
    int qkv = tx_g_linear(m, cp, "qkv", 48, 1, err);
    int at = tx_g_attention(m, qkv, 2, err);
    int pr = tx_g_linear(m, at, "proj", 16, 1, err);
    int t0 = tx_g_token0(m, pr, err);
    int sq = tx_g_mul(m, t0, t0, err);
    int sum = tx_g_add(m, sq, l2, err);
    int hd = tx_g_linear(m, sum, "head", 5, 1, err);
    int out = tx_g_act(m, TX_OP_SOFTMAX, hd, err);
    if (out < 0) { tx_model_free(m); return NULL; }
    m->num_classes = 5;
    tx_preproc_default(&m->pp, 4, 4, 3);
    tx_rng r;
    tx_rng_seed(&r, 4);
    for (int i = 0; i < m->n_params; i++) {
        float *p = m->params[i].t.data;
        for (int64_t k = 0; k < tx_tensor_numel(&m->params[i].t); k++) p[k] = tx_rng_normal(&r) * 0.5f;
    }
    return m;
}

static void test_shape_errors(void) {
    tx_err err = {0};
    tx_model *m = tx_model_new("x");
    int in = tx_g_input(m, 4, 4, 3, err.code ? &err : &err);
    int rc = tx_g_linear(m, in, "fc", 3, 1, &err);
    CHECK(rc > 0 && m->nodes[rc].oh == 4 && m->nodes[rc].oc == 3, "linear over the last axis of 4x4x3: %d %s",
          rc, err.msg);
    rc = tx_g_attention(m, in, 2, &err);
    CHECK(rc == TX_ESHAPE, "attention on 4x4x3 accepted");
    rc = tx_g_conv(m, in, "c", 4, 7, 1, 0, 1, 0, &err);
    CHECK(rc < 0, "7x7 conv on 4x4 accepted");
    rc = tx_g_conv(m, in, "c", 4, 3, 1, 1, 2, 0, &err);
    CHECK(rc < 0, "groups 2 with 3 channels accepted");
    int c = tx_g_conv(m, in, "c", 4, 3, 1, 1, 1, 0, &err);
    rc = tx_g_add(m, in, c, &err);
    CHECK(rc == TX_ESHAPE, "add 4x4x3 + 4x4x4 accepted");
    rc = tx_g_conv(m, c, "c", 4, 3, 1, 1, 1, 0, &err);
    CHECK(rc < 0 && strstr(err.msg, "twice"), "duplicate name accepted: %s", err.msg);
    printf("  last message: %s\n", err.msg);
    tx_model_free(m);
}

static void test_roundtrip_and_plan(void) {
    tx_err err = {0};
    tx_model *m = tiny(&err);
    CHECK(m, "tiny: %s", err.msg);
    if (!m) return;
    const char *names[3] = {"a", "b \"quoted\"", "c"};
    CHECK_OK(tx_model_set_classes(m, 3, names, &err), &err);
    tx_model_set_provenance(m, "{\"data\":\"unit\"}");
    const char *path = "build/test_graph_tiny.safetensors";
    CHECK_OK(tx_model_save(m, path, &err), &err);
    tx_model *m2;
    CHECK_OK(tx_model_load(path, &m2, &err), &err);
    CHECK(m2->n_nodes == m->n_nodes && m2->n_params == m->n_params, "structure differs");
    CHECK(!strcmp(tx_model_class_name(m2, 1), names[1]), "class name %s", tx_model_class_name(m2, 1));
    CHECK(m2->provenance && strstr(m2->provenance, "unit"), "provenance lost");
    int N = 3;
    float x[3 * 108];
    tx_rng r;
    tx_rng_seed(&r, 9);
    for (int i = 0; i < N * 108; i++) x[i] = tx_rng_normal(&r);
    tx_exec *e1, *e2, *et;
    CHECK_OK(tx_exec_create(m, N, 0, 0, &e1, &err), &err);
    CHECK_OK(tx_exec_create(m2, N, 0, 0, &e2, &err), &err);
    const float *y1 = tx_exec_forward(e1, x, N), *y2 = tx_exec_forward(e2, x, N);
    CHECK(tu_close("saved/loaded model logits", y2, y1, N * 3, 0, 0), "round trip");
    /* a plan made for a larger batch must give the same results (offsets differ) */
    CHECK_OK(tx_exec_create(m, N + 5, 0, 0, &et, &err), &err);
    const float *y3 = tx_exec_forward(et, x, N);
    CHECK(tu_close("plan at batch N vs N+5", y3, y1, N * 3, 0, 0), "plans differ");
    printf("  planned executor %zu bytes\n", tx_exec_peak_bytes(e1));
    tx_exec_free(e1); tx_exec_free(e2); tx_exec_free(et);
    if (getenv("TAXON_WRITE_SEED")) tx_model_save(m, getenv("TAXON_WRITE_SEED"), &err);
    tx_model_free(m);
    tx_model_free(m2);
}

/* d(sum(w . logits)) / d(param) by central differences in training mode (BN with batch
 * statistics), for a sample of elements of every parameter, and for the input path. */
static void check_graph_gradients(tx_model *m) {
    tx_err err = {0};
    int N = 4, K = m->num_classes, D = m->nodes[0].oh * m->nodes[0].ow * m->nodes[0].oc;
    float x[4 * 128], w[4 * 8];
    tx_rng r;
    tx_rng_seed(&r, 5);
    for (int i = 0; i < N * D; i++) x[i] = tx_rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = tx_rng_normal(&r);
    tx_exec *e;
    CHECK_OK(tx_exec_create(m, N, 1, 0, &e, &err), &err);
    /* momentum 0 keeps running stats fixed so repeated forwards see the same model */
    for (int i = 0; i < m->n_nodes; i++) m->nodes[i].momentum = 0.0f;
    tx_exec_forward(e, x, N);
    tx_exec_backward(e, w);
    double worst = 0;
    int checked = 0, bad = 0;
    for (int p = 0; p < m->n_params; p++) {
        if (!m->params[p].trainable) continue;
        float *v = m->params[p].t.data;
        const float *g = tx_exec_param_grad(e, p);
        int64_t n = tx_tensor_numel(&m->params[p].t);
        for (int64_t k = 0; k < n; k += 1 + n / 7) {
            float old = v[k], h = 1e-3f;
            double f[2];
            for (int s = 0; s < 2; s++) {
                v[k] = old + (s ? -h : h);
                const float *y = tx_exec_forward(e, x, N);
                double acc = 0;
                for (int i = 0; i < N * K; i++) acc += (double)w[i] * y[i];
                f[s] = acc;
            }
            v[k] = old;
            double num = (f[0] - f[1]) / (2 * h), d = fabs(num - g[k]) / (1 + fabs(num));
            if (d > worst) worst = d;
            if (d > 2e-2) {
                bad++;
                printf("  %s[%lld]: analytic %.6g numeric %.6g\n", m->params[p].name, (long long)k, g[k], num);
            }
            checked++;
        }
    }
    printf("  %d parameter elements checked, largest relative difference %.3g\n", checked, worst);
    CHECK(bad == 0, "%d gradients off", bad);
    tx_exec_free(e);
    tx_model_free(m);
}

static void test_whole_graph_gradients(void) {
    tx_err err = {0};
    tx_model *m = tiny(&err);
    CHECK(m, "tiny: %s", err.msg);
    if (m) check_graph_gradients(m);
}

static void test_modern_ops_gradients(void) {
    tx_err err = {0};
    tx_model *m = tiny_modern(&err);
    CHECK(m, "tiny_modern: %s", err.msg);
    if (m) check_graph_gradients(m);
}

/* Save/load keeps every node field; inference (planned memory) equals training mode
 * forward for a graph without batch norm or dropout. */
static void test_modern_roundtrip(void) {
    tx_err err = {0};
    tx_model *m = tiny_modern(&err);
    CHECK(m, "tiny_modern: %s", err.msg);
    if (!m) return;
    const char *path = "build/test_graph_modern.safetensors";
    CHECK_OK(tx_model_save(m, path, &err), &err);
    tx_model *m2 = NULL;
    CHECK_OK(tx_model_load(path, &m2, &err), &err);
    if (!m2) { tx_model_free(m); return; }
    int same = m2->n_nodes == m->n_nodes;
    for (int i = 0; same && i < m->n_nodes; i++) {
        tx_node a = m->nodes[i], b = m2->nodes[i];
        same = a.op == b.op && a.act == b.act && a.heads == b.heads && a.cls == b.cls && a.oh == b.oh &&
               a.ow == b.ow && a.oc == b.oc && a.pad_t == b.pad_t && a.pad_r == b.pad_r && a.eps == b.eps &&
               a.n_in == b.n_in && a.groups == b.groups;
        if (!same) printf("  node %d (%s) differs after loading\n", i, a.name);
    }
    CHECK(same, "graph changed in the round trip");
    int N = 3, D = 4 * 4 * 3;
    float x[3 * 128];
    tx_rng r;
    tx_rng_seed(&r, 2);
    for (int i = 0; i < N * D; i++) x[i] = tx_rng_normal(&r);
    tx_exec *ei, *et;
    CHECK_OK(tx_exec_create(m2, N, 0, 0, &ei, &err), &err);
    CHECK_OK(tx_exec_create(m, N, 1, 0, &et, &err), &err);
    const float *yi = tx_exec_forward(ei, x, N);
    const float *yt = tx_exec_forward(et, x, N);
    CHECK(tu_close("planned inference vs training forward", yi, yt, N * 5, 1e-6, 1e-6), "differ");
    printf("  planned executor %zu bytes\n", tx_exec_peak_bytes(ei));
    tx_exec_free(ei); tx_exec_free(et);
    tx_model_free(m); tx_model_free(m2);
}

static void corrupt_meta(const char *label, const char *from, const char *to, const char *want) {
    tx_err err = {0};
    tx_model *m = tiny(&err);
    char *meta = tx_model_meta_json(m);
    char *hit = strstr(meta, from);
    CHECK(hit, "%s: pattern %s not in metadata", label, from);
    if (!hit) { free(meta); tx_model_free(m); return; }
    size_t a = (size_t)(hit - meta), nb = strlen(meta) - strlen(from) + strlen(to) + 1;
    char *bad = malloc(nb);
    memcpy(bad, meta, a);
    strcpy(bad + a, to);
    strcat(bad, hit + strlen(from));
    tx_st_tensor *t;
    int n;
    tx_model_tensors(m, &t, &n, &err);
    tx_st_meta kv = {.key = "taxon", .value = bad};
    const char *path = "build/test_graph_bad.safetensors";
    CHECK_OK(tx_st_write(path, t, n, &kv, 1, &err), &err);
    tx_model *m2 = NULL;
    int rc = tx_model_load(path, &m2, &err);
    CHECK(rc != TX_OK && strstr(err.msg, want), "%s: rc %d, message '%s' lacks '%s'", label, rc, err.msg, want);
    if (rc != TX_OK) printf("  %-22s -> %s\n", label, err.msg);
    tx_model_free(m2);
    free(t);
    free(bad);
    free(meta);
    tx_model_free(m);
}

static void test_bad_metadata(void) {
    corrupt_meta("unknown op", "\"op\":\"relu\"", "\"op\":\"gelu_x\"", "gelu_x");
    corrupt_meta("unknown field", "\"op\":\"relu\"", "\"op\":\"relu\",\"frob\":1", "frob");
    corrupt_meta("forward reference", "\"in\":[1]", "\"in\":[7]", "'in'");
    corrupt_meta("negative input", "\"in\":[1]", "\"in\":[-1]", "in");
    corrupt_meta("bad kernel", "\"kernel\":[3,3]", "\"kernel\":[0,3]", "kernel");
    corrupt_meta("huge kernel", "\"kernel\":[3,3]", "\"kernel\":[99,3]", "c1");
    corrupt_meta("string stride", "\"stride\":[1,1]", "\"stride\":\"1\"", "stride");
    corrupt_meta("channel mismatch", "\"out\":4,\"bias\":true", "\"out\":5,\"bias\":true", "c2");
    corrupt_meta("classes mismatch", "\"num_classes\":3", "\"num_classes\":4", "num_classes");
    corrupt_meta("version", "\"version\":1", "\"version\":2", "version");
    corrupt_meta("format", "taxon-model", "other-model", "format");
    corrupt_meta("graph not array", "\"graph\":[", "\"graph\":7,\"g\":[", "graph");
    corrupt_meta("bad preprocess", "\"height\":6", "\"height\":7", "preprocess");
    corrupt_meta("bad resize", "\"bilinear\"", "\"bicubic\"", "resize");
}

static void test_missing_and_extra_tensors(void) {
    tx_err err = {0};
    tx_model *m = tiny(&err);
    tx_st_tensor *t;
    int n;
    tx_model_tensors(m, &t, &n, &err);
    char *meta = tx_model_meta_json(m);
    tx_st_meta kv = {.key = "taxon", .value = meta};
    tx_model *m2 = NULL;
    CHECK_OK(tx_st_write("build/test_graph_missing.safetensors", t, n - 1, &kv, 1, &err), &err);
    int rc = tx_model_load("build/test_graph_missing.safetensors", &m2, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "missing"), "missing tensor: %s", err.msg);
    printf("  %s\n", err.msg);
    t[0].name = "nobody.weight";
    CHECK_OK(tx_st_write("build/test_graph_extra.safetensors", t, n, &kv, 1, &err), &err);
    rc = tx_model_load("build/test_graph_extra.safetensors", &m2, &err);
    CHECK(rc != TX_OK, "renamed tensor accepted");
    printf("  %s\n", err.msg);
    free(meta);
    free(t);
    tx_model_free(m);
}

/* Inference folds batch norm into convolutions, activations and residual adds into their
 * epilogue, and fuses whole inverted-residual blocks; the result must equal running every
 * node as written. */
static void test_inference_fusion(void) {
    /* at 224 the 112x112 and 56x56 expansions also take the fused pointwise -> depthwise
     * path (tx_pwdw_forward_packed) */
    /* resnet50's downsample blocks and the ViT's blocks fold the residual add into the
     * conv / linear of the add's second input */
    const char *archs[] = {"resnet18", "mobilenet_v2", "efficientnet_b0", "fmnist_net",
                           "resnet50", "vit_tiny_patch16_224", "mobilenet_v2", "efficientnet_b0", NULL};
    const int sizes[] = {32, 32, 32, 32, 32, 32, 224, 224};
    for (int a = 0; archs[a]; a++) {
        tx_err err = {0};
        tx_model *m = NULL;
        int c = strcmp(archs[a], "fmnist_net") ? 3 : 1, S = sizes[a];
        if (tx_model_build(archs[a], S, S, c, 7, 5, &m, &err)) {
            CHECK(0, "%s: %s", archs[a], err.msg);
            continue;
        }
        tx_rng r;
        tx_rng_seed(&r, 11);
        for (int i = 0; i < m->n_params; i++) { /* batch-norm statistics that fold to something */
            const char *nm = m->params[i].name;
            float *p = m->params[i].t.data;
            int64_t n = tx_tensor_numel(&m->params[i].t);
            if (strstr(nm, "running_var"))
                for (int64_t k = 0; k < n; k++) p[k] = 0.5f + tx_rng_uniform(&r);
            else if (strstr(nm, "running_mean") || (m->params[i].t.ndim == 1 && strstr(nm, "bias")))
                for (int64_t k = 0; k < n; k++) p[k] = 0.2f * tx_rng_normal(&r);
        }
        int N = S > 32 ? 3 : 5, D = S * S * c;
        float *x = malloc((size_t)N * D * sizeof(float));
        for (int i = 0; i < N * D; i++) x[i] = tx_rng_normal(&r);
        float *x0 = malloc((size_t)N * D * sizeof(float));
        memcpy(x0, x, (size_t)N * D * sizeof(float));
        tx_exec *ef = NULL, *eu = NULL, *ec = NULL;
        tx_exec_opts plain = {.no_fusion = 1}, chunked = {.chunk = 2};
        CHECK_OK(tx_exec_create(m, N, 0, 0, &ef, &err), &err);
        CHECK_OK(tx_exec_create_opts(m, N, 0, 0, &plain, &eu, &err), &err);
        CHECK_OK(tx_exec_create_opts(m, N, 0, 0, &chunked, &ec, &err), &err);
        if (ef && eu && ec) {
            const float *yf = tx_exec_forward(ef, x, N);
            const float *yu = tx_exec_forward(eu, x, N);
            char label[64];
            snprintf(label, sizeof label, "%s %d fused vs plain", archs[a], S);
            CHECK(tu_close(label, yf, yu, N * 7, 1e-4, 1e-4), "%s: fusion changes the logits", archs[a]);
            /* the batch in chunks of 2 (2 + 2 + 1): the logits and the feature node of
             * every image as in one pass */
            const float *yc = tx_exec_forward(ec, x, N);
            snprintf(label, sizeof label, "%s %d chunks of 2 vs whole", archs[a], S);
            CHECK(tu_close(label, yc, yf, N * 7, 1e-5, 1e-5), "%s: chunked logits differ", archs[a]);
            /* a one-pass forward reads the caller's input in place: never written, and a
             * second forward on other data gives that data's logits, not stale ones */
            CHECK(memcmp(x, x0, (size_t)N * D * sizeof(float)) == 0, "%s: forward wrote its input", archs[a]);
            float *y1 = malloc((size_t)N * 7 * sizeof(float));
            memcpy(y1, yf, (size_t)N * 7 * sizeof(float));
            for (int i = 0; i < N * D; i++) x[i] = -x[i];
            tx_exec_forward(ef, x, N);
            for (int i = 0; i < N * D; i++) x[i] = -x[i];
            const float *y2 = tx_exec_forward(ef, x, N);
            snprintf(label, sizeof label, "%s %d forward again", archs[a], S);
            CHECK(tu_close(label, y2, y1, N * 7, 0, 0), "%s: a second forward differs", archs[a]);
            free(y1);
            int fi = tx_model_feature_node(m);
            CHECK(fi > 0, "%s: no feature node", archs[a]);
            if (fi > 0) {
                int64_t nf = (int64_t)N * m->nodes[fi].oh * m->nodes[fi].ow * m->nodes[fi].oc;
                snprintf(label, sizeof label, "%s chunked features", archs[a]);
                CHECK(tu_close(label, tx_exec_node_output(ec, fi), tx_exec_node_output(ef, fi), nf,
                               1e-5, 1e-5),
                      "%s: chunked features differ", archs[a]);
            }
        }
        tx_exec_free(ef);
        tx_exec_free(eu);
        tx_exec_free(ec);
        free(x);
        free(x0);
        tx_model_free(m);
    }
}

/* Fake quantization: outputs lie on the uint8 grid of (scale, zp), survive save/load, and
 * the gradient passes straight through except where the value was clamped. */
static void test_fake_quant(void) {
    tx_err err = {0};
    tx_model *m = tx_model_new("custom");
    int x = tx_g_input(m, 4, 4, 3, &err);
    tx_node nd = {.op = TX_OP_CONV2D, .n_in = 1, .in = {x}, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1,
                  .dw = 1, .groups = 1, .out_c = 4, .bias = 1, .act = TX_ACT_RELU, .fq = TX_U8,
                  .qscale = 0.02f, .qzp = 0};
    snprintf(nd.name, sizeof nd.name, "c");
    int c = tx_g_node(m, &nd, &err);
    int g = tx_g_gap(m, c, &err);
    int out = tx_g_linear(m, g, "fc", 2, 1, &err);
    CHECK(out > 0, "build: %s", err.msg);
    if (out < 0) { tx_model_free(m); return; }
    m->num_classes = 2;
    tx_preproc_default(&m->pp, 4, 4, 3);
    tx_rng r;
    tx_rng_seed(&r, 8);
    for (int i = 0; i < m->n_params; i++)
        for (int64_t k = 0; k < tx_tensor_numel(&m->params[i].t); k++)
            ((float *)m->params[i].t.data)[k] = 3.0f * tx_rng_normal(&r);
    CHECK_OK(tx_model_save(m, "build/test_graph_fq.safetensors", &err), &err);
    tx_model *m2 = NULL;
    CHECK_OK(tx_model_load("build/test_graph_fq.safetensors", &m2, &err), &err);
    CHECK(m2 && m2->nodes[c].fq == TX_U8 && m2->nodes[c].qscale == 0.02f, "fake_quant lost in the round trip");
    float in[2 * 48], dout[4] = {1, -2, 0.5f, 3};
    for (int i = 0; i < 96; i++) in[i] = tx_rng_normal(&r);
    tx_exec *e;
    CHECK_OK(tx_exec_create(m2 ? m2 : m, 2, 1, 0, &e, &err), &err);
    tx_exec_forward(e, in, 2);
    const float *y = tx_exec_node_output(e, c);
    int off_grid = 0, clamped = 0;
    for (int i = 0; i < 2 * 16 * 4; i++) {
        float q = y[i] / 0.02f;
        if (fabsf(q - nearbyintf(q)) > 1e-3f || q < -1e-3f || q > 255.001f) off_grid++;
        clamped += nearbyintf(q) == 255.0f;
    }
    CHECK(off_grid == 0, "%d outputs off the uint8 grid", off_grid);
    CHECK(clamped > 0, "no output reached the top of the range (test too weak)");
    tx_exec_backward(e, dout);
    const float *gw = tx_exec_param_grad(e, m2 ? m2->nodes[c].param[0] : m->nodes[c].param[0]);
    CHECK(gw != NULL, "no conv gradient");
    printf("  %d of 128 outputs clamped at 255; conv weight grad[0] %.4g\n", clamped, gw ? gw[0] : 0);
    tx_exec_free(e);
    tx_model_free(m);
    tx_model_free(m2);
}

int main(void) {
    RUN(test_shape_errors);
    RUN(test_roundtrip_and_plan);
    RUN(test_whole_graph_gradients);
    RUN(test_modern_ops_gradients);
    RUN(test_modern_roundtrip);
    RUN(test_inference_fusion);
    RUN(test_fake_quant);
    RUN(test_bad_metadata);
    RUN(test_missing_and_extra_tensors);
    TEST_MAIN_END();
}
