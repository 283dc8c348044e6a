/* loader.c - batches from datasets: preprocessing + augmentation. */
#include "data/loader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tx_augment_apply(float *img, int h, int w, int c, const tx_augment *aug,
                      const float *fill, tx_rng *r, float *tmp) {
    size_t plane = (size_t)h * w * c;
    if (aug->crop_pad > 0) {
        int p = aug->crop_pad;
        int dy = (int)tx_rng_below(r, (uint32_t)(2 * p + 1)) - p;
        int dx = (int)tx_rng_below(r, (uint32_t)(2 * p + 1)) - p;
        if (dx || dy) {
            memcpy(tmp, img, plane * sizeof(float));
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int sy = y + dy, sx = x + dx;
                    float *o = img + ((size_t)y * w + x) * c;
                    if (sy < 0 || sy >= h || sx < 0 || sx >= w)
                        for (int k = 0; k < c; k++) o[k] = fill[k];
                    else
                        memcpy(o, tmp + ((size_t)sy * w + sx) * c, (size_t)c * sizeof(float));
                }
        }
    }
    if (aug->hflip && (tx_rng_u64(r) >> 63)) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w / 2; x++) {
                float *a = img + ((size_t)y * w + x) * c, *b = img + ((size_t)y * w + (w - 1 - x)) * c;
                for (int k = 0; k < c; k++) {
                    float t = a[k];
                    a[k] = b[k];
                    b[k] = t;
                }
            }
    }
    if (aug->erase_p > 0 && tx_rng_uniform(r) < aug->erase_p) {
        /* torchvision RandomErasing: up to 10 attempts to fit a box */
        double area = (double)h * w;
        for (int attempt = 0; attempt < 10; attempt++) {
            double target = area * (0.02 + tx_rng_uniform(r) * (0.33 - 0.02));
            double logr = log(0.3) + tx_rng_uniform(r) * (log(1 / 0.3) - log(0.3));
            double ratio = exp(logr);
            int eh = (int)lround(sqrt(target * ratio)), ew = (int)lround(sqrt(target / ratio));
            if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
            int y0 = (int)tx_rng_below(r, (uint32_t)(h - eh + 1));
            int x0 = (int)tx_rng_below(r, (uint32_t)(w - ew + 1));
            for (int y = y0; y < y0 + eh; y++)
                memset(img + ((size_t)y * w + x0) * c, 0, (size_t)ew * c * sizeof(float));
            break;
        }
    }
}

static uint64_t mix(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
    x ^= (c + 0x8cb92ba72f3d8dd7ULL) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

int tx_load_batch(float *out, const tx_dataset *d, const int64_t *idx, int n,
                  const tx_preproc *pp, const tx_augment *aug, uint64_t seed, int64_t epoch,
                  tx_err *err) {
    size_t plane = (size_t)pp->height * pp->width * pp->channels;
    size_t src_plane = (size_t)d->h * d->w * d->c;
    float fill[3];
    for (int k = 0; k < pp->channels && k < 3; k++) fill[k] = (0.0f - pp->mean[k]) / pp->std[k];
    int failed = 0;
    tx_err first = {0};
    #pragma omp parallel
    {
        float *tmp = aug ? tx_alloc(plane * sizeof(float)) : NULL;
        tx_err local = {0};
        if (aug && !tmp) {
            tx_err_set(&local, TX_ENOMEM, "out of memory (augmentation)");
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int i = 0; i < n; i++) {
            if (idx[i] < 0 || idx[i] >= d->n) {
                tx_err_set(&local, TX_EINVAL, "%s: sample %lld out of range", d->name, (long long)idx[i]);
                #pragma omp atomic write
                failed = 1;
                continue;
            }
            tx_image img = {.w = d->w, .h = d->h, .c = d->c,
                            .pixels = d->images + (size_t)idx[i] * src_plane};
            if (tx_preprocess(out + (size_t)i * plane, &img, pp, &local) != TX_OK) {
                #pragma omp atomic write
                failed = 1;
                continue;
            }
            if (aug && tmp) {
                tx_rng r;
                tx_rng_seed(&r, mix(seed, (uint64_t)epoch, (uint64_t)idx[i]));
                tx_augment_apply(out + (size_t)i * plane, pp->height, pp->width, pp->channels,
                                 aug, fill, &r, tmp);
            }
        }
        if (local.code)
            #pragma omp critical
            if (!first.code) first = local;
        tx_free(tmp);
    }
    if (failed) {
        if (err) *err = first;
        return first.code ? first.code : TX_ENOMEM;
    }
    return TX_OK;
}

int tx_load_batch_u8(uint8_t *out, const tx_dataset *d, const int64_t *idx, int n,
                     const tx_preproc *pp, int int8, tx_err *err) {
    size_t plane = (size_t)pp->height * pp->width * pp->channels;
    size_t src_plane = (size_t)d->h * d->w * d->c;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= d->n)
            return tx_err_set(err, TX_EINVAL, "%s: sample %lld out of range", d->name, (long long)idx[i]);
        tx_image img = {.w = d->w, .h = d->h, .c = d->c, .pixels = d->images + (size_t)idx[i] * src_plane};
        uint8_t *o = out + (size_t)i * plane;
        int rc = tx_preprocess_u8(o, &img, pp, err);
        if (rc) return rc;
        if (int8)
            for (size_t k = 0; k < plane; k++) o[k] ^= 0x80; /* pixel - 128 as int8 */
    }
    return TX_OK;
}
