/* test_dataset.c - IDX parsing, gunzip, dataset specs and the real Fashion-MNIST. */
#include "data/dataset.h"
#include "testutil.h"

#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

/* ---- builders ---------------------------------------------------------------- */

/* IDX bytes: magic 00 00 type ndim, dims (big-endian), then `ndata` data bytes where
 * data[i] = fill(i). */
static uint8_t *idx_build(int type, int ndim, const uint32_t *dims, size_t ndata,
                          const uint8_t *data, size_t *n) {
    size_t hdr = 4 + 4 * (size_t)ndim;
    uint8_t *b = malloc(hdr + ndata + 1);
    b[0] = 0;
    b[1] = 0;
    b[2] = (uint8_t)type;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
    if (ndata) memcpy(b + hdr, data, ndata);
    *n = hdr + ndata;
    return b;
}

/* gzip in memory (one member). */
static uint8_t *gz_build(const uint8_t *in, size_t n, size_t *out_n) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, n) + 64;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_n = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void write_file(const char *dir, const char *name, const uint8_t *b, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

/* Writes an IDX pair `prefix`images-idx3-ubyte[.gz] / labels into dir. */
static void write_pair(const char *dir, const char *prefix, uint32_t n_img, uint32_t n_lab,
                       int h, int w, const uint8_t *labels, int gz_images, int gz_labels) {
    uint32_t idims[3] = {n_img, (uint32_t)h, (uint32_t)w}, ldims[1] = {n_lab};
    size_t np = (size_t)n_img * h * w, ni, nl;
    uint8_t *px = malloc(np + 1);
    for (size_t i = 0; i < np; i++) px[i] = (uint8_t)(i * 7 + 3);
    uint8_t *ib = idx_build(8, 3, idims, np, px, &ni);
    uint8_t *lb = idx_build(8, 1, ldims, n_lab, labels, &nl);
    char name[256];
    snprintf(name, sizeof name, "%simages-idx3-ubyte%s", prefix, gz_images ? ".gz" : "");
    if (gz_images) {
        size_t gn;
        uint8_t *g = gz_build(ib, ni, &gn);
        write_file(dir, name, g, gn);
        free(g);
    } else {
        write_file(dir, name, ib, ni);
    }
    snprintf(name, sizeof name, "%slabels-idx1-ubyte%s", prefix, gz_labels ? ".gz" : "");
    if (gz_labels) {
        size_t gn;
        uint8_t *g = gz_build(lb, nl, &gn);
        write_file(dir, name, g, gn);
        free(g);
    } else {
        write_file(dir, name, lb, nl);
    }
    free(px);
    free(ib);
    free(lb);
}

static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            clear_dir(p);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
}

/* ---- IDX parsing ------------------------------------------------------------- */

static void test_idx_parse_good(void) {
    tx_err err = {0};
    uint8_t data[2 * 3 * 4];
    for (int i = 0; i < 24; i++) data[i] = (uint8_t)i;
    uint32_t dims[4] = {2, 3, 4, 1};
    for (int nd = 1; nd <= 4; nd++) {
        size_t total = 1;
        for (int i = 0; i < nd; i++) total *= dims[i];
        size_t n;
        uint8_t *b = idx_build(8, nd, dims, total, data, &n);
        int ndim;
        int64_t d[4];
        const uint8_t *p;
        CHECK_OK(tx_idx_parse(b, n, "x.idx", &ndim, d, &p, &err), &err);
        CHECK(ndim == nd && p == b + 4 + 4 * nd && memcmp(p, data, total) == 0,
              "ndim %d: parsed %d", nd, ndim);
        for (int i = 0; i < nd; i++) CHECK(d[i] == dims[i], "dim %d is %lld", i, (long long)d[i]);
        free(b);
    }
}

static void expect_parse_fail(const uint8_t *b, size_t n, const char *want, const char *what) {
    tx_err err = {0};
    int ndim = -1;
    int64_t d[4];
    const uint8_t *p = (const uint8_t *)"x";
    int rc = tx_idx_parse(b, n, "bad.idx", &ndim, d, &p, &err);
    CHECK(rc != TX_OK, "%s: accepted", what);
    CHECK(rc == TX_OK || (strstr(err.msg, "bad.idx") && (!want || strstr(err.msg, want))),
          "%s: message \"%s\" lacks %s", what, err.msg, want ? want : "the name");
    CHECK(p == NULL && ndim == 0, "%s: outputs left set", what);
}

static void test_idx_parse_bad(void) {
    uint8_t data[24] = {0};
    uint32_t dims[4] = {2, 3, 4, 1};
    size_t n;
    uint8_t *b = idx_build(8, 3, dims, 24, data, &n);
    /* every truncation, and one extra byte */
    for (size_t len = 0; len < n; len++) expect_parse_fail(b, len, NULL, "truncated");
    expect_parse_fail(b, n + 1, "need 24 bytes", "one byte too many");
    expect_parse_fail(b, n - 1, "dimensions 2x3x4 need 24 bytes", "one byte short");
    uint8_t *c = malloc(n + 1);
    memcpy(c, b, n);
    c[0] = 1;
    expect_parse_fail(c, n, "magic", "bad magic");
    memcpy(c, b, n);
    c[2] = 0x0D;
    expect_parse_fail(c, n, "float32", "float IDX");
    c[2] = 0x42;
    expect_parse_fail(c, n, "element type", "unknown type");
    memcpy(c, b, n);
    c[3] = 0;
    expect_parse_fail(c, n, "dimensions", "ndim 0");
    c[3] = 5;
    expect_parse_fail(c, n, "dimensions", "ndim 5");
    free(b);
    free(c);
    uint32_t huge[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    b = idx_build(8, 4, huge, 0, NULL, &n);
    expect_parse_fail(b, n, "overflow", "overflowing dims");
    free(b);
    uint32_t big[3] = {60000, 28, 28};
    b = idx_build(8, 3, big, 0, NULL, &n);
    expect_parse_fail(b, n, "47040000", "header without data");
    free(b);
    expect_parse_fail(NULL, 0, NULL, "NULL buffer");
}

/* ---- gunzip ------------------------------------------------------------------- */

static void test_gunzip(void) {
    tx_err err = {0};
    uint8_t raw[5000];
    for (int i = 0; i < 5000; i++) raw[i] = (uint8_t)((i * i) >> 5);
    size_t gn, on;
    uint8_t *g = gz_build(raw, sizeof raw, &gn), *o;
    CHECK_OK(tx_gunzip(g, gn, 1 << 20, "a.gz", &o, &on, &err), &err);
    CHECK(on == sizeof raw && memcmp(o, raw, on) == 0, "round trip: %zu bytes", on);
    free(o);
    /* a cap below the size */
    int rc = tx_gunzip(g, gn, 4999, "a.gz", &o, &on, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "limit of 4999") && o == NULL, "cap: %s", err.msg);
    /* every truncation fails */
    int fails = 0;
    for (size_t len = 0; len < gn; len++) {
        tx_err e = {0};
        rc = tx_gunzip(g, len, 1 << 20, "t.gz", &o, &on, &e);
        if (rc == TX_OK) {
            free(o);
            fails++;
        } else if (!strstr(e.msg, "t.gz") || o) {
            fails++;
        }
    }
    CHECK(fails == 0, "%d truncations accepted", fails);
    /* a truncation's message says so */
    rc = tx_gunzip(g, gn - 20, 1 << 20, "t.gz", &o, &on, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "truncated"), "truncated: %s", err.msg);
    /* flipped bytes: errors (CRC, distance, ...) or, in header fields zlib ignores, success */
    int accepted = 0;
    for (size_t i = 0; i < gn; i++) {
        uint8_t *c = malloc(gn);
        memcpy(c, g, gn);
        c[i] ^= 0x55;
        tx_err e = {0};
        rc = tx_gunzip(c, gn, 1 << 20, "c.gz", &o, &on, &e);
        if (rc == TX_OK) {
            accepted++;
            free(o);
        } else {
            CHECK(strstr(e.msg, "c.gz") != NULL, "message without name: %s", e.msg);
        }
        free(c);
    }
    printf("  %zu single-byte corruptions: %d accepted (header fields), %zu rejected\n", gn,
           accepted, gn - (size_t)accepted);
    CHECK(accepted < 12, "too many corruptions accepted: %d", accepted);
    /* corrupt data message */
    uint8_t *c = malloc(gn);
    memcpy(c, g, gn);
    for (size_t i = 12; i < gn - 8; i++) c[i] = 0xFF;
    rc = tx_gunzip(c, gn, 1 << 20, "bad.gz", &o, &on, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "corrupt gzip"), "corrupt: %s", err.msg);
    free(c);
    /* two members concatenated; then trailing junk */
    c = malloc(2 * gn + 3);
    memcpy(c, g, gn);
    memcpy(c + gn, g, gn);
    CHECK_OK(tx_gunzip(c, 2 * gn, 1 << 20, "cat.gz", &o, &on, &err), &err);
    CHECK(on == 2 * sizeof raw && memcmp(o + sizeof raw, raw, sizeof raw) == 0, "two members");
    free(o);
    memcpy(c + gn, "xyz", 3);
    rc = tx_gunzip(c, gn + 3, 1 << 20, "junk.gz", &o, &on, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "trailing"), "junk: %s", err.msg);
    free(c);
    rc = tx_gunzip(raw, sizeof raw, 1 << 20, "raw", &o, &on, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "not gzip"), "raw data: %s", err.msg);
    free(g);
}

/* ---- folders and specs -------------------------------------------------------------- */

static void test_folder_specs(void) {
    char dir[] = "/tmp/tx_test_dataset_XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary folder");
    tx_err err = {0};
    tx_dataset d;
    /* empty folder */
    int rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, dir) && strstr(err.msg, "images-idx3-ubyte"),
          "empty folder: %s", err.msg);
    /* one pair, gzip'd images and raw labels */
    const uint8_t lab[5] = {0, 3, 1, 3, 2};
    write_pair(dir, "train-", 5, 5, 3, 4, lab, 1, 0);
    CHECK_OK(tx_dataset_open(dir, &d, &err), &err);
    CHECK(d.n == 5 && d.h == 3 && d.w == 4 && d.c == 1 && d.num_classes == 4 &&
              d.class_names == NULL && strcmp(d.name, dir) == 0,
          "got n=%lld %dx%dx%d classes %d", (long long)d.n, d.h, d.w, d.c, d.num_classes);
    int bad = 0;
    for (int i = 0; i < 60; i++) bad += d.images[i] != (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 5; i++) bad += d.labels[i] != lab[i];
    CHECK(bad == 0, "%d values differ", bad);
    tx_dataset_free(&d);
    CHECK(d.images == NULL && d.n == 0, "free did not clear");
    /* a second pair: the plain folder is ambiguous, the split chooses */
    const uint8_t lab2[4] = {1, 1, 0, 6};
    write_pair(dir, "t10k-", 4, 4, 3, 4, lab2, 0, 1);
    rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "2 IDX") && strstr(err.msg, ":train"),
          "ambiguous folder: %s", err.msg);
    char spec[512];
    snprintf(spec, sizeof spec, "%s:test", dir);
    CHECK_OK(tx_dataset_open(spec, &d, &err), &err);
    CHECK(d.n == 4 && d.num_classes == 7 && d.labels[3] == 6 && strcmp(d.name, spec) == 0,
          "test split: n=%lld classes %d", (long long)d.n, d.num_classes);
    tx_dataset_free(&d);
    snprintf(spec, sizeof spec, "%s:train", dir);
    CHECK_OK(tx_dataset_open(spec, &d, &err), &err);
    CHECK(d.n == 5, "train split n=%lld", (long long)d.n);
    tx_dataset_free(&d);
    /* counts that disagree */
    clear_dir(dir);
    write_pair(dir, "t10k-", 4, 3, 2, 2, lab2, 0, 0);
    rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "4 images") && strstr(err.msg, "3 labels"),
          "count mismatch: %s", err.msg);
    CHECK(d.images == NULL && d.labels == NULL, "left allocations behind");
    /* images without labels */
    clear_dir(dir);
    write_pair(dir, "train-", 2, 2, 2, 2, lab, 1, 1);
    char p[1024];
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    unlink(p);
    rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "no matching train-labels"), "missing labels: %s",
          err.msg);
    /* corrupt gzip in the folder */
    write_file(dir, "train-labels-idx1-ubyte.gz", (const uint8_t *)"\x1f\x8b\x08\x00garbage-garbage-garbage", 27);
    rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "train-labels-idx1-ubyte.gz") && strstr(err.msg, "gzip"),
          "corrupt gzip: %s", err.msg);
    /* labels with 2 dimensions */
    uint32_t ld[2] = {2, 1};
    size_t n;
    uint8_t *lb = idx_build(8, 2, ld, 2, lab, &n);
    clear_dir(dir);
    write_pair(dir, "train-", 2, 2, 2, 2, lab, 0, 0);
    write_file(dir, "train-labels-idx1-ubyte", lb, n);
    free(lb);
    rc = tx_dataset_open(dir, &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "0x00000801"), "2-D labels: %s", err.msg);
    /* not a folder, not a name */
    rc = tx_dataset_open("/nonexistent/taxon/data", &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "not a folder"), "missing folder: %s", err.msg);
    rc = tx_dataset_open("", &d, &err);
    CHECK(rc != TX_OK, "empty spec accepted");
    clear_dir(dir);
    rmdir(dir);
}

static void test_taxon_data_env(void) {
    char dir[] = "/tmp/tx_test_fmnist_XXXXXX";
    if (!mkdtemp(dir)) SKIP("cannot create a temporary folder");
    const char *old = getenv("TAXON_DATA");
    char saved[1024] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    setenv("TAXON_DATA", dir, 1);
    tx_err err = {0};
    tx_dataset d;
    const uint8_t lab[3] = {9, 0, 4};
    write_pair(dir, "train-", 3, 3, 28, 28, lab, 1, 1);
    write_pair(dir, "t10k-", 2, 2, 28, 28, lab, 1, 1);
    CHECK_OK(tx_dataset_open("fashion-mnist:train", &d, &err), &err);
    CHECK(d.n == 3 && d.num_classes == 10 && d.class_names &&
              strcmp(d.class_names[9], "Ankle boot") == 0 &&
              strcmp(d.name, "fashion-mnist:train") == 0,
          "n=%lld classes=%d", (long long)d.n, d.num_classes);
    tx_dataset_free(&d);
    CHECK_OK(tx_dataset_open("fashion-mnist:test", &d, &err), &err);
    CHECK(d.n == 2 && d.num_classes == 10, "test n=%lld", (long long)d.n);
    tx_dataset_free(&d);
    int rc = tx_dataset_open("fashion-mnist", &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "fashion-mnist:train"), "no split: %s", err.msg);
    /* a label of 10 is not Fashion-MNIST */
    const uint8_t lab10[3] = {1, 10, 2};
    write_pair(dir, "train-", 3, 3, 28, 28, lab10, 1, 1);
    rc = tx_dataset_open("fashion-mnist:train", &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "label 10"), "label 10: %s", err.msg);
    /* TAXON_DATA/fashion-mnist wins over TAXON_DATA itself */
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/fashion-mnist", dir);
    mkdir(sub, 0755);
    write_pair(sub, "train-", 7, 7, 28, 28, (const uint8_t[7]){1, 2, 3, 4, 5, 6, 7}, 1, 1);
    CHECK_OK(tx_dataset_open("fashion-mnist:train", &d, &err), &err);
    CHECK(d.n == 7, "subfolder not used: n=%lld", (long long)d.n);
    tx_dataset_free(&d);
    /* a missing folder */
    setenv("TAXON_DATA", "/nonexistent/taxon", 1);
    rc = tx_dataset_open("fashion-mnist:test", &d, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "/nonexistent/taxon") && strstr(err.msg, "TAXON_DATA"),
          "missing TAXON_DATA: %s", err.msg);
    if (old) setenv("TAXON_DATA", saved, 1);
    else unsetenv("TAXON_DATA");
    clear_dir(dir);
    rmdir(dir);
}

static void test_fashion_mnist_real(void) {
    const char *env = getenv("TAXON_DATA");
    const char *dir = env && env[0] ? env : "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(dir, &st) != 0) SKIP("%s not found (install dataset-fashion-mnist)", dir);
    CHECK(strcmp(tx_fashion_mnist_classes[0], "T-shirt/top") == 0 &&
              strcmp(tx_fashion_mnist_classes[9], "Ankle boot") == 0,
          "class table");
    static const char *const specs[2] = {"fashion-mnist:train", "fashion-mnist:test"};
    static const int64_t counts[2] = {60000, 10000};
    for (int s = 0; s < 2; s++) {
        tx_err err = {0};
        tx_dataset d;
        CHECK_OK(tx_dataset_open(specs[s], &d, &err), &err);
        CHECK(d.n == counts[s] && d.h == 28 && d.w == 28 && d.c == 1 && d.num_classes == 10,
              "%s: n=%lld %dx%dx%d classes %d", specs[s], (long long)d.n, d.h, d.w, d.c,
              d.num_classes);
        int64_t per[10] = {0}, other = 0;
        for (int64_t i = 0; i < d.n; i++) {
            if (d.labels[i] >= 0 && d.labels[i] < 10) per[d.labels[i]]++;
            else other++;
        }
        /* Fashion-MNIST is balanced: 6000 / 1000 images per class */
        for (int c = 0; c < 10; c++)
            CHECK(per[c] == counts[s] / 10, "%s: class %d has %lld", specs[s], c,
                  (long long)per[c]);
        CHECK(other == 0, "%lld labels out of range", (long long)other);
        double sum = 0;
        size_t np = (size_t)d.n * 784;
        for (size_t i = 0; i < np; i++) sum += d.images[i];
        double mean = sum / (double)np / 255.0;
        printf("  %s: %lld images, pixel mean %.4f (published: 0.2860 train, 0.2868 test)\n",
               specs[s], (long long)d.n, mean);
        CHECK(fabs(mean - (s ? 0.2868 : 0.2860)) < 0.001, "pixel mean %.4f", mean);
        CHECK(d.class_names && strcmp(d.class_names[0], "T-shirt/top") == 0 &&
                  strcmp(d.class_names[7], "Sneaker") == 0,
              "class names");
        tx_dataset_free(&d);
    }
}

int main(void) {
    RUN(test_idx_parse_good);
    RUN(test_idx_parse_bad);
    RUN(test_gunzip);
    RUN(test_folder_specs);
    RUN(test_taxon_data_env);
    RUN(test_fashion_mnist_real);
    TEST_MAIN_END();
}
