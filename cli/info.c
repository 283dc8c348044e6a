/* info.c - `taxon info`. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/graph.h"
#include "graph/modelio.h"
#include "io/tflite_import.h"

/* ---- .tflite files ------------------------------------------------------------------- */

static cJSON *tensor_json(const tx_tflite_subgraph *g, int ti) {
    cJSON *j = cJSON_CreateObject();
    if (ti < 0) {
        cJSON_AddNullToObject(j, "tensor");
        return j;
    }
    const tx_tflite_tensor *t = &g->tensors[ti];
    char name[160];
    tx_tflite_safe_name(name, sizeof name, t->name);
    cJSON_AddNumberToObject(j, "tensor", ti);
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "type", tx_tflite_type_name(t->type));
    cJSON *sh = cJSON_AddArrayToObject(j, "shape");
    for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(t->shape[d]));
    if (t->q.n == 1) {
        cJSON_AddNumberToObject(j, "scale", t->q.scale[0]);
        cJSON_AddNumberToObject(j, "zero_point", (double)t->q.zero_point[0]);
    } else if (t->q.n > 1) {
        cJSON_AddNumberToObject(j, "scales", t->q.n);
        cJSON_AddNumberToObject(j, "quantized_dimension", t->q.quantized_dimension);
    }
    cJSON_AddBoolToObject(j, "constant", t->data != NULL);
    return j;
}

/* "UINT8[1,224,224,3] s=0.0078125 z=128" */
static void tensor_str(char *buf, size_t n, const tx_tflite_subgraph *g, int ti) {
    if (ti < 0) { snprintf(buf, n, "-"); return; }
    const tx_tflite_tensor *t = &g->tensors[ti];
    size_t p = (size_t)snprintf(buf, n, "%s[", tx_tflite_type_name(t->type));
    for (int d = 0; d < t->ndim && p < n; d++) p += (size_t)snprintf(buf + p, n - p, "%s%d", d ? "," : "", t->shape[d]);
    if (p < n) p += (size_t)snprintf(buf + p, n - p, "]");
    if (p < n && t->q.n == 1)
        snprintf(buf + p, n - p, " s=%.6g z=%lld", (double)t->q.scale[0], (long long)t->q.zero_point[0]);
    else if (p < n && t->q.n > 1)
        snprintf(buf + p, n - p, " %d scales (dim %d)", t->q.n, t->q.quantized_dimension);
}

static void op_options(char *buf, size_t n, const tx_tflite_op *op) {
    const tx_tflite_options *o = &op->opt;
    buf[0] = 0;
    switch (op->builtin) {
    case TX_TFL_OP_CONV_2D:
        snprintf(buf, n, "%s stride %dx%d dilation %dx%d %s", tx_tflite_padding_name(o->conv2d.padding),
                 o->conv2d.stride_h, o->conv2d.stride_w, o->conv2d.dilation_h, o->conv2d.dilation_w,
                 tx_tflite_act_name(o->conv2d.activation));
        break;
    case TX_TFL_OP_DEPTHWISE_CONV_2D:
        snprintf(buf, n, "%s stride %dx%d multiplier %d %s", tx_tflite_padding_name(o->dwconv2d.padding),
                 o->dwconv2d.stride_h, o->dwconv2d.stride_w, o->dwconv2d.depth_multiplier,
                 tx_tflite_act_name(o->dwconv2d.activation));
        break;
    case TX_TFL_OP_AVERAGE_POOL_2D:
    case TX_TFL_OP_MAX_POOL_2D:
        snprintf(buf, n, "%s %dx%d stride %dx%d %s", tx_tflite_padding_name(o->pool2d.padding), o->pool2d.filter_h,
                 o->pool2d.filter_w, o->pool2d.stride_h, o->pool2d.stride_w, tx_tflite_act_name(o->pool2d.activation));
        break;
    case TX_TFL_OP_FULLY_CONNECTED: snprintf(buf, n, "%s", tx_tflite_act_name(o->fc.activation)); break;
    case TX_TFL_OP_ADD:
    case TX_TFL_OP_MUL: snprintf(buf, n, "%s", tx_tflite_act_name(o->activation)); break;
    case TX_TFL_OP_CONCATENATION: snprintf(buf, n, "axis %d %s", o->axis, tx_tflite_act_name(o->activation)); break;
    case TX_TFL_OP_SOFTMAX: snprintf(buf, n, "beta %g", (double)o->beta); break;
    case TX_TFL_OP_MEAN: snprintf(buf, n, "keep_dims %d", o->keep_dims); break;
    default: break;
    }
}

static int info_tflite(const char *path, int json, int layers) {
    tx_err err = {0};
    tx_tflite_model tf;
    if (tx_tflite_load(path, &tf, &err)) return cli_fail("info", &err);
    const tx_tflite_subgraph *g = &tf.subgraphs[0];
    int counts[TX_TFL_OP_COUNT + 1] = {0};
    for (int i = 0; i < g->n_ops; i++) counts[g->ops[i].builtin < TX_TFL_OP_COUNT ? g->ops[i].builtin : TX_TFL_OP_COUNT]++;
    int64_t wtype[TX_TFL_TYPE_COUNT] = {0};
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].data && g->tensors[i].type >= 0 && g->tensors[i].type < TX_TFL_TYPE_COUNT)
            wtype[g->tensors[i].type] += g->tensors[i].numel;
    char *ltxt = NULL, lname[128] = "";
    size_t llen = 0;
    tx_err lerr = {0};
    int lrc = tx_zip_find_labels(tf.buf, tf.size, tf.used_size, path, &ltxt, &llen, lname, sizeof lname, &lerr);
    int nlabels = 0;
    if (!lrc && ltxt) {
        char **names;
        if (!tx_labels_parse(ltxt, llen, lname, &names, &nlabels, &lerr)) tx_labels_free(names, nlabels);
    }
    free(ltxt);
    tx_model *m = NULL;
    tx_err ierr = {0};
    int irc = tx_tflite_to_model(&tf, path, NULL, &m, &ierr);
    int nq = 0;
    if (!irc)
        for (int i = 0; i < m->n_nodes; i++) nq += m->nodes[i].dtype != TX_F32;
    char desc[200];
    tx_tflite_safe_name(desc, sizeof desc, tf.description);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", path);
        cJSON_AddStringToObject(j, "format", "tflite");
        cJSON_AddNumberToObject(j, "schema_version", tf.version);
        cJSON_AddNumberToObject(j, "bytes", (double)tf.size);
        cJSON_AddStringToObject(j, "description", desc);
        cJSON_AddNumberToObject(j, "subgraphs", tf.n_subgraphs);
        cJSON *ins = cJSON_AddArrayToObject(j, "inputs"), *outs = cJSON_AddArrayToObject(j, "outputs");
        for (int k = 0; k < g->n_inputs; k++) cJSON_AddItemToArray(ins, tensor_json(g, g->inputs[k]));
        for (int k = 0; k < g->n_outputs; k++) cJSON_AddItemToArray(outs, tensor_json(g, g->outputs[k]));
        cJSON *oc = cJSON_AddObjectToObject(j, "operator_counts");
        for (int k = 0; k <= TX_TFL_OP_COUNT; k++)
            if (counts[k]) cJSON_AddNumberToObject(oc, k < TX_TFL_OP_COUNT ? tx_tflite_op_name(k) : "?", counts[k]);
        cJSON_AddNumberToObject(j, "operators_total", g->n_ops);
        cJSON *wj = cJSON_AddObjectToObject(j, "constant_values");
        for (int k = 0; k < TX_TFL_TYPE_COUNT; k++)
            if (wtype[k]) cJSON_AddNumberToObject(wj, tx_tflite_type_name(k), (double)wtype[k]);
        cJSON *md = cJSON_AddArrayToObject(j, "metadata");
        for (int k = 0; k < tf.n_metadata; k++) {
            char mn[96];
            tx_tflite_safe_name(mn, sizeof mn, tf.metadata[k].name);
            cJSON_AddItemToArray(md, cJSON_CreateString(mn));
        }
        if (lname[0]) {
            cJSON *lj = cJSON_AddObjectToObject(j, "labels");
            cJSON_AddStringToObject(lj, "file", lname);
            cJSON_AddNumberToObject(lj, "count", nlabels);
        }
        cJSON *im = cJSON_AddObjectToObject(j, "taxon");
        cJSON_AddBoolToObject(im, "imports", irc == TX_OK);
        if (irc) {
            cJSON_AddStringToObject(im, "error", ierr.msg);
        } else {
            cJSON_AddStringToObject(im, "graph", nq ? "integer" : "float");
            cJSON_AddNumberToObject(im, "nodes", m->n_nodes);
            cJSON_AddNumberToObject(im, "classes", m->num_classes);
            cJSON_AddBoolToObject(im, "output_probs", m->output_probs != 0);
            cJSON_AddStringToObject(im, "feature_node", m->nodes[tx_model_feature_node(m)].name);
            cJSON_AddItemToObject(im, "preprocess", tx_preproc_to_json(&m->pp));
        }
        if (layers) {
            cJSON *ops = cJSON_AddArrayToObject(j, "operators");
            for (int i = 0; i < g->n_ops; i++) {
                const tx_tflite_op *op = &g->ops[i];
                cJSON *o = cJSON_CreateObject();
                char opt[160];
                op_options(opt, sizeof opt, op);
                cJSON_AddNumberToObject(o, "index", i);
                cJSON_AddStringToObject(o, "op", tx_tflite_op_name(op->builtin));
                if (opt[0]) cJSON_AddStringToObject(o, "options", opt);
                cJSON *a = cJSON_AddArrayToObject(o, "inputs");
                for (int k = 0; k < op->n_inputs; k++) cJSON_AddItemToArray(a, tensor_json(g, op->inputs[k]));
                a = cJSON_AddArrayToObject(o, "outputs");
                for (int k = 0; k < op->n_outputs; k++) cJSON_AddItemToArray(a, tensor_json(g, op->outputs[k]));
                cJSON_AddItemToArray(ops, o);
            }
        }
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        char buf[256];
        printf("model         %s (TFLite schema %u, %zu bytes, %d subgraph%s)\n", path, tf.version, tf.size,
               tf.n_subgraphs, tf.n_subgraphs == 1 ? "" : "s");
        if (desc[0]) printf("description   %s\n", desc);
        for (int k = 0; k < g->n_inputs; k++) {
            tensor_str(buf, sizeof buf, g, g->inputs[k]);
            char nm[96];
            tx_tflite_safe_name(nm, sizeof nm, g->tensors[g->inputs[k]].name);
            printf("input         '%s' %s\n", nm, buf);
        }
        for (int k = 0; k < g->n_outputs; k++) {
            tensor_str(buf, sizeof buf, g, g->outputs[k]);
            char nm[96];
            tx_tflite_safe_name(nm, sizeof nm, g->tensors[g->outputs[k]].name);
            printf("output        '%s' %s\n", nm, buf);
        }
        printf("operators     %d:", g->n_ops);
        int first = 1;
        for (int k = 0; k <= TX_TFL_OP_COUNT; k++)
            if (counts[k]) {
                printf("%s %s", first ? "" : ",", k < TX_TFL_OP_COUNT ? tx_tflite_op_name(k) : "?");
                if (counts[k] > 1) printf(" x%d", counts[k]);
                first = 0;
            }
        printf("\nweights      ");
        for (int k = 0; k < TX_TFL_TYPE_COUNT; k++)
            if (wtype[k]) printf(" %s %lld", tx_tflite_type_name(k), (long long)wtype[k]);
        printf(" (constant values by type)\n");
        if (lname[0]) printf("labels        %s inside the file (%d names)\n", lname, nlabels);
        else if (lrc) printf("labels        unreadable: %s\n", lerr.msg);
        else printf("labels        none inside the file (give --labels FILE to predict/convert)\n");
        if (irc) {
            printf("taxon         does not import: %s\n", ierr.msg);
        } else {
            const tx_node *f = &m->nodes[tx_model_feature_node(m)];
            printf("taxon         %s graph, %d nodes (%d 8-bit), %d %s%s; features: '%s' (%d values)\n",
                   nq ? "integer" : "float", m->n_nodes, nq, m->num_classes,
                   m->output_probs || m->class_names ? "classes" : "outputs (an embedding model)",
                   m->output_probs ? ", outputs probabilities" : "", f->name, f->oh * f->ow * f->oc);
            printf("preprocess    resize %s to %dx%d (no crop), %d channels, mean", tx_resize_name(m->pp.resize),
                   m->pp.height, m->pp.width, m->pp.channels);
            for (int c = 0; c < m->pp.channels; c++) printf(" %.4g", m->pp.mean[c]);
            printf(", std");
            for (int c = 0; c < m->pp.channels; c++) printf(" %.4g", m->pp.std[c]);
            if (m->nodes[0].dtype != TX_F32)
                printf(" (the %s input is the pixel bytes%s)", m->nodes[0].dtype == TX_I8 ? "int8" : "uint8",
                       m->nodes[0].dtype == TX_I8 ? " minus 128" : "");
            printf("\n");
        }
        if (layers) {
            printf("\n  %-4s %-18s %-44s %-44s %s\n", "#", "operator", "input (activation), weights", "output",
                   "options");
            for (int i = 0; i < g->n_ops; i++) {
                const tx_tflite_op *op = &g->ops[i];
                char a[128], w[128] = "", o[128], opt[160], in[260];
                tensor_str(a, sizeof a, g, op->n_inputs > 0 ? op->inputs[0] : -1);
                if (op->n_inputs > 1 && op->inputs[1] >= 0 && g->tensors[op->inputs[1]].data)
                    tensor_str(w, sizeof w, g, op->inputs[1]);
                else if (op->n_inputs > 1 && op->inputs[1] >= 0)
                    tensor_str(w, sizeof w, g, op->inputs[1]);
                tensor_str(o, sizeof o, g, op->n_outputs > 0 ? op->outputs[0] : -1);
                op_options(opt, sizeof opt, op);
                snprintf(in, sizeof in, "%s%s%s", a, w[0] ? ", " : "", w);
                printf("  %-4d %-18s %-44s %-44s %s\n", i, tx_tflite_op_name(op->builtin), in, o, opt);
            }
        }
    }
    tx_model_free(m);
    tx_tflite_free(&tf);
    return 0;
}

int cmd_info(int argc, char **argv) {
    int json = 0, layers = 0;
    cli_opt opts[] = {
        {"json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"layers", OPT_FLAG, &layers, NULL, "list every node (every operator of a .tflite) with shapes"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"info", "[--json] [--layers] MODEL",
                   "Describe a model: architecture, parameters, FLOPs per image, classes,\n"
                   "preprocessing, and the provenance of its training run.",
                   "MODEL is a taxon .safetensors file or a .tflite file. For .tflite: operators, tensor\n"
                   "shapes and quantization, the label file stored inside, and how taxon imports it\n"
                   "(graph, classes, input spec); --layers lists every operator.",
                   opts};
    char **pos;
    int npos, rc = cli_parse(&cmd, argc, argv, &pos, &npos);
    if (rc) { free(pos); return rc == 1 ? 0 : 2; }
    if (npos != 1) {
        fprintf(stderr, "taxon info: error: give exactly one model file (e.g. taxon info fmnist.safetensors)\n");
        free(pos);
        return 2;
    }
    const char *path = pos[0];
    free(pos);
    if (tx_file_is_tflite(path)) return info_tflite(path, json, layers);
    tx_err err = {0};
    tx_model *m;
    if (tx_model_load(path, &m, &err)) return cli_fail("info", &err);
    const tx_node *in = &m->nodes[0];
    double flops = tx_model_flops(m);
    long long params = (long long)tx_model_param_count(m, 1);
    if (json) {
        char *meta = tx_model_meta_json(m);
        cJSON *j = cJSON_Parse(meta);
        free(meta);
        cJSON_AddStringToObject(j, "file", path);
        cJSON_AddNumberToObject(j, "parameters", (double)params);
        cJSON_AddNumberToObject(j, "flops_per_image", flops);
        if (!layers) cJSON_DeleteItemFromObject(j, "graph");
        char *s = cJSON_Print(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        tx_model_free(m);
        return 0;
    }
    printf("model         %s\n", path);
    printf("architecture  %s (%d nodes)\n", m->arch, m->n_nodes);
    printf("input         %d x %d x %d (H x W x C)\n", in->oh, in->ow, in->oc);
    printf("parameters    %lld trainable (%.2f MB as float32)\n", params,
           (double)tx_model_param_count(m, 0) * 4 / 1e6);
    printf("FLOPs         %.2f M per image (forward)\n", flops / 1e6);
    printf("classes       %d", m->num_classes);
    if (m->class_names) {
        printf(":");
        for (int i = 0; i < m->num_classes && i < 20; i++) printf("%s %s", i ? "," : "", m->class_names[i]);
        if (m->num_classes > 20) printf(", ...");
    }
    printf("\npreprocess    resize %s to %dx%d%s, %d channel%s, mean", tx_resize_name(m->pp.resize),
           m->pp.height, m->pp.width, m->pp.crop_fraction > 0 ? " (center crop)" : "", m->pp.channels,
           m->pp.channels > 1 ? "s" : "");
    for (int c = 0; c < m->pp.channels; c++) printf(" %.4g", m->pp.mean[c]);
    printf(", std");
    for (int c = 0; c < m->pp.channels; c++) printf(" %.4g", m->pp.std[c]);
    printf("\n");
    if (m->provenance) {
        cJSON *p = cJSON_Parse(m->provenance);
        char *s = p ? cJSON_Print(p) : NULL;
        printf("provenance    %s\n", s ? s : m->provenance);
        free(s);
        cJSON_Delete(p);
    } else
        printf("provenance    (none recorded)\n");
    if (layers) {
        printf("\n  %-3s %-22s %-15s %-16s %s\n", "#", "name", "op", "output (HxWxC)", "parameters");
        for (int i = 0; i < m->n_nodes; i++) {
            const tx_node *nd = &m->nodes[i];
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d", nd->oh, nd->ow, nd->oc);
            long long np = 0;
            for (int k = 0; k < nd->n_param; k++)
                if (m->params[nd->param[k]].trainable) np += tx_tensor_numel(&m->params[nd->param[k]].t);
            printf("  %-3d %-22.22s %-15s %-16s %lld\n", i, nd->name, tx_op_name(nd->op), shape, np);
        }
    }
    tx_model_free(m);
    return 0;
}
