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
 * dropped), 1 converts to gray (ITU-R 601 luma, as Pillow's "L": tx_rgb_to_gray),
 * 3 to RGB (gray replicated). The format comes from the magic bytes, not the name.
 * Formats: PNG (any bit depth, palette, interlaced; 16-bit keeps the high byte, no
 * gamma correction, like Pillow), JPEG (TurboJPEG defaults: islow IDCT, fancy
 * upsampling; CMYK/YCCK converted as Adobe-inverted CMYK), BMP (uncompressed 1/4/8-bit
 * paletted, 16/24/32-bit, bit fields, bottom-up or top-down; a paletted BMP whose
 * palette is all gray decodes as 1 channel), PGM/PPM (P2/P3/P5/P6, maxval 1..65535,
 * scaled to 8 bits with rounding). Truncated or corrupt files are errors (a JPEG
 * with a premature end does not decode to gray padding; stray bytes between JPEG
 * markers are tolerated, as Pillow does). Decoded pixels equal Pillow's
 * Image.open(f).convert("RGB" / "L") for every case tried (PNG, BMP, PNM, JPEG, CMYK).
 * Rejects images larger than 1<<28 pixels or with a zero side. On error *out is
 * zeroed and holds nothing to free. */
int tx_image_decode(const uint8_t *buf, size_t size, const char *name, int want_c,
                    tx_image *out, tx_err *err);
/* The same with a lower pixel limit (0 = the default 1<<28), checked from the header
 * before any pixel is decoded: a server or a fuzzer bounds its work with it. */
int tx_image_decode_max(const uint8_t *buf, size_t size, const char *name, int want_c,
                        uint64_t max_pixels, tx_image *out, tx_err *err);
int tx_image_load(const char *path, int want_c, tx_image *out, tx_err *err);
void tx_image_free(tx_image *img);

/* RGB -> gray exactly as Pillow's convert("L"): R*299/1000 + G*587/1000 + B*114/1000
 * in Pillow's 16-bit fixed point (19595, 38470, 7471), rounded to nearest. */
static inline uint8_t tx_rgb_to_gray(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)(((uint32_t)r * 19595u + (uint32_t)g * 38470u + (uint32_t)b * 7471u +
                      0x8000u) >> 16);
}

#endif
