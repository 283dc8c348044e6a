/* preprocess.h - THE preprocessing routine. train, eval, predict and serve all call
 * tx_preprocess with the spec stored in the model file, so they cannot disagree. */
#ifndef TX_PREPROCESS_H
#define TX_PREPROCESS_H

#include "core/core.h"
#include "data/image.h"

typedef enum {
    TX_RESIZE_BILINEAR = 0, /* TFLite RESIZE_BILINEAR, half-pixel centers, float32 with
                               the 4 weights formed first (TFLite's optimized kernel),
                               truncated to uint8: bit-exact with ../shared/reference */
    TX_RESIZE_NEAREST = 1,  /* Pillow NEAREST (double stepping through the row) */
} tx_resize_method;

typedef struct tx_preproc {
    int height, width, channels;  /* model input: H x W x C (C = 1 or 3) */
    tx_resize_method resize;
    /* crop_fraction in (0, 1]: resize keeping the aspect so that the shorter side
     * becomes floor(size / crop_fraction) (timm's eval recipe: 224 / 0.875 = 256), then
     * center-crop to height x width (offsets rounded half to even, as torchvision's
     * CenterCrop); details in preprocess.c. crop_fraction = 0 means resize straight to
     * height x width (no crop, aspect not kept; TFLite's recipe). */
    float crop_fraction;
    /* float input = (pixel / 255 - mean[c]) / std[c] */
    float mean[3], std[3];
} tx_preproc;

/* Checks a spec (sizes 1..16384, channels 1 or 3, known resize, crop_fraction in
 * [0, 1], finite mean, positive finite std). `where` names the source in messages. */
int tx_preproc_check(const tx_preproc *pp, const char *where, tx_err *err);

/* A spec with sane defaults for an H x W x C input: bilinear, straight resize,
 * mean 0, std 1 (so inputs are in [0,1]). */
void tx_preproc_default(tx_preproc *pp, int h, int w, int c);

/* Decoded image -> uint8 tensor [height, width, channels] (resized/cropped, converted to
 * the spec's channel count), before normalization. out holds h*w*c bytes. */
int tx_preprocess_u8(uint8_t *out, const tx_image *img, const tx_preproc *pp, tx_err *err);
/* uint8 tensor [h,w,c] as produced above -> normalized float [h,w,c]. */
void tx_normalize(float *out, const uint8_t *in, const tx_preproc *pp);
/* Both steps: image -> normalized float tensor [height, width, channels]. */
int tx_preprocess(float *out, const tx_image *img, const tx_preproc *pp, tx_err *err);

/* JSON (cJSON) round trip, strict: unknown keys and bad values are errors naming
 * the key. `where` names the file for messages. Form:
 *   {"height":224,"width":224,"channels":3,"resize":"bilinear","crop_fraction":0.875,
 *    "mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}
 * height, width and channels are required; the others default as tx_preproc_default;
 * mean and std hold exactly `channels` numbers. Floats are written as the shortest
 * decimal that reads back to the same float32. On error *pp is left unchanged. */
struct cJSON;
struct cJSON *tx_preproc_to_json(const tx_preproc *pp);
int tx_preproc_from_json(tx_preproc *pp, const struct cJSON *j, const char *where,
                         tx_err *err);
const char *tx_resize_name(tx_resize_method m);
/* "bilinear" / "nearest" -> method; returns 1 when s names one, else 0. */
int tx_resize_parse(const char *s, tx_resize_method *m);

#endif
