/* preprocess.c - THE preprocessing routine: decoded image -> resized/cropped uint8
 * tensor -> normalized float tensor, plus the spec's strict JSON form.
 *
 * Resize filters (both bit-exact with the references in ../shared/reference):
 *  - TX_RESIZE_BILINEAR: TFLite RESIZE_BILINEAR, half_pixel_centers=true, align_corners
 *    false, in float32: scale = (float)in / (float)out, f = (dst + 0.5f) * scale - 0.5f,
 *    lo = max(floor(f), 0), hi = min(ceil(f), in - 1), dy = fy - lo_y, dx = fx - lo_x,
 *    the four weights formed first (as TFLite's optimized kernel,
 *    ResizeBilinearGenericSmallChannel, does):
 *      w00 = (1-dy)*(1-dx), w01 = (1-dy)*dx, w10 = dy*(1-dx), w11 = dy*dx,
 *    then v = p00*w00 + p01*w01 + p10*w10 + p11*w11 summed left to right in float32 and
 *    truncated to uint8. This order matters: the reference kernel's order,
 *    p00*(1-dy)*(1-dx) + p10*dy*(1-dx) + ..., moves some pixels by one level and does
 *    not reproduce the recorded sha256 digests at 160 and 224 (it does at 128, where
 *    every weight is exact). Nor may the sums be contracted into FMAs (see the pragmas
 *    below).
 *  - TX_RESIZE_NEAREST: Pillow's NEAREST: a double starts at (in/out)/2, its integer
 *    part is the source index, and in/out is added for each next pixel.
 *
 * Crop (crop_fraction > 0), following timm's eval transform (Resize + CenterCrop):
 *    scale sizes  sh = floor(height / crop_fraction), sw = floor(width / crop_fraction)
 *                 (plus 1e-3 before the floor, so that a crop_fraction stored as float32,
 *                 such as 0.8f, still gives 224 / 0.8 = 280 and not 279);
 *    resize       keeping the aspect ratio, the smallest size covering sh x sw: when the
 *                 image is relatively wider, new height = sh and new width =
 *                 floor(sh * in_w / in_h), else new width = sw and new height =
 *                 floor(sw * in_h / in_w) (torchvision's Resize(int) for square inputs);
 *    center crop  top = round_half_even((new_h - height) / 2), left likewise (Python's
 *                 round, as torchvision's CenterCrop).
 *  Only the cropped window of the resized image is computed.
 *
 * Channels: a gray source for an RGB spec is resized once and replicated (identical
 * to replicating first); an RGB source for a gray spec is converted to gray first
 * (Pillow's "L", tx_rgb_to_gray), then resized, as img.convert("L").resize(...). */
#define _POSIX_C_SOURCE 200809L
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "data/preprocess.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_PP_MAX_SIDE 16384
#define TX_PP_MAX_SCALED 65536

const char *tx_resize_name(tx_resize_method m) {
    switch (m) {
    case TX_RESIZE_BILINEAR: return "bilinear";
    case TX_RESIZE_NEAREST: return "nearest";
    }
    return "?";
}

int tx_resize_parse(const char *s, tx_resize_method *m) {
    if (s && strcmp(s, "bilinear") == 0) {
        *m = TX_RESIZE_BILINEAR;
        return 1;
    }
    if (s && strcmp(s, "nearest") == 0) {
        *m = TX_RESIZE_NEAREST;
        return 1;
    }
    return 0;
}

void tx_preproc_default(tx_preproc *pp, int h, int w, int c) {
    memset(pp, 0, sizeof *pp);
    pp->height = h;
    pp->width = w;
    pp->channels = c;
    pp->resize = TX_RESIZE_BILINEAR;
    pp->crop_fraction = 0.0f;
    for (int i = 0; i < 3; i++) {
        pp->mean[i] = 0.0f;
        pp->std[i] = 1.0f;
    }
}

int tx_preproc_check(const tx_preproc *pp, const char *where, tx_err *err) {
    if (!where) where = "preprocessing";
    if (!pp) return tx_err_set(err, TX_EINVAL, "%s: no preprocessing spec", where);
    if (pp->height < 1 || pp->height > TX_PP_MAX_SIDE)
        return tx_err_set(err, TX_EINVAL, "%s: height %d is not in 1..%d", where, pp->height,
                          TX_PP_MAX_SIDE);
    if (pp->width < 1 || pp->width > TX_PP_MAX_SIDE)
        return tx_err_set(err, TX_EINVAL, "%s: width %d is not in 1..%d", where, pp->width,
                          TX_PP_MAX_SIDE);
    if (pp->channels != 1 && pp->channels != 3)
        return tx_err_set(err, TX_EINVAL, "%s: channels is %d, must be 1 or 3", where,
                          pp->channels);
    if (pp->resize != TX_RESIZE_BILINEAR && pp->resize != TX_RESIZE_NEAREST)
        return tx_err_set(err, TX_EINVAL, "%s: resize method %d is unknown", where,
                          (int)pp->resize);
    float cf = pp->crop_fraction;
    if (!(cf >= 0.0f && cf <= 1.0f))
        return tx_err_set(err, TX_EINVAL, "%s: crop_fraction %g is not in [0, 1]", where,
                          (double)cf);
    if (cf > 0.0f) {
        int m = pp->height > pp->width ? pp->height : pp->width;
        if ((double)m / cf > TX_PP_MAX_SCALED)
            return tx_err_set(err, TX_EINVAL,
                              "%s: crop_fraction %g is too small (resizes to more than %d)",
                              where, (double)cf, TX_PP_MAX_SCALED);
    }
    for (int c = 0; c < pp->channels; c++) {
        if (!isfinite(pp->mean[c]))
            return tx_err_set(err, TX_EINVAL, "%s: mean[%d] is not finite", where, c);
        if (!isfinite(pp->std[c]) || !(pp->std[c] > 0.0f))
            return tx_err_set(err, TX_EINVAL, "%s: std[%d] is %g, must be positive and finite",
                              where, c, (double)pp->std[c]);
    }
    return TX_OK;
}

/* ---- geometry ------------------------------------------------------------ */

typedef struct {
    int rh, rw;     /* size of the (virtual) resized image */
    int top, left;  /* crop window origin inside it */
} pp_geom;

static int round_half_even_half(int d) { /* round(d / 2) with ties to even, d >= 0 */
    int k = d / 2;
    if (d % 2 == 0) return k;
    return (k % 2 == 0) ? k : k + 1;
}

#define TX_PP_MAX_RESIZED (1 << 20)

static int pp_geometry(int ih, int iw, const tx_preproc *pp, pp_geom *g, tx_err *err) {
    if (pp->crop_fraction <= 0.0f) {
        g->rh = pp->height;
        g->rw = pp->width;
        g->top = g->left = 0;
        return TX_OK;
    }
    int64_t sh = (int64_t)floor((double)pp->height / (double)pp->crop_fraction + 1e-3);
    int64_t sw = (int64_t)floor((double)pp->width / (double)pp->crop_fraction + 1e-3);
    if (sh < pp->height) sh = pp->height;
    if (sw < pp->width) sw = pp->width;
    int64_t rh, rw;
    if ((int64_t)iw * sh >= (int64_t)ih * sw) {
        rh = sh;
        rw = sh * iw / ih;
    } else {
        rw = sw;
        rh = sw * ih / iw;
    }
    if (rh < pp->height) rh = pp->height; /* cannot happen; keeps the crop in range */
    if (rw < pp->width) rw = pp->width;
    if (rh > TX_PP_MAX_RESIZED || rw > TX_PP_MAX_RESIZED)
        return tx_err_set(err, TX_EUNSUP,
                          "preprocess: a %d x %d image resized for crop_fraction %g would be "
                          "%lld x %lld pixels; its aspect ratio is too extreme",
                          iw, ih, (double)pp->crop_fraction, (long long)rw, (long long)rh);
    g->rh = (int)rh;
    g->rw = (int)rw;
    g->top = round_half_even_half(g->rh - pp->height);
    g->left = round_half_even_half(g->rw - pp->width);
    return TX_OK;
}

/* Bilinear sample positions along one axis for dst = off .. off+n-1. */
static void bilinear_axis(int in, int out, int off, int n, int *lo, int *hi, float *frac) {
    const float scale = (float)in / (float)out;
    for (int i = 0; i < n; i++) {
        const float f = ((float)(off + i) + 0.5f) * scale - 0.5f;
        int l = (int)floorf(f);
        int h = (int)ceilf(f);
        if (l < 0) l = 0;
        if (h > in - 1) h = in - 1;
        lo[i] = l;
        hi[i] = h;
        frac[i] = f - (float)l;
    }
}

/* Pillow NEAREST positions: stepping a double from 0 so that the values at off.. are
 * exactly those Pillow reaches. */
static void nearest_axis(int in, int out, int off, int n, int *idx) {
    const double scale = (double)in / (double)out;
    double v = scale * 0.5;
    for (int i = 0; i < off + n; i++) {
        if (i >= off) {
            int k = v < 0.0 ? 0 : (int)v;
            if (k > in - 1) k = in - 1;
            idx[i - off] = k;
        }
        v += scale;
    }
}

/* Resizes a 1- or 3-channel plane src (ih x iw x sc) into out (H x W x oc), where
 * oc == sc, or sc == 1 and oc == 3 (replicated). */
static int pp_resize(uint8_t *out, int oc, const uint8_t *src, int ih, int iw, int sc,
                     const tx_preproc *pp, tx_err *err) {
    const int H = pp->height, W = pp->width;
    pp_geom g = {0, 0, 0, 0};
    int rc = pp_geometry(ih, iw, pp, &g, err);
    if (rc) return rc;
    int *ylo = malloc(sizeof(int) * (size_t)H * 2), *xlo = malloc(sizeof(int) * (size_t)W * 2);
    float *yf = malloc(sizeof(float) * (size_t)H), *xf = malloc(sizeof(float) * (size_t)W);
    if (!ylo || !xlo || !yf || !xf) {
        free(ylo);
        free(xlo);
        free(yf);
        free(xf);
        return tx_err_set(err, TX_ENOMEM, "preprocess: out of memory for resize tables");
    }
    int *yhi = ylo + H, *xhi = xlo + W;
    const size_t sstride = (size_t)iw * (size_t)sc;
    if (pp->resize == TX_RESIZE_NEAREST || (g.rh == ih && g.rw == iw)) {
        /* Same-size bilinear is an exact copy, so it shares the nearest path. */
        nearest_axis(ih, g.rh, g.top, H, ylo);
        nearest_axis(iw, g.rw, g.left, W, xlo);
        for (int y = 0; y < H; y++) {
            const uint8_t *row = src + (size_t)ylo[y] * sstride;
            uint8_t *o = out + (size_t)y * W * (size_t)oc;
            if (sc == 3) {
                for (int x = 0; x < W; x++) {
                    const uint8_t *p = row + (size_t)xlo[x] * 3;
                    o[3 * x] = p[0];
                    o[3 * x + 1] = p[1];
                    o[3 * x + 2] = p[2];
                }
            } else if (oc == 1) {
                for (int x = 0; x < W; x++) o[x] = row[xlo[x]];
            } else {
                for (int x = 0; x < W; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[xlo[x]];
            }
        }
    } else {
        bilinear_axis(ih, g.rh, g.top, H, ylo, yhi, yf);
        bilinear_axis(iw, g.rw, g.left, W, xlo, xhi, xf);
        for (int y = 0; y < H; y++) {
            const uint8_t *r0 = src + (size_t)ylo[y] * sstride;
            const uint8_t *r1 = src + (size_t)yhi[y] * sstride;
            const float dy = yf[y];
            const float wy0 = 1.0f - dy;
            uint8_t *o = out + (size_t)y * W * (size_t)oc;
            for (int x = 0; x < W; x++) {
                const float dx = xf[x];
                const float wx0 = 1.0f - dx;
                const float w00 = wy0 * wx0, w01 = wy0 * dx, w10 = dy * wx0, w11 = dy * dx;
                const size_t x0 = (size_t)xlo[x] * (size_t)sc, x1 = (size_t)xhi[x] * (size_t)sc;
                for (int c = 0; c < sc; c++) {
                    const float v = (float)r0[x0 + c] * w00 + (float)r0[x1 + c] * w01 +
                                    (float)r1[x0 + c] * w10 + (float)r1[x1 + c] * w11;
                    const uint8_t q = (uint8_t)v;
                    if (oc == sc) {
                        o[(size_t)x * sc + c] = q;
                    } else {
                        o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = q;
                    }
                }
            }
        }
    }
    free(ylo);
    free(xlo);
    free(yf);
    free(xf);
    return TX_OK;
}

int tx_preprocess_u8(uint8_t *out, const tx_image *img, const tx_preproc *pp, tx_err *err) {
    int rc = tx_preproc_check(pp, "preprocess", err);
    if (rc) return rc;
    if (!out) return tx_err_set(err, TX_EINVAL, "preprocess: no output buffer");
    if (!img || !img->pixels || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3))
        return tx_err_set(err, TX_EINVAL,
                          "preprocess: invalid input image (%d x %d x %d, pixels %s)",
                          img ? img->w : 0, img ? img->h : 0, img ? img->c : 0,
                          img && img->pixels ? "set" : "missing");
    if (img->c == 3 && pp->channels == 1) {
        size_t np = (size_t)img->w * (size_t)img->h;
        uint8_t *gray = malloc(np);
        if (!gray) return tx_err_set(err, TX_ENOMEM, "preprocess: out of memory for gray copy");
        const uint8_t *p = img->pixels;
        for (size_t i = 0; i < np; i++) gray[i] = tx_rgb_to_gray(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        rc = pp_resize(out, 1, gray, img->h, img->w, 1, pp, err);
        free(gray);
        return rc;
    }
    return pp_resize(out, pp->channels, img->pixels, img->h, img->w, img->c, pp, err);
}

void tx_normalize(float *out, const uint8_t *in, const tx_preproc *pp) {
    const int C = pp->channels == 1 ? 1 : 3;
    const size_t n = (size_t)pp->height * (size_t)pp->width;
    float mean[3], std[3];
    for (int c = 0; c < C; c++) {
        mean[c] = pp->mean[c];
        std[c] = pp->std[c];
    }
    /* torchvision's order: ToTensor (x / 255 in float32), then Normalize ((x - m) / s). */
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++)
            out[i * C + c] = ((float)in[i * C + c] / 255.0f - mean[c]) / std[c];
}

int tx_preprocess(float *out, const tx_image *img, const tx_preproc *pp, tx_err *err) {
    int rc = tx_preproc_check(pp, "preprocess", err);
    if (rc) return rc;
    size_t n = (size_t)pp->height * (size_t)pp->width * (size_t)pp->channels;
    uint8_t *u8 = malloc(n);
    if (!u8) return tx_err_set(err, TX_ENOMEM, "preprocess: out of memory (%zu bytes)", n);
    rc = tx_preprocess_u8(u8, img, pp, err);
    if (rc == TX_OK) tx_normalize(out, u8, pp);
    free(u8);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

/* The shortest decimal that reads back (through a double) as the same float, so the
 * JSON says 0.485 rather than 0.48500001430511475. */
static double float_for_json(float f) {
    char b[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)f);
        double d = strtod(b, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

cJSON *tx_preproc_to_json(const tx_preproc *pp) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    int C = pp->channels == 1 ? 1 : 3;
    double mean[3], std[3];
    for (int c = 0; c < C; c++) {
        mean[c] = float_for_json(pp->mean[c]);
        std[c] = float_for_json(pp->std[c]);
    }
    cJSON *m = cJSON_CreateDoubleArray(mean, C), *s = cJSON_CreateDoubleArray(std, C);
    if (!cJSON_AddNumberToObject(j, "height", pp->height) ||
        !cJSON_AddNumberToObject(j, "width", pp->width) ||
        !cJSON_AddNumberToObject(j, "channels", pp->channels) ||
        !cJSON_AddStringToObject(j, "resize", tx_resize_name(pp->resize)) ||
        !cJSON_AddNumberToObject(j, "crop_fraction", float_for_json(pp->crop_fraction)) || !m ||
        !cJSON_AddItemToObject(j, "mean", m) || (m = NULL, !s) ||
        !cJSON_AddItemToObject(j, "std", s)) {
        cJSON_Delete(m);
        cJSON_Delete(s);
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int json_int(const cJSON *it, const char *where, int lo, int hi, int *out, tx_err *err) {
    double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (!cJSON_IsNumber(it) || !(d >= lo && d <= hi) || d != floor(d))
        return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" must be an integer in "
                          "%d..%d", where, it->string, lo, hi);
    *out = (int)d;
    return TX_OK;
}

static int json_floats(const cJSON *it, const char *where, float out[3], int *n, tx_err *err) {
    if (!cJSON_IsArray(it))
        return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" must be an array of "
                          "numbers", where, it->string);
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, it) {
        if (k >= 3)
            return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" has more than 3 "
                              "values", where, it->string);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > 3.0e38)
            return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" element %d is not a "
                              "finite number", where, it->string, k);
        out[k++] = (float)e->valuedouble;
    }
    *n = k;
    return TX_OK;
}

int tx_preproc_from_json(tx_preproc *pp, const cJSON *j, const char *where, tx_err *err) {
    if (!where) where = "<json>";
    if (!cJSON_IsObject(j))
        return tx_err_set(err, TX_EINVAL, "%s: preprocessing spec must be a JSON object", where);
    tx_preproc p;
    tx_preproc_default(&p, 0, 0, 0);
    static const char *const keys[] = {"height", "width", "channels", "resize",
                                       "crop_fraction", "mean", "std"};
    enum { NKEYS = sizeof keys / sizeof *keys };
    int seen[NKEYS] = {0};
    int nmean = 0, nstd = 0, rc;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        int k = -1;
        for (int i = 0; i < NKEYS; i++)
            if (it->string && strcmp(it->string, keys[i]) == 0) k = i;
        if (k < 0)
            return tx_err_set(err, TX_EINVAL,
                              "%s: unknown preprocessing key \"%s\" (known: height, width, "
                              "channels, resize, crop_fraction, mean, std)",
                              where, it->string ? it->string : "");
        if (seen[k]++)
            return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" appears twice",
                              where, keys[k]);
        switch (k) {
        case 0: rc = json_int(it, where, 1, TX_PP_MAX_SIDE, &p.height, err); break;
        case 1: rc = json_int(it, where, 1, TX_PP_MAX_SIDE, &p.width, err); break;
        case 2:
            rc = json_int(it, where, 1, 3, &p.channels, err);
            if (!rc && p.channels == 2)
                rc = tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"channels\" must be 1 "
                                "or 3, not 2", where);
            break;
        case 3:
            rc = (cJSON_IsString(it) && tx_resize_parse(it->valuestring, &p.resize))
                     ? TX_OK
                     : tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"resize\" must be "
                                  "\"bilinear\" or \"nearest\"", where);
            break;
        case 4:
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0.0 && it->valuedouble <= 1.0))
                rc = tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"crop_fraction\" must "
                                "be a number in [0, 1] (0 = no crop)", where);
            else {
                p.crop_fraction = (float)it->valuedouble;
                rc = TX_OK;
            }
            break;
        case 5: rc = json_floats(it, where, p.mean, &nmean, err); break;
        default: rc = json_floats(it, where, p.std, &nstd, err); break;
        }
        if (rc) return rc;
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"%s\" is missing", where,
                              keys[i]);
    if (seen[5] && nmean != p.channels)
        return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"mean\" has %d values, "
                          "channels is %d", where, nmean, p.channels);
    if (seen[6] && nstd != p.channels)
        return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"std\" has %d values, "
                          "channels is %d", where, nstd, p.channels);
    for (int c = 0; c < p.channels; c++)
        if (!(p.std[c] > 0.0f))
            return tx_err_set(err, TX_EINVAL, "%s: preprocessing key \"std\" element %d is %g, "
                              "must be positive", where, c, (double)p.std[c]);
    if (p.channels == 1) { /* unused slots: keep them tidy */
        p.mean[1] = p.mean[2] = 0.0f;
        p.std[1] = p.std[2] = 1.0f;
    }
    rc = tx_preproc_check(&p, where, err);
    if (rc) return rc;
    *pp = p;
    return TX_OK;
}
