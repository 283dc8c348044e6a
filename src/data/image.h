/* image.h - decoding image files to 8-bit pixels.
 * PNG (libpng), JPEG (TurboJPEG), BMP and PGM/PPM (by hand). Every header field,
 * offset and size is checked against the buffer before use. */
#ifndef TX_IMAGE_H
#define TX_IMAGE_H

#include "core/core.h"

/* Pixels are HWC, top row first, 8 bits per channel; c is 1 (gray) or 3 (RGB). */
typedef struct tx_image {
    int w, h, c;
    uint8_t *pixels; /* malloc'd, w*h*c bytes */
} tx_image;

/* Decodes from memory. `name` is used in messages (a path, or "<buffer>").
 * want_c: 0 keeps the file's own (gray stays 1, everything else becomes 3, alpha
 * dropped), 1 converts to gray (ITU-R 601 luma, as Pillow's "L"), 3 to RGB.
 * Rejects images larger than 1<<28 pixels or with a zero side. */
int tx_image_decode(const uint8_t *buf, size_t size, const char *name, int want_c,
                    tx_image *out, tx_err *err);
int tx_image_load(const char *path, int want_c, tx_image *out, tx_err *err);
void tx_image_free(tx_image *img);

#endif
