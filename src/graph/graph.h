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
    /* modern architectures (issue 4); per-sample token sequences [t, d] are nodes with
     * oh = t, ow = 1, oc = d (NHWC order, so a conv's [h, w, d] output is already the
     * token sequence of h*w tokens in timm's flatten(2).transpose(1, 2) order) */
    TX_OP_RELU6,
    TX_OP_SIGMOID,      /* also TFLite LOGISTIC */
    TX_OP_SILU,
    TX_OP_GELU,         /* exact erf form */
    TX_OP_HARDSWISH,
    TX_OP_HARDSIGMOID,
    TX_OP_MUL,          /* a * b: same shape, or b [1, 1, c] broadcast over a's h, w
                           (squeeze-excitation gate) */
    TX_OP_LAYERNORM,    /* over the channel (last) axis; params weight, bias; eps */
    TX_OP_LAYERSCALE,   /* x * gamma[c]; param gamma */
    TX_OP_DROPPATH,     /* stochastic depth per sample, p (identity at inference) */
    TX_OP_CLS_POS,      /* [h, w, d] -> [h*w + cls, 1, d]: class token (attr cls) then
                           + position embedding; params cls_token [d] (when cls),
                           pos_embed [h*w + cls, d] */
    TX_OP_ATTENTION,    /* qkv [t, 1, 3d] (timm's fused qkv Linear output) -> [t, 1, d];
                           attr heads */
    TX_OP_TOKEN0,       /* [t, 1, d] -> [1, 1, d]: the class token */
    /* imported graphs (TFLite) */
    TX_OP_SOFTMAX,      /* over the channel axis (beta attr for quantized) */
    TX_OP_CONCAT,       /* along channels, n_in inputs with equal h, w */
    TX_OP_PAD,          /* spatial: pad_t, pad_l, pad_b, pad_r; value 0 (float) or the
                           output zero point (quantized) */
    TX_OP_RESHAPE,      /* to attrs (rh, rw, rc) per sample, same element count, data
                           unchanged (NHWC order) */
    TX_OP_QUANTIZE,     /* float or 8-bit -> this node's 8-bit type / quantization */
    TX_OP_DEQUANTIZE,   /* 8-bit -> float32 */
    TX_OP_COUNT
} tx_op_kind;

/* Fused activation of conv2d, linear, add, mul and the pools (TFLite's codes). Float
 * nodes apply it after the op (forward and backward); quantized nodes clamp to it. */
enum { TX_ACT_NONE = 0, TX_ACT_RELU = 1, TX_ACT_RELU_N1_TO_1 = 2, TX_ACT_RELU6 = 3,
       /* epilogues only: the inference executor folds a SiLU / GELU node into the conv or
        * linear before it (tx_conv_shape.act); never a node's act in a model file */
       TX_ACT_SILU = 4, TX_ACT_GELU = 5 };

const char *tx_op_name(tx_op_kind k);
int tx_op_from_name(const char *s); /* -1 when unknown */

#define TX_MAX_NODE_INPUTS 8
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
    float p;                /* dropout, drop path */
    int act;                /* TX_ACT_*: fused activation */
    int heads;              /* attention */
    int cls;                /* cls_pos: a class token is prepended */
    int rh, rw, rc;         /* reshape target */
    float beta;             /* softmax (quantized), 0 means 1 */
    /* Output type: TX_F32 (default) or, for quantized nodes, TX_U8 / TX_I8 with
     * real = qscale * (q - qzp). A node is quantized when its output is 8-bit; it reads
     * its inputs' 8-bit outputs and their (qscale, qzp). QUANTIZE reads float or 8-bit,
     * DEQUANTIZE writes float. qmode: tx_qmode (ops/quant.h) the node reproduces. */
    int dtype;
    float qscale;
    int32_t qzp;
    int qmode;
    /* Fake quantization of a float node (an imported 8-bit graph run in float, as in
     * quantization-aware training): fq = TX_U8 or TX_I8 rounds the output to that type's
     * grid of (qscale, qzp) after the fused activation; backward passes the gradient where
     * the value was not clamped (straight-through). 0: none. */
    int fq;
    /* parameters: indices into the model's params */
    int n_param;
    int param[TX_MAX_NODE_PARAMS];
    /* inferred output shape per sample */
    int oh, ow, oc;
} tx_node;

/* Parameters of quantized conv2d / linear nodes: "weight" U8 or I8 (conv OHWI, also
 * depthwise: [oc, kh, kw, 1]), "weight_scale" F32 [1 or oc], "weight_zp" I32 [1],
 * "bias" I32 [oc] (optional). They are not trainable. */
typedef struct tx_param {
    char name[96];
    tx_tensor t;       /* F32 (or the quantized dtypes above), owned (tx_alloc) */
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
    int output_probs;    /* the output node already gives probabilities (an imported
                            classifier ending in softmax): no softmax is applied */
    int feature_node;    /* node whose output is the embedding (taxon embed); 0: the
                            input of the classifier head (tx_model_feature_node) */
    void **kern;         /* per node: kernel state prepared once from the parameters
                            (packed quantized weights), built by tx_model_prepare and
                            freed with the model; NULL when nothing is prepared */
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
/* modern architectures */
int tx_g_act(tx_model *m, tx_op_kind op, int in, tx_err *err); /* relu, relu6, sigmoid,
                                           silu, gelu, hardswish, hardsigmoid, softmax */
int tx_g_mul(tx_model *m, int a, int b, tx_err *err);
int tx_g_layernorm(tx_model *m, int in, const char *name, float eps, tx_err *err);
int tx_g_layerscale(tx_model *m, int in, const char *name, tx_err *err);
int tx_g_droppath(tx_model *m, int in, float p, tx_err *err);
int tx_g_cls_pos(tx_model *m, int in, const char *name, int cls, tx_err *err);
int tx_g_attention(tx_model *m, int qkv, int heads, tx_err *err);
int tx_g_token0(tx_model *m, int in, tx_err *err);
/* conv with explicit asymmetric padding [t, l, b, r], dilation and fused activation */
int tx_g_conv_ex(tx_model *m, int in, const char *name, int oc, int kh, int kw, int sh, int sw,
                 const int pad[4], int dh, int dw, int groups, int bias, int act, tx_err *err);

int tx_model_find_param(const tx_model *m, const char *name);
/* Adds parameter "<node>.<role>" (zero-filled, owned by m) and returns its index, or a
 * negative TX_E* code. add_node creates the parameters of float conv2d / linear /
 * batchnorm / layernorm / layerscale / cls_pos nodes itself; quantized conv2d and
 * linear nodes get none, and their creator adds them in this order and appends the
 * indices to the node's param[]: weight, weight_scale, weight_zp, bias (if node.bias). */
int tx_model_add_param(tx_model *m, const char *node, const char *role, tx_dtype dt, int ndim,
                       const int64_t *shape, int trainable, int decay, tx_err *err);
int64_t tx_model_param_count(const tx_model *m, int trainable_only);
double tx_model_flops(const tx_model *m); /* forward multiply-adds x2 per image */
int tx_model_set_classes(tx_model *m, int n, const char *const *names, tx_err *err);
int tx_model_output_node(const tx_model *m);
int tx_model_set_provenance(tx_model *m, const char *json);
/* The embedding node: m->feature_node when set, else the input of the last linear
 * (or 1x1 conv) head, skipping flatten/dropout/reshape. */
int tx_model_feature_node(const tx_model *m);
/* Builds m->kern (packs quantized convolutions) from the parameters; loaders and
 * importers call it once after the parameters are final. Idempotent. Defined in
 * graph/qexec.c. */
int tx_model_prepare(tx_model *m, tx_err *err);
void tx_model_release(tx_model *m);   /* frees m->kern (tx_model_free calls it) */

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
typedef struct tx_exec_opts {
    int no_fusion;   /* inference: run every node as written (no batch norm folding or
                        conv + activation fusion); for tests and profiling */
    int chunk;       /* inference: images per pass through the network (a larger batch
                        runs in chunks); 0: the whole batch at once */
} tx_exec_opts;
int tx_exec_create_opts(tx_model *m, int max_batch, int training, uint64_t seed,
                        const tx_exec_opts *opts, tx_exec **out, tx_err *err);
/* input: [n, h, w, c] in the input node's dtype (float, or raw 8-bit for a quantized
 * input). Returns the output [n, num_outputs] as float (dequantized when the output
 * node is quantized; owned by e). */
const float *tx_exec_forward(tx_exec *e, const void *input, int n);
/* Back-propagates dout [n, outputs] through the last forward; fills parameter grads. */
void tx_exec_backward(tx_exec *e, const float *dout);
/* Gradient buffer of parameter i (NULL when not trainable). */
float *tx_exec_param_grad(tx_exec *e, int i);
/* Output of node id after forward, in the node's dtype (raw 8-bit for quantized
 * nodes). Valid for every node in training executors; with inference planning for
 * the output node and tx_model_feature_node (the plan keeps both alive). */
const void *tx_exec_node_output(tx_exec *e, int node);
/* All memory the executor holds (activations, gradients, packed weights, scratch). */
size_t tx_exec_peak_bytes(const tx_exec *e);
/* Inference: the planned activation arena (the peak of live activations); 0 in training. */
size_t tx_exec_activation_bytes(const tx_exec *e);
/* Re-seeds the executor's RNG (dropout masks), e.g. per training step, so results
 * do not depend on how many steps ran before (resumed runs match). */
void tx_exec_seed(tx_exec *e, uint64_t seed);
/* Per-node timing: when times is non-NULL (2 * n_nodes doubles, zeroed by the caller),
 * forward adds node i's seconds to times[2*i] and backward to times[2*i+1]. */
void tx_exec_profile(tx_exec *e, double *times);

/* ---- quantized nodes (graph/qexec.c) --------------------------------------- */
/* Bytes of scratch tx_qexec_node needs for any node of m (after tx_model_prepare). */
size_t tx_qexec_scratch_bytes(const tx_model *m);
/* Runs node i of a prepared model when it is quantized (8-bit output) or a
 * (DE)QUANTIZE: y and xs[k] are the outputs of the node and of its inputs, in their
 * dtypes, for a batch of n. scratch: tx_qexec_scratch_bytes, 64-byte aligned. */
void tx_qexec_node(const tx_model *m, int i, void *y, const void *const *xs, int n,
                   void *scratch);

#endif
