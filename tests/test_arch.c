/* Full-size architectures against PyTorch (timm and torchvision), without committing
 * their weights: every tests/golden/arch_<source>_<arch>.safetensors (tools/golden_arch.py)
 * lists the library's state-dict names and shapes; the state dict is synthesized under
 * those names with tests/synth.h (the same formula golden_synth.py used), written to a
 * temporary .safetensors, imported with tx_torch_import and run:
 *  - eval forward (NCHW input transposed to NHWC) against the float64 PyTorch logits;
 *  - where the file has them, a training executor (drop rates 0) forward + backward with
 *    dout against train-mode logits, the listed gradients and every gradient's norm;
 *  - the architecture built at 224 x 224 with 1000 classes has timm's parameter count.
 * Plus the importer's checks: names, shapes, dtypes (F16 / BF16), head replacement. */
#include "testutil.h"

#include <cJSON.h>
#include <dirent.h>
#include <unistd.h>

#include "graph/graph.h"
#include "io/safetensors.h"
#include "io/torchimport.h"
#include "models/models.h"
#include "synth.h"

/* ---- synthesized state dicts ---------------------------------------------------- */
typedef struct sd_entry {
    char name[160];
    int ndim;
    int64_t shape[TX_MAX_DIMS];
} sd_entry;

/* Parses the golden file's "params" metadata: JSON [[name, [shape...]], ...]. */
static int parse_params(const char *json, sd_entry **out, int *n) {
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsArray(j)) { cJSON_Delete(j); return -1; }
    int cnt = cJSON_GetArraySize(j), k = 0;
    sd_entry *e = calloc((size_t)cnt + 1, sizeof *e);
    for (const cJSON *it = j->child; it; it = it->next, k++) {
        const cJSON *nm = cJSON_GetArrayItem(it, 0), *sh = cJSON_GetArrayItem(it, 1);
        if (!cJSON_IsString(nm) || !cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > TX_MAX_DIMS) {
            free(e);
            cJSON_Delete(j);
            return -1;
        }
        snprintf(e[k].name, sizeof e[k].name, "%s", nm->valuestring);
        e[k].ndim = cJSON_GetArraySize(sh);
        int d = 0;
        for (const cJSON *s = sh->child; s; s = s->next) e[k].shape[d++] = (int64_t)s->valuedouble;
    }
    cJSON_Delete(j);
    *out = e;
    *n = cnt;
    return 0;
}

/* dtype: TX_F32, TX_F16 or TX_BF16 (rounded from the float32 values). Scalars (PyTorch's
 * num_batches_tracked) are written as I64 0 as PyTorch saves them. */
static int write_state_dict(const char *path, const sd_entry *e, int n, tx_dtype dt) {
    tx_st_tensor *ts = calloc((size_t)n, sizeof *ts);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= e[i].shape[d];
        ts[i].name = (char *)e[i].name;
        ts[i].ndim = e[i].ndim;
        memcpy(ts[i].shape, e[i].shape, sizeof e[i].shape);
        if (e[i].ndim == 0) {
            bufs[i] = calloc(1, 8);
            ts[i].dtype = TX_I64;
            ts[i].nbytes = 8;
        } else {
            float *f = malloc(sizeof(float) * (size_t)numel);
            synth_fill(f, e[i].name, e[i].ndim, e[i].shape);
            if (dt == TX_F32) {
                bufs[i] = f;
                ts[i].nbytes = 4 * (size_t)numel;
            } else {
                uint16_t *h = malloc(2 * (size_t)numel);
                for (int64_t k = 0; k < numel; k++) {
                    uint32_t b;
                    memcpy(&b, &f[k], 4);
                    if (dt == TX_BF16) {
                        h[k] = (uint16_t)((b + 0x7fff + ((b >> 16) & 1)) >> 16);
                    } else { /* F16: these values are normal halves or flush to zero */
                        int ex = (int)((b >> 23) & 0xff) - 127 + 15;
                        uint16_t s = (uint16_t)((b >> 16) & 0x8000);
                        if (ex <= 0) h[k] = s;
                        else h[k] = (uint16_t)(s | (ex << 10) | ((b >> 13) & 0x3ff));
                    }
                }
                free(f);
                bufs[i] = h;
                ts[i].nbytes = 2 * (size_t)numel;
            }
            ts[i].dtype = dt;
        }
        ts[i].data = bufs[i];
    }
    tx_err err = {0};
    if (tx_st_write(path, ts, n, NULL, 0, &err)) {
        printf("  writing %s: %s\n", path, err.msg);
        rc = -1;
    }
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    return rc;
}

static void tmp_path(char *out, size_t n, const char *tag) {
    const char *d = getenv("TMPDIR");
    snprintf(out, n, "%s/taxon_test_arch_%d_%s.safetensors", d && *d ? d : "/tmp", (int)getpid(), tag);
}

/* ---- one golden file ------------------------------------------------------------- */
static char g_path[512];
static char g_counted[32][64];
static int g_n_counted;

static float max_abs(const float *a, long n) {
    float m = 0;
    for (long i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

static void nchw_to_nhwc(float *dst, const float *src, int n, int c, int h, int w) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[(((int64_t)b * h + y) * w + x) * c + ch] = src[(((int64_t)b * c + ch) * h + y) * w + x];
}

static int param_of(const tx_model *m, const char *arch, const char *source, const char *name) {
    const tx_arch_family *f = tx_arch_family_of(arch);
    char mapped[160];
    if (!f || !f->rename || f->rename(arch, source, name, mapped, sizeof mapped) != 1) return -1;
    return tx_model_find_param(m, mapped);
}

static int is_conv_weight(const tx_model *m, int p) {
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == TX_OP_CONV2D && m->nodes[i].n_param && m->nodes[i].param[0] == p) return 1;
    return 0;
}

static void check_grads(tx_model *m, const tx_safetensors *st, const char *arch,
                        const char *source, const float *x, int batch, int classes,
                        const sd_entry *sd, int nsd) {
    const tx_st_tensor *tl = tu_golden_find(st, "train_logits", TX_F32, 2, NULL);
    const tx_st_tensor *td = tu_golden_find(st, "dout", TX_F32, 2, NULL);
    const tx_st_tensor *tn = tu_golden_find(st, "gradnorm", TX_F32, 1, NULL);
    if (!tl || !td || !tn || tn->shape[0] != nsd) { tu_failed_case = 1; return; }
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].op == TX_OP_DROPOUT || m->nodes[i].op == TX_OP_DROPPATH) m->nodes[i].p = 0;
    tx_exec *e;
    tx_err err = {0};
    CHECK_OK(tx_exec_create(m, batch, 1, 0, &e, &err), &err);
    float *want = tu_golden_copy(st, "train_logits", TX_F32, 2, NULL);
    float *dout = tu_golden_copy(st, "dout", TX_F32, 2, NULL);
    float *gn = tu_golden_copy(st, "gradnorm", TX_F32, 1, NULL);
    /* tolerance as a fraction of each gradient's largest element (golden_arch.py explains
     * the networks that need more than 1e-4) */
    const char *gt = tx_st_meta_get(st, "grad_tol");
    float tol = gt ? (float)atof(gt) : 1e-4f;
    CHECK(tol > 0 && tol <= 1e-2f, "grad_tol %g", tol);
    const float *y = tx_exec_forward(e, x, batch);
    long nl = (long)batch * classes;
    CHECK(tu_close("train-mode logits", y, want, nl, 1e-4f * max_abs(want, nl), 1e-4f), "train logits");
    tx_exec_backward(e, dout);
    for (int i = 0; i < st->n; i++) {
        const tx_st_tensor *g = &st->tensors[i];
        if (strncmp(g->name, "grad.", 5)) continue;
        const char *name = g->name + 5;
        int p = param_of(m, arch, source, name);
        CHECK(p >= 0, "gradient of '%s': no such parameter", name);
        if (p < 0) continue;
        const float *mine = tx_exec_param_grad(e, p);
        const tx_tensor *pt = &m->params[p].t;
        long n = (long)tx_tensor_numel(pt);
        CHECK(mine && (long)(g->nbytes / 4) == n, "gradient of '%s': size", name);
        if (!mine || (long)(g->nbytes / 4) != n) continue;
        float *ref = malloc(g->nbytes), *r2 = malloc(g->nbytes);
        memcpy(ref, g->data, g->nbytes);
        if (is_conv_weight(m, p)) { /* OIHW -> OHWI */
            int64_t O = pt->shape[0], H = pt->shape[1], W = pt->shape[2], I = pt->shape[3];
            for (int64_t o = 0; o < O; o++)
                for (int64_t c = 0; c < I; c++)
                    for (int64_t yy = 0; yy < H; yy++)
                        for (int64_t xx = 0; xx < W; xx++)
                            r2[((o * H + yy) * W + xx) * I + c] = ref[((o * I + c) * H + yy) * W + xx];
            memcpy(ref, r2, g->nbytes);
        }
        char what[200];
        snprintf(what, sizeof what, "grad %s", name);
        CHECK(tu_close(what, mine, ref, n, tol * max_abs(ref, n), 1e-3f), "%s", what);
        free(ref);
        free(r2);
    }
    /* the norm of every trainable parameter's gradient */
    float *mine_n = calloc((size_t)nsd, sizeof(float)), *ref_n = calloc((size_t)nsd, sizeof(float));
    int k = 0, unmapped = 0;
    for (int i = 0; i < nsd; i++) {
        int p = param_of(m, arch, source, sd[i].name);
        if (p < 0 || !m->params[p].trainable) {
            if (gn[i] != 0) unmapped++;
            continue;
        }
        const float *g = tx_exec_param_grad(e, p);
        double s = 0;
        for (int64_t j = 0; j < tx_tensor_numel(&m->params[p].t); j++) s += (double)g[j] * g[j];
        mine_n[k] = (float)sqrt(s);
        ref_n[k++] = gn[i];
    }
    CHECK(unmapped == 0, "%d gradients of PyTorch parameters have no trainable taxon parameter", unmapped);
    CHECK(k > 0, "no gradient norms compared");
    CHECK(tu_close("gradient norms (every parameter)", mine_n, ref_n, k, tol * max_abs(ref_n, k), 1e-3f),
          "gradient norms");
    free(mine_n);
    free(ref_n);
    free(want);
    free(dout);
    free(gn);
    tx_exec_free(e);
}

static void check_param_count(const tx_safetensors *st, const char *arch) {
    for (int i = 0; i < g_n_counted; i++)
        if (!strcmp(g_counted[i], arch)) return;
    if (g_n_counted < 32) snprintf(g_counted[g_n_counted++], sizeof g_counted[0], "%s", arch);
    const char *pc = tx_st_meta_get(st, "param_count");
    CHECK(pc, "no param_count in the metadata");
    if (!pc) return;
    tx_model *m;
    tx_err err = {0};
    CHECK_OK(tx_model_build(arch, 224, 224, 3, 1000, 1, &m, &err), &err);
    long long mine = (long long)tx_model_param_count(m, 1), want = atoll(pc);
    printf("  %s at 224x224, 1000 classes: %lld trainable parameters (PyTorch %lld)\n", arch, mine, want);
    CHECK(mine == want, "parameter count %lld, PyTorch %lld", mine, want);
    tx_model_free(m);
}

static void test_golden_file(void) {
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_load(g_path, &st, &err), &err);
    const char *arch = tx_st_meta_get(&st, "arch"), *source = tx_st_meta_get(&st, "source");
    const char *ims = tx_st_meta_get(&st, "image_size"), *cls = tx_st_meta_get(&st, "classes");
    const char *bs = tx_st_meta_get(&st, "batch"), *params = tx_st_meta_get(&st, "params");
    if (!arch || !source || !ims || !cls || !bs || !params) {
        CHECK(0, "%s: metadata incomplete", g_path);
        tx_st_free(&st);
        return;
    }
    int size = atoi(ims), classes = atoi(cls), batch = atoi(bs);
    if (!tx_arch_family_of(arch)) {
        tx_st_free(&st);
        SKIP("architecture %s is not built into this taxon", arch);
    }
    sd_entry *sd;
    int nsd;
    CHECK(parse_params(params, &sd, &nsd) == 0, "params metadata");
    if (tu_failed_case) { tx_st_free(&st); return; }
    char tmp[300];
    tmp_path(tmp, sizeof tmp, "sd");
    CHECK(write_state_dict(tmp, sd, nsd, TX_F32) == 0, "temporary state dict");
    tx_model *m = NULL;
    char report[1024];
    if (!tu_failed_case) {
        int rc = tx_torch_import(tmp, source, arch, classes, size, 0, &m, report, sizeof report, &err);
        CHECK(rc == 0, "import: %s", err.msg);
    }
    unlink(tmp);
    if (!m) { free(sd); tx_st_free(&st); return; }
    printf("  %s\n", report);
    int64_t xs[4] = {batch, 3, size, size}, ls[2] = {batch, classes};
    float *xin = tu_golden_copy(&st, "input", TX_F32, 4, xs);
    float *want = tu_golden_copy(&st, "logits", TX_F32, 2, ls);
    float *want32 = tu_golden_copy(&st, "logits_f32", TX_F32, 2, ls);
    float *x = malloc(sizeof(float) * (size_t)(batch * 3 * size * size));
    if (xin && want && want32) {
        nchw_to_nhwc(x, xin, batch, 3, size, size);
        tx_exec *e;
        if (tx_exec_create(m, batch, 0, 0, &e, &err) == 0) {
            const float *y = tx_exec_forward(e, x, batch);
            long nl = (long)batch * classes;
            float scale = max_abs(want, nl);
            tu_close("(PyTorch float32 vs float64)", want32, want, nl, 1e-4f * scale, 1e-4f);
            CHECK(tu_close("eval logits vs PyTorch (float64)", y, want, nl, 1e-4f * scale, 1e-4f),
                  "eval logits");
            printf("  inference executor: %zu bytes\n", tx_exec_peak_bytes(e));
            tx_exec_free(e);
        } else {
            CHECK(0, "exec: %s", err.msg);
        }
        if (tx_st_find(&st, "dout")) check_grads(m, &st, arch, source, x, batch, classes, sd, nsd);
    }
    free(x);
    free(xin);
    free(want);
    free(want32);
    free(sd);
    tx_model_free(m);
    if (!strcmp(source, "timm") || !strcmp(source, "torchvision")) check_param_count(&st, arch);
    tx_st_free(&st);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_golden_files(void) {
    DIR *d = opendir("tests/golden");
    if (!d) {
        printf("SKIP arch goldens: tests/golden not found (run from the repository root)\n");
        tu_skip++;
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256) {
        size_t l = strlen(de->d_name);
        if (!strncmp(de->d_name, "arch_", 5) && l > 12 && !strcmp(de->d_name + l - 12, ".safetensors"))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        snprintf(g_path, sizeof g_path, "tests/golden/%s", names[i]);
        char cname[300];
        snprintf(cname, sizeof cname, "golden %.*s", (int)(strlen(names[i]) - 12), names[i]);
        tu_case = cname;
        tu_failed_case = 0;
        tu_skip_why[0] = 0;
#if defined(__SANITIZE_ADDRESS__)
        /* the sanitizer build checks the smaller half; the normal build checks every file
         * (the big ones cost minutes under ASan: 350 MB state dicts) */
        {
            tx_safetensors st;
            tx_err e = {0};
            if (tx_st_load(g_path, &st, &e) == TX_OK) {
                const char *pc = tx_st_meta_get(&st, "param_count");
                long long cnt = pc ? atoll(pc) : 0;
                tx_st_free(&st);
                if (cnt > 15000000) {
                    printf("SKIP %s: %lld parameters; checked in the normal build, not under the sanitizers\n",
                           cname, cnt);
                    tu_skip++;
                    free(names[i]);
                    continue;
                }
            }
        }
#endif
        test_golden_file();
        if (tu_failed_case) { printf("FAIL %s\n", cname); tu_fail++; }
        else if (tu_skip_why[0]) { printf("SKIP %s: %s\n", cname, tu_skip_why); tu_skip++; }
        else { printf("PASS %s\n", cname); tu_pass++; }
        fflush(stdout);
        free(names[i]);
    }
    if (n == 0) {
        printf("FAIL golden files: no tests/golden/arch_*.safetensors\n");
        tu_fail++;
    }
}

/* ---- the importer's checks --------------------------------------------------------- */
/* resnet18's state dict (torchvision = timm names) for `classes` at any size */
static int resnet18_sd(sd_entry **out, int *n, int classes) {
    tx_model *m;
    tx_err err = {0};
    if (tx_model_build("resnet18", 32, 32, 3, classes, 0, &m, &err)) return -1;
    sd_entry *e = calloc((size_t)m->n_params, sizeof *e);
    for (int i = 0; i < m->n_params; i++) {
        const tx_tensor *t = &m->params[i].t;
        snprintf(e[i].name, sizeof e[i].name, "%s", m->params[i].name);
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        if (is_conv_weight(m, i)) { /* OHWI -> OIHW */
            e[i].shape[1] = t->shape[3];
            e[i].shape[2] = t->shape[1];
            e[i].shape[3] = t->shape[2];
        }
    }
    *n = m->n_params;
    tx_model_free(m);
    *out = e;
    return 0;
}

/* The same file in F32, F16 and BF16 gives the same parameters up to the 16-bit rounding;
 * conv weights are transposed OIHW -> OHWI. */
static void test_import_dtypes(void) {
    sd_entry *sd;
    int n;
    CHECK(resnet18_sd(&sd, &n, 10) == 0, "build");
    if (tu_failed_case) return;
    const tx_dtype dts[3] = {TX_F32, TX_F16, TX_BF16};
    const float tol[3] = {0, 1.0f / 1024, 1.0f / 128};
    for (int k = 0; k < 3; k++) {
        char tmp[300], rep[512];
        tmp_path(tmp, sizeof tmp, "dt");
        CHECK(write_state_dict(tmp, sd, n, dts[k]) == 0, "write");
        tx_model *m = NULL;
        tx_err err = {0};
        int rc = tx_torch_import(tmp, "torchvision", "resnet18", 0, 32, 0, &m, rep, sizeof rep, &err);
        unlink(tmp);
        CHECK(rc == 0, "%s: %s", tx_dtype_name(dts[k]), err.msg);
        if (rc) continue;
        CHECK(m->num_classes == 10, "classes from the file: %d", m->num_classes);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            int p = tx_model_find_param(m, sd[i].name);
            CHECK(p >= 0, "%s missing", sd[i].name);
            if (p < 0) continue;
            int64_t numel = tx_tensor_numel(&m->params[p].t);
            float *ref = malloc(sizeof(float) * (size_t)numel);
            synth_fill(ref, sd[i].name, sd[i].ndim, sd[i].shape);
            const float *got = m->params[p].t.data;
            int conv = is_conv_weight(m, p);
            int64_t O = sd[i].shape[0], I = conv ? sd[i].shape[1] : 1, H = conv ? sd[i].shape[2] : 1,
                    W = conv ? sd[i].shape[3] : 1;
            for (int64_t j = 0; j < numel; j++) {
                int64_t src = j;
                if (conv) { /* j indexes OHWI */
                    int64_t c = j % I, x = (j / I) % W, y = (j / I / W) % H, o = j / I / W / H;
                    src = ((o * I + c) * H + y) * W + x;
                }
                double d = fabs((double)got[j] - ref[src]) / (fabs(ref[src]) + 1e-30);
                if (ref[src] != 0 && fabs(ref[src]) > 1e-4 && d > worst) worst = d;
            }
            (void)O;
            free(ref);
        }
        printf("  %s: largest relative difference of a parameter %.3g\n", tx_dtype_name(dts[k]), worst);
        CHECK(worst <= tol[k], "%s: %.3g", tx_dtype_name(dts[k]), worst);
        CHECK(m->pp.crop_fraction > 0.87f && m->pp.crop_fraction < 0.88f && m->pp.height == 32,
              "torchvision resnet18 preprocessing: crop %g size %d", m->pp.crop_fraction, m->pp.height);
        CHECK(m->provenance && strstr(m->provenance, "torchvision"), "provenance");
        tx_model_free(m);
    }
    free(sd);
}

/* A different --classes re-initializes the head and says so; the body is the file's. */
static void test_import_new_head(void) {
    sd_entry *sd;
    int n;
    CHECK(resnet18_sd(&sd, &n, 1000) == 0, "build");
    if (tu_failed_case) return;
    char tmp[300], rep[1024];
    tmp_path(tmp, sizeof tmp, "head");
    CHECK(write_state_dict(tmp, sd, n, TX_F32) == 0, "write");
    tx_model *m = NULL;
    tx_err err = {0};
    int rc = tx_torch_import(tmp, "timm", "resnet18", 7, 0, 3, &m, rep, sizeof rep, &err);
    unlink(tmp);
    free(sd);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    printf("  report: %s\n", rep);
    CHECK(m->num_classes == 7, "classes %d", m->num_classes);
    CHECK(strstr(rep, "re-initialized") && strstr(rep, "fc.weight [7,512]") && strstr(rep, "fc.bias [7]"),
          "report names the re-initialized tensors: %s", rep);
    CHECK(m->provenance && strstr(m->provenance, "fc.weight"), "provenance: %s", m->provenance);
    int p = tx_model_find_param(m, "fc.weight");
    const float *w = m->params[p].t.data;
    CHECK(m->params[p].t.shape[0] == 7 && w[0] != 0, "head initialized");
    CHECK(m->pp.crop_fraction > 0.94f && m->pp.crop_fraction < 0.96f && m->pp.height == 224,
          "timm resnet18 preprocessing: crop %g size %d", m->pp.crop_fraction, m->pp.height);
    int q = tx_model_find_param(m, "layer3.1.bn2.running_var");
    float want;
    int64_t s1[1] = {256};
    float tmpv[256];
    synth_fill(tmpv, "layer3.1.bn2.running_var", 1, s1);
    want = tmpv[5];
    CHECK(((const float *)m->params[q].t.data)[5] == want, "body from the file");
    tx_model_free(m);
}

/* Every misfit is reported at once: a missing tensor, an unexpected one, a wrong shape,
 * a wrong dtype; unknown --from and architecture are errors too. */
static void test_import_mismatch(void) {
    sd_entry *sd;
    int n;
    CHECK(resnet18_sd(&sd, &n, 10) == 0, "build");
    if (tu_failed_case) return;
    sd_entry *e = calloc((size_t)n + 1, sizeof *e);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(sd[i].name, "layer2.1.bn1.running_mean")) continue;     /* missing */
        e[k] = sd[i];
        if (!strcmp(e[k].name, "layer1.0.conv2.weight")) e[k].shape[2] = 5; /* wrong shape */
        k++;
    }
    snprintf(e[k].name, sizeof e[k].name, "layer9.0.conv1.weight"); /* unexpected */
    e[k].ndim = 2;
    e[k].shape[0] = 3;
    e[k].shape[1] = 4;
    k++;
    char tmp[300], rep[4096];
    tmp_path(tmp, sizeof tmp, "bad");
    CHECK(write_state_dict(tmp, e, k, TX_F32) == 0, "write");
    tx_model *m = NULL;
    tx_err err = {0};
    int rc = tx_torch_import(tmp, "timm", "resnet18", 0, 32, 0, &m, rep, sizeof rep, &err);
    CHECK(rc != 0 && !m, "mismatching file accepted");
    printf("  error: %s\n", err.msg);
    CHECK(strstr(err.msg, "missing 'layer2.1.bn1.running_mean'"), "missing not listed");
    CHECK(strstr(err.msg, "unexpected 'layer9.0.conv1.weight'"), "unexpected not listed");
    CHECK(strstr(err.msg, "wrong shape 'layer1.0.conv2.weight' [64,64,5,3] (want [64,64,3,3])"),
          "wrong shape not listed");
    CHECK(strstr(err.msg, "3 tensor(s)"), "count");
    CHECK(strstr(rep, "missing") && strstr(rep, "unexpected"), "report holds the list");
    rc = tx_torch_import(tmp, "keras", "resnet18", 0, 32, 0, &m, NULL, 0, &err);
    CHECK(rc != 0 && strstr(err.msg, "keras"), "bad --from: %s", err.msg);
    rc = tx_torch_import(tmp, "timm", "resnet19", 0, 32, 0, &m, NULL, 0, &err);
    CHECK(rc != 0 && strstr(err.msg, "resnet19"), "bad arch: %s", err.msg);
    rc = tx_torch_import("/nonexistent/x.safetensors", "timm", "resnet18", 0, 32, 0, &m, NULL, 0, &err);
    CHECK(rc != 0 && strstr(err.msg, "/nonexistent/x.safetensors"), "missing file: %s", err.msg);
    unlink(tmp);
    free(e);
    free(sd);
}

int main(void) {
    RUN(test_import_dtypes);
    RUN(test_import_new_head);
    RUN(test_import_mismatch);
    run_golden_files();
    TEST_MAIN_END();
}
