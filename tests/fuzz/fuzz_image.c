/* fuzz_image.c - libFuzzer target for the image decoders (PNG, JPEG, BMP, PGM/PPM) and
 * the preprocessing that follows them.
 * Decodes the input with want_c 0, 1 and 3 and checks what callers rely on: a failure
 * explains itself and leaves no pixels; a success has sane sizes, the channels asked
 * for, and every pixel readable (ASan sees any short buffer). Decoded images are then
 * resized by both filters, with and without crop, to odd small sizes. */
#include "data/image.h"
#include "data/preprocess.h"

#include <stdint.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_image(const tx_image *im, int want_c) {
    REQUIRE(im->pixels != NULL && im->w > 0 && im->h > 0);
    REQUIRE(im->c == 1 || im->c == 3);
    if (want_c) REQUIRE(im->c == want_c);
    REQUIRE((uint64_t)im->w * (uint64_t)im->h <= ((uint64_t)1 << 20));
    size_t n = (size_t)im->w * (size_t)im->h * (size_t)im->c;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i += 61) sink ^= im->pixels[i];
    sink ^= im->pixels[n - 1];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int wants[3] = {0, 1, 3};
    for (int k = 0; k < 3; k++) {
        tx_image im;
        tx_err err;
        err.msg[0] = 0;
        /* tx_image_decode with a 1-megapixel limit, as libjpeg-turbo's own fuzzers use:
         * a few hundred bytes can describe a valid 1<<28-pixel JPEG or PNG, which is
         * slow only, not wrong. */
        int rc = tx_image_decode_max(data, size, "fuzz", wants[k], (uint64_t)1 << 20, &im, &err);
        if (rc != TX_OK) {
            REQUIRE(rc < 0 && err.msg[0] != 0 && strlen(err.msg) < sizeof err.msg);
            REQUIRE(im.pixels == NULL && im.w == 0 && im.h == 0);
            tx_image_free(&im);
            return 0; /* the other want_c values fail the same way */
        }
        check_image(&im, wants[k]);
        if (k == 0) {
            uint8_t out[13 * 7 * 3];
            tx_preproc pp;
            for (int m = 0; m < 4; m++) {
                tx_preproc_default(&pp, m & 1 ? 13 : 7, m & 1 ? 7 : 13, m & 2 ? 1 : 3);
                pp.resize = m & 1 ? TX_RESIZE_NEAREST : TX_RESIZE_BILINEAR;
                pp.crop_fraction = m >= 2 ? 0.875f : 0.0f;
                int prc = tx_preprocess_u8(out, &im, &pp, &err);
                /* crop may refuse absurd aspect ratios (a 1 x 2^24 strip), nothing else */
                REQUIRE(prc == TX_OK || (prc == TX_EUNSUP && pp.crop_fraction > 0.0f));
            }
        }
        tx_image_free(&im);
    }
    return 0;
}
