/* info.c - `taxon info`. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graph/graph.h"
#include "graph/modelio.h"

int cmd_info(int argc, char **argv) {
    int json = 0, layers = 0;
    cli_opt opts[] = {
        {"json", OPT_FLAG, &json, NULL, "print one JSON object"},
        {"layers", OPT_FLAG, &layers, NULL, "list every node with its output shape and parameters"},
        {NULL, 0, NULL, NULL, NULL},
    };
    cli_cmd cmd = {"info", "[--json] [--layers] MODEL",
                   "Describe a model: architecture, parameters, FLOPs per image, classes,\n"
                   "preprocessing, and the provenance of its training run.",
                   NULL, opts};
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
