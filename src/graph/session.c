/* session.c - the public prediction API: a shared immutable model, one session per
 * caller, files -> the model's preprocessing -> executor -> probabilities -> top-k.
 *
 * Inputs: a float input node gets tx_preprocess's normalized floats; an 8-bit input
 * (imported quantized TFLite models) gets tx_preprocess_u8's pixel bytes as they are
 * (uint8; the importer sets mean/std so that scale * (pixel - zero point) is the same
 * normalization) or minus 128 (int8). Outputs: softmax of the logits, unless the model
 * already ends in a softmax (m->output_probs), whose probabilities are used directly. */
#include "graph/session.h"
#include "data/image.h"
#include "ops/ops.h"
#include "ops/quant.h"

#include <stdlib.h>
#include <string.h>

struct tx_session {
    const tx_model *m;
    tx_exec *e;
    float *in, *probs;
    uint8_t *in8;
};

static int input_is_8bit(const tx_model *m) {
    return m->nodes[0].dtype == TX_U8 || m->nodes[0].dtype == TX_I8;
}

int tx_session_create(const tx_model *m, tx_session **out, tx_err *err) {
    *out = NULL;
    tx_session *s = calloc(1, sizeof *s);
    if (!s) return tx_err_set(err, TX_ENOMEM, "out of memory");
    s->m = m;
    /* an inference executor only reads the model */
    int rc = tx_exec_create((tx_model *)m, 1, 0, 0, &s->e, err);
    if (rc) { free(s); return rc; }
    size_t px = (size_t)m->pp.height * m->pp.width * m->pp.channels;
    if (input_is_8bit(m)) s->in8 = tx_alloc(px);
    else s->in = tx_alloc(px * sizeof(float));
    s->probs = tx_alloc((size_t)(m->num_classes > 0 ? m->num_classes : 1) * sizeof(float));
    if ((!s->in && !s->in8) || !s->probs) {
        tx_session_free(s);
        return tx_err_set(err, TX_ENOMEM, "out of memory");
    }
    *out = s;
    return TX_OK;
}

void tx_session_free(tx_session *s) {
    if (!s) return;
    tx_exec_free(s->e);
    tx_free(s->in);
    tx_free(s->in8);
    tx_free(s->probs);
    free(s);
}

void tx_topk(const float *p, int n, int k, tx_prediction *out) {
    if (k > n) k = n;
    for (int i = 0; i < k; i++) out[i].index = -1;
    for (int j = 0; j < n; j++) {
        /* insert j if it beats the current k-th (strictly greater: ties keep lower index) */
        int pos = k;
        while (pos > 0 && (out[pos - 1].index < 0 || p[j] > out[pos - 1].score)) pos--;
        if (pos >= k) continue;
        memmove(out + pos + 1, out + pos, (size_t)(k - pos - 1) * sizeof *out);
        out[pos].index = j;
        out[pos].score = p[j];
    }
}

/* 8-bit input bytes from pixel bytes (in place). */
static void to_input_type(const tx_model *m, uint8_t *x, size_t n) {
    if (m->nodes[0].dtype == TX_I8)
        for (size_t i = 0; i < n; i++) x[i] ^= 0x80; /* pixel - 128 as int8 */
}

int tx_session_input_bytes(const tx_model *m, const char *path, uint8_t *out, tx_err *err) {
    tx_image img;
    int rc = tx_image_load(path, m->pp.channels, &img, err);
    if (rc) return rc;
    rc = tx_preprocess_u8(out, &img, &m->pp, err);
    tx_image_free(&img);
    if (rc) return tx_err_prefix(err, rc, "%s", path);
    if (input_is_8bit(m)) to_input_type(m, out, (size_t)m->pp.height * m->pp.width * m->pp.channels);
    return TX_OK;
}

/* image file -> preprocessing -> forward; *y: the model output (float). */
static int run_file(tx_session *s, const char *path, const float **y, tx_err *err) {
    const tx_model *m = s->m;
    tx_image img;
    int rc = tx_image_load(path, m->pp.channels, &img, err);
    if (rc) return rc;
    if (s->in8) {
        rc = tx_preprocess_u8(s->in8, &img, &m->pp, err);
        to_input_type(m, s->in8, (size_t)m->pp.height * m->pp.width * m->pp.channels);
    } else {
        rc = tx_preprocess(s->in, &img, &m->pp, err);
    }
    tx_image_free(&img);
    if (rc) return tx_err_prefix(err, rc, "%s", path);
    *y = tx_exec_forward(s->e, s->in8 ? (const void *)s->in8 : (const void *)s->in, 1);
    return TX_OK;
}

int tx_predict_file(tx_session *s, const char *path, int k, tx_prediction *out, int *n_out,
                    tx_err *err) {
    const tx_model *m = s->m;
    const float *logits;
    int rc = run_file(s, path, &logits, err);
    if (rc) return rc;
    if (m->output_probs) memcpy(s->probs, logits, (size_t)m->num_classes * sizeof(float));
    else tx_softmax_forward(s->probs, logits, 1, m->num_classes);
    if (k < 1) k = 1;
    if (k > m->num_classes) k = m->num_classes;
    tx_topk(s->probs, m->num_classes, k, out);
    *n_out = k;
    return TX_OK;
}

int tx_session_feature_dim(const tx_session *s) {
    const tx_node *f = &s->m->nodes[tx_model_feature_node(s->m)];
    return f->oh * f->ow * f->oc;
}

int tx_embed_file(tx_session *s, const char *path, float *out, tx_err *err) {
    const float *logits;
    int rc = run_file(s, path, &logits, err);
    if (rc) return rc;
    int fi = tx_model_feature_node(s->m);
    const tx_node *f = &s->m->nodes[fi];
    const void *y = tx_exec_node_output(s->e, fi);
    int64_t d = (int64_t)f->oh * f->ow * f->oc;
    if (!y) return tx_err_set(err, TX_EINVAL, "the executor did not keep node '%s'", f->name);
    if (f->dtype == TX_U8 || f->dtype == TX_I8)
        tx_dequantize(out, y, d, f->dtype == TX_I8 ? TX_QT_S8 : TX_QT_U8, (tx_qparam){f->qscale, f->qzp});
    else
        memcpy(out, y, (size_t)d * sizeof(float));
    return TX_OK;
}
