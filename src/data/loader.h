/* loader.h - turning dataset samples into model input batches: the model's
 * preprocessing (the one routine, tx_preprocess) followed, when training, by
 * augmentation. Each sample's randomness comes from (seed, epoch, sample index), so a
 * batch is the same whatever the thread count and a resumed run sees the same data. */
#ifndef TX_LOADER_H
#define TX_LOADER_H

#include "data/dataset.h"
#include "data/preprocess.h"

typedef struct tx_augment {
    int crop_pad;     /* random crop back to size after zero-padding each side by this */
    int hflip;        /* random horizontal flip with probability 1/2 */
    float erase_p;    /* random erasing probability (scale 0.02-0.33, ratio 0.3-3.3, value 0) */
} tx_augment;

/* out: [n, pp->height, pp->width, pp->channels] floats. aug NULL: no augmentation. */
int tx_load_batch(float *out, const tx_dataset *d, const int64_t *idx, int n,
                  const tx_preproc *pp, const tx_augment *aug, uint64_t seed, int64_t epoch,
                  tx_err *err);
/* 8-bit models: out [n, h, w, c] bytes, the preprocessed pixels before normalization
 * (int8 = 1: as int8, pixel - 128), as the session feeds quantized inputs. */
int tx_load_batch_u8(uint8_t *out, const tx_dataset *d, const int64_t *idx, int n,
                     const tx_preproc *pp, int int8, tx_err *err);
/* Augments one normalized [h,w,c] image in place; fill is the normalized value of a
 * black pixel for each channel (what zero padding shows). */
void tx_augment_apply(float *img, int h, int w, int c, const tx_augment *aug,
                      const float *fill, tx_rng *r, float *tmp);

#endif
