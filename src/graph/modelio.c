/* modelio.c - saving and loading taxon model files (.safetensors + JSON metadata). */
#include "graph/modelio.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static const char *const act_names[4] = {"none", "relu", "relu_n1_to_1", "relu6"};

static cJSON *node_json(const tx_node *nd) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", tx_op_name(nd->op));
    cJSON_AddStringToObject(o, "name", nd->name);
    if (nd->n_in) cJSON_AddItemToObject(o, "in", int_array(nd->in, nd->n_in));
    switch (nd->op) {
    case TX_OP_INPUT: {
        int s[3] = {nd->oh, nd->ow, nd->oc};
        cJSON_AddItemToObject(o, "shape", int_array(s, 3));
        break;
    }
    case TX_OP_CONV2D:
    case TX_OP_MAXPOOL:
    case TX_OP_AVGPOOL: {
        int k[2] = {nd->kh, nd->kw}, st[2] = {nd->sh, nd->sw};
        int pad[4] = {nd->pad_t, nd->pad_l, nd->pad_b, nd->pad_r};
        cJSON_AddItemToObject(o, "kernel", int_array(k, 2));
        cJSON_AddItemToObject(o, "stride", int_array(st, 2));
        cJSON_AddItemToObject(o, "pad", int_array(pad, 4));
        if (nd->op == TX_OP_CONV2D) {
            int d[2] = {nd->dh, nd->dw};
            cJSON_AddItemToObject(o, "dilation", int_array(d, 2));
            cJSON_AddNumberToObject(o, "groups", nd->groups);
            cJSON_AddNumberToObject(o, "out", nd->out_c);
            cJSON_AddBoolToObject(o, "bias", nd->bias);
        }
        if (nd->op == TX_OP_AVGPOOL) cJSON_AddBoolToObject(o, "count_include_pad", nd->count_include_pad);
        break;
    }
    case TX_OP_BATCHNORM:
        cJSON_AddNumberToObject(o, "eps", nd->eps);
        cJSON_AddNumberToObject(o, "momentum", nd->momentum);
        break;
    case TX_OP_LINEAR:
        cJSON_AddNumberToObject(o, "out", nd->out_c);
        cJSON_AddBoolToObject(o, "bias", nd->bias);
        break;
    case TX_OP_DROPOUT:
    case TX_OP_DROPPATH: cJSON_AddNumberToObject(o, "p", nd->p); break;
    case TX_OP_LAYERNORM: cJSON_AddNumberToObject(o, "eps", nd->eps); break;
    case TX_OP_CLS_POS: cJSON_AddBoolToObject(o, "cls", nd->cls); break;
    case TX_OP_ATTENTION: cJSON_AddNumberToObject(o, "heads", nd->heads); break;
    case TX_OP_SOFTMAX:
        if (nd->beta != 0) cJSON_AddNumberToObject(o, "beta", nd->beta);
        break;
    case TX_OP_PAD: {
        int pad[4] = {nd->pad_t, nd->pad_l, nd->pad_b, nd->pad_r};
        cJSON_AddItemToObject(o, "pad", int_array(pad, 4));
        break;
    }
    case TX_OP_RESHAPE: {
        int sh[3] = {nd->rh, nd->rw, nd->rc};
        cJSON_AddItemToObject(o, "shape", int_array(sh, 3));
        break;
    }
    default: break;
    }
    if (nd->act) cJSON_AddStringToObject(o, "act", act_names[nd->act]);
    if (nd->dtype != TX_F32) {
        cJSON_AddStringToObject(o, "dtype", tx_dtype_name(nd->dtype));
        cJSON_AddNumberToObject(o, "qscale", nd->qscale);
        cJSON_AddNumberToObject(o, "qzp", nd->qzp);
    }
    if (nd->qmode) cJSON_AddStringToObject(o, "qmode", "tflite_ref");
    if (nd->fq) {
        cJSON_AddStringToObject(o, "fake_quant", tx_dtype_name(nd->fq));
        cJSON_AddNumberToObject(o, "qscale", nd->qscale);
        cJSON_AddNumberToObject(o, "qzp", nd->qzp);
    }
    return o;
}

char *tx_model_meta_json(const tx_model *m) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "taxon-model");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "arch", m->arch);
    cJSON *nodes = cJSON_AddArrayToObject(root, "graph");
    for (int i = 0; i < m->n_nodes; i++) cJSON_AddItemToArray(nodes, node_json(&m->nodes[i]));
    cJSON_AddNumberToObject(root, "num_classes", m->num_classes);
    if (m->class_names) {
        cJSON *c = cJSON_AddArrayToObject(root, "classes");
        for (int i = 0; i < m->num_classes; i++)
            cJSON_AddItemToArray(c, cJSON_CreateString(m->class_names[i]));
    }
    cJSON_AddItemToObject(root, "preprocess", tx_preproc_to_json(&m->pp));
    if (m->output_probs) cJSON_AddStringToObject(root, "output", "probabilities");
    if (m->feature_node > 0) cJSON_AddNumberToObject(root, "feature_node", m->feature_node);
    if (m->provenance) {
        cJSON *p = cJSON_Parse(m->provenance);
        if (p) cJSON_AddItemToObject(root, "provenance", p);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int tx_model_tensors(const tx_model *m, tx_st_tensor **out, int *n, tx_err *err) {
    tx_st_tensor *t = calloc((size_t)m->n_params + 1, sizeof *t);
    if (!t) return tx_err_set(err, TX_ENOMEM, "out of memory");
    for (int i = 0; i < m->n_params; i++) {
        const tx_param *p = &m->params[i];
        t[i].name = (char *)p->name;
        t[i].dtype = p->t.dtype;
        t[i].ndim = p->t.ndim;
        memcpy(t[i].shape, p->t.shape, sizeof t[i].shape);
        t[i].data = p->t.data;
        t[i].nbytes = tx_tensor_nbytes(&p->t);
    }
    *out = t;
    *n = m->n_params;
    return TX_OK;
}

int tx_model_save(const tx_model *m, const char *path, tx_err *err) {
    tx_st_tensor *t;
    int n, rc = tx_model_tensors(m, &t, &n, err);
    if (rc) return rc;
    char *meta = tx_model_meta_json(m);
    if (!meta) {
        free(t);
        return tx_err_set(err, TX_ENOMEM, "out of memory (metadata)");
    }
    tx_st_meta kv = {.key = "taxon", .value = meta};
    rc = tx_st_write(path, t, n, &kv, 1, err);
    free(meta);
    free(t);
    return rc;
}

/* ---- loading -------------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *node;
    tx_err *err;
} jctx;

/* Reads integer field `key` (n values; a single number is accepted for n == 2 and
 * means both). Missing -> def. Range checked to [lo, hi]. */
static int get_ints(jctx *c, const cJSON *o, const char *key, int *v, int n, int def, int lo,
                    int hi) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) {
        for (int i = 0; i < n; i++) v[i] = def;
        return TX_OK;
    }
    if (cJSON_IsNumber(j) && (n == 1 || n == 2)) {
        for (int i = 0; i < n; i++) v[i] = (int)j->valuedouble;
        if (j->valuedouble != (double)v[0]) goto bad;
    } else if (cJSON_IsArray(j) && cJSON_GetArraySize(j) == n) {
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(j, i);
            if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble) goto bad;
            v[i] = (int)e->valuedouble;
        }
    } else
        goto bad;
    for (int i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi) goto bad;
    return TX_OK;
bad:
    return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': field '%s' must be %d integer(s) in [%d, %d]",
                      c->path, c->node, key, n, lo, hi);
}

static int get_num(jctx *c, const cJSON *o, const char *key, float *v, float def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) { *v = def; return TX_OK; }
    if (!cJSON_IsNumber(j))
        return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': field '%s' must be a number",
                          c->path, c->node, key);
    *v = (float)j->valuedouble;
    return TX_OK;
}

static int get_bool(jctx *c, const cJSON *o, const char *key, int *v, int def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) { *v = def; return TX_OK; }
    if (!cJSON_IsBool(j))
        return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': field '%s' must be true or false",
                          c->path, c->node, key);
    *v = cJSON_IsTrue(j);
    return TX_OK;
}

static int parse_node(jctx *c, const cJSON *o, int idx, tx_node *nd) {
    static const char *const known[] = {"op", "name", "in", "shape", "kernel", "stride", "pad",
                                        "dilation", "groups", "out", "bias", "count_include_pad",
                                        "eps", "momentum", "p", "act", "heads", "cls", "beta",
                                        "dtype", "qscale", "qzp", "qmode", "fake_quant", NULL};
    memset(nd, 0, sizeof *nd);
    char where[32];
    snprintf(where, sizeof where, "#%d", idx);
    c->node = where;
    if (!cJSON_IsObject(o))
        return tx_err_set(c->err, TX_EFORMAT, "%s: graph node %d is not an object", c->path, idx);
    for (const cJSON *f = o->child; f; f = f->next) {
        int ok = 0;
        for (int k = 0; known[k]; k++) ok |= strcmp(known[k], f->string) == 0;
        if (!ok)
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node %d: unknown field '%s'", c->path,
                              idx, f->string);
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsString(op) || tx_op_from_name(op->valuestring) < 0)
        return tx_err_set(c->err, TX_EUNSUP, "%s: graph node %d: unknown or missing 'op'%s%s",
                          c->path, idx, cJSON_IsString(op) ? ": " : "",
                          cJSON_IsString(op) ? op->valuestring : "");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof nd->name)
        return tx_err_set(c->err, TX_EFORMAT, "%s: graph node %d: 'name' must be a string of 1-63 characters",
                          c->path, idx);
    nd->op = (tx_op_kind)tx_op_from_name(op->valuestring);
    snprintf(nd->name, sizeof nd->name, "%s", name->valuestring);
    c->node = nd->name;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "in");
    if (in) {
        if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) > TX_MAX_NODE_INPUTS)
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': 'in' must list at most %d node ids",
                              c->path, nd->name, TX_MAX_NODE_INPUTS);
        nd->n_in = cJSON_GetArraySize(in);
        int rc = get_ints(c, o, "in", nd->in, nd->n_in, 0, 0, idx - 1);
        if (rc) return rc;
    }
    int rc, v[4];
    const int BIG = 1 << 20;
    switch (nd->op) {
    case TX_OP_INPUT:
        if ((rc = get_ints(c, o, "shape", v, 3, 0, 1, 1 << 15))) return rc;
        nd->oh = v[0]; nd->ow = v[1]; nd->oc = v[2];
        break;
    case TX_OP_CONV2D:
    case TX_OP_MAXPOOL:
    case TX_OP_AVGPOOL:
        if ((rc = get_ints(c, o, "kernel", v, 2, 0, 1, 1024))) return rc;
        nd->kh = v[0]; nd->kw = v[1];
        if ((rc = get_ints(c, o, "stride", v, 2, 1, 1, 1024))) return rc;
        nd->sh = v[0]; nd->sw = v[1];
        if ((rc = get_ints(c, o, "pad", v, 4, 0, 0, 1024))) return rc;
        nd->pad_t = v[0]; nd->pad_l = v[1]; nd->pad_b = v[2]; nd->pad_r = v[3];
        if ((rc = get_ints(c, o, "dilation", v, 2, 1, 1, 1024))) return rc;
        nd->dh = v[0]; nd->dw = v[1];
        if ((rc = get_ints(c, o, "groups", v, 1, 1, 1, BIG))) return rc;
        nd->groups = v[0];
        if ((rc = get_ints(c, o, "out", v, 1, 1, 1, BIG))) return rc;
        nd->out_c = v[0];
        if ((rc = get_bool(c, o, "bias", &nd->bias, 0))) return rc;
        if ((rc = get_bool(c, o, "count_include_pad", &nd->count_include_pad, 1))) return rc;
        break;
    case TX_OP_BATCHNORM:
        if ((rc = get_num(c, o, "eps", &nd->eps, 1e-5f))) return rc;
        if ((rc = get_num(c, o, "momentum", &nd->momentum, 0.1f))) return rc;
        break;
    case TX_OP_LINEAR:
        if ((rc = get_ints(c, o, "out", v, 1, 0, 1, BIG))) return rc;
        nd->out_c = v[0];
        if ((rc = get_bool(c, o, "bias", &nd->bias, 1))) return rc;
        break;
    case TX_OP_DROPOUT:
        if ((rc = get_num(c, o, "p", &nd->p, 0.5f))) return rc;
        break;
    case TX_OP_DROPPATH:
        if ((rc = get_num(c, o, "p", &nd->p, 0.0f))) return rc;
        break;
    case TX_OP_LAYERNORM:
        if ((rc = get_num(c, o, "eps", &nd->eps, 1e-5f))) return rc;
        break;
    case TX_OP_CLS_POS:
        if ((rc = get_bool(c, o, "cls", &nd->cls, 1))) return rc;
        break;
    case TX_OP_ATTENTION:
        if ((rc = get_ints(c, o, "heads", v, 1, 0, 1, 4096))) return rc;
        nd->heads = v[0];
        break;
    case TX_OP_SOFTMAX:
        if ((rc = get_num(c, o, "beta", &nd->beta, 0.0f))) return rc;
        break;
    case TX_OP_PAD:
        if ((rc = get_ints(c, o, "pad", v, 4, 0, 0, 4096))) return rc;
        nd->pad_t = v[0]; nd->pad_l = v[1]; nd->pad_b = v[2]; nd->pad_r = v[3];
        break;
    case TX_OP_RESHAPE:
        if ((rc = get_ints(c, o, "shape", v, 3, 0, 1, 1 << 30))) return rc;
        nd->rh = v[0]; nd->rw = v[1]; nd->rc = v[2];
        break;
    default: break;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "act");
    if (act) {
        int k = -1;
        for (int i = 0; i < 4 && cJSON_IsString(act); i++)
            if (!strcmp(act->valuestring, act_names[i])) k = i;
        if (k < 0)
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': 'act' must be one of none, relu, "
                              "relu_n1_to_1, relu6", c->path, nd->name);
        nd->act = k;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    if (dt) {
        if (!cJSON_IsString(dt) || (strcmp(dt->valuestring, "U8") && strcmp(dt->valuestring, "I8") &&
                                    strcmp(dt->valuestring, "F32")))
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': 'dtype' must be \"F32\", \"U8\" or \"I8\"",
                              c->path, nd->name);
        nd->dtype = !strcmp(dt->valuestring, "U8") ? TX_U8 : !strcmp(dt->valuestring, "I8") ? TX_I8 : TX_F32;
        if ((rc = get_num(c, o, "qscale", &nd->qscale, 0.0f))) return rc;
        if ((rc = get_ints(c, o, "qzp", v, 1, 0, -128, 255))) return rc;
        nd->qzp = v[0];
    }
    const cJSON *fq = cJSON_GetObjectItemCaseSensitive(o, "fake_quant");
    if (fq) {
        if (!cJSON_IsString(fq) || (strcmp(fq->valuestring, "U8") && strcmp(fq->valuestring, "I8")))
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': 'fake_quant' must be \"U8\" or \"I8\"",
                              c->path, nd->name);
        nd->fq = !strcmp(fq->valuestring, "U8") ? TX_U8 : TX_I8;
        if ((rc = get_num(c, o, "qscale", &nd->qscale, 0.0f))) return rc;
        if ((rc = get_ints(c, o, "qzp", v, 1, 0, -128, 255))) return rc;
        nd->qzp = v[0];
    }
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(o, "qmode");
    if (qm) {
        if (!cJSON_IsString(qm) || (strcmp(qm->valuestring, "tflite_ref") && strcmp(qm->valuestring, "xnnpack")))
            return tx_err_set(c->err, TX_EFORMAT, "%s: graph node '%s': 'qmode' must be \"xnnpack\" or \"tflite_ref\"",
                              c->path, nd->name);
        nd->qmode = !strcmp(qm->valuestring, "tflite_ref");
    }
    return TX_OK;
}

/* Creates the parameters of quantized conv2d / linear node id from the file's tensors
 * (their dtypes and shapes are checked here; the data is copied with the others). */
static int attach_qparams(tx_model *m, int id, const tx_safetensors *st, const char *path, tx_err *err) {
    tx_node *nd = &m->nodes[id];
    if (!(nd->dtype == TX_U8 || nd->dtype == TX_I8) || (nd->op != TX_OP_CONV2D && nd->op != TX_OP_LINEAR))
        return TX_OK;
    const tx_node *a = &m->nodes[nd->in[0]];
    static const char *const roles[4] = {"weight", "weight_scale", "weight_zp", "bias"};
    for (int r = 0; r < (nd->bias ? 4 : 3); r++) {
        char name[160];
        snprintf(name, sizeof name, "%s.%s", nd->name, roles[r]);
        const tx_st_tensor *t = tx_st_find(st, name);
        if (!t) return tx_err_set(err, TX_EFORMAT, "%s: tensor '%s' is missing", path, name);
        int ok;
        if (r == 0)
            ok = (t->dtype == TX_U8 || t->dtype == TX_I8) &&
                 (nd->op == TX_OP_CONV2D
                      ? t->ndim == 4 && t->shape[0] == nd->out_c && t->shape[1] == nd->kh &&
                            t->shape[2] == nd->kw && t->shape[3] == a->oc / nd->groups
                      : t->ndim == 2 && t->shape[0] == nd->out_c && t->shape[1] == a->oc);
        else if (r == 1)
            ok = t->dtype == TX_F32 && t->ndim == 1 && (t->shape[0] == 1 || t->shape[0] == nd->out_c);
        else if (r == 2)
            ok = t->dtype == TX_I32 && t->ndim == 1 && t->shape[0] == 1;
        else
            ok = t->dtype == TX_I32 && t->ndim == 1 && t->shape[0] == nd->out_c;
        if (!ok)
            return tx_err_set(err, TX_ESHAPE, "%s: tensor '%s' has the wrong type or shape for node '%s' "
                              "(%s, %d dims)", path, name, nd->name, tx_dtype_name(t->dtype), t->ndim);
        int p = tx_model_add_param(m, nd->name, roles[r], t->dtype, t->ndim, t->shape, 0, 0, err);
        if (p < 0) return tx_err_prefix(err, p, "%s", path);
        nd = &m->nodes[id];
        nd->param[nd->n_param++] = p;
    }
    return TX_OK;
}

int tx_model_from_st(const tx_safetensors *st, const char *path, const char *extra_prefix,
                     tx_model **out, tx_err *err) {
    *out = NULL;
    const char *meta = tx_st_meta_get(st, "taxon");
    if (!meta)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: no taxon metadata (__metadata__.taxon): not a taxon model file; "
                          "to import a PyTorch state dict or a TFLite model use 'taxon convert'",
                          path);
    cJSON *root = cJSON_Parse(meta);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return tx_err_set(err, TX_EFORMAT, "%s: __metadata__.taxon is not a JSON object", path);
    }
    int rc = TX_OK;
    tx_model *m = NULL;
    jctx c = {.path = path, .node = "", .err = err};
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *graph = cJSON_GetObjectItemCaseSensitive(root, "graph");
    const cJSON *ncls = cJSON_GetObjectItemCaseSensitive(root, "num_classes");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "preprocess");
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(root, "provenance");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "taxon-model") != 0) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: metadata field 'format' must be \"taxon-model\"", path);
        goto done;
    }
    if (!cJSON_IsNumber(ver) || ver->valueint != 1) {
        rc = tx_err_set(err, TX_EUNSUP, "%s: model format version %g is not supported (this taxon reads 1)",
                        path, cJSON_IsNumber(ver) ? ver->valuedouble : -1.0);
        goto done;
    }
    if (!cJSON_IsArray(graph) || cJSON_GetArraySize(graph) < 2) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: metadata field 'graph' must be an array of at least 2 nodes", path);
        goto done;
    }
    if (!(m = tx_model_new(cJSON_IsString(arch) ? arch->valuestring : "custom"))) {
        rc = tx_err_set(err, TX_ENOMEM, "out of memory");
        goto done;
    }
    int idx = 0;
    for (const cJSON *o = graph->child; o; o = o->next, idx++) {
        tx_node nd;
        if ((rc = parse_node(&c, o, idx, &nd))) goto done;
        int id = tx_g_node(m, &nd, err);
        if (id < 0) {
            rc = tx_err_prefix(err, id, "%s: graph", path);
            goto done;
        }
        if ((rc = attach_qparams(m, id, st, path, err))) goto done;
    }
    /* parameters */
    for (int i = 0; i < m->n_params; i++) {
        tx_param *p = &m->params[i];
        const tx_st_tensor *t = tx_st_find(st, p->name);
        if (!t) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: tensor '%s' is missing", path, p->name);
            goto done;
        }
        int same = t->dtype == p->t.dtype && t->ndim == p->t.ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == p->t.shape[d];
        if (!same) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < p->t.ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "", (long long)p->t.shape[d]);
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
            rc = tx_err_set(err, TX_ESHAPE, "%s: tensor '%s' is %s [%s], the graph needs %s [%s]", path,
                            p->name, tx_dtype_name(t->dtype), got, tx_dtype_name(p->t.dtype), want);
            goto done;
        }
        memcpy(p->t.data, t->data, t->nbytes);
    }
    for (int i = 0; i < st->n; i++) {
        const char *nm = st->tensors[i].name;
        if (extra_prefix && strncmp(nm, extra_prefix, strlen(extra_prefix)) == 0) continue;
        if (tx_model_find_param(m, nm) < 0) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: tensor '%s' is not used by the graph", path, nm);
            goto done;
        }
    }
    int out_c = m->nodes[m->n_nodes - 1].oc;
    if (!cJSON_IsNumber(ncls) || ncls->valueint != out_c) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: 'num_classes' must equal the graph's %d outputs", path, out_c);
        goto done;
    }
    m->num_classes = out_c;
    if (classes) {
        if (!cJSON_IsArray(classes) || cJSON_GetArraySize(classes) != out_c) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: 'classes' must be an array of %d strings", path, out_c);
            goto done;
        }
        const char **names = calloc((size_t)out_c, sizeof(char *));
        if (!names) { rc = tx_err_set(err, TX_ENOMEM, "out of memory"); goto done; }
        int k = 0;
        for (const cJSON *s = classes->child; s; s = s->next, k++) {
            if (!cJSON_IsString(s)) {
                free(names);
                rc = tx_err_set(err, TX_EFORMAT, "%s: 'classes'[%d] is not a string", path, k);
                goto done;
            }
            names[k] = s->valuestring;
        }
        rc = tx_model_set_classes(m, out_c, names, err);
        free(names);
        if (rc) goto done;
    }
    const tx_node *in0 = &m->nodes[0];
    if (pp) {
        char where[600];
        snprintf(where, sizeof where, "%s: preprocess", path);
        if ((rc = tx_preproc_from_json(&m->pp, pp, where, err))) goto done;
        if (m->pp.height != in0->oh || m->pp.width != in0->ow || m->pp.channels != in0->oc) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: preprocess gives %dx%dx%d but the graph input is %dx%dx%d",
                            path, m->pp.height, m->pp.width, m->pp.channels, in0->oh, in0->ow, in0->oc);
            goto done;
        }
    } else
        tx_preproc_default(&m->pp, in0->oh, in0->ow, in0->oc);
    if (prov) {
        char *s = cJSON_PrintUnformatted(prov);
        tx_model_set_provenance(m, s);
        free(s);
    }
    const cJSON *outk = cJSON_GetObjectItemCaseSensitive(root, "output");
    if (outk) {
        if (!cJSON_IsString(outk) || (strcmp(outk->valuestring, "probabilities") && strcmp(outk->valuestring, "logits"))) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: 'output' must be \"logits\" or \"probabilities\"", path);
            goto done;
        }
        m->output_probs = !strcmp(outk->valuestring, "probabilities");
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(root, "feature_node");
    if (fn) {
        if (!cJSON_IsNumber(fn) || fn->valuedouble != (double)fn->valueint || fn->valueint < 1 ||
            fn->valueint >= m->n_nodes) {
            rc = tx_err_set(err, TX_EFORMAT, "%s: 'feature_node' must be a node id in [1, %d)", path, m->n_nodes);
            goto done;
        }
        m->feature_node = fn->valueint;
    }
    if ((rc = tx_model_prepare(m, err))) {
        rc = tx_err_prefix(err, rc, "%s", path);
        goto done;
    }
done:
    cJSON_Delete(root);
    if (rc) {
        tx_model_free(m);
        return rc;
    }
    *out = m;
    return TX_OK;
}

int tx_model_load(const char *path, tx_model **out, tx_err *err) {
    tx_safetensors st;
    int rc = tx_st_load(path, &st, err);
    if (rc) return rc;
    rc = tx_model_from_st(&st, path, NULL, out, err);
    tx_st_free(&st);
    return rc;
}
