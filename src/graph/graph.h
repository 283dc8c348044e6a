/* graph.h - the model: a static graph of ops in topological order, its named
 * parameters, class names, preprocessing spec and provenance; and the one executor
 * that runs every model forward (inference, training) and backward.
 *
 * Node outputs are NHWC [N, oh, ow, oc]; flat outputs have oh = ow = 1. Node 0 is the
 * input. Parameters are float32 tensors named "<node name>.<role>", in PyTorch's
 * layouts except conv weights, which are OHWI [oc, kh, kw, c/groups].
 */
#ifndef TX_GRAPH_H
#define TX_GRAPH_H

#include "core/core.h"
#include "data/preprocess.h"

typedef enum {
    TX_OP_INPUT = 0,
    TX_OP_CONV2D,
    TX_OP_BATCHNORM,
    TX_OP_RELU,
    TX_OP_MAXPOOL,
    TX_OP_AVGPOOL,
    TX_OP_GLOBAL_AVGPOOL,
    TX_OP_LINEAR,
    TX_OP_DROPOUT,
    TX_OP_FLATTEN,
    TX_OP_ADD,
    TX_OP_COUNT
} tx_op_kind;

const char *tx_op_name(tx_op_kind k);
int tx_op_from_name(const char *s); /* -1 when unknown */

#define TX_MAX_NODE_INPUTS 2
#define TX_MAX_NODE_PARAMS 4

typedef struct tx_node {
    tx_op_kind op;
    char name[64];
    int n_in;
    int in[TX_MAX_NODE_INPUTS];
    /* attributes (those that apply to the op) */
    int kh, kw, sh, sw, pad_t, pad_l, pad_b, pad_r, dh, dw, groups;
    int out_c;              /* conv output channels, linear out features */
    int bias;               /* conv/linear have a bias */
    int count_include_pad;  /* avg pool */
    float eps, momentum;    /* batch norm */
    float p;                /* dropout */
    /* parameters: indices into the model's params */
    int n_param;
    int param[TX_MAX_NODE_PARAMS];
    /* inferred output shape per sample */
    int oh, ow, oc;
} tx_node;

typedef struct tx_param {
    char name[96];
    tx_tensor t;       /* F32, owned (tx_alloc) */
    int trainable;     /* 0 for buffers such as running statistics */
    int decay;         /* weight decay applies (conv/linear weights) */
} tx_param;

struct tx_model {
    int n_nodes, cap_nodes;
    tx_node *nodes;
    int n_params, cap_params;
    tx_param *params;
    char arch[64];
    int num_classes;
    char **class_names;  /* num_classes strings or NULL */
    tx_preproc pp;
    char *provenance;    /* JSON object text or NULL */
};

/* ---- building ------------------------------------------------------------ */
tx_model *tx_model_new(const char *arch);
/* Each returns the new node id (>= 0) or a negative TX_E* code with err set.
 * Shapes are inferred and checked as nodes are added; parameters are allocated
 * (zero-filled; builders initialize them). */
int tx_g_input(tx_model *m, int h, int w, int c, tx_err *err);
int tx_g_conv(tx_model *m, int in, const char *name, int oc, int k, int stride, int pad,
              int groups, int bias, tx_err *err);
int tx_g_node(tx_model *m, const tx_node *proto, tx_err *err); /* general form */
int tx_g_bn(tx_model *m, int in, const char *name, tx_err *err);
int tx_g_relu(tx_model *m, int in, tx_err *err);
int tx_g_maxpool(tx_model *m, int in, int k, int stride, int pad, tx_err *err);
int tx_g_avgpool(tx_model *m, int in, int k, int stride, int pad, tx_err *err);
int tx_g_gap(tx_model *m, int in, tx_err *err);
int tx_g_flatten(tx_model *m, int in, tx_err *err);
int tx_g_linear(tx_model *m, int in, const char *name, int out, int bias, tx_err *err);
int tx_g_dropout(tx_model *m, int in, float p, tx_err *err);
int tx_g_add(tx_model *m, int a, int b, tx_err *err);

int tx_model_find_param(const tx_model *m, const char *name);
int64_t tx_model_param_count(const tx_model *m, int trainable_only);
double tx_model_flops(const tx_model *m); /* forward multiply-adds x2 per image */
int tx_model_set_classes(tx_model *m, int n, const char *const *names, tx_err *err);
int tx_model_output_node(const tx_model *m);
int tx_model_set_provenance(tx_model *m, const char *json);

/* ---- built-in architectures (models/) ------------------------------------ */
/* Builds arch for an h x w x c input and `classes` outputs, weights initialized from
 * seed the way PyTorch initializes the same layers. */
int tx_model_build(const char *arch, int h, int w, int c, int classes, uint64_t seed,
                   tx_model **out, tx_err *err);
/* NULL-terminated list of names, with one-line descriptions. */
extern const char *const tx_arch_names[];
const char *tx_arch_describe(const char *arch);

/* ---- executor ------------------------------------------------------------- */
typedef struct tx_exec tx_exec;

/* training = 1 keeps every activation for backward, allocates gradients and updates
 * batch-norm running statistics in forward (so the model is written: the caller must
 * own it). training = 0 plans activation memory so buffers are reused. */
int tx_exec_create(tx_model *m, int max_batch, int training, uint64_t seed, tx_exec **out,
                   tx_err *err);
void tx_exec_free(tx_exec *e);
/* input: [n, h, w, c] float. Returns the output [n, num_outputs] (owned by e). */
const float *tx_exec_forward(tx_exec *e, const float *input, int n);
/* Back-propagates dout [n, outputs] through the last forward; fills parameter grads. */
void tx_exec_backward(tx_exec *e, const float *dout);
/* Gradient buffer of parameter i (NULL when not trainable). */
float *tx_exec_param_grad(tx_exec *e, int i);
/* Output of node id after forward (for embeddings / penultimate features). */
const float *tx_exec_node_output(tx_exec *e, int node);
size_t tx_exec_peak_bytes(const tx_exec *e);
/* Re-seeds the executor's RNG (dropout masks), e.g. per training step, so results
 * do not depend on how many steps ran before (resumed runs match). */
void tx_exec_seed(tx_exec *e, uint64_t seed);
/* Per-node timing: when times is non-NULL (2 * n_nodes doubles, zeroed by the caller),
 * forward adds node i's seconds to times[2*i] and backward to times[2*i+1]. */
void tx_exec_profile(tx_exec *e, double *times);

#endif
