/* test_preprocess.c - the one preprocessing routine.
 * The proof that resizing is right is test_reference_sha256: our uint8 tensors must hash
 * to the input_sha256 recorded with Google's TFLite runtime (bilinear) and Pillow
 * (nearest) in ../shared/reference/tflite_top5.csv. The other cases pin down exact
 * values worked out by hand, crop geometry, channels, normalization and the JSON form. */
#include "data/preprocess.h"
#include "sha256.h"
#include "testutil.h"

#include <cJSON.h>

static tx_image make_image(int w, int h, int c) {
    tx_image im = {w, h, c, malloc((size_t)w * h * c)};
    return im;
}

/* ---- the external reference ------------------------------------------------- */

static void test_reference_sha256(void) {
    const char *dir = tu_shared_dir();
    if (!dir) SKIP("../shared not found (set TAXON_SHARED)");
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/tflite_top5.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) SKIP("reference/tflite_top5.csv missing in the shared folder");
    char line[4096], last[600] = "";
    int checked = 0, matched = 0, bmp_checked = 0, skipped = 0;
    int sizes_seen[3] = {0, 0, 0}, methods_seen[2] = {0, 0};
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    CHECK(strstr(line, "input_sha256") != NULL, "unexpected header: %s", line);
    while (fgets(line, sizeof line, f)) {
        char model[256], img[256], meth[32];
        int size;
        if (sscanf(line, "%255[^,],%255[^,],%31[^,],%d", model, img, meth, &size) != 4) continue;
        char *sha = strrchr(line, ',');
        if (!sha || strlen(sha + 1) < 64) continue;
        sha++;
        sha[64] = 0;
        char key[600];
        snprintf(key, sizeof key, "%s %s %d", img, meth, size);
        if (strcmp(key, last) == 0) continue; /* five rows (ranks) share one input */
        snprintf(last, sizeof last, "%s", key);
        snprintf(path, sizeof path, "%s/images/%s", dir, img);
        tx_err err = {0};
        tx_image im;
        int rc = tx_image_load(path, 3, &im, &err);
#ifndef TX_HAVE_TURBOJPEG
        if (rc != TX_OK && strstr(img, ".jpg")) {
            skipped++;
            continue;
        }
#endif
        CHECK_OK(rc, &err);
        tx_preproc pp;
        tx_preproc_default(&pp, size, size, 3);
        CHECK(tx_resize_parse(meth, &pp.resize), "unknown method %s", meth);
        uint8_t *u8 = malloc((size_t)size * size * 3);
        rc = tx_preprocess_u8(u8, &im, &pp, &err);
        CHECK(rc == TX_OK, "%s: %s", key, err.msg);
        char hex[65];
        tu_sha256_buf(u8, (size_t)size * size * 3, hex);
        checked++;
        if (strstr(img, ".bmp")) bmp_checked++;
        if (strcmp(hex, sha) == 0) {
            matched++;
        } else {
            CHECK(0, "%s: sha256 %s, reference %s", key, hex, sha);
        }
        sizes_seen[size == 128 ? 0 : size == 160 ? 1 : 2] = 1;
        methods_seen[pp.resize == TX_RESIZE_NEAREST] = 1;
        free(u8);
        tx_image_free(&im);
    }
    fclose(f);
    printf("  %d of %d preprocessed inputs match the reference sha256 (%d from BMPs, %d JPEG "
           "rows skipped)\n",
           matched, checked, bmp_checked, skipped);
    CHECK(bmp_checked >= 18 && sizes_seen[0] && sizes_seen[1] && sizes_seen[2] &&
              methods_seen[0] && methods_seen[1],
          "the reference file covered too little (%d BMP rows)", bmp_checked);
}

/* ---- exact values ----------------------------------------------------------- */

static void test_bilinear_by_hand(void) {
    /* 2x1 -> 4x1, half-pixel centers: f = -0.25, 0.25, 0.75, 1.25 gives weights
     * p0, .75p0+.25p1, .25p0+.75p1, p1; with p = (0, 255): 0, 63.75, 191.25, 255,
     * truncated to 0, 63, 191, 255 (rounding would give 64). */
    tx_image im = make_image(2, 1, 1);
    im.pixels[0] = 0;
    im.pixels[1] = 255;
    tx_preproc pp;
    tx_preproc_default(&pp, 1, 4, 1);
    uint8_t out[4];
    tx_err err = {0};
    CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
    CHECK(out[0] == 0 && out[1] == 63 && out[2] == 191 && out[3] == 255, "got %d %d %d %d",
          out[0], out[1], out[2], out[3]);
    /* 4x1 -> 2x1: f = 0.5, 2.5: (p0+p1)/2, (p2+p3)/2 */
    free(im.pixels);
    im = make_image(4, 1, 1);
    uint8_t v[4] = {10, 21, 100, 201};
    memcpy(im.pixels, v, 4);
    tx_preproc_default(&pp, 1, 2, 1);
    CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
    CHECK(out[0] == 15 && out[1] == 150, "downscale got %d %d", out[0], out[1]);
    free(im.pixels);
    /* A constant image stays constant up to truncation: the float weights need not sum
     * to exactly 1, so TFLite (and we) turn 177 into 176 at some positions, never other
     * values. */
    im = make_image(13, 7, 3);
    memset(im.pixels, 177, 13 * 7 * 3);
    int sizes[4][2] = {{5, 3}, {40, 21}, {7, 13}, {1, 1}};
    for (int k = 0; k < 4; k++) {
        for (int crop = 0; crop < 2; crop++) {
            tx_preproc_default(&pp, sizes[k][0], sizes[k][1], 3);
            pp.crop_fraction = crop ? 0.875f : 0.0f;
            uint8_t *o = malloc((size_t)sizes[k][0] * sizes[k][1] * 3);
            CHECK_OK(tx_preprocess_u8(o, &im, &pp, &err), &err);
            int bad = 0, low = 0;
            for (int i = 0; i < sizes[k][0] * sizes[k][1] * 3; i++) {
                low += o[i] == 176;
                bad += o[i] != 177 && o[i] != 176;
            }
            CHECK(bad == 0, "constant image changed in %d values (%dx%d crop=%d)", bad,
                  sizes[k][0], sizes[k][1], crop);
            if (low) printf("  constant 177 -> %dx%d crop=%d: %d values truncated to 176\n",
                            sizes[k][0], sizes[k][1], crop, low);
            free(o);
        }
    }
    free(im.pixels);
}

static void test_nearest_is_pillow_stepping(void) {
    /* Pillow maps 2 -> 7 pixels as 0,0,0,0,1,1,1 (recorded from Pillow): its double
     * stepping reaches 0.999.. at the fourth pixel, where floor((d+0.5)*in/out) gives 1. */
    tx_image im = make_image(2, 2, 1);
    uint8_t v[4] = {10, 20, 30, 40};
    memcpy(im.pixels, v, 4);
    tx_preproc pp;
    tx_preproc_default(&pp, 7, 7, 1);
    pp.resize = TX_RESIZE_NEAREST;
    uint8_t out[49];
    tx_err err = {0};
    CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
    static const uint8_t row0[7] = {10, 10, 10, 10, 20, 20, 20};
    static const uint8_t col0[7] = {10, 10, 10, 10, 30, 30, 30};
    for (int i = 0; i < 7; i++) {
        CHECK(out[i] == row0[i], "row 0 pixel %d: %d, Pillow %d", i, out[i], row0[i]);
        CHECK(out[i * 7] == col0[i], "column 0 pixel %d: %d, Pillow %d", i, out[i * 7], col0[i]);
    }
    free(im.pixels);
}

static void test_same_size_is_copy(void) {
    tx_image im = make_image(9, 5, 3);
    for (int i = 0; i < 9 * 5 * 3; i++) im.pixels[i] = (uint8_t)(i * 31 + 7);
    for (int m = 0; m < 2; m++) {
        tx_preproc pp;
        tx_preproc_default(&pp, 5, 9, 3);
        pp.resize = (tx_resize_method)m;
        uint8_t out[9 * 5 * 3];
        tx_err err = {0};
        CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
        CHECK(memcmp(out, im.pixels, sizeof out) == 0, "%s: same-size resize is not a copy",
              tx_resize_name(pp.resize));
    }
    free(im.pixels);
}

/* ---- crop geometry ---------------------------------------------------------- */

/* Source pixels carry their coordinates: R = x & 255, G = y, B = x >> 8. */
static tx_image coord_image(int w, int h) {
    tx_image im = make_image(w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x & 255);
            p[1] = (uint8_t)y;
            p[2] = (uint8_t)(x >> 8);
        }
    return im;
}

static void test_crop_geometry(void) {
    tx_err err = {0};
    /* 300x200, 224 at 0.875: shorter side 200 -> 256, longer 300 -> 384, crop offsets
     * top 16, left 80. Both scales are 25/32, exact in binary, so output (y, x) comes
     * from source (floor(25/64 + (16+y)*25/32), floor(25/64 + (80+x)*25/32)). */
    tx_image im = coord_image(300, 200);
    tx_preproc pp;
    tx_preproc_default(&pp, 224, 224, 3);
    pp.resize = TX_RESIZE_NEAREST;
    pp.crop_fraction = 0.875f;
    uint8_t *out = malloc(224 * 224 * 3);
    CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
    int bad = 0;
    for (int y = 0; y < 224; y++)
        for (int x = 0; x < 224; x++) {
            int sy = (int)floor(25.0 / 64 + (16 + y) * 25.0 / 32);
            int sx = (int)floor(25.0 / 64 + (80 + x) * 25.0 / 32);
            const uint8_t *p = out + ((size_t)y * 224 + x) * 3;
            if (p[0] + 256 * p[2] != sx || p[1] != sy) {
                if (bad++ < 3)
                    printf("  (%d,%d) came from (%d,%d), expected (%d,%d)\n", y, x, p[1],
                           p[0] + 256 * p[2], sy, sx);
            }
        }
    CHECK(bad == 0, "%d crop pixels from the wrong place", bad);
    free(out);
    free(im.pixels);
    /* Portrait image: width is the shorter side. 100x160 (w x h), 64 at 0.8:
     * 64/0.8 = 80 (not 79, although 0.8f is slightly above 0.8), so 80x128,
     * crop top = 32, left = 8; scale 1.25 both ways. */
    im = coord_image(100, 160);
    tx_preproc_default(&pp, 64, 64, 3);
    pp.resize = TX_RESIZE_NEAREST;
    pp.crop_fraction = 0.8f;
    out = malloc(64 * 64 * 3);
    CHECK_OK(tx_preprocess_u8(out, &im, &pp, &err), &err);
    int sy0 = (int)floor(0.625 + 32 * 1.25), sx0 = (int)floor(0.625 + 8 * 1.25);
    CHECK(out[1] == sy0 && out[0] == sx0, "portrait crop origin from (%d,%d), expected (%d,%d)",
          out[1], out[0], sy0, sx0);
    free(out);
    free(im.pixels);
    /* Centre offsets round half to even, as Python's round in torchvision's CenterCrop:
     * 12x5 -> 4 at crop 1.0 resizes to 9x4 and crops left round(2.5) = 2;
     * 9x5 -> 7x4 crops left round(1.5) = 2. */
    int widths[2] = {12, 9}, resized[2] = {9, 7}, lefts[2] = {2, 2};
    for (int k = 0; k < 2; k++) {
        im = coord_image(widths[k], 5);
        tx_preproc_default(&pp, 4, 4, 3);
        pp.resize = TX_RESIZE_NEAREST;
        pp.crop_fraction = 1.0f;
        uint8_t o[4 * 4 * 3];
        CHECK_OK(tx_preprocess_u8(o, &im, &pp, &err), &err);
        double s = (double)widths[k] / resized[k], vx = s / 2;
        for (int i = 0; i < lefts[k]; i++) vx += s;
        CHECK(o[0] == (int)vx, "width %d: left column from x=%d, expected %d", widths[k], o[0],
              (int)vx);
        free(im.pixels);
    }
}

/* ---- channels and normalization --------------------------------------------- */

static void test_channels(void) {
    tx_err err = {0};
    tx_image rgb = coord_image(31, 17);
    for (int i = 0; i < 31 * 17 * 3; i++) rgb.pixels[i] = (uint8_t)(rgb.pixels[i] * 7 + i);
    tx_image gray = make_image(31, 17, 1);
    for (int i = 0; i < 31 * 17; i++)
        gray.pixels[i] = tx_rgb_to_gray(rgb.pixels[3 * i], rgb.pixels[3 * i + 1], rgb.pixels[3 * i + 2]);
    for (int m = 0; m < 2; m++) {
        tx_preproc p1, p3;
        tx_preproc_default(&p1, 11, 20, 1);
        tx_preproc_default(&p3, 11, 20, 3);
        p1.resize = p3.resize = (tx_resize_method)m;
        uint8_t a[11 * 20], b[11 * 20], c3[11 * 20 * 3];
        /* RGB source, gray spec == gray source, gray spec (convert first, then resize) */
        CHECK_OK(tx_preprocess_u8(a, &rgb, &p1, &err), &err);
        CHECK_OK(tx_preprocess_u8(b, &gray, &p1, &err), &err);
        CHECK(memcmp(a, b, sizeof a) == 0, "%s: RGB->gray spec differs from gray source",
              tx_resize_name(p1.resize));
        /* gray source, RGB spec: replicated */
        CHECK_OK(tx_preprocess_u8(c3, &gray, &p3, &err), &err);
        int bad = 0;
        for (int i = 0; i < 11 * 20; i++)
            for (int c = 0; c < 3; c++) bad += c3[3 * i + c] != b[i];
        CHECK(bad == 0, "%s: gray->RGB not replicated (%d)", tx_resize_name(p3.resize), bad);
    }
    free(rgb.pixels);
    free(gray.pixels);
}

static void test_normalize(void) {
    tx_preproc pp;
    tx_preproc_default(&pp, 4, 5, 3);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    memcpy(pp.mean, mean, sizeof mean);
    memcpy(pp.std, sd, sizeof sd);
    uint8_t in[60];
    float got[60], want[60];
    for (int i = 0; i < 60; i++) in[i] = (uint8_t)(i * 13 % 256);
    tx_normalize(got, in, &pp);
    for (int i = 0; i < 60; i++) want[i] = (float)((in[i] / 255.0 - mean[i % 3]) / sd[i % 3]);
    CHECK(tu_close("normalize vs double formula", got, want, 60, 1e-5f, 1e-6f), "normalize");
    /* tx_preprocess == tx_preprocess_u8 + tx_normalize */
    tx_image im = coord_image(8, 8);
    float full[60], two[60];
    uint8_t u8[60];
    tx_err err = {0};
    CHECK_OK(tx_preprocess(full, &im, &pp, &err), &err);
    CHECK_OK(tx_preprocess_u8(u8, &im, &pp, &err), &err);
    tx_normalize(two, u8, &pp);
    CHECK(memcmp(full, two, sizeof full) == 0, "tx_preprocess differs from its two steps");
    /* defaults: [0, 1] */
    tx_preproc_default(&pp, 1, 2, 1);
    uint8_t e[2] = {0, 255};
    float o[2];
    tx_normalize(o, e, &pp);
    CHECK(o[0] == 0.0f && o[1] == 1.0f, "default normalize: %g %g", o[0], o[1]);
    free(im.pixels);
}

static void test_invalid_specs(void) {
    tx_image im = coord_image(4, 4);
    uint8_t out[64 * 3];
    tx_err err = {0};
    tx_preproc pp;
    static const struct {
        const char *what, *want;
    } cases[] = {
        {"channels 2", "channels"}, {"height 0", "height"}, {"crop 1.5", "crop_fraction"},
        {"std 0", "std"},           {"crop tiny", "crop_fraction"}, {"mean nan", "mean"},
    };
    for (int k = 0; k < 6; k++) {
        tx_preproc_default(&pp, 8, 8, 3);
        if (k == 0) pp.channels = 2;
        if (k == 1) pp.height = 0;
        if (k == 2) pp.crop_fraction = 1.5f;
        if (k == 3) pp.std[1] = 0.0f;
        if (k == 4) pp.crop_fraction = 1e-6f;
        if (k == 5) pp.mean[2] = NAN;
        int rc = tx_preprocess_u8(out, &im, &pp, &err);
        CHECK(rc == TX_EINVAL && strstr(err.msg, cases[k].want), "%s: rc %d, %s", cases[k].what,
              rc, err.msg);
    }
    /* a 1-pixel-tall strip cannot be resized to cover 8x8 at crop 0.5 (16 x 2^21) */
    tx_image strip = {1 << 17, 1, 1, calloc(1 << 17, 1)};
    tx_preproc_default(&pp, 8, 8, 1);
    pp.crop_fraction = 0.5f;
    int rc = tx_preprocess_u8(out, &strip, &pp, &err);
    CHECK(rc == TX_EUNSUP && strstr(err.msg, "aspect ratio"), "extreme aspect: rc %d %s", rc,
          err.msg);
    pp.resize = TX_RESIZE_NEAREST;
    pp.crop_fraction = 1.0f;
    CHECK_OK(tx_preprocess_u8(out, &strip, &pp, &err), &err); /* 8 x 2^20: still fine */
    free(strip.pixels);
    tx_preproc_default(&pp, 8, 8, 3);
    tx_image bad = {4, 4, 2, im.pixels};
    CHECK(tx_preprocess_u8(out, &bad, &pp, &err) == TX_EINVAL, "2-channel image accepted");
    tx_image none = {4, 4, 3, NULL};
    CHECK(tx_preprocess_u8(out, &none, &pp, &err) == TX_EINVAL, "image without pixels accepted");
    free(im.pixels);
}

/* ---- JSON ------------------------------------------------------------------- */

static int same_spec(const tx_preproc *a, const tx_preproc *b) {
    if (a->height != b->height || a->width != b->width || a->channels != b->channels ||
        a->resize != b->resize || a->crop_fraction != b->crop_fraction)
        return 0;
    for (int c = 0; c < a->channels; c++)
        if (a->mean[c] != b->mean[c] || a->std[c] != b->std[c]) return 0;
    return 1;
}

static void test_json_roundtrip(void) {
    tx_err err = {0};
    tx_preproc a, b;
    tx_preproc_default(&a, 224, 224, 3);
    a.crop_fraction = 0.875f;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    memcpy(a.mean, mean, sizeof mean);
    memcpy(a.std, sd, sizeof sd);
    cJSON *j = tx_preproc_to_json(&a);
    CHECK(j != NULL, "to_json failed");
    char *s = cJSON_PrintUnformatted(j);
    printf("  %s\n", s);
    CHECK(strstr(s, "\"mean\":[0.485,0.456,0.406]") && strstr(s, "\"resize\":\"bilinear\""),
          "floats not written in shortest form: %s", s);
    cJSON *back = cJSON_Parse(s);
    CHECK_OK(tx_preproc_from_json(&b, back, "rt.json", &err), &err);
    CHECK(same_spec(&a, &b), "round trip changed the spec");
    cJSON_Delete(back);
    cJSON_Delete(j);
    free(s);
    /* awkward floats and the other method, gray */
    tx_rng rng;
    tx_rng_seed(&rng, 7);
    for (int t = 0; t < 200; t++) {
        tx_preproc_default(&a, 1 + (int)tx_rng_below(&rng, 1000), 1 + (int)tx_rng_below(&rng, 1000),
                           t % 2 ? 1 : 3);
        a.resize = (tx_resize_method)(t % 3 == 0);
        a.crop_fraction = t % 4 ? 0.5f + 0.5f * tx_rng_uniform(&rng) : 0.0f;
        for (int c = 0; c < a.channels; c++) {
            a.mean[c] = tx_rng_normal(&rng);
            a.std[c] = 1e-3f + tx_rng_uniform(&rng) * 100.0f;
        }
        j = tx_preproc_to_json(&a);
        s = cJSON_PrintUnformatted(j);
        back = cJSON_Parse(s);
        int rc = tx_preproc_from_json(&b, back, "rt.json", &err);
        CHECK(rc == TX_OK && same_spec(&a, &b), "trial %d: %s -> %s", t, s, rc ? err.msg : "differs");
        cJSON_Delete(back);
        cJSON_Delete(j);
        free(s);
        if (tu_failed_case) break;
    }
}

static void test_json_rejects(void) {
    static const char *const cases[][2] = {
        {"[]", "object"},
        {"{\"height\":8,\"width\":8}", "\"channels\" is missing"},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"colour\":1}", "unknown preprocessing key \"colour\""},
        {"{\"height\":8.5,\"width\":8,\"channels\":3}", "\"height\""},
        {"{\"height\":0,\"width\":8,\"channels\":3}", "\"height\""},
        {"{\"height\":8,\"width\":\"8\",\"channels\":3}", "\"width\""},
        {"{\"height\":8,\"width\":8,\"channels\":2}", "\"channels\""},
        {"{\"height\":8,\"width\":8,\"channels\":4}", "\"channels\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"resize\":\"bicubic\"}", "\"resize\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"resize\":1}", "\"resize\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"crop_fraction\":1.2}", "\"crop_fraction\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"crop_fraction\":-0.1}", "\"crop_fraction\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"mean\":[0,0]}", "\"mean\""},
        {"{\"height\":8,\"width\":8,\"channels\":1,\"mean\":[0,0,0]}", "\"mean\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"mean\":[0,0,\"x\"]}", "\"mean\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"mean\":0.5}", "\"mean\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"std\":[1,0,1]}", "\"std\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"std\":[1,1,1,1]}", "\"std\""},
        {"{\"height\":8,\"width\":8,\"channels\":3,\"std\":[1,1,1e300]}", "\"std\""},
        {"{\"height\":8,\"height\":8,\"width\":8,\"channels\":3}", "twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tx_err err = {0};
        tx_preproc pp, before;
        tx_preproc_default(&pp, 3, 3, 1);
        before = pp;
        cJSON *j = cJSON_Parse(cases[i][0]);
        CHECK(j != NULL, "bad test JSON %s", cases[i][0]);
        int rc = tx_preproc_from_json(&pp, j, "model.safetensors", &err);
        CHECK(rc != TX_OK, "accepted %s", cases[i][0]);
        CHECK(rc == TX_OK || (strstr(err.msg, cases[i][1]) && strstr(err.msg, "model.safetensors")),
              "%s: message \"%s\" lacks %s", cases[i][0], err.msg, cases[i][1]);
        CHECK(same_spec(&pp, &before), "%s: spec modified on error", cases[i][0]);
        cJSON_Delete(j);
    }
    /* minimal spec: defaults fill the rest */
    cJSON *j = cJSON_Parse("{\"height\":28,\"width\":28,\"channels\":1}");
    tx_preproc pp, want;
    tx_err err = {0};
    CHECK_OK(tx_preproc_from_json(&pp, j, "m", &err), &err);
    tx_preproc_default(&want, 28, 28, 1);
    CHECK(same_spec(&pp, &want), "defaults not applied");
    cJSON_Delete(j);
}

int main(void) {
    RUN(test_reference_sha256);
    RUN(test_bilinear_by_hand);
    RUN(test_nearest_is_pillow_stepping);
    RUN(test_same_size_is_copy);
    RUN(test_crop_geometry);
    RUN(test_channels);
    RUN(test_normalize);
    RUN(test_invalid_specs);
    RUN(test_json_roundtrip);
    RUN(test_json_rejects);
    TEST_MAIN_END();
}
