/* exec.c - the one executor: runs any tx_model forward and backward.
 *
 * Inference plans activation memory ahead: each node's output gets an offset in one
 * arena, reusing space whose last reader has run (greedy first fit in topological
 * order). Training keeps every activation (backward needs them) and one gradient
 * buffer per node; parameter gradients are written by the op kernels. */
#include "graph/graph.h"
#include "ops/ops.h"
#include "ops/quant.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct tx_exec {
    tx_model *m;
    int max_batch, training, n;
    int threads;    /* OpenMP threads when created: conv scratch is sized for it */
    float **act, **grad;
    uint8_t *grad_set;
    float **bn_mean, **bn_invstd;
    int32_t **argmax;
    uint8_t **mask;
    float **pgrad;
    float *scratch, *tmp;
    void *qscratch;     /* quantized nodes (tx_qexec_scratch_bytes) */
    float *out_f;       /* dequantized output of a quantized model */
    tx_attn_shape *attn; /* per node (attention nodes) */
    float *input;
    uint8_t *arena;
    size_t arena_bytes, peak_bytes;
    tx_rng rng;
    double *prof;   /* per-node seconds (forward, backward) or NULL */
    uint8_t *fused; /* fused[r]: relu r is folded into its only reader, a max pool */
    /* inference fusions: folded[i]: batch norm, activation or residual add i is computed
     * by the conv that produces its input (conv_act[c], fw[c]/fb[c]: the conv's activation
     * and its weights and bias with the batch norm folded in; an add is 2 when that conv
     * produces its second input, whose memory it then is: alias_of) */
    uint8_t *folded;
    int *conv_act;
    int *conv_res;  /* 1 + the node a conv adds to its output (a folded residual add), or 0 */
    /* fused inverted-residual blocks (tx_convdw_forward_packed), on the node that runs
     * one (the projection, or the depthwise conv when there is none): 1 + the depthwise
     * conv and 1 + the first conv (0: none) */
    int *blk_dw, *blk_c1;
    uint8_t *skip;  /* convs computed inside such a fused block */
    uint8_t *inplace; /* inference: a mul that writes over its first input (find_inplace) */
    int *gate;        /* inference: 1 + the squeeze-excitation mul a 1x1 conv applies to its
                       * weights instead (find_gates; the mul is skipped), or 0 */
    int *conv_gap;    /* inference: 1 + the global average pool a depthwise conv computes
                       * from its row sums (find_pools; the pool is folded), or 0 */
    uint8_t *pooled;  /* such a pool (nothing to do when its node comes) */
    float *rowsum;    /* those row sums: chunk x oh x oc floats at most */
    float **fw, **fb;
    float **wpack;  /* inference: conv/linear weights packed once (tx_conv2d_pack) */
    /* inference in chunks: a batch runs `chunk` images at a time through the whole
     * network (activations planned for one chunk stay in cache instead of streaming
     * every layer's batch through memory); out_all / feat_all collect the output and
     * the feature node of the whole batch when chunk < max_batch */
    int chunk;
    int input_direct; /* inference: a forward in one pass reads the caller's input in place
                       * (no node writes over the input node's memory) */
    void *out_all, *feat_all;
    void **owned;   /* every separately allocated buffer, freed at the end */
    int n_owned, cap_owned;
};

/* Activation memory a batch of inference may take before it runs in chunks. */
#define TX_CHUNK_BYTES ((size_t)8 << 20)
/* Weights larger than this stream from memory for every chunk (see chunk). */
#define TX_CHUNK_WCACHE ((size_t)32 << 20)

static void *own(tx_exec *e, size_t bytes) {
    if (e->n_owned == e->cap_owned) {
        int cap = e->cap_owned ? e->cap_owned * 2 : 64;
        void **p = realloc(e->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        e->owned = p;
        e->cap_owned = cap;
    }
    void *p = tx_calloc(bytes);
    if (p) {
        e->owned[e->n_owned++] = p;
        e->peak_bytes += bytes;
    }
    return p;
}

void tx_exec_free(tx_exec *e) {
    if (!e) return;
    for (int i = 0; i < e->n_owned; i++) tx_free(e->owned[i]);
    free(e->owned);
    free(e->act); free(e->grad); free(e->grad_set);
    free(e->bn_mean); free(e->bn_invstd); free(e->argmax); free(e->mask);
    free(e->pgrad);
    free(e->fused);
    free(e->folded); free(e->conv_act); free(e->conv_res); free(e->blk_dw); free(e->blk_c1); free(e->skip); free(e->inplace); free(e->gate); free(e->conv_gap); free(e->pooled); free(e->fw); free(e->fb); free(e->wpack);
    free(e->attn);
    free(e);
}

static size_t node_floats(const tx_node *nd, int batch) {
    return (size_t)batch * nd->oh * nd->ow * nd->oc;
}

/* elements -> bytes: 8-bit nodes take one byte per element */
static size_t node_bytes(const tx_node *nd, int batch) {
    return node_floats(nd, batch) * (nd->dtype == TX_F32 ? sizeof(float) : 1);
}

/* Nodes the quantized kernels run (graph/qexec.c). */
static int is_qnode(const tx_node *nd) {
    return nd->dtype != TX_F32 || nd->op == TX_OP_DEQUANTIZE;
}

static tx_conv_shape conv_shape(const tx_model *m, const tx_node *nd, int n, int threads) {
    const tx_node *a = &m->nodes[nd->in[0]];
    tx_conv_shape s = {.n = n, .h = a->oh, .w = a->ow, .c = a->oc, .oc = nd->out_c,
                       .kh = nd->kh, .kw = nd->kw, .sh = nd->sh, .sw = nd->sw,
                       .pad_t = nd->pad_t, .pad_l = nd->pad_l, .pad_b = nd->pad_b,
                       .pad_r = nd->pad_r, .dh = nd->dh, .dw = nd->dw, .groups = nd->groups,
                       .oh = nd->oh, .ow = nd->ow, .threads = threads};
    return s;
}

/* A linear layer over rows = n * oh * ow positions as a 1x1 convolution of a rows x 1
 * image: w[out, in] is already OHWI, so the inference executor packs it once and runs
 * it through the conv kernels (with their activation epilogue). */
static tx_conv_shape linear_shape(const tx_model *m, const tx_node *nd, int n, int threads) {
    const tx_node *a = &m->nodes[nd->in[0]];
    tx_conv_shape s = {.n = n * nd->oh * nd->ow, .h = 1, .w = 1, .c = a->oc, .oc = nd->oc,
                       .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1,
                       .oh = 1, .ow = 1, .threads = threads};
    return s;
}

static tx_pool_shape pool_shape(const tx_model *m, const tx_node *nd, int n) {
    const tx_node *a = &m->nodes[nd->in[0]];
    tx_pool_shape s = {.n = n, .h = a->oh, .w = a->ow, .c = a->oc, .kh = nd->kh, .kw = nd->kw,
                       .sh = nd->sh, .sw = nd->sw, .pad_t = nd->pad_t, .pad_l = nd->pad_l,
                       .pad_b = nd->pad_b, .pad_r = nd->pad_r, .oh = nd->oh, .ow = nd->ow,
                       .count_include_pad = nd->count_include_pad};
    return s;
}

/* Ops whose output is their input's memory: flatten, inference dropout, and a relu
 * folded into the max pool that reads it (the pool clamps its own output). */
static int aliases_input(const tx_exec *e, int i) {
    const tx_node *nd = &e->m->nodes[i];
    return nd->op == TX_OP_FLATTEN || nd->op == TX_OP_RESHAPE ||
           (!e->training && (nd->op == TX_OP_DROPOUT || nd->op == TX_OP_DROPPATH)) || e->fused[i] ||
           e->folded[i] || e->inplace[i];
}

/* The input whose memory an aliasing node's output is: in[0], or in[1] for an add folded
 * into the conv that produces its second input (folded 2). */
static int alias_of(const tx_exec *e, int i) {
    const tx_node *nd = &e->m->nodes[i];
    return e->folded[i] == 2 ? nd->in[1] : nd->in[0];
}

static int readers(const tx_model *m, int j) {
    int n = 0;
    for (int i = j + 1; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) n += m->nodes[i].in[k] == j;
    return n;
}

static float *P(tx_exec *e, const tx_node *nd, int k);
static void *own(tx_exec *e, size_t bytes);

/* The conv (or other node) whose output node j's buffer holds at inference: back through
 * folded nodes and inference no-ops (dropout, drop path) that are their input's only
 * reader. */
static int producer(const tx_exec *e, int j) {
    const tx_model *m = e->m;
    for (;;) {
        const tx_node *nd = &m->nodes[j];
        int noop = nd->op == TX_OP_DROPOUT || nd->op == TX_OP_DROPPATH;
        if (!(e->folded[j] || noop) || nd->in[0] <= 0 || nd->fq) return j;
        if (noop && readers(m, nd->in[0]) != 1) return j;
        j = alias_of(e, j);
    }
}

/* Inference: folds a batch norm into the float conv before it (the conv's only reader)
 * and a relu / relu6 into the conv (or conv + batch norm) before it, so conv + BN + ReLU
 * is one convolution with adjusted weights and bias and an activation epilogue. */
static int fold_conv_bn_act(tx_exec *e) {
    tx_model *m = e->m;
    int feat = tx_model_feature_node(m);
    for (int i = 1; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_ADD && nd->n_in == 2 && !nd->act && nd->dtype == TX_F32 && !nd->fq) {
            /* conv (+ folded batch norm) + residual: the conv adds the other input in its
             * epilogue and the add's output is the conv's buffer. The conv's side may be
             * either input (a ResNet's downsample branch and a ViT block's projection are
             * the second); the other input must be computed before the conv runs. */
            for (int k = 0; k < 2; k++) {
                const int jk = nd->in[k], other = nd->in[1 - k];
                if (jk <= 0 || jk == other || readers(m, jk) != 1 || jk == feat || m->nodes[jk].fq)
                    continue;
                const int c = producer(e, jk);
                const tx_node *cn = &m->nodes[c];
                if ((cn->op != TX_OP_CONV2D && cn->op != TX_OP_LINEAR) || cn->dtype != TX_F32 ||
                    cn->act || cn->fq || e->conv_act[c] || e->conv_res[c] || other >= c ||
                    m->nodes[other].dtype != TX_F32)
                    continue;
                e->conv_res[c] = other + 1;
                e->folded[i] = (uint8_t)(k + 1);
                break;
            }
            continue;
        }
        int j = nd->n_in ? nd->in[0] : 0;
        if (nd->dtype != TX_F32 || nd->fq || j <= 0 || readers(m, j) != 1 || j == feat || m->nodes[j].fq)
            continue;
        if (nd->op == TX_OP_BATCHNORM && m->nodes[j].op == TX_OP_CONV2D && m->nodes[j].dtype == TX_F32 &&
            !m->nodes[j].act && !e->fw[j]) {
            const tx_node *c = &m->nodes[j];
            const float *w = P(e, c, 0), *b = c->bias ? P(e, c, 1) : NULL;
            const float *g = P(e, nd, 0), *be = P(e, nd, 1), *mu = P(e, nd, 2), *var = P(e, nd, 3);
            size_t per = tx_tensor_numel(&m->params[c->param[0]].t) / (size_t)c->out_c;
            float *fw = own(e, per * (size_t)c->out_c * sizeof(float)), *fb = own(e, (size_t)c->out_c * sizeof(float));
            if (!fw || !fb) return TX_ENOMEM;
            for (int o = 0; o < c->out_c; o++) {
                float sc = g[o] / sqrtf(var[o] + nd->eps);
                for (size_t k = 0; k < per; k++) fw[o * per + k] = w[o * per + k] * sc;
                fb[o] = ((b ? b[o] : 0.0f) - mu[o]) * sc + be[o];
            }
            e->fw[j] = fw;
            e->fb[j] = fb;
            e->folded[i] = 1;
        } else if (nd->op == TX_OP_RELU || nd->op == TX_OP_RELU6 || nd->op == TX_OP_SILU ||
                   nd->op == TX_OP_GELU) {
            int c = producer(e, j);
            const tx_node *cn = &m->nodes[c];
            if ((cn->op != TX_OP_CONV2D && cn->op != TX_OP_LINEAR) || cn->dtype != TX_F32 ||
                cn->act || cn->fq || e->conv_act[c])
                continue;
            e->conv_act[c] = nd->op == TX_OP_RELU    ? TX_ACT_RELU
                             : nd->op == TX_OP_RELU6 ? TX_ACT_RELU6
                             : nd->op == TX_OP_SILU  ? TX_ACT_SILU
                                                     : TX_ACT_GELU;
            e->folded[i] = 1;
        }
    }
    return TX_OK;
}

/* Marks relu nodes whose only reader is a max pool (and that are not the output). */
static void find_fusions(tx_exec *e) {
    const tx_model *m = e->m;
    for (int r = 1; r < m->n_nodes - 1; r++) {
        if (m->nodes[r].op != TX_OP_RELU || readers(m, r) != 1 || e->folded[r]) continue;
        for (int i = r + 1; i < m->n_nodes; i++)
            if (m->nodes[i].in[0] == r && m->nodes[i].op == TX_OP_MAXPOOL) e->fused[r] = 1;
    }
}

/* The node whose output a fused relu r stands for. */
static int unfused(const tx_exec *e, int j) {
    while (j > 0 && e->fused[j]) j = e->m->nodes[j].in[0];
    return j;
}

/* Inference: squeeze-excitation's scale x * g (g one value per image and channel) read
 * only by a 1x1 conv on the packed-GEMM path is applied to that conv's weights, image by
 * image (tx_conv2d_forward_packed_gated), and the mul is skipped: no pass over x. Only
 * where scaling the weights (c x oc floats an image) costs less than the pass over x
 * (c x h x w): EfficientNet's blocks at 112 to 14 pixels, not its 7x7 ones. */
static void find_gates(tx_exec *e) {
    const tx_model *m = e->m;
    const int feat = tx_model_feature_node(m);
    for (int i = 1; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        const int g = nd->n_in ? nd->in[0] : 0;
        if (nd->op != TX_OP_CONV2D || nd->dtype != TX_F32 || nd->fq || !e->wpack[i] || e->skip[i] ||
            e->blk_dw[i] || g <= 0 || g == feat || readers(m, g) != 1)
            continue;
        const tx_node *mn = &m->nodes[g];
        if (mn->op != TX_OP_MUL || mn->n_in != 2 || mn->dtype != TX_F32 || mn->fq || e->folded[g])
            continue;
        const tx_node *a = &m->nodes[mn->in[0]], *b = &m->nodes[mn->in[1]];
        if (a->dtype != TX_F32 || b->dtype != TX_F32 || b->oh != 1 || b->ow != 1 || b->oc != a->oc ||
            (a->oh == 1 && a->ow == 1))
            continue;
        const tx_conv_shape s = conv_shape(m, nd, 1, e->threads);
        if (!tx_conv2d_gate_ok(&s) || (int64_t)s.oc >= (int64_t)s.h * s.w) continue;
        e->gate[i] = g + 1;
        e->skip[g] = 1;
    }
}

/* Inference buffers: root[i] is the node whose memory node i's output is (after aliasing),
 * last[r] the last node that reads owner r's memory (nn: kept after the forward: the
 * output and the feature node, which embeddings read). */
static void lifetimes(const tx_exec *e, int *root, int *last) {
    const tx_model *m = e->m;
    const int nn = m->n_nodes;
    for (int i = 0; i < nn; i++) {
        root[i] = aliases_input(e, i) ? root[alias_of(e, i)] : i;
        last[i] = i;
    }
    last[nn - 1] = nn;
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            int r = root[m->nodes[i].in[k]];
            if (last[r] < i) last[r] = i;
        }
    for (int i = 0; i < nn; i++) {
        if (e->blk_dw[i]) { /* a fused block reads its first conv's input */
            int first = e->blk_c1[i] ? e->blk_c1[i] - 1 : e->blk_dw[i] - 1;
            int r = root[m->nodes[first].in[0]];
            if (last[r] < i) last[r] = i;
        }
        if (e->gate[i]) /* a gated conv reads its mul's inputs */
            for (int k = 0; k < 2; k++) {
                int r = root[m->nodes[e->gate[i] - 1].in[k]];
                if (last[r] < i) last[r] = i;
            }
    }
    for (int i = 0; i < nn; i++)
        if (root[i] != i && last[root[i]] < last[i]) last[root[i]] = last[i];
    const int fnode = tx_model_feature_node(m);
    if (fnode > 0) last[root[fnode]] = nn;
    last[root[nn - 1]] = nn;
}

/* Inference: a mul (squeeze-excitation's channel scale) that is the last reader of its
 * first input's memory writes its output over it. The global pool has just read that
 * tensor, so it is in cache; a separate output had to be fetched first (the scale ran at
 * 0.7 ns a float, almost all of it in the stores). */
static int find_inplace(tx_exec *e) {
    const tx_model *m = e->m;
    const int nn = m->n_nodes;
    int *root = malloc((size_t)nn * sizeof(int)), *last = malloc((size_t)nn * sizeof(int));
    if (!root || !last) {
        free(root);
        free(last);
        return TX_ENOMEM;
    }
    lifetimes(e, root, last);
    for (int i = 1; i < nn; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op != TX_OP_MUL || nd->dtype != TX_F32 || nd->fq || nd->n_in != 2 || nd->in[0] <= 0 ||
            m->nodes[nd->in[0]].dtype != TX_F32 || aliases_input(e, i) || e->skip[i])
            continue;
        const int r = root[nd->in[0]];
        if (last[r] != i || r == root[nd->in[1]]) continue;
        e->inplace[i] = 1;
        last[r] = last[i];
        for (int j = i; j < nn; j++)
            if (root[j] == i) root[j] = r;
    }
    free(root);
    free(last);
    return TX_OK;
}

/* Inference memory plan for e->chunk images: offsets (in floats) into one arena. dry:
 * only e->arena_bytes (nothing allocated). */
static int plan_inference(tx_exec *e, int dry, tx_err *err) {
    tx_model *m = e->m;
    int nn = m->n_nodes;
    int *last = malloc((size_t)nn * sizeof(int));
    int *root = malloc((size_t)nn * sizeof(int)); /* buffer owner after aliasing */
    size_t *off = malloc((size_t)nn * sizeof(size_t)), *size = malloc((size_t)nn * sizeof(size_t));
    int *live = malloc((size_t)nn * sizeof(int));
    if (!last || !root || !off || !size || !live) {
        free(last); free(root); free(off); free(size); free(live);
        return tx_err_set(err, TX_ENOMEM, "out of memory (memory plan)");
    }
    lifetimes(e, root, last);
    e->input_direct = 1; /* no node's output is the input's memory (none writes over it) */
    for (int i = 1; i < nn; i++) e->input_direct &= root[i] != 0;
    for (int i = 0; i < nn; i++)
        size[i] = e->skip[i] ? 0 : (node_bytes(&m->nodes[i], e->chunk) + 3) / 4; /* in floats */
    size_t top = 0;
    int n_live = 0;
    for (int i = 0; i < nn; i++) {
        if (root[i] != i) continue;
        /* drop buffers whose last reader ran before node i */
        int w = 0;
        for (int k = 0; k < n_live; k++)
            if (last[live[k]] >= i) live[w++] = live[k];
        n_live = w;
        /* first fit: lowest offset with a gap of size[i] among live buffers */
        size_t cand = 0;
        for (;;) {
            int moved = 0;
            for (int k = 0; k < n_live; k++) {
                int b = live[k];
                size_t s1 = (size[b] + 15) & ~(size_t)15;
                if (cand < off[b] + s1 && off[b] < cand + size[i]) {
                    cand = off[b] + s1;
                    moved = 1;
                }
            }
            if (!moved) break;
        }
        off[i] = cand;
        size_t end = cand + ((size[i] + 15) & ~(size_t)15);
        if (end > top) top = end;
        live[n_live++] = i;
    }
    e->arena_bytes = top * sizeof(float);
    int rc = TX_OK;
    if (dry) {
        free(last); free(root); free(off); free(size); free(live);
        return rc;
    }
    e->arena = own(e, e->arena_bytes);
    if (!e->arena) rc = tx_err_set(err, TX_ENOMEM, "out of memory (activations, %zu bytes)", e->arena_bytes);
    else
        for (int i = 0; i < nn; i++) e->act[i] = (float *)e->arena + off[root[i]];
    free(last); free(root); free(off); free(size); free(live);
    return rc;
}

/* The shapes of a fused block's convs (tx_convdw_forward_packed) for n images, with the
 * executor's activations and residual. */
static tx_conv_shape fused_shape(const tx_exec *e, int j, int n) {
    tx_conv_shape s = conv_shape(e->m, &e->m->nodes[j], n, e->threads);
    s.act = e->conv_act[j];
    if (e->conv_res[j]) s.res = e->act[e->conv_res[j] - 1];
    return s;
}

/* Inference: inverted-residual blocks run fused (tx_convdw_forward_packed). Around each
 * depthwise conv d, with every tensor between read by nothing else:
 *  - the conv before it (an expansion or a stem) when its output is large (>=
 *    TX_CONVDW_MIN floats an image: the 112x112 and 56x56 tensors of MobileNet /
 *    EfficientNet; smaller ones would recompute too many shared rows per band);
 *  - the 1x1 projection after it when its packed weights stay in L2 (<= TX_CONVDW_W3
 *    floats: each band streams them again).
 * The last conv of the block runs it; the others are skipped and get no memory. */
#define TX_CONVDW_MIN (256 * 1024)
#define TX_CONVDW_W3 (64 * 1024)
static void find_blocks(tx_exec *e) {
    const tx_model *m = e->m;
    const int feat = tx_model_feature_node(m);
    for (int d = 1; d < m->n_nodes; d++) {
        const tx_node *nd = &m->nodes[d];
        if (nd->op != TX_OP_CONV2D || nd->dtype != TX_F32 || nd->fq || nd->act || !e->wpack[d] ||
            e->conv_res[d] || nd->groups != nd->out_c || d == feat)
            continue;
        tx_conv_shape sd = fused_shape(e, d, 1), sp, s3;
        /* the first conv */
        int c1 = -1, c3 = -1;
        const int j = nd->in[0];
        if (j > 0 && j != feat && readers(m, j) == 1) {
            const int pw = producer(e, j);
            const tx_node *pn = &m->nodes[pw];
            if (pw > 0 && pw != feat && pn->op == TX_OP_CONV2D && pn->dtype == TX_F32 && !pn->fq &&
                !pn->act && e->wpack[pw] && !e->conv_res[pw] && !e->skip[pw] && !e->blk_dw[pw]) {
                sp = fused_shape(e, pw, 1);
                if ((int64_t)sp.oh * sp.ow * sp.oc >= TX_CONVDW_MIN && tx_convdw_ok(&sp, &sd, NULL))
                    c1 = pw;
            }
        }
        /* the projection: the first 1x1 conv whose input chain leads back to d alone */
        for (int q = d + 1; q < m->n_nodes; q++) {
            const tx_node *qn = &m->nodes[q];
            if (qn->op != TX_OP_CONV2D || qn->n_in < 1 || producer(e, qn->in[0]) != d) continue;
            if (qn->in[0] != d && readers(m, qn->in[0]) != 1) break;
            if (readers(m, d) != 1 || qn->in[0] == feat || qn->dtype != TX_F32 || qn->fq ||
                qn->act || !e->wpack[q])
                break;
            s3 = fused_shape(e, q, 1);
            if ((int64_t)s3.c * s3.oc <= TX_CONVDW_W3 && tx_convdw_ok(c1 >= 0 ? &sp : NULL, &sd, &s3))
                c3 = q;
            break;
        }
        if (c1 < 0 && c3 < 0) continue;
        const int run = c3 >= 0 ? c3 : d;
        e->blk_dw[run] = d + 1;
        e->blk_c1[run] = c1 >= 0 ? c1 + 1 : 0;
        if (c1 >= 0) e->skip[c1] = 1;
        if (c3 >= 0) e->skip[d] = 1;
    }
}

/* Inference: a global average pool whose input a depthwise conv on the fast path
 * produces (through folded batch norms and activations only) is computed from the row
 * sums that conv writes as it goes (tx_conv_shape.rowsum): EfficientNet's squeeze-
 * excitation then reads oh*c floats instead of its block's whole activation. The conv
 * writes the pool's output when it has finished, so every node between the two must be
 * folded into the conv (nothing else runs between them whose memory the pool's output
 * could share). */
static void find_pools(tx_exec *e) {
    const tx_model *m = e->m;
    const int feat = tx_model_feature_node(m);
    for (int g = 1; g < m->n_nodes; g++) {
        const tx_node *gn = &m->nodes[g];
        if (gn->op != TX_OP_GLOBAL_AVGPOOL || is_qnode(gn) || gn->dtype != TX_F32 || gn->fq || gn->act || g == feat)
            continue;
        const int p = producer(e, gn->in[0]);
        const tx_node *pn = &m->nodes[p];
        if (p <= 0 || pn->op != TX_OP_CONV2D || pn->dtype != TX_F32 || pn->fq || e->skip[p] ||
            e->conv_gap[p] || e->gate[p] || (e->blk_dw[p] && e->blk_dw[p] - 1 != p))
            continue;
        int between = 1;
        for (int k = p + 1; k < g; k++) between &= e->folded[k];
        tx_conv_shape s = fused_shape(e, p, 1);
        if (!between || !tx_conv2d_rowsum_ok(&s)) continue;
        e->conv_gap[p] = g + 1;
        e->pooled[g] = 1;
    }
}

int tx_exec_create(tx_model *m, int max_batch, int training, uint64_t seed, tx_exec **out,
                   tx_err *err) {
    return tx_exec_create_opts(m, max_batch, training, seed, NULL, out, err);
}

int tx_exec_create_opts(tx_model *m, int max_batch, int training, uint64_t seed,
                        const tx_exec_opts *opts, tx_exec **out, tx_err *err) {
    *out = NULL;
    if (m->n_nodes < 2 || max_batch < 1)
        return tx_err_set(err, TX_EINVAL, "executor: empty model or batch %d", max_batch);
    tx_exec *e = calloc(1, sizeof *e);
    if (!e) return tx_err_set(err, TX_ENOMEM, "out of memory (executor)");
    e->m = m;
    e->max_batch = max_batch;
    e->training = training;
    e->threads = omp_get_max_threads();
    tx_rng_seed(&e->rng, seed);
    int nn = m->n_nodes;
    e->act = calloc((size_t)nn, sizeof(float *));
    e->grad = calloc((size_t)nn, sizeof(float *));
    e->grad_set = calloc((size_t)nn, 1);
    e->bn_mean = calloc((size_t)nn, sizeof(float *));
    e->bn_invstd = calloc((size_t)nn, sizeof(float *));
    e->argmax = calloc((size_t)nn, sizeof(int32_t *));
    e->mask = calloc((size_t)nn, sizeof(uint8_t *));
    e->pgrad = calloc((size_t)m->n_params + 1, sizeof(float *));
    e->fused = calloc((size_t)nn, 1);
    e->attn = calloc((size_t)nn, sizeof *e->attn);
    e->folded = calloc((size_t)nn, 1);
    e->conv_act = calloc((size_t)nn, sizeof(int));
    e->conv_res = calloc((size_t)nn, sizeof(int));
    e->blk_dw = calloc((size_t)nn, sizeof(int));
    e->blk_c1 = calloc((size_t)nn, sizeof(int));
    e->skip = calloc((size_t)nn, 1);
    e->inplace = calloc((size_t)nn, 1);
    e->gate = calloc((size_t)nn, sizeof(int));
    e->conv_gap = calloc((size_t)nn, sizeof(int));
    e->pooled = calloc((size_t)nn, 1);
    e->fw = calloc((size_t)nn, sizeof(float *));
    e->fb = calloc((size_t)nn, sizeof(float *));
    e->wpack = calloc((size_t)nn, sizeof(float *));
    if (!e->wpack || !e->folded || !e->conv_act || !e->conv_res || !e->blk_dw || !e->blk_c1 || !e->skip || !e->inplace || !e->gate || !e->conv_gap || !e->pooled || !e->fw || !e->fb || !e->attn || !e->fused || !e->act || !e->grad || !e->grad_set || !e->bn_mean || !e->bn_invstd || !e->argmax ||
        !e->mask || !e->pgrad)
        goto nomem;
    if (!training && !(opts && opts->no_fusion) && fold_conv_bn_act(e)) goto nomem;
    for (int i = 1; !training && i < nn; i++) { /* pack inference conv/linear weights once */
        const tx_node *nd = &m->nodes[i];
        if ((nd->op != TX_OP_CONV2D && nd->op != TX_OP_LINEAR) || nd->dtype != TX_F32) continue;
        tx_conv_shape cs = nd->op == TX_OP_LINEAR ? linear_shape(m, nd, max_batch, e->threads)
                                                  : conv_shape(m, nd, max_batch, e->threads);
        if (tx_conv_shape_init(&cs, err)) {
            tx_exec_free(e);
            return tx_err_prefix(err, TX_ESHAPE, "node '%s'", nd->name);
        }
        size_t pf = tx_conv2d_packed_floats(&cs);
        if (!pf) continue;
        if (!(e->wpack[i] = own(e, pf * sizeof(float)))) goto nomem;
        tx_conv2d_pack(e->wpack[i], e->fw[i] ? e->fw[i] : P(e, nd, 0), &cs);
    }
    if (!training && !(opts && opts->no_fusion)) {
        find_blocks(e);
        find_gates(e);
        find_pools(e);
        if (find_inplace(e)) goto nomem;
    }
    find_fusions(e);

    int quantized = 0;
    size_t scratch = 0, biggest = 0;
    for (int i = 0; i < nn; i++) {
        const tx_node *nd = &m->nodes[i];
        size_t f = node_floats(nd, max_batch);
        if (f > biggest) biggest = f;
        quantized |= is_qnode(nd) && i > 0;
        if (nd->op == TX_OP_CONV2D && nd->dtype == TX_F32) {
            tx_conv_shape s = conv_shape(m, nd, max_batch, e->threads);
            size_t sc = e->wpack[i] ? tx_conv2d_packed_scratch_floats(&s) : tx_conv2d_scratch_floats(&s);
            if (sc > scratch) scratch = sc;
            if (e->gate[i] && (sc = tx_conv2d_gated_scratch_floats(&s)) > scratch) scratch = sc;
            if (e->blk_dw[i]) {
                const int d = e->blk_dw[i] - 1, c1 = e->blk_c1[i] - 1;
                tx_conv_shape sp = c1 >= 0 ? conv_shape(m, &m->nodes[c1], max_batch, e->threads) : s;
                tx_conv_shape sd = conv_shape(m, &m->nodes[d], max_batch, e->threads);
                sc = tx_convdw_scratch_floats(c1 >= 0 ? &sp : NULL, &sd, d != i ? &s : NULL);
                if (sc > scratch) scratch = sc;
            }
        } else if (nd->op == TX_OP_LINEAR && e->wpack[i]) {
            tx_conv_shape s = linear_shape(m, nd, max_batch, e->threads);
            size_t sc = tx_conv2d_packed_scratch_floats(&s);
            if (sc > scratch) scratch = sc;
        } else if (nd->op == TX_OP_ATTENTION) {
            const tx_node *a = &m->nodes[nd->in[0]];
            tx_attn_shape as = {.n = max_batch, .t = a->oh, .heads = nd->heads,
                                .hd = nd->oc / nd->heads, .ldqkv = a->oc, .threads = e->threads};
            int rc = tx_attn_shape_init(&as, err);
            if (rc) { tx_exec_free(e); return tx_err_prefix(err, rc, "node '%s'", nd->name); }
            e->attn[i] = as;
            size_t sc = tx_attention_scratch_floats(&as);
            if (sc > scratch) scratch = sc;
        }
    }
    if (quantized && training) {
        tx_exec_free(e);
        return tx_err_set(err, TX_EUNSUP, "a quantized (8-bit) model cannot be trained; convert it "
                          "with 'taxon convert --float' and train the float model");
    }
    if (!(e->scratch = own(e, (scratch + 16) * sizeof(float)))) goto nomem;
    size_t rowsums = 0;
    for (int i = 0; i < nn; i++)
        if (e->conv_gap[i]) {
            const tx_node *nd = &m->nodes[i];
            size_t f = (size_t)max_batch * nd->oh * nd->oc;
            if (f > rowsums) rowsums = f;
        }
    if (rowsums && !(e->rowsum = own(e, rowsums * sizeof(float)))) goto nomem;
    if (!(e->input = own(e, node_bytes(&m->nodes[0], max_batch)))) goto nomem;
    if (quantized) {
        if (!(e->qscratch = own(e, tx_qexec_scratch_bytes(m) + 64))) goto nomem;
        if (m->nodes[nn - 1].dtype != TX_F32 &&
            !(e->out_f = own(e, node_floats(&m->nodes[nn - 1], max_batch) * sizeof(float))))
            goto nomem;
    }

    if (!training) {
        /* chunk: the caller's, or as many images as keep the planned activations within
         * TX_CHUNK_BYTES (measured: mobilenet_v2 / efficientnet_b0 at batch 16 ran
         * 10-15% faster in chunks of 2-4 than whole; with the fused blocks an image of
         * MobileNetV2 plans 1.4 MB, so chunks of 5). But every chunk streams all the
         * weights, from memory once they outgrow the cache (TX_CHUNK_WCACHE): then a chunk
         * takes at least weights / activations-per-image images (resnet50, 100 MB of
         * weights and 11 MB of activations an image, ran 10-25% slower at batch 16 in
         * chunks of 1 than whole while other tenants shared the cache; ViT-B 4% slower).
         * The batch is then split into equal chunks. */
        e->chunk = 1;
        int rc = plan_inference(e, 1, err);
        if (rc) { tx_exec_free(e); return rc; }
        if (opts && opts->chunk > 0) {
            e->chunk = opts->chunk;
        } else {
            const size_t per = e->arena_bytes > 0 ? e->arena_bytes : 1;
            size_t wbytes = 0;
            for (int i = 0; i < m->n_params; i++)
                wbytes += (size_t)tx_tensor_numel(&m->params[i].t) * tx_dtype_size(m->params[i].t.dtype);
            size_t c = per >= TX_CHUNK_BYTES ? 1 : TX_CHUNK_BYTES / per;
            if (wbytes > TX_CHUNK_WCACHE && (wbytes + per - 1) / per > c) c = (wbytes + per - 1) / per;
            if (c >= (size_t)max_batch) {
                e->chunk = max_batch;
            } else {
                const int nchunks = (int)((max_batch + c - 1) / c);
                e->chunk = (max_batch + nchunks - 1) / nchunks;
            }
        }
        if (e->chunk > max_batch) e->chunk = max_batch;
        rc = plan_inference(e, 0, err);
        if (rc) { tx_exec_free(e); return rc; }
        if (e->chunk < max_batch) {
            int fnode = tx_model_feature_node(m);
            if (!(e->out_all = own(e, node_bytes(&m->nodes[nn - 1], max_batch)))) goto nomem;
            if (fnode > 0 && fnode != nn - 1 &&
                !(e->feat_all = own(e, node_bytes(&m->nodes[fnode], max_batch))))
                goto nomem;
        }
    } else {
        if (!(e->tmp = own(e, biggest * sizeof(float)))) goto nomem;
        for (int i = 0; i < nn; i++) {
            const tx_node *nd = &m->nodes[i];
            size_t f = node_floats(nd, max_batch);
            if (i == 0) e->act[i] = e->input;
            else if (aliases_input(e, i)) e->act[i] = e->act[nd->in[0]];
            else if (!(e->act[i] = own(e, f * sizeof(float)))) goto nomem;
            /* a flatten that is its input's only reader shares the input's gradient */
            if (i > 0 && (nd->op == TX_OP_FLATTEN || nd->op == TX_OP_RESHAPE) &&
                readers(m, nd->in[0]) == 1 && nd->in[0] > 0)
                e->grad[i] = e->grad[nd->in[0]];
            else if (i > 0 && !(e->grad[i] = own(e, f * sizeof(float)))) goto nomem;
            if (nd->op == TX_OP_BATCHNORM) {
                if (!(e->bn_mean[i] = own(e, (size_t)nd->oc * sizeof(float)))) goto nomem;
                if (!(e->bn_invstd[i] = own(e, (size_t)nd->oc * sizeof(float)))) goto nomem;
            } else if (nd->op == TX_OP_MAXPOOL) {
                if (!(e->argmax[i] = own(e, f * sizeof(int32_t)))) goto nomem;
            } else if (nd->op == TX_OP_DROPOUT) {
                if (!(e->mask[i] = own(e, f))) goto nomem;
            } else if (nd->op == TX_OP_DROPPATH) {
                if (!(e->mask[i] = own(e, (size_t)max_batch))) goto nomem;
            } else if (nd->op == TX_OP_LAYERNORM) {
                size_t rows = (size_t)max_batch * nd->oh * nd->ow;
                if (!(e->bn_mean[i] = own(e, rows * sizeof(float)))) goto nomem;
                if (!(e->bn_invstd[i] = own(e, rows * sizeof(float)))) goto nomem;
            }
        }
        for (int p = 0; p < m->n_params; p++)
            if (m->params[p].trainable &&
                !(e->pgrad[p] = own(e, tx_tensor_nbytes(&m->params[p].t))))
                goto nomem;
    }
    *out = e;
    return TX_OK;
nomem:
    tx_exec_free(e);
    return tx_err_set(err, TX_ENOMEM, "out of memory creating the executor (batch %d)", max_batch);
}

size_t tx_exec_peak_bytes(const tx_exec *e) { return e->peak_bytes; }
size_t tx_exec_activation_bytes(const tx_exec *e) { return e->arena_bytes; }
void tx_exec_seed(tx_exec *e, uint64_t seed) { tx_rng_seed(&e->rng, seed); }
void tx_exec_profile(tx_exec *e, double *times) { e->prof = times; }
float *tx_exec_param_grad(tx_exec *e, int i) {
    return (i >= 0 && i < e->m->n_params) ? e->pgrad[i] : NULL;
}
const void *tx_exec_node_output(tx_exec *e, int node) {
    if (node < 0 || node >= e->m->n_nodes) return NULL;
    if (e->out_all && node == e->m->n_nodes - 1) return e->out_all;
    if (e->feat_all && node == tx_model_feature_node(e->m)) return e->feat_all;
    return e->act[node];
}

static float *P(tx_exec *e, const tx_node *nd, int k) {
    return k < nd->n_param ? (float *)e->m->params[nd->param[k]].t.data : NULL;
}

/* Fused activation of a float node, in place on its output. */
static void act_forward(float *y, int64_t cnt, int act) {
    switch (act) {
    case TX_ACT_RELU: tx_relu_forward(y, y, cnt); break;
    case TX_ACT_RELU6: tx_relu6_forward(y, y, cnt); break;
    case TX_ACT_RELU_N1_TO_1: tx_clamp_forward(y, y, cnt, -1.0f, 1.0f); break;
    case TX_ACT_SILU: tx_silu_forward(y, y, cnt); break;
    case TX_ACT_GELU: tx_gelu_forward(y, y, cnt); break;
    default: break;
    }
}

/* Its backward, in place on the node's own output gradient dy (read only by this node). */
static void act_backward(float *dy, const float *y, int64_t cnt, int act) {
    switch (act) {
    case TX_ACT_RELU: tx_relu_backward(dy, dy, y, cnt); break;
    case TX_ACT_RELU6: tx_relu6_backward(dy, dy, y, cnt); break;
    case TX_ACT_RELU_N1_TO_1: tx_clamp_backward(dy, dy, y, cnt, -1.0f, 1.0f); break;
    default: break;
    }
}

static void run_nodes(tx_exec *e, int n);

/* The global average pool that conv i computed row sums for (find_pools): the mean over
 * the rows, summed in double in row order. */
static void pool_rows(tx_exec *e, int i, int n) {
    const tx_node *nd = &e->m->nodes[i];
    float *y = e->act[e->conv_gap[i] - 1];
    const int64_t oh = nd->oh, oc = nd->oc;
    const double div = (double)nd->oh * nd->ow;
    for (int b = 0; b < n; b++)
        for (int64_t o = 0; o < oc; o++) {
            double acc = 0;
            for (int64_t r = 0; r < oh; r++) acc += e->rowsum[((int64_t)b * oh + r) * oc + o];
            y[(int64_t)b * oc + o] = (float)(acc / div);
        }
}

const float *tx_exec_forward(tx_exec *e, const void *input, int n) {
    tx_model *m = e->m;
    if (n < 1) n = 1;
    if (n > e->max_batch) n = e->max_batch;
    e->n = n;
    const tx_node *in0 = &m->nodes[0], *last = &m->nodes[m->n_nodes - 1];
    if (e->training || e->chunk >= e->max_batch) {
        float *own0 = e->act[0];
        if (!e->training && e->input_direct) e->act[0] = (float *)(uintptr_t)input; /* only read */
        else memcpy(e->act[0], input, node_bytes(in0, n));
        run_nodes(e, n);
        e->act[0] = own0;
        if (e->out_f) {
            tx_dequantize(e->out_f, e->act[m->n_nodes - 1], (int64_t)node_floats(last, n),
                          last->dtype == TX_I8 ? TX_QT_S8 : TX_QT_U8,
                          (tx_qparam){last->qscale, last->qzp});
            return e->out_f;
        }
        return e->act[m->n_nodes - 1];
    }
    const int fnode = tx_model_feature_node(m);
    const size_t in1 = node_bytes(in0, 1), out1 = node_bytes(last, 1);
    const size_t feat1 = fnode > 0 ? node_bytes(&m->nodes[fnode], 1) : 0;
    for (int c0 = 0; c0 < n; c0 += e->chunk) {
        const int cn = n - c0 < e->chunk ? n - c0 : e->chunk;
        memcpy(e->act[0], (const uint8_t *)input + c0 * in1, cn * in1);
        run_nodes(e, cn);
        memcpy((uint8_t *)e->out_all + c0 * out1, e->act[m->n_nodes - 1], cn * out1);
        if (e->feat_all) memcpy((uint8_t *)e->feat_all + c0 * feat1, e->act[fnode], cn * feat1);
        if (e->out_f)
            tx_dequantize(e->out_f + (size_t)c0 * node_floats(last, 1), e->act[m->n_nodes - 1],
                          (int64_t)node_floats(last, cn), last->dtype == TX_I8 ? TX_QT_S8 : TX_QT_U8,
                          (tx_qparam){last->qscale, last->qzp});
    }
    return e->out_f ? e->out_f : e->out_all;
}

/* Nodes 1.. on the n images in act[0]. */
static void run_nodes(tx_exec *e, int n) {
    tx_model *m = e->m;
    for (int i = 1; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        double t0 = e->prof ? tx_now() : 0;
        float *y = e->act[i];
        const float *x = e->act[nd->in[0]];
        const tx_node *a = &m->nodes[nd->in[0]];
        int64_t cnt = (int64_t)node_floats(nd, n);
        int64_t rows = (int64_t)n * nd->oh * nd->ow;
        int conv_did_act = 0;
        if (is_qnode(nd)) {
            if (!aliases_input(e, i)) {
                const void *xs[TX_MAX_NODE_INPUTS];
                for (int k = 0; k < nd->n_in; k++) xs[k] = e->act[nd->in[k]];
                tx_qexec_node(m, i, y, xs, n, e->qscratch);
            }
            if (e->prof) e->prof[2 * i] += tx_now() - t0;
            continue;
        }
        switch (nd->op) {
        case TX_OP_CONV2D: {
            if (e->skip[i]) break; /* computed inside a fused block (find_blocks) */
            tx_conv_shape s = conv_shape(m, nd, n, e->threads);
            if (e->blk_dw[i]) {
                const int d = e->blk_dw[i] - 1, c1 = e->blk_c1[i] - 1;
                const tx_node *dn = &m->nodes[d], *fn = &m->nodes[c1 >= 0 ? c1 : d];
                tx_conv_shape sp = c1 >= 0 ? fused_shape(e, c1, n) : s, sd = fused_shape(e, d, n);
                tx_conv_shape s3 = fused_shape(e, i, n);
                if (e->conv_gap[i]) sd.rowsum = e->rowsum;
#define TX_BIAS(j, node) (e->fb[j] ? e->fb[j] : (node)->bias ? P(e, node, 1) : NULL)
                tx_convdw_forward_packed(y, e->act[fn->in[0]], c1 >= 0 ? e->wpack[c1] : NULL,
                                         c1 >= 0 ? TX_BIAS(c1, fn) : NULL, c1 >= 0 ? &sp : NULL,
                                         e->wpack[d], TX_BIAS(d, dn), &sd,
                                         d != i ? e->wpack[i] : NULL, d != i ? TX_BIAS(i, nd) : NULL,
                                         d != i ? &s3 : NULL, e->scratch);
#undef TX_BIAS
                conv_did_act = 1;
                if (e->conv_gap[i]) pool_rows(e, i, n);
                break;
            }
            if (!e->training) {
                s.act = e->conv_act[i] ? e->conv_act[i] : nd->act;
                if (e->conv_res[i]) s.res = e->act[e->conv_res[i] - 1];
                if (e->conv_gap[i]) s.rowsum = e->rowsum;
            }
            const float *b = e->fb[i] ? e->fb[i] : nd->bias ? P(e, nd, 1) : NULL;
            if (e->gate[i]) {
                const tx_node *mn = &m->nodes[e->gate[i] - 1];
                tx_conv2d_forward_packed_gated(y, e->act[mn->in[0]], e->act[mn->in[1]], e->wpack[i], b, &s,
                                               e->scratch);
            } else if (e->wpack[i]) tx_conv2d_forward_packed(y, x, e->wpack[i], b, &s, e->scratch);
            else tx_conv2d_forward(y, x, e->fw[i] ? e->fw[i] : P(e, nd, 0), b, &s, e->scratch);
            if (s.act) conv_did_act = 1; /* the conv applied its activation */
            if (e->conv_gap[i]) pool_rows(e, i, n);
            break;
        }
        case TX_OP_BATCHNORM:
            if (e->folded[i]) break;
            if (e->training)
                tx_batchnorm_forward_train(y, e->bn_mean[i], e->bn_invstd[i], P(e, nd, 2),
                                           P(e, nd, 3), x, P(e, nd, 0), P(e, nd, 1), rows,
                                           nd->oc, nd->eps, nd->momentum);
            else
                tx_batchnorm_forward_eval(y, x, P(e, nd, 0), P(e, nd, 1), P(e, nd, 2),
                                          P(e, nd, 3), rows, nd->oc, nd->eps);
            break;
        case TX_OP_RELU:
            if (!e->fused[i] && !e->folded[i]) tx_relu_forward(y, x, cnt);
            break;
        case TX_OP_MAXPOOL: {
            tx_pool_shape s = pool_shape(m, nd, n);
            tx_maxpool_forward(y, e->training ? e->argmax[i] : NULL, x, &s);
            if (e->fused[nd->in[0]]) tx_relu_forward(y, y, cnt);
            break;
        }
        case TX_OP_AVGPOOL: {
            tx_pool_shape s = pool_shape(m, nd, n);
            tx_avgpool_forward(y, x, &s);
            break;
        }
        case TX_OP_GLOBAL_AVGPOOL:
            if (!e->pooled[i]) tx_global_avgpool_forward(y, x, n, a->oh * a->ow, a->oc);
            break;
        case TX_OP_LINEAR:
            if (e->wpack[i]) {
                tx_conv_shape s = linear_shape(m, nd, n, e->threads);
                s.act = e->conv_act[i];
                if (e->conv_res[i]) s.res = e->act[e->conv_res[i] - 1];
                tx_conv2d_forward_packed(y, x, e->wpack[i], nd->bias ? P(e, nd, 1) : NULL, &s,
                                         e->scratch);
                if (s.act) conv_did_act = 1;
            } else { /* (unpacked: the folded residual and activation as passes) */
                tx_linear_forward(y, x, P(e, nd, 0), nd->bias ? P(e, nd, 1) : NULL, rows, a->oc, nd->oc);
                if (e->conv_res[i]) tx_add_forward(y, y, e->act[e->conv_res[i] - 1], cnt);
                if (e->conv_act[i]) {
                    act_forward(y, cnt, e->conv_act[i]);
                    conv_did_act = 1;
                }
            }
            break;
        case TX_OP_DROPOUT:
            if (e->training) tx_dropout_forward(y, e->mask[i], x, cnt, nd->p, &e->rng);
            else if (y != x) memcpy(y, x, (size_t)cnt * sizeof(float));
            break;
        case TX_OP_DROPPATH:
            if (e->training) tx_droppath_forward(y, e->mask[i], x, n, cnt / n, nd->p, &e->rng);
            else if (y != x) memcpy(y, x, (size_t)cnt * sizeof(float));
            break;
        case TX_OP_FLATTEN:
        case TX_OP_RESHAPE:
            if (y != x) memcpy(y, x, (size_t)cnt * sizeof(float));
            break;
        case TX_OP_ADD:
            if (!e->folded[i]) tx_add_forward(y, x, e->act[nd->in[1]], cnt);
            break;
        case TX_OP_MUL: {
            if (e->skip[i]) break; /* applied by the conv that reads it (find_gates) */
            const tx_node *b = &m->nodes[nd->in[1]];
            if (b->oh == 1 && b->ow == 1 && (nd->oh != 1 || nd->ow != 1))
                tx_chanmul_forward(y, x, e->act[nd->in[1]], n, (int64_t)nd->oh * nd->ow, nd->oc);
            else
                tx_mul_forward(y, x, e->act[nd->in[1]], cnt);
            break;
        }
        case TX_OP_RELU6:
            if (!e->folded[i]) tx_relu6_forward(y, x, cnt);
            break;
        case TX_OP_SIGMOID: tx_sigmoid_forward(y, x, cnt); break;
        case TX_OP_SILU:
            if (!e->folded[i]) tx_silu_forward(y, x, cnt);
            break;
        case TX_OP_GELU:
            if (!e->folded[i]) tx_gelu_forward(y, x, cnt);
            break;
        case TX_OP_HARDSWISH: tx_hardswish_forward(y, x, cnt); break;
        case TX_OP_HARDSIGMOID: tx_hardsigmoid_forward(y, x, cnt); break;
        case TX_OP_SOFTMAX: tx_softmax_forward(y, x, (int)rows, nd->oc); break;
        case TX_OP_LAYERNORM:
            tx_layernorm_forward(y, e->training ? e->bn_mean[i] : NULL,
                                 e->training ? e->bn_invstd[i] : NULL, x, P(e, nd, 0), P(e, nd, 1),
                                 rows, nd->oc, nd->eps);
            break;
        case TX_OP_LAYERSCALE: tx_layerscale_forward(y, x, P(e, nd, 0), rows, nd->oc); break;
        case TX_OP_CLS_POS:
            tx_cls_pos_forward(y, x, nd->cls ? P(e, nd, 0) : NULL, P(e, nd, nd->cls ? 1 : 0), n,
                               a->oh * a->ow, nd->oc);
            break;
        case TX_OP_ATTENTION: {
            tx_attn_shape s = e->attn[i];
            s.n = n;
            int d = nd->oc;
            tx_attention_forward(y, NULL, x, x + d, x + 2 * d, &s, e->scratch);
            break;
        }
        case TX_OP_TOKEN0: tx_token0_forward(y, x, n, a->oh, a->oc); break;
        case TX_OP_CONCAT: {
            int off = 0;
            for (int k = 0; k < nd->n_in; k++) {
                const tx_node *b = &m->nodes[nd->in[k]];
                tx_channel_copy(y + off, nd->oc, e->act[nd->in[k]], b->oc, rows, b->oc);
                off += b->oc;
            }
            break;
        }
        case TX_OP_PAD:
            tx_pad_forward(y, x, n, a->oh, a->ow, a->oc, nd->pad_t, nd->pad_l, nd->pad_b, nd->pad_r);
            break;
        default: break;
        }
        if (nd->act && !conv_did_act) act_forward(y, cnt, nd->act);
        if (nd->fq)
            tx_fakequant_forward(y, y, cnt, nd->qscale, nd->qzp, nd->fq == TX_U8 ? 0 : -128,
                                 nd->fq == TX_U8 ? 255 : 127);
        if (e->prof) e->prof[2 * i] += tx_now() - t0;
    }
}

/* Where the gradient for node j goes: straight into its buffer the first time,
 * into tmp (then added) when another consumer already wrote it. NULL: not needed. */
static float *grad_target(tx_exec *e, int j) {
    if (j == 0) return NULL;
    return e->grad_set[j] ? e->tmp : e->grad[j];
}

static void grad_done(tx_exec *e, int j, float *dst) {
    if (!dst) return;
    if (dst == e->tmp) {
        float *g = e->grad[j];
        int64_t cnt = (int64_t)node_floats(&e->m->nodes[j], e->n);
        for (int64_t k = 0; k < cnt; k++) g[k] += dst[k];
    }
    e->grad_set[j] = 1;
}

void tx_exec_backward(tx_exec *e, const float *dout) {
    tx_model *m = e->m;
    int n = e->n, last = m->n_nodes - 1;
    memset(e->grad_set, 0, (size_t)m->n_nodes);
    memcpy(e->grad[last], dout, node_floats(&m->nodes[last], n) * sizeof(float));
    e->grad_set[last] = 1;
    for (int i = last; i >= 1; i--) {
        if (!e->grad_set[i]) continue;
        double t0 = e->prof ? tx_now() : 0;
        const tx_node *nd = &m->nodes[i];
        float *dy = e->grad[i];
        int j = unfused(e, nd->in[0]);
        const tx_node *a = &m->nodes[j];
        const float *x = e->act[j];
        int64_t cnt = (int64_t)node_floats(nd, n);
        int64_t rows = (int64_t)n * nd->oh * nd->ow;
        if (nd->fq)
            tx_fakequant_backward(dy, dy, e->act[i], cnt, nd->qscale, nd->qzp, nd->fq == TX_U8 ? 0 : -128,
                                  nd->fq == TX_U8 ? 255 : 127);
        if (nd->act) act_backward(dy, e->act[i], cnt, nd->act);
        if (nd->n_in > 1) { /* add, mul, concat: one gradient per input */
            for (int k = 0; k < nd->n_in; k++) {
                int jk = nd->in[k];
                const tx_node *b = &m->nodes[jk];
                float *dk = grad_target(e, jk);
                if (!dk) continue;
                if (nd->op == TX_OP_ADD) {
                    memcpy(dk, dy, (size_t)cnt * sizeof(float));
                } else if (nd->op == TX_OP_MUL) {
                    const float *x0 = e->act[nd->in[0]], *x1 = e->act[nd->in[1]];
                    const tx_node *g = &m->nodes[nd->in[1]];
                    int gated = g->oh == 1 && g->ow == 1 && (nd->oh != 1 || nd->ow != 1);
                    if (gated && k == 1) /* the gate [n, c] */
                        tx_chanmul_backward(NULL, dk, dy, x0, x1, n, (int64_t)nd->oh * nd->ow, nd->oc);
                    else if (gated) /* the gated input */
                        tx_chanmul_backward(dk, NULL, dy, x0, x1, n, (int64_t)nd->oh * nd->ow, nd->oc);
                    else /* d(x0 * x1)/dx_k = the other factor */
                        tx_mul_backward(dk, NULL, dy, e->act[jk], k ? x0 : x1, cnt);
                } else { /* concat */
                    int off = 0;
                    for (int q = 0; q < k; q++) off += m->nodes[nd->in[q]].oc;
                    tx_channel_copy(dk, b->oc, dy + off, nd->oc, rows, b->oc);
                }
                grad_done(e, jk, dk);
            }
            if (e->prof) e->prof[2 * i + 1] += tx_now() - t0;
            continue;
        }
        float *dx = grad_target(e, j);
        switch (nd->op) {
        case TX_OP_CONV2D: {
            tx_conv_shape s = conv_shape(m, nd, n, e->threads);
            tx_conv2d_backward(dx, e->pgrad[nd->param[0]], nd->bias ? e->pgrad[nd->param[1]] : NULL,
                               dy, x, P(e, nd, 0), &s, e->scratch);
            break;
        }
        case TX_OP_BATCHNORM:
            tx_batchnorm_backward(dx ? dx : e->tmp, e->pgrad[nd->param[0]], e->pgrad[nd->param[1]],
                                  dy, x, P(e, nd, 0), e->bn_mean[i], e->bn_invstd[i], rows, nd->oc);
            break;
        case TX_OP_RELU:
            if (dx) tx_relu_backward(dx, dy, e->act[i], cnt);
            break;
        case TX_OP_MAXPOOL: {
            tx_pool_shape s = pool_shape(m, nd, n);
            if (dx && e->fused[nd->in[0]]) tx_maxpool_relu_backward(dx, dy, e->act[i], e->argmax[i], &s);
            else if (dx) tx_maxpool_backward(dx, dy, e->argmax[i], &s);
            break;
        }
        case TX_OP_AVGPOOL: {
            tx_pool_shape s = pool_shape(m, nd, n);
            if (dx) tx_avgpool_backward(dx, dy, &s);
            break;
        }
        case TX_OP_GLOBAL_AVGPOOL:
            if (dx) tx_global_avgpool_backward(dx, dy, n, a->oh * a->ow, a->oc);
            break;
        case TX_OP_LINEAR:
            tx_linear_backward(dx, e->pgrad[nd->param[0]], nd->bias ? e->pgrad[nd->param[1]] : NULL,
                               dy, x, P(e, nd, 0), rows, a->oc, nd->oc);
            break;
        case TX_OP_DROPOUT:
            if (dx) tx_dropout_backward(dx, dy, e->mask[i], cnt, nd->p);
            break;
        case TX_OP_DROPPATH:
            if (dx) tx_droppath_backward(dx, dy, e->mask[i], n, cnt / n, nd->p);
            break;
        case TX_OP_FLATTEN:
        case TX_OP_RESHAPE:
            if (dx && dx != dy) memcpy(dx, dy, (size_t)cnt * sizeof(float));
            break;
        case TX_OP_RELU6: if (dx) tx_relu6_backward(dx, dy, e->act[i], cnt); break;
        case TX_OP_SIGMOID: if (dx) tx_sigmoid_backward(dx, dy, e->act[i], cnt); break;
        case TX_OP_SILU: if (dx) tx_silu_backward(dx, dy, x, cnt); break;
        case TX_OP_GELU: if (dx) tx_gelu_backward(dx, dy, x, cnt); break;
        case TX_OP_HARDSWISH: if (dx) tx_hardswish_backward(dx, dy, x, cnt); break;
        case TX_OP_HARDSIGMOID: if (dx) tx_hardsigmoid_backward(dx, dy, x, cnt); break;
        case TX_OP_SOFTMAX: if (dx) tx_softmax_backward(dx, dy, e->act[i], (int)rows, nd->oc); break;
        case TX_OP_LAYERNORM:
            tx_layernorm_backward(dx, e->pgrad[nd->param[0]], e->pgrad[nd->param[1]], dy, x,
                                  P(e, nd, 0), e->bn_mean[i], e->bn_invstd[i], rows, nd->oc);
            break;
        case TX_OP_LAYERSCALE:
            tx_layerscale_backward(dx, e->pgrad[nd->param[0]], dy, x, P(e, nd, 0), rows, nd->oc);
            break;
        case TX_OP_CLS_POS:
            tx_cls_pos_backward(dx, nd->cls ? e->pgrad[nd->param[0]] : NULL,
                                e->pgrad[nd->param[nd->cls ? 1 : 0]], dy, nd->cls, n, a->oh * a->ow,
                                nd->oc);
            break;
        case TX_OP_ATTENTION:
            if (dx) {
                tx_attn_shape s = e->attn[i];
                s.n = n;
                int d = nd->oc;
                tx_attention_backward(dx, dx + d, dx + 2 * d, dy, NULL, x, x + d, x + 2 * d, &s,
                                      e->scratch);
            }
            break;
        case TX_OP_TOKEN0: if (dx) tx_token0_backward(dx, dy, n, a->oh, a->oc); break;
        case TX_OP_PAD:
            if (dx) tx_pad_backward(dx, dy, n, a->oh, a->ow, a->oc, nd->pad_t, nd->pad_l, nd->pad_b, nd->pad_r);
            break;
        default: break;
        }
        grad_done(e, j, dx);
        if (e->prof) e->prof[2 * i + 1] += tx_now() - t0;
    }
}
