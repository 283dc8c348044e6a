/* torchimport.c - torchvision / timm state dicts (.safetensors) -> taxon models
 * (torchimport.h). The architecture family's rename maps names; every tensor is checked
 * before any is copied, and everything that does not fit is reported together. */
#include "io/torchimport.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/models.h"
#include "models/vit.h"

/* ---- a growing string for the lists of problems ---------------------------- */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)need;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

static const char *sb_str(const sbuf *b) { return b->s ? b->s : ""; }

static void fmt_shape(char *out, size_t n, int ndim, const int64_t *sh) {
    size_t k = 0;
    k += (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(out + k, n - k, "%s%lld", d ? "," : "", (long long)sh[d]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* ---- dtypes ------------------------------------------------------------------ */
enum { SRC_F32, SRC_F16, SRC_BF16, SRC_BAD };

static int src_kind(const tx_st_tensor *t) {
    return t->dtype == TX_F32 ? SRC_F32 : t->dtype == TX_F16 ? SRC_F16
         : t->dtype == TX_BF16 ? SRC_BF16 : SRC_BAD;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, f = h & 0x3ff, bits;
    if (e == 0x1f) bits = sign | 0x7f800000u | (f << 13);          /* inf / nan */
    else if (e) bits = sign | ((e + 112) << 23) | (f << 13);       /* normal */
    else if (!f) bits = sign;                                       /* zero */
    else {                                                          /* subnormal */
        int sh = 0;
        while (!(f & 0x400)) { f <<= 1; sh++; }
        bits = sign | ((uint32_t)(113 - sh) << 23) | ((f & 0x3ff) << 13);
    }
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

static float read_elem(const uint8_t *d, int64_t k, int kind) {
    if (kind == SRC_F32) {
        float v;
        memcpy(&v, d + 4 * k, 4);
        return v;
    }
    uint16_t h;
    memcpy(&h, d + 2 * k, 2);
    if (kind == SRC_F16) return half_to_float(h);
    uint32_t bits = (uint32_t)h << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

/* ---- shapes -------------------------------------------------------------------- */
/* conv: the model's OHWI weight against the file's OIHW; otherwise equal once the
 * dimensions of size 1 are dropped (pos_embed [1,T,D] = [T,D], torchvision's ConvNeXt
 * layer_scale [C,1,1] = [C]): the data are in the same order either way */
static int shape_fits(const tx_st_tensor *t, const tx_tensor *p, int conv) {
    if (conv)
        return t->ndim == 4 && p->ndim == 4 && t->shape[0] == p->shape[0] &&
               t->shape[1] == p->shape[3] && t->shape[2] == p->shape[1] &&
               t->shape[3] == p->shape[2];
    int a = 0, b = 0;
    for (;;) {
        while (a < t->ndim && t->shape[a] == 1) a++;
        while (b < p->ndim && p->shape[b] == 1) b++;
        if (a == t->ndim || b == p->ndim) return a == t->ndim && b == p->ndim;
        if (t->shape[a++] != p->shape[b++]) return 0;
    }
}

/* A ViT position embedding saved for another image size: parameter p is the pos_embed of
 * a cls_pos node, the file's tensor is [1,] prefix + s*s tokens of the same width. Returns
 * s (the checkpoint's grid side) or 0. */
static int pos_embed_grid(const tx_model *m, int p, const tx_st_tensor *t, int *node_out) {
    for (int i = 1; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op != TX_OP_CLS_POS || nd->param[nd->cls ? 1 : 0] != p) continue;
        const tx_tensor *pt = &m->params[p].t;
        int a = 0;
        while (a < t->ndim && t->shape[a] == 1) a++;
        if (t->ndim - a != 2 || t->shape[t->ndim - 1] != pt->shape[1]) return 0;
        int64_t grid = t->shape[t->ndim - 2] - nd->cls;
        int64_t side = 1;
        while (side * side < grid) side++;
        if (side * side != grid || side > 4096) return 0;
        *node_out = i;
        return (int)side;
    }
    return 0;
}

/* the model's shape as PyTorch writes it (OIHW for conv weights) */
static void torch_shape(char *out, size_t n, const tx_tensor *p, int conv) {
    if (conv && p->ndim == 4) {
        int64_t s[4] = {p->shape[0], p->shape[3], p->shape[1], p->shape[2]};
        fmt_shape(out, n, 4, s);
    } else {
        fmt_shape(out, n, p->ndim, p->shape);
    }
}

/* ---- preprocessing of torchvision's DEFAULT weights (ImageClassification) --------- */
typedef struct tv_pp {
    const char *arch;
    int resize, crop; /* resize_size (shorter side), crop_size */
} tv_pp;

static const tv_pp tv_pps[] = {
    {"resnet18", 256, 224},        {"resnet34", 256, 224},     {"resnet50", 232, 224},
    {"mobilenet_v2", 232, 224},    {"efficientnet_b0", 256, 224}, /* bicubic there */
    {"vit_base_patch16_224", 256, 224}, {"convnext_tiny", 236, 224},
};

static void set_torchvision_pp(tx_model *m) {
    const tx_node *in = &m->nodes[0];
    float crop = 0.875f;
    for (size_t i = 0; i < sizeof tv_pps / sizeof *tv_pps; i++)
        if (!strcmp(tv_pps[i].arch, m->arch)) crop = (float)tv_pps[i].crop / (float)tv_pps[i].resize;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    tx_preproc_default(&m->pp, in->oh, in->ow, in->oc);
    m->pp.resize = TX_RESIZE_BILINEAR;
    m->pp.crop_fraction = crop;
    for (int c = 0; c < in->oc && c < 3; c++) {
        m->pp.mean[c] = mean[c];
        m->pp.std[c] = std[c];
    }
}

/* ---- the classifier head ------------------------------------------------------------ */
/* Gives the (linear) output node n outputs: new zeroed weight [n, in] and bias [n]. */
static int resize_head(tx_model *m, int node, int n, tx_err *err) {
    tx_node *nd = &m->nodes[node];
    for (int k = 0; k < nd->n_param; k++) {
        tx_tensor *t = &m->params[nd->param[k]].t;
        tx_tensor nt = *t;
        nt.shape[0] = n;
        void *d = tx_calloc(tx_tensor_nbytes(&nt));
        if (!d) return tx_err_set(err, TX_ENOMEM, "out of memory (head of %d classes)", n);
        tx_free(t->data);
        nt.data = d;
        *t = nt;
    }
    nd->out_c = n;
    nd->oc = n;
    m->num_classes = n;
    return TX_OK;
}

static int set_provenance(tx_model *m, const char *from, const char *path, size_t bytes,
                          const sbuf *reinit) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return TX_ENOMEM;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    cJSON_AddStringToObject(j, "imported_from", from);
    cJSON_AddStringToObject(j, "file", base);
    cJSON_AddNumberToObject(j, "file_bytes", (double)bytes);
    cJSON_AddStringToObject(j, "arch", m->arch);
    if (reinit->len) cJSON_AddStringToObject(j, "reinitialized", sb_str(reinit));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return TX_ENOMEM;
    int rc = tx_model_set_provenance(m, s);
    free(s);
    return rc;
}

int tx_torch_import(const char *path, const char *from, const char *arch, int classes,
                    int image_size, uint64_t seed, tx_model **out, char *report,
                    size_t report_n, tx_err *err) {
    *out = NULL;
    if (report && report_n) report[0] = 0;
    if (!from || (strcmp(from, "timm") && strcmp(from, "torchvision")))
        return tx_err_set(err, TX_EINVAL, "--from must be 'timm' or 'torchvision', got '%s'",
                          from ? from : "(none)");
    const tx_arch_family *fam = tx_arch_family_of(arch);
    if (!fam) return tx_model_build(arch, 1, 1, 3, 1, 0, out, err); /* its unknown-arch message */
    if (!fam->rename)
        return tx_err_set(err, TX_EINVAL, "architecture '%s' has no %s weights", arch, from);
    int size, channels;
    tx_arch_default_input(arch, &size, &channels);
    if (image_size > 0) size = image_size;

    tx_safetensors st;
    int rc = tx_st_load(path, &st, err);
    if (rc) return rc;
    tx_model *m = NULL;
    int *pidx = NULL;
    unsigned char *seen = NULL, *is_conv = NULL, *is_head = NULL;
    sbuf bad = {0}, reinit = {0}, rep = {0}, resampled = {0};
    int nbad = 0;

    rc = tx_model_build(arch, size, size, 3, classes > 0 ? classes : 1, seed, &m, err);
    if (rc) goto done;
    pidx = malloc(sizeof(int) * (size_t)(st.n ? st.n : 1));
    seen = calloc((size_t)m->n_params, 1);
    is_conv = calloc((size_t)m->n_params, 1);
    is_head = calloc((size_t)m->n_params, 1);
    if (!pidx || !seen || !is_conv || !is_head) {
        rc = tx_err_set(err, TX_ENOMEM, "out of memory");
        goto done;
    }
    int head = tx_model_output_node(m);
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D && nd->n_param > 0) is_conv[nd->param[0]] = 1;
    }
    if (m->nodes[head].op == TX_OP_LINEAR)
        for (int k = 0; k < m->nodes[head].n_param; k++) is_head[m->nodes[head].param[k]] = 1;

    /* names -> parameter indices (-1: unexpected, -2: skipped) */
    int file_classes = 0;
    char mapped[160];
    for (int i = 0; i < st.n; i++) {
        int r = fam->rename(arch, from, st.tensors[i].name, mapped, sizeof mapped);
        pidx[i] = r == 0 ? -2 : r < 0 ? -1 : tx_model_find_param(m, mapped);
        if (pidx[i] >= 0 && is_head[pidx[i]] && st.tensors[i].ndim == 2 &&
            pidx[i] == m->nodes[head].param[0])
            file_classes = (int)st.tensors[i].shape[0];
    }
    int reinit_head = 0;
    if (file_classes > 0 && file_classes != m->nodes[head].out_c) {
        if (classes <= 0) {
            if ((rc = resize_head(m, head, file_classes, err))) goto done;
        } else {
            reinit_head = 1;
        }
    }

    /* check everything before copying anything */
    char s1[96], s2[96];
    for (int i = 0; i < st.n; i++) {
        const tx_st_tensor *t = &st.tensors[i];
        int p = pidx[i];
        if (p == -2) continue;
        fmt_shape(s1, sizeof s1, t->ndim, t->shape);
        if (p < 0) {
            int r = fam->rename(arch, from, t->name, mapped, sizeof mapped);
            if (r > 0 && strcmp(mapped, t->name))
                sb_printf(&bad, "%sunexpected '%s' %s (as '%s')", nbad ? "; " : "", t->name, s1, mapped);
            else
                sb_printf(&bad, "%sunexpected '%s' %s", nbad ? "; " : "", t->name, s1);
            nbad++;
            continue;
        }
        if (seen[p]) {
            sb_printf(&bad, "%s'%s' is a second tensor for '%s'", nbad ? "; " : "", t->name,
                      m->params[p].name);
            nbad++;
            continue;
        }
        seen[p] = 1;
        if (reinit_head && is_head[p]) continue;
        if (src_kind(t) == SRC_BAD) {
            sb_printf(&bad, "%s'%s' has dtype %s (want F32, F16 or BF16)", nbad ? "; " : "",
                      t->name, tx_dtype_name(t->dtype));
            nbad++;
        } else if (!shape_fits(t, &m->params[p].t, is_conv[p]) && !pos_embed_grid(m, p, t, &(int){0})) {
            torch_shape(s2, sizeof s2, &m->params[p].t, is_conv[p]);
            sb_printf(&bad, "%swrong shape '%s' %s (want %s)", nbad ? "; " : "", t->name, s1, s2);
            nbad++;
        }
    }
    for (int p = 0; p < m->n_params; p++) {
        if (seen[p] || (reinit_head && is_head[p])) continue;
        torch_shape(s2, sizeof s2, &m->params[p].t, is_conv[p]);
        sb_printf(&bad, "%smissing '%s' %s", nbad ? "; " : "", m->params[p].name, s2);
        nbad++;
    }
    if (bad.oom || reinit.oom || resampled.oom) {
        rc = tx_err_set(err, TX_ENOMEM, "out of memory");
        goto done;
    }
    if (nbad) {
        if (report && report_n) snprintf(report, report_n, "%s", sb_str(&bad));
        rc = tx_err_set(err, TX_EFORMAT,
                        "%s: %d tensor(s) do not fit %s with %s names: %.700s%s", path, nbad,
                        arch, from, sb_str(&bad), bad.len > 700 ? " ..." : "");
        goto done;
    }

    /* copy */
    int ncopied = 0;
    for (int i = 0; i < st.n; i++) {
        const tx_st_tensor *t = &st.tensors[i];
        int p = pidx[i];
        if (p < 0 || (reinit_head && is_head[p])) continue;
        tx_tensor *d = &m->params[p].t;
        float *dst = d->data;
        int kind = src_kind(t);
        int pnode = 0, side = shape_fits(t, d, is_conv[p]) ? 0 : pos_embed_grid(m, p, t, &pnode);
        if (side) { /* resample the position embedding to this model's grid, as timm does */
            const tx_node *cp = &m->nodes[pnode], *grid = &m->nodes[cp->in[0]];
            int64_t n = (int64_t)(cp->cls + side * side) * d->shape[1];
            float *src = malloc((size_t)n * sizeof(float));
            if (!src) { rc = tx_err_set(err, TX_ENOMEM, "out of memory"); goto done; }
            for (int64_t k = 0; k < n; k++) src[k] = read_elem(t->data, k, kind);
            rc = tx_vit_resample_pos_embed(dst, grid->oh, grid->ow, src, side, side, (int)d->shape[1], cp->cls, err);
            free(src);
            if (rc) goto done;
            sb_printf(&resampled, "%s%s resampled from %dx%d to %dx%d", resampled.len ? ", " : "", t->name, side,
                      side, grid->oh, grid->ow);
        } else if (is_conv[p]) {
            int64_t O = d->shape[0], H = d->shape[1], W = d->shape[2], I = d->shape[3];
            for (int64_t o = 0; o < O; o++)
                for (int64_t c = 0; c < I; c++)
                    for (int64_t y = 0; y < H; y++)
                        for (int64_t x = 0; x < W; x++)
                            dst[((o * H + y) * W + x) * I + c] =
                                read_elem(t->data, ((o * I + c) * H + y) * W + x, kind);
        } else {
            int64_t n = tx_tensor_numel(d);
            if (kind == SRC_F32) memcpy(dst, t->data, (size_t)n * 4);
            else
                for (int64_t k = 0; k < n; k++) dst[k] = read_elem(t->data, k, kind);
        }
        ncopied++;
    }
    if (reinit_head) {
        const tx_node *hn = &m->nodes[head];
        for (int k = 0; k < hn->n_param; k++) {
            const tx_param *pp = &m->params[hn->param[k]];
            fmt_shape(s2, sizeof s2, pp->t.ndim, pp->t.shape);
            sb_printf(&reinit, "%s%s %s", k ? ", " : "", pp->name, s2);
        }
    }

    if (!strcmp(from, "torchvision")) set_torchvision_pp(m);
    if ((rc = set_provenance(m, from, path, st.size, &reinit))) {
        rc = tx_err_set(err, rc, "out of memory");
        goto done;
    }
    if ((rc = tx_model_prepare(m, err))) goto done;
    sb_printf(&rep, "%s: %d tensors (%s names) -> %s, %d classes, %dx%d input", path, ncopied,
              from, arch, m->num_classes, size, size);
    if (reinit_head)
        sb_printf(&rep, "; re-initialized for %d classes (the file has %d): %s", classes,
                  file_classes, sb_str(&reinit));
    if (resampled.len)
        sb_printf(&rep, "; %s (the checkpoint was trained at another image size)", sb_str(&resampled));
    if (report && report_n) snprintf(report, report_n, "%s", sb_str(&rep));
    *out = m;
    m = NULL;
    rc = TX_OK;
done:
    tx_model_free(m);
    free(pidx);
    free(seen);
    free(is_conv);
    free(is_head);
    free(bad.s);
    free(reinit.s);
    free(resampled.s);
    free(rep.s);
    tx_st_free(&st);
    return rc;
}
