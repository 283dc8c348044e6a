/* test_tflite_import.c - TFLite files through taxon's importer and its one executor.
 *
 *  - every model in ../shared/models imports (integer and float graphs), with its labels;
 *  - the integer path reproduces ../shared/reference/tflite_top5.csv: the sha256 of every
 *    input tensor and every row's class index and raw uint8 output, both resize recipes;
 *  - the MobileNets on pseudo-random inputs against ai-edge-litert's outputs in both
 *    arithmetic modes (tests/golden/qops.safetensors, "models");
 *  - small int8/uint8/float models covering the other operators, per-channel int8, float
 *    input/output (tests/golden/tflite_models.safetensors) bit for bit in both modes;
 *  - the float graph agrees with the integer one on top-1 for every reference image;
 *  - embeddings, convert (save/load) round trips, label files and malformed inputs.
 * Cases that need ../shared SKIP without it. */
#include "testutil.h"
#include "sha256.h"

#include <cJSON.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include "graph/graph.h"
#include "graph/session.h"
#include "io/tflite_import.h"
#include "ops/quant.h"

static const char *MODELS[] = {"mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v1_0.25_128_quant.tflite",
                               "mobilenet_v1_0.5_160_quant.tflite",
                               "mobilenet_v2_1.0_224_inat_bird_quant.tflite",
                               "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"};
static const char *IMAGES[] = {"cat.bmp", "bird.bmp", "grace_hopper.bmp", "hot_dog.jpg", "parrot.jpg"};

static char *path_of(char *buf, size_t n, const char *dir, const char *file) {
    snprintf(buf, n, "%s/%s/%s", tu_shared_dir(), dir, file);
    return buf;
}

static tx_model *import(const char *path, int float_graph, int qmode) {
    tx_err err = {0};
    tx_model *m = NULL;
    tx_tflite_import_opts o = {.float_graph = float_graph, .qmode = qmode};
    if (tx_tflite_import(path, &o, &m, &err)) {
        CHECK(0, "%s: %s", path, err.msg);
        return NULL;
    }
    return m;
}

/* Runs a batch-1 input through a fresh executor; returns the output node's raw bytes
 * (copied into out, nbytes of them) and the float output (copied into outf, optional). */
static int run_raw(tx_model *m, const void *x, void *out, size_t nbytes, float *outf) {
    tx_err err = {0};
    tx_exec *e;
    if (tx_exec_create(m, 1, 0, 0, &e, &err)) {
        CHECK(0, "executor: %s", err.msg);
        return 0;
    }
    const float *y = tx_exec_forward(e, x, 1);
    if (out) memcpy(out, tx_exec_node_output(e, m->n_nodes - 1), nbytes);
    if (outf) memcpy(outf, y, (size_t)m->num_classes * sizeof(float));
    tx_exec_free(e);
    return 1;
}

/* ---- every shared model imports ------------------------------------------------------ */

static void import_shared_models(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    static const int classes[] = {1001, 1001, 1001, 965, 1024};
    static const char *labels[] = {"imagenet_labels.txt", "imagenet_labels.txt", "imagenet_labels.txt",
                                   "inat_bird_labels.txt", NULL};
    for (int k = 0; k < 5; k++) {
        char p[512];
        path_of(p, sizeof p, "models", MODELS[k]);
        for (int fl = 0; fl < 2; fl++) {
            tx_model *m = import(p, fl, TX_QMODE_XNNPACK);
            if (!m) continue;
            CHECK(m->num_classes == classes[k], "%s: %d classes", MODELS[k], m->num_classes);
            CHECK(m->output_probs == (labels[k] != NULL), "%s: output_probs %d", MODELS[k], m->output_probs);
            CHECK((m->class_names != NULL) == (labels[k] != NULL), "%s: labels", MODELS[k]);
            int nq = 0;
            for (int i = 0; i < m->n_nodes; i++) nq += m->nodes[i].dtype != TX_F32;
            CHECK(fl ? nq == 0 : nq == m->n_nodes, "%s (%s graph): %d of %d nodes 8-bit", MODELS[k],
                  fl ? "float" : "integer", nq, m->n_nodes);
            const tx_node *f = &m->nodes[tx_model_feature_node(m)];
            CHECK(f->oh == 1 && f->ow == 1 && (labels[k] ? f->op == TX_OP_AVGPOOL : 1),
                  "%s: feature node '%s' %dx%dx%d", MODELS[k], f->name, f->oh, f->ow, f->oc);
            CHECK(m->pp.resize == TX_RESIZE_BILINEAR && m->pp.crop_fraction == 0, "%s: preprocessing", MODELS[k]);
            if (labels[k] && m->class_names) {
                char lp[512];
                uint8_t *txt;
                size_t len;
                tx_err err = {0};
                char **names;
                int n = 0;
                CHECK_OK(tx_read_file(path_of(lp, sizeof lp, "models", labels[k]), &txt, &len, &err), &err);
                CHECK_OK(tx_labels_parse((const char *)txt, len, lp, &names, &n, &err), &err);
                int same = n == m->num_classes;
                for (int i = 0; same && i < n; i++) same = strcmp(names[i], m->class_names[i]) == 0;
                CHECK(same, "%s: the embedded labels differ from %s", MODELS[k], labels[k]);
                tx_labels_free(names, n);
                free(txt);
            }
            if (k == 0 && !fl) printf("  %s: %d nodes, feature node '%s' (%d values)\n", MODELS[k], m->n_nodes,
                                      f->name, f->oc);
            tx_model_free(m);
        }
    }
}

/* ---- the reference csv --------------------------------------------------------------- */

typedef struct row {
    char model[96], image[64], method[16], sha[65];
    int rank, index, q;
} row;

static int split_csv(char *line, char **f, int max) {
    int n = 0, inq = 0;
    char *w = line;
    f[n++] = w;
    for (char *r = line; *r; r++) {
        if (*r == '"') { inq = !inq; continue; }
        if (*r == ',' && !inq) {
            *w++ = 0;
            if (n == max) return n;
            f[n++] = w;
            continue;
        }
        if (*r == '\n' || *r == '\r') continue;
        *w++ = *r;
    }
    *w = 0;
    return n;
}

static int load_csv(row **out) {
    char p[512];
    FILE *fp = fopen(path_of(p, sizeof p, "reference", "tflite_top5.csv"), "r");
    if (!fp) return -1;
    char line[1024];
    int n = 0, cap = 256;
    row *rows = calloc((size_t)cap, sizeof *rows);
    if (!fgets(line, sizeof line, fp)) { fclose(fp); free(rows); return -1; } /* header */
    while (fgets(line, sizeof line, fp)) {
        char *f[12];
        if (split_csv(line, f, 12) < 10) continue;
        if (n == cap) rows = realloc(rows, (size_t)(cap *= 2) * sizeof *rows);
        row *r = &rows[n++];
        snprintf(r->model, sizeof r->model, "%s", f[0]);
        snprintf(r->image, sizeof r->image, "%s", f[1]);
        snprintf(r->method, sizeof r->method, "%s", f[2]);
        r->rank = atoi(f[4]);
        r->index = atoi(f[5]);
        r->q = atoi(f[6]);
        snprintf(r->sha, sizeof r->sha, "%s", f[9]);
    }
    fclose(fp);
    *out = rows;
    return n;
}

/* top-5 of uint8 scores, ties to the lower index (as the csv ranks them) */
static void top5_u8(const uint8_t *y, int n, int *idx) {
    for (int r = 0; r < 5; r++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int k = 0; k < r; k++) used |= idx[k] == i;
            if (!used && (best < 0 || y[i] > y[best])) best = i;
        }
        idx[r] = best;
    }
}

static void reference_csv(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    row *rows = NULL;
    int n = load_csv(&rows);
    if (n < 0) SKIP("../shared/reference/tflite_top5.csv not found");
    int matched[2] = {0, 0}, total[2] = {0, 0}, sha_ok = 0, sha_n = 0, worst = 0;
    char cur[96] = "";
    tx_model *m = NULL;
    for (int i = 0; i < n; i += 5) {
        const row *g = &rows[i];
        int ok_group = i + 4 < n;
        for (int k = 0; ok_group && k < 5; k++)
            ok_group = rows[i + k].rank == k + 1 && !strcmp(rows[i + k].model, g->model) &&
                       !strcmp(rows[i + k].image, g->image) && !strcmp(rows[i + k].method, g->method);
        CHECK(ok_group, "csv rows %d..%d are not one top-5 group", i + 2, i + 6);
        if (!ok_group) break;
        if (strcmp(cur, g->model)) {
            tx_model_free(m);
            char p[512];
            m = import(path_of(p, sizeof p, "models", g->model), 0, TX_QMODE_XNNPACK);
            snprintf(cur, sizeof cur, "%s", g->model);
            if (!m) break;
        }
        const int nearest = !strcmp(g->method, "nearest");
        m->pp.resize = nearest ? TX_RESIZE_NEAREST : TX_RESIZE_BILINEAR;
        size_t in_n = (size_t)m->pp.height * m->pp.width * m->pp.channels;
        uint8_t *x = malloc(in_n), *y = malloc((size_t)m->num_classes);
        char ip[512], hex[65];
        tx_err err = {0};
        if (tx_session_input_bytes(m, path_of(ip, sizeof ip, "images", g->image), x, &err)) {
            CHECK(0, "%s", err.msg);
            free(x); free(y);
            continue;
        }
        tu_sha256_buf(x, in_n, hex);
        sha_n++;
        sha_ok += !strcmp(hex, g->sha);
        CHECK(!strcmp(hex, g->sha), "%s %s %s: input sha256 %s, csv %s", g->model, g->image, g->method, hex, g->sha);
        if (run_raw(m, x, y, (size_t)m->num_classes, NULL)) {
            int idx[5];
            top5_u8(y, m->num_classes, idx);
            for (int k = 0; k < 5; k++) {
                const row *r = &rows[i + k];
                int ok = idx[k] == r->index && y[idx[k]] == r->q;
                int d = abs((int)y[r->index] - r->q);
                if (d > worst) worst = d;
                total[nearest]++;
                matched[nearest] += ok;
                CHECK(ok, "%s %s %s rank %d: got class %d q %d, csv class %d q %d", g->model, g->image, g->method,
                      r->rank, idx[k], y[idx[k]], r->index, r->q);
            }
        }
        free(x);
        free(y);
    }
    tx_model_free(m);
    free(rows);
    printf("  rows matched exactly (index and q): bilinear %d/%d, nearest %d/%d; input sha256 %d/%d; "
           "largest |q - csv q| %d\n", matched[0], total[0], matched[1], total[1], sha_ok, sha_n, worst);
    CHECK(total[0] >= 40, "only %d bilinear rows", total[0]);
}

/* ---- MobileNets on pseudo-random inputs vs ai-edge-litert, both modes ---------------- */

static void lcg_models(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    tx_safetensors st;
    tx_err err = {0};
    if (tx_st_load("tests/golden/qops.safetensors", &st, &err)) SKIP("tests/golden/qops.safetensors: %.150s", err.msg);
    const char *js = tx_st_meta_get(&st, "models");
    cJSON *list = js ? cJSON_Parse(js) : NULL;
    int cmp = 0, worst = 0;
    const cJSON *mj;
    cJSON_ArrayForEach(mj, list) {
        const char *file = cJSON_GetObjectItem(mj, "file")->valuestring;
        uint32_t seed = (uint32_t)cJSON_GetObjectItem(mj, "seed")->valuedouble;
        char p[512];
        path_of(p, sizeof p, "models", file);
        for (int mode = 0; mode < 2; mode++) {
            tx_model *m = import(p, 0, mode);
            if (!m) continue;
            size_t in_n = (size_t)m->pp.height * m->pp.width * m->pp.channels;
            uint8_t *x = malloc(in_n), *y = malloc((size_t)m->num_classes);
            uint32_t s = seed;
            for (size_t i = 0; i < in_n; i++) {
                s = s * 1664525u + 1013904223u;
                x[i] = (uint8_t)(s >> 24);
            }
            char tn[256];
            snprintf(tn, sizeof tn, "model.%s.%s", file, mode ? "y_ref" : "y_xnn");
            const tx_st_tensor *g = tx_st_find(&st, tn);
            if (g && g->nbytes == (size_t)m->num_classes && run_raw(m, x, y, g->nbytes, NULL)) {
                const uint8_t *w = g->data;
                int bad = 0;
                for (int i = 0; i < m->num_classes; i++) {
                    int d = abs((int)y[i] - (int)w[i]);
                    bad += d != 0;
                    if (d > worst) worst = d;
                }
                CHECK(bad == 0, "%s (%s): %d outputs differ from ai-edge-litert", file, tx_qmode_name(mode), bad);
                cmp++;
            } else {
                CHECK(0, "%s: golden %s missing or of the wrong size", file, tn);
            }
            free(x);
            free(y);
            tx_model_free(m);
        }
    }
    printf("  %d model x mode comparisons with ai-edge-litert, largest |diff| %d\n", cmp, worst);
    CHECK(cmp >= 4, "only %d comparisons", cmp);
    cJSON_Delete(list);
    tx_st_free(&st);
}

/* ---- small models covering the other operators, int8, float in/out ------------------- */

static void golden_small_models(void) {
    tx_safetensors st;
    tx_err err = {0};
    const char *G = "tests/golden/tflite_models.safetensors";
    if (tx_st_load(G, &st, &err)) SKIP("%s: %.150s (run tools/golden_tflite_models.py)", G, err.msg);
    const char *js = tx_st_meta_get(&st, "cases");
    cJSON *list = js ? cJSON_Parse(js) : NULL;
    int n = 0;
    double worst_float = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        char tn[128];
        snprintf(tn, sizeof tn, "%s.tflite", name);
        const tx_st_tensor *f = tx_st_find(&st, tn);
        snprintf(tn, sizeof tn, "%s.x", name);
        const tx_st_tensor *x = tx_st_find(&st, tn);
        if (!f || !x) { CHECK(0, "%s: tensors missing", name); continue; }
        for (int mode = 0; mode < 3; mode++) { /* xnnpack, tflite_ref, float graph */
            tx_model *m = NULL;
            tx_tflite_import_opts o = {.qmode = mode == 1, .float_graph = mode == 2};
            if (tx_tflite_import_mem(f->data, f->nbytes, name, &o, &m, &err)) {
                CHECK(0, "%s: %s", name, err.msg);
                continue;
            }
            if (!strcmp(name, "float_block")) {
                /* TFLITE_METADATA normalization (127.5, 127.5) and a deflated label zip */
                CHECK(fabsf(m->pp.mean[2] - 0.5f) < 1e-6f && fabsf(m->pp.std[0] - 0.5f) < 1e-6f,
                      "float_block: mean %g std %g from the metadata", m->pp.mean[2], m->pp.std[0]);
                CHECK(m->class_names && m->num_classes == 5 && !strcmp(m->class_names[4], "four"),
                      "float_block: labels from the appended zip");
            }
            snprintf(tn, sizeof tn, "%s.%s", name, mode == 1 ? "y_ref" : "y_xnn");
            const tx_st_tensor *y = tx_st_find(&st, tn);
            const tx_node *last = &m->nodes[m->n_nodes - 1];
            const int nout = m->num_classes;
            float *yf = malloc((size_t)nout * sizeof(float));
            uint8_t *raw = malloc((size_t)nout * 4);
            /* the input: float, or uint8 bytes (a float graph of a uint8 model takes the
             * normalized value scale * (q - zp), which is what its spec produces) */
            void *xcopy = malloc(x->nbytes); /* file data need not be aligned */
            memcpy(xcopy, x->data, x->nbytes);
            const void *in = xcopy;
            float *xf = NULL;
            if (m->nodes[0].dtype == TX_F32 && x->dtype == TX_U8) {
                xf = malloc(x->nbytes * sizeof(float));
                for (size_t i = 0; i < x->nbytes; i++)
                    xf[i] = ((float)((const uint8_t *)x->data)[i] / 255.0f - m->pp.mean[0]) / m->pp.std[0];
                in = xf;
            }
            if (y && run_raw(m, in, raw, (size_t)nout * (last->dtype == TX_F32 ? 4 : 1), yf)) {
                int exact = mode < 2 && (m->nodes[1].dtype != TX_F32 || m->nodes[0].dtype != TX_F32);
                if (exact) {
                    /* integer graph: bit for bit (8-bit outputs compared raw, float outputs as floats) */
                    CHECK(!memcmp(raw, y->data, y->nbytes), "%s (%s): output differs from ai-edge-litert", name,
                          tx_qmode_name(mode));
                } else {
                    float *want = malloc((size_t)nout * sizeof(float));
                    for (int i = 0; i < nout; i++) {
                        if (y->dtype == TX_F32) memcpy(&want[i], (const uint8_t *)y->data + 4 * i, 4);
                        else want[i] = (float)((const uint8_t *)y->data)[i] / 256.0f;
                    }
                    double d = 0;
                    for (int i = 0; i < nout; i++) d = fmax(d, fabs((double)yf[i] - want[i]));
                    if (d > worst_float) worst_float = d;
                    int native_float = y->dtype == TX_F32 && m->nodes[1].dtype == TX_F32 && mode < 2;
                    char what[160];
                    snprintf(what, sizeof what, "%s (%s graph)", name, mode == 2 ? "float" : "native");
                    /* a float32 model: float rounding only; a dequantized 8-bit one: quantization */
                    CHECK(tu_close(what, yf, want, nout, native_float ? 1e-5f : 0.06f, 0),
                          "%s: outputs", what);
                    free(want);
                }
                n++;
            }
            free(xf);
            free(xcopy);
            free(yf);
            free(raw);
            tx_model_free(m);
        }
    }
    printf("  %d small-model runs\n", n);
    CHECK(n >= 9, "only %d runs", n);
    cJSON_Delete(list);
    tx_st_free(&st);
}

/* ---- float graph vs integer graph ------------------------------------------------------- */

/* Logits (the node before the final softmax) of the integer graph, dequantized to steps of
 * that node's grid: every node run through tx_qexec_node with its own buffer. */
static uint8_t *integer_logits(tx_model *m, const uint8_t *x, const tx_node **ln) {
    int nn = m->n_nodes;
    void **buf = calloc((size_t)nn, sizeof *buf);
    void *scr = tx_alloc(tx_qexec_scratch_bytes(m) + 64);
    buf[0] = (void *)x;
    for (int i = 1; i < nn; i++) {
        const tx_node *nd = &m->nodes[i];
        buf[i] = tx_alloc((size_t)nd->oh * nd->ow * nd->oc * (nd->dtype == TX_F32 ? 4 : 1) + 64);
        const void *xs[TX_MAX_NODE_INPUTS];
        for (int k = 0; k < nd->n_in; k++) xs[k] = buf[nd->in[k]];
        tx_qexec_node(m, i, buf[i], xs, 1, scr);
    }
    int L = m->nodes[nn - 1].in[0];
    *ln = &m->nodes[L];
    uint8_t *out = malloc((size_t)(*ln)->oc);
    memcpy(out, buf[L], (size_t)(*ln)->oc);
    for (int i = 1; i < nn; i++) tx_free(buf[i]);
    free(buf);
    tx_free(scr);
    return out;
}

/* The float graph (fake-quantized to the integer model's grids) against the integer graph:
 * top-1 must agree, or the two classes' integer logits must be a tie at the logits'
 * resolution (at most one quantization step apart): a pure rounding difference, which
 * float accumulation (a different rounding than the integer kernels') can flip. */
static void float_graph_top1(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    int agree = 0, total = 0, worst_logit = 0;
    for (int k = 0; k < 4; k++) {
        char p[512];
        path_of(p, sizeof p, "models", MODELS[k]);
        tx_model *mi = import(p, 0, TX_QMODE_XNNPACK), *mf = import(p, 1, TX_QMODE_XNNPACK);
        tx_exec *ef = NULL;
        tx_err err = {0};
        if (!mi || !mf || tx_exec_create(mf, 1, 1, 0, &ef, &err)) { /* training: keeps every node */
            CHECK(0, "%s: %s", MODELS[k], err.msg);
        } else {
            size_t in_n = (size_t)mi->pp.height * mi->pp.width * mi->pp.channels;
            uint8_t *x = malloc(in_n);
            float *xf = malloc(in_n * sizeof(float));
            for (int i = 0; i < 5; i++) {
                char ip[512];
                path_of(ip, sizeof ip, "images", IMAGES[i]);
                if (tx_session_input_bytes(mi, ip, x, &err)) { CHECK(0, "%s", err.msg); continue; }
                tx_normalize(xf, x, &mf->pp); /* the float graph's input, by the same spec */
                const tx_node *ln;
                uint8_t *qi = integer_logits(mi, x, &ln);
                const float *pf = tx_exec_forward(ef, xf, 1);
                const float *lf = tx_exec_node_output(ef, mf->nodes[mf->n_nodes - 1].in[0]);
                int n = ln->oc, bi = 0, bf = 0, dmax = 0;
                for (int c = 0; c < n; c++) {
                    int lvl = (int)lrintf(lf[c] / ln->qscale) + ln->qzp; /* fake-quantized: on the grid */
                    int d = abs(lvl - (int)qi[c]);
                    if (d > dmax) dmax = d;
                    if (qi[c] > qi[bi]) bi = c;
                    if (lf[c] > lf[bf]) bf = c;
                }
                if (dmax > worst_logit) worst_logit = dmax;
                total++;
                agree += bi == bf;
                CHECK(bi == bf || qi[bi] - qi[bf] <= 1, "%s %s: integer top-1 %d (logit level %d), float top-1 %d "
                      "(integer level %d)", MODELS[k], IMAGES[i], bi, qi[bi], bf, qi[bf]);
                if (bi != bf)
                    printf("  %s %s: top-1 differs on a one-step logit tie: integer %d (level %d), float %d "
                           "(integer level %d)\n", MODELS[k], IMAGES[i], bi, qi[bi], bf, qi[bf]);
                CHECK(dmax <= 6, "%s %s: logits differ by %d steps", MODELS[k], IMAGES[i], dmax);
                (void)pf;
                free(qi);
            }
            printf("  %-44s float vs integer logits: largest difference so far %d steps\n", MODELS[k],
                   worst_logit);
            free(x);
            free(xf);
        }
        tx_exec_free(ef);
        tx_model_free(mi);
        tx_model_free(mf);
    }
    printf("  float graph agrees on top-1 for %d/%d (model, image) pairs; logits within %d steps\n", agree, total,
           worst_logit);
    CHECK(total == 20, "%d (model, image) pairs", total);
}

/* ---- embeddings ------------------------------------------------------------------------- */

static void embeddings(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    char p[512], ip[512];
    path_of(p, sizeof p, "models", MODELS[4]);
    tx_model *mi = import(p, 0, TX_QMODE_XNNPACK), *mf = import(p, 1, TX_QMODE_XNNPACK);
    tx_session *si = NULL, *sf = NULL;
    tx_err err = {0};
    if (!mi || !mf) goto done;
    CHECK_OK(tx_session_create(mi, &si, &err), &err);
    CHECK_OK(tx_session_create(mf, &sf, &err), &err);
    CHECK(tx_session_feature_dim(si) == 1024 && tx_session_feature_dim(sf) == 1024, "dims %d %d",
          tx_session_feature_dim(si), tx_session_feature_dim(sf));
    float a[1024], b[1024];
    uint8_t raw[1024];
    size_t in_n = (size_t)mi->pp.height * mi->pp.width * 3;
    uint8_t *x = malloc(in_n);
    for (int i = 0; i < 2; i++) {
        path_of(ip, sizeof ip, "images", IMAGES[i]);
        CHECK_OK(tx_embed_file(si, ip, a, &err), &err);
        CHECK_OK(tx_embed_file(sf, ip, b, &err), &err);
        /* the integer embedding is the dequantized raw output */
        CHECK_OK(tx_session_input_bytes(mi, ip, x, &err), &err);
        if (run_raw(mi, x, raw, sizeof raw, NULL)) {
            int same = 1;
            const tx_node *o = &mi->nodes[mi->n_nodes - 1];
            for (int k = 0; k < 1024; k++) same &= a[k] == o->qscale * (float)((int)raw[k] - o->qzp);
            CHECK(same, "embedding != dequantized output");
        }
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < 1024; k++) dot += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
        double cosv = dot / sqrt(na * nb + 1e-30);
        printf("  %s: cosine(integer, float embedding) = %.5f\n", IMAGES[i], cosv);
        CHECK(cosv > 0.98, "cosine %.4f", cosv);
    }
    free(x);
done:
    tx_session_free(si);
    tx_session_free(sf);
    tx_model_free(mi);
    tx_model_free(mf);
}

/* ---- convert: save and load keep every output ------------------------------------------ */

static void save_load(void) {
    if (!tu_shared_dir()) SKIP("../shared not found (set TAXON_SHARED)");
    char p[512], ip[512];
    path_of(p, sizeof p, "models", MODELS[1]);
    path_of(ip, sizeof ip, "images", "cat.bmp");
    for (int fl = 0; fl < 2; fl++) {
        tx_model *m = import(p, fl, TX_QMODE_XNNPACK), *m2 = NULL;
        if (!m) return;
        tx_err err = {0};
        char tmp[64];
        snprintf(tmp, sizeof tmp, "/tmp/taxon_test_tflite_%d_%d.safetensors", (int)getpid(), fl);
        CHECK_OK(tx_model_save(m, tmp, &err), &err);
        CHECK_OK(tx_model_load(tmp, &m2, &err), &err);
        remove(tmp);
        CHECK(m2->output_probs == m->output_probs && m2->feature_node == m->feature_node &&
              m2->num_classes == m->num_classes && m2->class_names &&
              !strcmp(m2->class_names[286], m->class_names[286]) && !memcmp(&m2->pp, &m->pp, sizeof m->pp),
              "model fields changed by save/load");
        tx_session *s1, *s2;
        CHECK_OK(tx_session_create(m, &s1, &err), &err);
        CHECK_OK(tx_session_create(m2, &s2, &err), &err);
        tx_prediction a[5], b[5];
        int na, nb;
        CHECK_OK(tx_predict_file(s1, ip, 5, a, &na, &err), &err);
        CHECK_OK(tx_predict_file(s2, ip, 5, b, &nb, &err), &err);
        int same = na == nb;
        for (int k = 0; same && k < na; k++) same = a[k].index == b[k].index && a[k].score == b[k].score;
        CHECK(same, "%s graph: predictions change after save/load", fl ? "float" : "integer");
        tx_session_free(s1);
        tx_session_free(s2);
        tx_model_free(m);
        tx_model_free(m2);
    }
}

/* ---- labels and zips ------------------------------------------------------------------- */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

/* junk + a zip with one entry (deflated or stored) named fname; returns the size */
static size_t make_zip(uint8_t *buf, size_t junk, const char *fname, const char *text, int deflate_it,
                       int absolute_offsets) {
    memset(buf, 'j', junk);
    size_t len = strlen(text), nl = strlen(fname);
    uint8_t comp[4096];
    size_t clen = len;
    if (deflate_it) {
        z_stream s;
        memset(&s, 0, sizeof s);
        deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
        s.next_in = (Bytef *)(uintptr_t)text;
        s.avail_in = (uInt)len;
        s.next_out = comp;
        s.avail_out = sizeof comp;
        deflate(&s, Z_FINISH);
        clen = s.total_out;
        deflateEnd(&s);
    } else {
        memcpy(comp, text, len);
    }
    uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)text, (uInt)len);
    size_t p = junk, loc = p, base = absolute_offsets ? 0 : junk;
    put32(buf + p, 0x04034b50u); put16(buf + p + 4, 20); put16(buf + p + 6, 0);
    put16(buf + p + 8, deflate_it ? 8 : 0); put32(buf + p + 10, 0); put32(buf + p + 14, crc);
    put32(buf + p + 18, (uint32_t)clen); put32(buf + p + 22, (uint32_t)len);
    put16(buf + p + 26, (uint32_t)nl); put16(buf + p + 28, 0);
    memcpy(buf + p + 30, fname, nl);
    p += 30 + nl;
    memcpy(buf + p, comp, clen);
    p += clen;
    size_t cd = p;
    put32(buf + p, 0x02014b50u); put16(buf + p + 4, 20); put16(buf + p + 6, 20); put16(buf + p + 8, 0);
    put16(buf + p + 10, deflate_it ? 8 : 0); put32(buf + p + 12, 0); put32(buf + p + 16, crc);
    put32(buf + p + 20, (uint32_t)clen); put32(buf + p + 24, (uint32_t)len); put16(buf + p + 28, (uint32_t)nl);
    put16(buf + p + 30, 0); put16(buf + p + 32, 0); put16(buf + p + 34, 0); put16(buf + p + 36, 0);
    put32(buf + p + 38, 0); put32(buf + p + 42, (uint32_t)(loc - base));
    memcpy(buf + p + 46, fname, nl);
    p += 46 + nl;
    put32(buf + p, 0x06054b50u); put16(buf + p + 4, 0); put16(buf + p + 6, 0); put16(buf + p + 8, 1);
    put16(buf + p + 10, 1); put32(buf + p + 12, (uint32_t)(p - cd)); put32(buf + p + 16, (uint32_t)(cd - base));
    put16(buf + p + 20, 0);
    return p + 22;
}

static void labels_and_zip(void) {
    tx_err err = {0};
    char **names;
    int n;
    CHECK_OK(tx_labels_parse("a\r\nb b\nc\n\n", 10, "t", &names, &n, &err), &err);
    CHECK(n == 3 && !strcmp(names[0], "a") && !strcmp(names[1], "b b") && !strcmp(names[2], "c"), "parse: %d", n);
    tx_labels_free(names, n);
    CHECK_OK(tx_labels_parse("x\ny", 3, "t", &names, &n, &err), &err);
    CHECK(n == 2 && !strcmp(names[1], "y"), "no final newline: %d", n);
    tx_labels_free(names, n);
    CHECK(tx_labels_parse("\n\n", 2, "empty.txt", &names, &n, &err) == TX_EFORMAT && strstr(err.msg, "empty.txt"),
          "empty: %s", err.msg);
    const char *text = "background\ncat\ndog\ncat\ncat\ncat\ncat\ncat\ncat\n";
    for (int v = 0; v < 4; v++) {
        uint8_t buf[8192];
        size_t size = make_zip(buf, 100, "labels.txt", text, v & 1, v >> 1);
        char *t;
        size_t len;
        char fname[64];
        CHECK_OK(tx_zip_find_labels(buf, size, 100, "z", &t, &len, fname, sizeof fname, &err), &err);
        CHECK(t && len == strlen(text) && !memcmp(t, text, len) && !strcmp(fname, "labels.txt"),
              "zip variant %d: %s", v, t ? t : "(none)");
        free(t);
        /* a flipped data byte fails the CRC, a truncated zip is malformed */
        size_t at = 100 + 30 + 10 + 3;
        buf[at] ^= 0x20;
        int rc = tx_zip_find_labels(buf, size, 100, "z.tflite", &t, &len, fname, sizeof fname, &err);
        CHECK(rc == TX_EFORMAT && strstr(err.msg, "z.tflite") && strstr(err.msg, "labels.txt"),
              "corrupt zip variant %d: rc %d %s", v, rc, err.msg);
        rc = tx_zip_find_labels(buf, size - 30, 100, "z.tflite", &t, &len, fname, sizeof fname, &err);
        CHECK(rc == TX_EFORMAT, "truncated zip variant %d: rc %d", v, rc);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void errors(void) {
    tx_err err = {0};
    tx_model *m = NULL;
    /* seeds of the reader's fuzz corpus: operators the importer must refuse by name */
    struct { const char *file, *want; } cases[] = {
        {"tests/fuzz/corpus/tflite/custom_gelu.tflite", "input 'x' must be [1, H, W, 1 or 3]"},
        {"tests/fuzz/corpus/tflite/all_ops.tflite", "input 'input' must be [1, H, W, 1 or 3]"},
        {"tests/fuzz/corpus/tflite/external_buffer.tflite", "input 'x' must be"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = tx_tflite_import(cases[i].file, NULL, &m, &err);
        CHECK(rc != TX_OK && m == NULL && strstr(err.msg, cases[i].want) && strstr(err.msg, cases[i].file),
              "%s: rc %d: %s", cases[i].file, rc, err.msg);
        printf("  %s -> %s\n", cases[i].file, err.msg);
    }
    /* operators and uses of them the importer refuses (tools/golden_tflite_models.py) */
    tx_safetensors st;
    int n_err = 0;
    if (tx_st_load("tests/golden/tflite_models.safetensors", &st, &err) == TX_OK) {
        const char *js = tx_st_meta_get(&st, "errors");
        cJSON *list = js ? cJSON_Parse(js) : NULL;
        const cJSON *c;
        cJSON_ArrayForEach(c, list) {
            const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
            const char *want = cJSON_GetObjectItem(c, "want")->valuestring;
            char tn[128];
            snprintf(tn, sizeof tn, "%s.tflite", name);
            const tx_st_tensor *t = tx_st_find(&st, tn);
            if (!t) { CHECK(0, "%s missing", tn); continue; }
            int rc = tx_tflite_import_mem(t->data, t->nbytes, tn, NULL, &m, &err);
            CHECK(rc == TX_EUNSUP && m == NULL && strstr(err.msg, want) && strstr(err.msg, tn),
                  "%s: rc %d: '%s' (want '%s')", tn, rc, err.msg, want);
            printf("  %s -> %s\n", tn, err.msg);
            n_err++;
        }
        cJSON_Delete(list);
        tx_st_free(&st);
    }
    CHECK(n_err >= 4, "only %d refused models checked", n_err);
    int rc = tx_tflite_import("tests/no/such.tflite", NULL, &m, &err);
    CHECK(rc == TX_EIO && m == NULL, "missing file: %d %s", rc, err.msg);
    if (!tu_shared_dir()) return;
    char p[512];
    path_of(p, sizeof p, "models", MODELS[1]);
    uint8_t *buf;
    size_t size;
    CHECK_OK(tx_read_file(p, &buf, &size, &err), &err);
    /* truncated */
    rc = tx_tflite_import_mem(buf, size / 3, "cut.tflite", NULL, &m, &err);
    CHECK(rc != TX_OK && m == NULL && strstr(err.msg, "cut.tflite"), "truncated: %d %s", rc, err.msg);
    /* a corrupted label zip */
    tx_tflite_model tf;
    CHECK_OK(tx_tflite_parse(buf, size, "x", &tf, &err), &err);
    size_t used = tf.used_size;
    tx_tflite_free(&tf);
    buf[used + 30 + strlen("imagenet_labels.txt") + 5] ^= 1;
    rc = tx_tflite_import_mem(buf, size, "bad_zip.tflite", NULL, &m, &err);
    CHECK(rc == TX_EFORMAT && strstr(err.msg, "CRC") && strstr(err.msg, "imagenet_labels.txt"),
          "bad zip: %d %s", rc, err.msg);
    printf("  corrupted label zip -> %s\n", err.msg);
    free(buf);
    /* a label file with the wrong count */
    const char *lp = "/tmp/taxon_test_labels.txt";
    FILE *f = fopen(lp, "w");
    fputs("a\nb\nc\n", f);
    fclose(f);
    tx_tflite_import_opts o = {.labels = lp};
    rc = tx_tflite_import(p, &o, &m, &err);
    CHECK(rc == TX_EINVAL && strstr(err.msg, "3 labels") && strstr(err.msg, "1001"), "labels: %s", err.msg);
    remove(lp);
    o.qmode = 7;
    o.labels = NULL;
    rc = tx_tflite_import(p, &o, &m, &err);
    CHECK(rc == TX_EINVAL, "qmode 7: %d", rc);
}

int main(void) {
    if (omp_get_max_threads() > 2) omp_set_num_threads(2);
    RUN(import_shared_models);
    RUN(reference_csv);
    RUN(lcg_models);
    RUN(golden_small_models);
    RUN(float_graph_top1);
    RUN(embeddings);
    RUN(save_load);
    RUN(labels_and_zip);
    RUN(errors);
    TEST_MAIN_END();
}
