/* dataset.c - opening labelled image sets by spec (see dataset.h). */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const tx_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define TX_PATH_MAX 4096

void tx_dataset_free(tx_dataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    if (d->class_names) {
        for (int i = 0; i < d->num_classes; i++) free(d->class_names[i]);
        free(d->class_names);
    }
    memset(d, 0, sizeof *d);
}

static int is_dir(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

/* One images+labels pair, keyed by the common prefix ("train-", "t10k-", ""). */
typedef struct {
    char prefix[256];
    char images[256], labels[256];
    int images_gz, labels_gz; /* 1 when the chosen file is gzip'd (a raw one wins) */
} idx_pair;

typedef struct {
    idx_pair *v;
    int n, cap;
    int any; /* any IDX-looking file at all */
} pair_list;

/* Classifies one directory entry; 1 = image, 2 = label, 0 = neither. */
static int idx_kind(const char *fn, size_t *prefix_len, int *gz) {
    size_t n = strlen(fn);
    *gz = 0;
    if (ends_with(fn, n, ".gz")) {
        *gz = 1;
        n -= 3;
    }
    static const char *const img[] = {"images-idx3-ubyte", "images.idx3-ubyte"};
    static const char *const lab[] = {"labels-idx1-ubyte", "labels.idx1-ubyte"};
    for (int i = 0; i < 2; i++) {
        if (ends_with(fn, n, img[i])) {
            *prefix_len = n - strlen(img[i]);
            return 1;
        }
        if (ends_with(fn, n, lab[i])) {
            *prefix_len = n - strlen(lab[i]);
            return 2;
        }
    }
    return 0;
}

static int scan_dir(const char *dir, pair_list *pl, tx_err *err) {
    DIR *d = opendir(dir);
    if (!d) return tx_err_set(err, TX_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t plen;
        int gz, kind = idx_kind(e->d_name, &plen, &gz);
        if (!kind) continue;
        pl->any = 1;
        if (strlen(e->d_name) >= sizeof pl->v[0].images || plen >= sizeof pl->v[0].prefix)
            continue; /* absurd names cannot be ours */
        int k;
        for (k = 0; k < pl->n; k++)
            if (strlen(pl->v[k].prefix) == plen && memcmp(pl->v[k].prefix, e->d_name, plen) == 0)
                break;
        if (k == pl->n) {
            if (pl->n == pl->cap) {
                int nc = pl->cap ? pl->cap * 2 : 8;
                idx_pair *nv = realloc(pl->v, sizeof *nv * (size_t)nc);
                if (!nv) {
                    closedir(d);
                    return tx_err_set(err, TX_ENOMEM, "%s: out of memory listing files", dir);
                }
                pl->v = nv;
                pl->cap = nc;
            }
            memset(&pl->v[k], 0, sizeof pl->v[k]);
            memcpy(pl->v[k].prefix, e->d_name, plen);
            pl->v[k].prefix[plen] = 0;
            pl->n++;
        }
        idx_pair *p = &pl->v[k];
        char *slot = kind == 1 ? p->images : p->labels;
        int *slot_gz = kind == 1 ? &p->images_gz : &p->labels_gz;
        if (!slot[0] || (*slot_gz && !gz)) { /* prefer the raw file over the .gz */
            snprintf(slot, sizeof p->images, "%s", e->d_name);
            *slot_gz = gz;
        }
    }
    closedir(d);
    return TX_OK;
}

static int pair_cmp(const void *a, const void *b) {
    return strcmp(((const idx_pair *)a)->prefix, ((const idx_pair *)b)->prefix);
}

static int prefix_in_split(const char *prefix, const char *split) {
    if (!split) return 1;
    if (strcmp(split, "train") == 0) return strncmp(prefix, "train", 5) == 0;
    return strncmp(prefix, "t10k", 4) == 0 || strncmp(prefix, "test", 4) == 0;
}

/* Opens the one IDX pair in `dir` (of `split` when non-NULL). */
static int open_folder(const char *dir, const char *split, tx_dataset *out, tx_err *err) {
    pair_list pl = {0};
    int rc = scan_dir(dir, &pl, err);
    if (rc) return rc;
    if (!pl.any) {
        free(pl.v);
        return tx_err_set(err, TX_EIO,
                          "%s: no IDX files found (looked for *images-idx3-ubyte[.gz] and "
                          "*labels-idx1-ubyte[.gz])",
                          dir);
    }
    if (pl.n > 1) qsort(pl.v, (size_t)pl.n, sizeof *pl.v, pair_cmp); /* stable messages */
    int chosen = -1, matches = 0;
    char names[512] = "";
    size_t nl = 0;
    for (int k = 0; k < pl.n; k++) {
        idx_pair *p = &pl.v[k];
        if (!prefix_in_split(p->prefix, split)) continue;
        if (!p->images[0] || !p->labels[0]) {
            const char *have = p->images[0] ? p->images : p->labels;
            rc = tx_err_set(err, TX_EIO, "%s: found %s but no matching %s%s[.gz]", dir, have,
                            p->prefix,
                            p->images[0] ? "labels-idx1-ubyte" : "images-idx3-ubyte");
            free(pl.v);
            return rc;
        }
        matches++;
        chosen = k;
        int w = snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "",
                         p->prefix[0] ? p->prefix : "(no prefix)");
        if (w > 0 && (size_t)w < sizeof names - nl) nl += (size_t)w;
    }
    if (matches == 0) {
        free(pl.v);
        return tx_err_set(err, TX_EIO,
                          "%s: no IDX pair for split \"%s\" (looked for %s*images-idx3-ubyte[.gz] "
                          "and its labels)",
                          dir, split ? split : "", split && strcmp(split, "train") == 0
                                                       ? "train"
                                                       : "t10k or test");
    }
    if (matches > 1) {
        free(pl.v);
        return tx_err_set(err, TX_EINVAL,
                          "%s holds %d IDX image/label pairs (%s); choose one with %s:train or "
                          "%s:test",
                          dir, matches, names, dir, dir);
    }
    char ip[TX_PATH_MAX], lp[TX_PATH_MAX];
    int a = snprintf(ip, sizeof ip, "%s/%s", dir, pl.v[chosen].images);
    int b = snprintf(lp, sizeof lp, "%s/%s", dir, pl.v[chosen].labels);
    free(pl.v);
    if (a < 0 || b < 0 || (size_t)a >= sizeof ip || (size_t)b >= sizeof lp)
        return tx_err_set(err, TX_EINVAL, "%s: path too long", dir);
    return tx_idx_load(ip, lp, out, err);
}

int tx_dataset_open(const char *spec, tx_dataset *out, tx_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec || !spec[0]) return tx_err_set(err, TX_EINVAL, "dataset spec is empty");
    size_t n = strlen(spec);
    if (n >= TX_PATH_MAX) return tx_err_set(err, TX_EINVAL, "dataset spec is too long");
    char base[TX_PATH_MAX];
    const char *split = NULL;
    memcpy(base, spec, n + 1);
    if (ends_with(base, n, ":train")) {
        split = "train";
        base[n - 6] = 0;
    } else if (ends_with(base, n, ":test")) {
        split = "test";
        base[n - 5] = 0;
    }
    int fmnist = strcmp(base, "fashion-mnist") == 0;
    char dir[TX_PATH_MAX];
    if (fmnist) {
        if (!split)
            return tx_err_set(err, TX_EINVAL, "dataset \"%s\" needs a split: fashion-mnist:train "
                              "or fashion-mnist:test", spec);
        const char *env = getenv("TAXON_DATA");
        const char *root = env && env[0] ? env : FMNIST_DEFAULT_DIR;
        int k = snprintf(dir, sizeof dir, "%s/fashion-mnist", root);
        if (k < 0 || (size_t)k >= sizeof dir || !env || !env[0] || !is_dir(dir))
            snprintf(dir, sizeof dir, "%s", root);
        if (!is_dir(dir))
            return tx_err_set(err, TX_EIO,
                              "%s: Fashion-MNIST folder %s does not exist (set TAXON_DATA, or "
                              "install the dataset-fashion-mnist package)",
                              spec, dir);
    } else {
        if (!is_dir(base))
            return tx_err_set(err, TX_EINVAL,
                              "dataset \"%s\": not a known dataset (fashion-mnist:train, "
                              "fashion-mnist:test) and \"%s\" is not a folder",
                              spec, base);
        snprintf(dir, sizeof dir, "%s", base);
    }
    int rc = open_folder(dir, split, out, err);
    if (rc) {
        tx_dataset_free(out);
        return fmnist ? tx_err_prefix(err, rc, "%s", spec) : rc;
    }
    if (fmnist) {
        for (int64_t i = 0; i < out->n; i++) {
            if (out->labels[i] >= 10) {
                rc = tx_err_set(err, TX_EFORMAT,
                                "%s: label %d of image %lld is out of range for Fashion-MNIST's "
                                "10 classes",
                                dir, (int)out->labels[i], (long long)i);
                tx_dataset_free(out);
                return rc;
            }
        }
        out->num_classes = 10;
        out->class_names = calloc(10, sizeof *out->class_names);
        if (!out->class_names) {
            tx_dataset_free(out);
            return tx_err_set(err, TX_ENOMEM, "%s: out of memory", spec);
        }
        for (int i = 0; i < 10; i++) {
            out->class_names[i] = strdup(tx_fashion_mnist_classes[i]);
            if (!out->class_names[i]) {
                tx_dataset_free(out);
                return tx_err_set(err, TX_ENOMEM, "%s: out of memory", spec);
            }
        }
    }
    snprintf(out->name, sizeof out->name, "%s", spec);
    return TX_OK;
}
