/* test_image.c - image decoders: every format and layout, conversions, truncations at
 * every length, corrupted bytes, bad headers. Test images are encoded here (BMP and
 * PNM by hand, PNG with libpng, JPEG with TurboJPEG), so nothing depends on files. */
#include "data/image.h"
#include "testutil.h"

#include <setjmp.h>
#include <sys/resource.h>
#include <stdint.h>
#include <unistd.h>

#ifdef TX_HAVE_PNG
#include <png.h>
#endif
#ifdef TX_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

/* ---- a growable byte buffer ------------------------------------------------ */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t nc = (b->n + n) * 2 + 64;
        uint8_t *q = realloc(b->p, nc);
        if (!q) abort(); /* test code */
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u8(bytes *b, unsigned v) {
    uint8_t x = (uint8_t)v;
    b_put(b, &x, 1);
}
static void b_u16(bytes *b, unsigned v) {
    b_u8(b, v & 255);
    b_u8(b, (v >> 8) & 255);
}
static void b_u32(bytes *b, uint32_t v) {
    b_u16(b, v & 0xFFFF);
    b_u16(b, v >> 16);
}
static void b_str(bytes *b, const char *s) { b_put(b, s, strlen(s)); }

/* Test pattern: distinct, non-symmetric values per channel. */
static uint8_t pat(int x, int y, int c) { return (uint8_t)(x * 37 + y * 91 + c * 53 + 11); }

/* ---- BMP writer ---------------------------------------------------------------- */

typedef struct {
    int w, h, bpp;
    int top_down;
    int hsize;            /* 12, 40, 108, 124 */
    uint32_t compression; /* 0 or 3 (bit fields) */
    uint32_t masks[3];
    int npal;             /* palette entries written (bpp <= 8) */
    uint8_t pal[256][3];  /* RGB */
    const uint8_t *idx;   /* bpp <= 8: w*h palette indices, top row first */
    const uint8_t *rgb;   /* bpp >= 16: w*h*3, top row first */
} bmp_spec;

static bytes bmp_encode(const bmp_spec *s) {
    bytes b = {0};
    int stride = ((s->w * s->bpp + 31) / 32) * 4;
    int pal_entry = s->hsize == 12 ? 3 : 4;
    int masks_extra = (s->hsize == 40 && s->compression == 3) ? 12 : 0;
    uint32_t off = 14 + (uint32_t)s->hsize + (uint32_t)masks_extra +
                   (uint32_t)(s->bpp <= 8 ? s->npal * pal_entry : 0);
    uint32_t total = off + (uint32_t)(stride * s->h);
    b_str(&b, "BM");
    b_u32(&b, total);
    b_u32(&b, 0);
    b_u32(&b, off);
    b_u32(&b, (uint32_t)s->hsize);
    if (s->hsize == 12) {
        b_u16(&b, (unsigned)s->w);
        b_u16(&b, (unsigned)s->h);
        b_u16(&b, 1);
        b_u16(&b, (unsigned)s->bpp);
    } else {
        b_u32(&b, (uint32_t)s->w);
        b_u32(&b, (uint32_t)(s->top_down ? -s->h : s->h));
        b_u16(&b, 1);
        b_u16(&b, (unsigned)s->bpp);
        b_u32(&b, s->compression);
        b_u32(&b, (uint32_t)(stride * s->h));
        b_u32(&b, 2835);
        b_u32(&b, 2835);
        b_u32(&b, s->bpp <= 8 ? (uint32_t)s->npal : 0);
        b_u32(&b, 0);
        size_t written = 40;
        if (s->compression == 3) {
            for (int i = 0; i < 3; i++) b_u32(&b, s->masks[i]);
            written += 12;
        }
        while ((int)written < s->hsize + masks_extra) {
            b_u8(&b, 0);
            written++;
        }
    }
    for (int i = 0; s->bpp <= 8 && i < s->npal; i++) {
        b_u8(&b, s->pal[i][2]);
        b_u8(&b, s->pal[i][1]);
        b_u8(&b, s->pal[i][0]);
        if (pal_entry == 4) b_u8(&b, 0);
    }
    uint8_t *row = calloc((size_t)stride, 1);
    for (int r = 0; r < s->h; r++) {
        int y = s->top_down ? r : s->h - 1 - r;
        memset(row, 0, (size_t)stride);
        for (int x = 0; x < s->w; x++) {
            if (s->bpp <= 8) {
                int per = 8 / s->bpp;
                unsigned v = s->idx[y * s->w + x];
                row[x / per] |= (uint8_t)(v << (8 - s->bpp - (x % per) * s->bpp));
            } else {
                const uint8_t *p = s->rgb + (size_t)(y * s->w + x) * 3;
                if (s->bpp == 24) {
                    row[3 * x] = p[2];
                    row[3 * x + 1] = p[1];
                    row[3 * x + 2] = p[0];
                } else if (s->bpp == 32 && s->compression == 0) {
                    row[4 * x] = p[2];
                    row[4 * x + 1] = p[1];
                    row[4 * x + 2] = p[0];
                    row[4 * x + 3] = 0x5A; /* alpha, to be dropped */
                } else { /* 16 or 32 bits through masks (full-width values only) */
                    uint32_t v = 0;
                    for (int c = 0; c < 3; c++) {
                        uint64_t m = s->masks[c];
                        int sh = 0, bits = 0;
                        while (!((m >> sh) & 1)) sh++;
                        while ((m >> (sh + bits)) & 1) bits++;
                        v |= (uint32_t)(((uint64_t)p[c] >> (8 - bits)) << sh);
                    }
                    for (int k = 0; k < s->bpp / 8; k++) row[x * s->bpp / 8 + k] = (uint8_t)(v >> (8 * k));
                }
            }
        }
        b_put(&b, row, (size_t)stride);
    }
    free(row);
    return b;
}

static uint8_t *make_rgb(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) p[(y * w + x) * 3 + c] = pat(x, y, c);
    return p;
}

static int count_mismatch(const uint8_t *a, const uint8_t *b, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

static bytes bmp24(int w, int h, int top_down) {
    uint8_t *rgb = make_rgb(w, h);
    bmp_spec s = {.w = w, .h = h, .bpp = 24, .top_down = top_down, .hsize = 40, .rgb = rgb};
    bytes b = bmp_encode(&s);
    free(rgb);
    return b;
}

static void test_bmp_24_and_32(void) {
    tx_err err = {0};
    for (int variant = 0; variant < 6; variant++) {
        int w = 5 + variant, h = 3 + variant % 2; /* odd widths: row padding 1..3 bytes */
        uint8_t *rgb = make_rgb(w, h);
        int hsizes[3] = {40, 108, 124};
        bmp_spec s = {.w = w, .h = h, .bpp = variant < 3 ? 24 : 32, .top_down = variant & 1,
                      .hsize = hsizes[variant % 3], .rgb = rgb};
        bytes b = bmp_encode(&s);
        tx_image im;
        CHECK_OK(tx_image_decode(b.p, b.n, "t.bmp", 0, &im, &err), &err);
        CHECK(im.w == w && im.h == h && im.c == 3, "variant %d: got %dx%dx%d", variant, im.w,
              im.h, im.c);
        int bad = count_mismatch(im.pixels, rgb, (size_t)w * h * 3);
        CHECK(bad == 0, "variant %d (%d bpp, top_down %d): %d bytes differ", variant, s.bpp,
              s.top_down, bad);
        tx_image_free(&im);
        free(b.p);
        free(rgb);
    }
}

static void test_bmp_paletted(void) {
    tx_err err = {0};
    int bpps[3] = {1, 4, 8};
    for (int t = 0; t < 3; t++) {
        for (int gray = 0; gray < 2; gray++) {
            int w = 11, h = 4, bpp = bpps[t], npal = 1 << bpp;
            bmp_spec s = {.w = w, .h = h, .bpp = bpp, .hsize = 40, .npal = npal};
            for (int i = 0; i < npal; i++) {
                s.pal[i][0] = (uint8_t)(gray ? i * 255 / (npal - 1) : (i * 29 + 3));
                s.pal[i][1] = (uint8_t)(gray ? s.pal[i][0] : (i * 71 + 100));
                s.pal[i][2] = (uint8_t)(gray ? s.pal[i][0] : (255 - i));
            }
            uint8_t idx[44];
            for (int i = 0; i < w * h; i++) idx[i] = (uint8_t)((i * 7 + i / w) % npal);
            s.idx = idx;
            bytes b = bmp_encode(&s);
            tx_image im;
            CHECK_OK(tx_image_decode(b.p, b.n, "p.bmp", 0, &im, &err), &err);
            int want_c = gray ? 1 : 3;
            CHECK(im.w == w && im.h == h && im.c == want_c, "%d bpp gray=%d: got %dx%dx%d", bpp,
                  gray, im.w, im.h, im.c);
            int bad = 0;
            for (int i = 0; i < w * h && im.c == want_c; i++)
                for (int c = 0; c < want_c; c++) bad += im.pixels[i * want_c + c] != s.pal[idx[i]][c];
            CHECK(bad == 0, "%d bpp gray=%d: %d values differ from the palette", bpp, gray, bad);
            tx_image_free(&im);
            /* want_c = 3 on a gray palette replicates */
            CHECK_OK(tx_image_decode(b.p, b.n, "p.bmp", 3, &im, &err), &err);
            bad = 0;
            for (int i = 0; i < w * h; i++)
                for (int c = 0; c < 3; c++) bad += im.pixels[i * 3 + c] != s.pal[idx[i]][c];
            CHECK(im.c == 3 && bad == 0, "%d bpp gray=%d as RGB: %d differ", bpp, gray, bad);
            tx_image_free(&im);
            free(b.p);
        }
    }
}

static void test_bmp_bitfields_and_core(void) {
    tx_err err = {0};
    int w = 7, h = 3;
    uint8_t *rgb = make_rgb(w, h);
    /* 32-bit with non-standard masks (R in the top byte) */
    bmp_spec s = {.w = w, .h = h, .bpp = 32, .hsize = 40, .compression = 3,
                  .masks = {0xFF000000u, 0x00FF0000u, 0x0000FF00u}, .rgb = rgb};
    bytes b = bmp_encode(&s);
    tx_image im;
    CHECK_OK(tx_image_decode(b.p, b.n, "bf.bmp", 0, &im, &err), &err);
    CHECK(im.c == 3 && count_mismatch(im.pixels, rgb, (size_t)w * h * 3) == 0,
          "32-bit bit fields decode differs");
    tx_image_free(&im);
    free(b.p);
    /* 16-bit 5-6-5 via bit fields in a v4 header: 5/6-bit values scale to 0..255 */
    bmp_spec s16 = {.w = w, .h = h, .bpp = 16, .hsize = 108, .compression = 3,
                    .masks = {0xF800u, 0x07E0u, 0x001Fu}, .rgb = rgb};
    b = bmp_encode(&s16);
    CHECK_OK(tx_image_decode(b.p, b.n, "565.bmp", 0, &im, &err), &err);
    int bad = 0;
    for (int i = 0; i < w * h; i++) {
        int bits[3] = {5, 6, 5};
        for (int c = 0; c < 3; c++) {
            unsigned v = rgb[i * 3 + c] >> (8 - bits[c]), maxv = (1u << bits[c]) - 1;
            bad += im.pixels[i * 3 + c] != (uint8_t)((v * 255 + maxv / 2) / maxv);
        }
    }
    CHECK(bad == 0, "16-bit 565: %d values differ", bad);
    tx_image_free(&im);
    free(b.p);
    /* OS/2 core header, 24-bit */
    bmp_spec sc = {.w = w, .h = h, .bpp = 24, .hsize = 12, .rgb = rgb};
    b = bmp_encode(&sc);
    CHECK_OK(tx_image_decode(b.p, b.n, "core.bmp", 0, &im, &err), &err);
    CHECK(count_mismatch(im.pixels, rgb, (size_t)w * h * 3) == 0, "OS/2 BMP differs");
    tx_image_free(&im);
    free(b.p);
    free(rgb);
}

/* Decoding must fail, leave no pixels, and the message must name the file and contain
 * `want` (when non-NULL). */
static void expect_fail(const uint8_t *buf, size_t n, const char *name, const char *want,
                        const char *what) {
    tx_err err = {0};
    tx_image im;
    int rc = tx_image_decode(buf, n, name, 0, &im, &err);
    CHECK(rc != TX_OK, "%s: decoded although it should fail", what);
    CHECK(im.pixels == NULL, "%s: pixels left behind", what);
    if (rc != TX_OK) {
        CHECK(strstr(err.msg, name) != NULL, "%s: message does not name the file: %s", what,
              err.msg);
        CHECK(!want || strstr(err.msg, want), "%s: message lacks \"%s\": %s", what, want,
              err.msg);
    }
    if (rc == TX_OK) tx_image_free(&im);
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_bmp_bad_headers(void) {
    bytes good = bmp24(4, 3, 0);
    uint8_t *b = malloc(good.n);
#define MUTATE(off, val, want, what)                                                      \
    do {                                                                                  \
        memcpy(b, good.p, good.n);                                                        \
        put32(b + (off), (val));                                                          \
        expect_fail(b, good.n, "bad.bmp", want, what);                                    \
    } while (0)
    MUTATE(30, 1, "compressed", "RLE8");
    MUTATE(30, 2, "RLE4", "RLE4");
    MUTATE(30, 4, "compressed", "JPEG in BMP");
    MUTATE(18, 0, "width", "zero width");
    MUTATE(18, 0xFFFFFFFFu, "width", "negative width");
    MUTATE(22, 0, "height", "zero height");
    MUTATE(18, 0x7FFFFFFFu, "limit", "too many pixels");
    MUTATE(10, 5000, "pixel data at offset 5000", "offset past the end");
    MUTATE(14, 77, "header size", "bad header size");
    memcpy(b, good.p, good.n);
    b[28] = 2; /* 2 bits per pixel */
    expect_fail(b, good.n, "bad.bmp", "bits per pixel", "2 bpp");
    memcpy(b, good.p, good.n);
    b[26] = 3; /* planes */
    expect_fail(b, good.n, "bad.bmp", "planes", "planes");
    /* The message quoted in the brief: offset, bytes needed, bytes present. */
    bytes big = bmp24(640, 480, 0);
    tx_err err = {0};
    tx_image im;
    int rc = tx_image_decode(big.p, 1000, "cat.bmp", 0, &im, &err);
    CHECK(rc != TX_OK && strstr(err.msg, "cat.bmp: BMP pixel data at offset 54 needs 921600 "
                                         "bytes, file has 1000 (946 after the offset)"),
          "message: %s", err.msg);
    free(big.p);
    free(b);
    free(good.p);
#undef MUTATE
}

/* ---- PNM ----------------------------------------------------------------------- */

static void test_pnm(void) {
    tx_err err = {0};
    tx_image im;
    /* P5 with a comment and CRLF-free whitespace variety */
    const uint8_t p5[] = "P5\n# a comment\n3 2\t255\n\x01\x02\x03\xfd\xfe\xff";
    CHECK_OK(tx_image_decode(p5, sizeof p5 - 1, "a.pgm", 0, &im, &err), &err);
    CHECK(im.w == 3 && im.h == 2 && im.c == 1 && im.pixels[0] == 1 && im.pixels[5] == 255,
          "P5: %dx%dx%d", im.w, im.h, im.c);
    tx_image_free(&im);
    /* P6 */
    const uint8_t p6[] = "P6 2 1 255 \x0a\x14\x1e\x28\x32\x3c";
    CHECK_OK(tx_image_decode(p6, sizeof p6 - 1, "a.ppm", 0, &im, &err), &err);
    CHECK(im.w == 2 && im.h == 1 && im.c == 3 && im.pixels[0] == 10 && im.pixels[5] == 60,
          "P6 decoded wrong");
    tx_image_free(&im);
    /* P2 ASCII, maxval 15 scales to 0..255 with rounding */
    const char *p2 = "P2\n2 2\n15\n0 1\n# mid-data comment\n7 15\n";
    CHECK_OK(tx_image_decode((const uint8_t *)p2, strlen(p2), "b.pgm", 0, &im, &err), &err);
    CHECK(im.c == 1 && im.pixels[0] == 0 && im.pixels[1] == 17 && im.pixels[2] == 119 &&
              im.pixels[3] == 255,
          "P2 maxval 15: %d %d %d %d", im.pixels[0], im.pixels[1], im.pixels[2], im.pixels[3]);
    tx_image_free(&im);
    /* P3 ASCII, no trailing newline */
    const char *p3 = "P3 1 2 255 1 2 3 250 251 252";
    CHECK_OK(tx_image_decode((const uint8_t *)p3, strlen(p3), "c.ppm", 0, &im, &err), &err);
    CHECK(im.c == 3 && im.h == 2 && im.pixels[2] == 3 && im.pixels[5] == 252, "P3 wrong");
    tx_image_free(&im);
    /* 16-bit P5: big-endian samples, scaled */
    const uint8_t p16[] = "P5 2 1 65535\n\xff\xff\x80\x00";
    CHECK_OK(tx_image_decode(p16, sizeof p16 - 1, "d.pgm", 0, &im, &err), &err);
    CHECK(im.pixels[0] == 255 && im.pixels[1] == 128, "16-bit PGM: %d %d", im.pixels[0],
          im.pixels[1]);
    tx_image_free(&im);
    /* errors */
    const char *bad[][2] = {
        {"P5 2 2 0\n\x01\x02\x03\x04", "maxval is 0"},
        {"P5 2 2 70000\n", "maxval"},
        {"P5 2\n", "height"},
        {"P5 0 2 255\n", "zero side"},
        {"P2 2 1 10 3 11\n", "above maxval"},
        {"P2 2 1 10 3 x\n", "not a number"},
        {"P5 2 1 255", "whitespace"},
        {"P52 1 255\n", "whitespace"},
        {"P4 2 2\n\x00\x00", "PBM"},
        {"P7\nWIDTH 1\n", "PAM"},
        {"P6 2 1 255\n\x01\x02\x03", "needs 6 bytes"},
        {"P5 99999999 1 255\n", "width"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = strlen(bad[i][0]);
        expect_fail((const uint8_t *)bad[i][0], n, "bad.pnm", bad[i][1], bad[i][1]);
    }
}

/* ---- PNG ------------------------------------------------------------------------ */

#ifdef TX_HAVE_PNG
typedef struct {
    bytes out;
    int failed;
} png_wctx;

static void tpng_write(png_structp p, png_bytep d, size_t n) {
    png_wctx *c = png_get_io_ptr(p);
    b_put(&c->out, d, n);
}
static void tpng_flush(png_structp p) { (void)p; }
static void tpng_err(png_structp p, png_const_charp m) {
    (void)m;
    png_longjmp(p, 1);
}
static void tpng_warn(png_structp p, png_const_charp m) {
    (void)p;
    (void)m;
}

typedef struct {
    int w, h, color, depth, interlace;
    const uint8_t *data; /* rows packed as libpng wants them, top first */
    size_t stride;
    const uint8_t (*pal)[3];
    int npal;
    const uint8_t *trns;
    int ntrns;
    int gamma; /* write a gAMA chunk of 1/1.0 (linear): the decoder must ignore it */
} png_spec;

static int png_encode_run(png_structp p, png_infop info, const png_spec *s, png_wctx *c) {
    if (setjmp(png_jmpbuf(p))) return 1;
    png_set_write_fn(p, c, tpng_write, tpng_flush);
    png_set_IHDR(p, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->pal) {
        png_color pc[256];
        for (int i = 0; i < s->npal; i++) {
            pc[i].red = s->pal[i][0];
            pc[i].green = s->pal[i][1];
            pc[i].blue = s->pal[i][2];
        }
        png_set_PLTE(p, info, pc, s->npal);
    }
    if (s->trns) png_set_tRNS(p, info, s->trns, s->ntrns, NULL);
    if (s->gamma) png_set_gAMA_fixed(p, info, 100000);
    png_write_info(p, info);
    png_bytep rows[256];
    for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)(uintptr_t)(s->data + (size_t)y * s->stride);
    png_write_image(p, rows);
    png_write_end(p, NULL);
    return 0;
}

static bytes png_encode(const png_spec *s) {
    png_wctx c = {{0}, 0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, tpng_err, tpng_warn);
    png_infop info = png_create_info_struct(p);
    if (png_encode_run(p, info, s, &c)) {
        free(c.out.p);
        c.out.p = NULL;
        c.out.n = 0;
    }
    png_destroy_write_struct(&p, &info);
    return c.out;
}

static void test_png_formats(void) {
    tx_err err = {0};
    tx_image im;
    enum { W = 9, H = 7 };
    uint8_t *rgb = make_rgb(W, H);
    /* RGB 8, plain and interlaced, with a gAMA chunk that must not change values */
    for (int il = 0; il < 2; il++) {
        png_spec s = {W, H, PNG_COLOR_TYPE_RGB, 8, il, rgb, W * 3, NULL, 0, NULL, 0, 1};
        bytes b = png_encode(&s);
        CHECK(b.n > 0, "encode failed");
        CHECK_OK(tx_image_decode(b.p, b.n, "rgb.png", 0, &im, &err), &err);
        CHECK(im.w == W && im.h == H && im.c == 3 &&
                  count_mismatch(im.pixels, rgb, W * H * 3) == 0,
              "RGB interlace=%d differs", il);
        tx_image_free(&im);
        free(b.p);
    }
    /* RGBA: alpha dropped, colour kept as stored (not composited) */
    uint8_t rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        memcpy(rgba + 4 * i, rgb + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 13);
    }
    png_spec sa = {W, H, PNG_COLOR_TYPE_RGBA, 8, 0, rgba, W * 4, NULL, 0, NULL, 0, 0};
    bytes b = png_encode(&sa);
    CHECK_OK(tx_image_decode(b.p, b.n, "rgba.png", 0, &im, &err), &err);
    CHECK(im.c == 3 && count_mismatch(im.pixels, rgb, W * H * 3) == 0, "RGBA alpha not dropped");
    tx_image_free(&im);
    free(b.p);
    /* gray 8 and gray+alpha */
    uint8_t gray[W * H], ga[W * H * 2];
    for (int i = 0; i < W * H; i++) {
        gray[i] = (uint8_t)(i * 4 + 1);
        ga[2 * i] = gray[i];
        ga[2 * i + 1] = (uint8_t)(255 - i);
    }
    png_spec sg = {W, H, PNG_COLOR_TYPE_GRAY, 8, 0, gray, W, NULL, 0, NULL, 0, 0};
    b = png_encode(&sg);
    CHECK_OK(tx_image_decode(b.p, b.n, "g.png", 0, &im, &err), &err);
    CHECK(im.c == 1 && count_mismatch(im.pixels, gray, W * H) == 0, "gray PNG differs");
    tx_image_free(&im);
    CHECK_OK(tx_image_decode(b.p, b.n, "g.png", 3, &im, &err), &err);
    int bad = 0;
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) bad += im.pixels[3 * i + c] != gray[i];
    CHECK(im.c == 3 && bad == 0, "gray PNG as RGB: %d differ", bad);
    tx_image_free(&im);
    free(b.p);
    png_spec sga = {W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 1, ga, W * 2, NULL, 0, NULL, 0, 0};
    b = png_encode(&sga);
    CHECK_OK(tx_image_decode(b.p, b.n, "ga.png", 0, &im, &err), &err);
    CHECK(im.c == 1 && count_mismatch(im.pixels, gray, W * H) == 0, "gray+alpha PNG differs");
    tx_image_free(&im);
    free(b.p);
    /* 16-bit RGB: the high byte is kept */
    uint8_t rgb16[W * H * 6];
    for (int i = 0; i < W * H * 3; i++) {
        rgb16[2 * i] = rgb[i];
        rgb16[2 * i + 1] = (uint8_t)(0xFF - rgb[i]);
    }
    png_spec s16 = {W, H, PNG_COLOR_TYPE_RGB, 16, 0, rgb16, W * 6, NULL, 0, NULL, 0, 0};
    b = png_encode(&s16);
    CHECK_OK(tx_image_decode(b.p, b.n, "16.png", 0, &im, &err), &err);
    CHECK(im.c == 3 && count_mismatch(im.pixels, rgb, W * H * 3) == 0, "16-bit PNG differs");
    tx_image_free(&im);
    free(b.p);
    /* palette, 4 bits per index, with tRNS (dropped) */
    uint8_t pal[16][3], idx4[((W + 1) / 2) * H], trns[3] = {0, 128, 255};
    for (int i = 0; i < 16; i++) {
        pal[i][0] = (uint8_t)(i * 16);
        pal[i][1] = (uint8_t)(255 - i * 9);
        pal[i][2] = (uint8_t)(i * i);
    }
    int stride4 = (W + 1) / 2;
    memset(idx4, 0, sizeof idx4);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            idx4[y * stride4 + x / 2] |= (uint8_t)(((x + 3 * y) % 16) << (x % 2 ? 0 : 4));
    png_spec sp = {W, H, PNG_COLOR_TYPE_PALETTE, 4, 1, idx4, (size_t)stride4,
                   (const uint8_t(*)[3])pal, 16, trns, 3, 0};
    b = png_encode(&sp);
    CHECK_OK(tx_image_decode(b.p, b.n, "pal.png", 0, &im, &err), &err);
    bad = 0;
    for (int y = 0; y < H && im.c == 3; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                bad += im.pixels[(y * W + x) * 3 + c] != pal[(x + 3 * y) % 16][c];
    CHECK(im.c == 3 && bad == 0, "palette PNG: %d differ", bad);
    tx_image_free(&im);
    free(b.p);
    /* 1-bit gray expands to 0 / 255 */
    uint8_t bits[2 * H];
    for (int y = 0; y < H; y++) {
        bits[2 * y] = 0xA5;
        bits[2 * y + 1] = 0x80;
    }
    png_spec s1 = {W, H, PNG_COLOR_TYPE_GRAY, 1, 0, bits, 2, NULL, 0, NULL, 0, 0};
    b = png_encode(&s1);
    CHECK_OK(tx_image_decode(b.p, b.n, "1.png", 0, &im, &err), &err);
    CHECK(im.c == 1 && im.pixels[0] == 255 && im.pixels[1] == 0 && im.pixels[8] == 255,
          "1-bit gray: %d %d %d", im.pixels[0], im.pixels[1], im.pixels[8]);
    tx_image_free(&im);
    free(b.p);
    free(rgb);
}

static bytes small_png(void) {
    static uint8_t rgb[4 * 3 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++) rgb[i] = (uint8_t)(i * 7);
    png_spec s = {4, 3, PNG_COLOR_TYPE_RGB, 8, 0, rgb, 12, NULL, 0, NULL, 0, 0};
    return png_encode(&s);
}

static void test_png_corrupt(void) {
    bytes b = small_png();
    uint8_t *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    c[20] ^= 0x01; /* inside IHDR: CRC mismatch */
    expect_fail(c, b.n, "crc.png", "crc.png: PNG", "IHDR CRC");
    memcpy(c, b.p, b.n);
    put32(c + 16, 0); /* width 0 (big-endian 0 either way) */
    expect_fail(c, b.n, "w0.png", "w0.png", "zero width");
    free(c);
    free(b.p);
}

/* A PNG whose header claims more pixels than the limit is refused before libpng
 * allocates its row buffers, which it sizes from the width alone: 2^24 pixels of 16-bit
 * RGBA would be two 128 MB rows. Peak RSS (ru_maxrss) must not grow by half of that.
 * Runs first, while the process's high-water mark is low. */
static void test_png_limit_before_rows(void) {
    static const uint16_t px[2 * 4] = {0};
    png_spec s = {2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, (const uint8_t *)px, 16,
                  NULL, 0, NULL, 0, 0};
    bytes b = png_encode(&s);
    CHECK(b.n > 33, "PNG encoder failed");
    if (b.n <= 33) return;
    uint32_t w = 1u << 24; /* IHDR width, big-endian, then the chunk's CRC again */
    for (int i = 0; i < 4; i++) b.p[16 + i] = (uint8_t)(w >> (24 - 8 * i));
    uint32_t crc = 0xFFFFFFFFu; /* PNG's CRC-32 over the chunk type and data */
    for (int i = 12; i < 29; i++) {
        crc ^= b.p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    crc ^= 0xFFFFFFFFu;
    for (int i = 0; i < 4; i++) b.p[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    tx_err err = {0};
    tx_image im;
    int rc = tx_image_decode_max(b.p, b.n, "wide.png", 0, (uint64_t)1 << 20, &im, &err);
    getrusage(RUSAGE_SELF, &ru1);
    long grew_kb = ru1.ru_maxrss - ru0.ru_maxrss;
    printf("  2^24 x 1 16-bit RGBA PNG: %s; peak RSS grew %ld kB\n", err.msg, grew_kb);
    CHECK(rc == TX_EUNSUP && strstr(err.msg, "limit of 1048576 pixels") && !im.pixels,
          "wide PNG: rc %d: %s", rc, err.msg);
    CHECK(grew_kb < 64 * 1024, "decoding a refused PNG raised peak RSS by %ld kB", grew_kb);
    free(b.p);
}
#endif

/* ---- JPEG ----------------------------------------------------------------------- */

#ifdef TX_HAVE_TURBOJPEG
static bytes jpeg_encode(const uint8_t *px, int w, int h, int pf, int subsamp, int q) {
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    unsigned long n = 0;
    bytes b = {0};
    if (tjCompress2(tj, px, w, 0, h, pf, &out, &n, subsamp, q, 0) == 0) {
        b_put(&b, out, n);
    }
    tjFree(out);
    tjDestroy(tj);
    return b;
}

static void test_jpeg(void) {
    tx_err err = {0};
    tx_image im;
    enum { W = 40, H = 24 };
    uint8_t rgb[W * H * 3], gray[W * H], cmyk[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = y * W + x;
            rgb[3 * i] = (uint8_t)(x * 6);
            rgb[3 * i + 1] = (uint8_t)(y * 10);
            rgb[3 * i + 2] = (uint8_t)(128 + x - y);
            gray[i] = (uint8_t)(x * 3 + y * 4);
            cmyk[4 * i] = (uint8_t)(255 - x * 2);
            cmyk[4 * i + 1] = 200;
            cmyk[4 * i + 2] = (uint8_t)(100 + y);
            cmyk[4 * i + 3] = 220;
        }
    bytes b = jpeg_encode(rgb, W, H, TJPF_RGB, TJSAMP_444, 100);
    CHECK(b.n > 0, "encode failed");
    CHECK_OK(tx_image_decode(b.p, b.n, "a.jpg", 0, &im, &err), &err);
    CHECK(im.w == W && im.h == H && im.c == 3, "got %dx%dx%d", im.w, im.h, im.c);
    float got[W * H * 3], want[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) {
        got[i] = im.pixels[i];
        want[i] = rgb[i];
    }
    CHECK(tu_close("jpeg q100 4:4:4 vs source", got, want, W * H * 3, 4.0f, 0.0f), "lossy");
    /* Exactly libjpeg-turbo's islow + fancy upsampling output. */
    tjhandle tj = tjInitDecompress();
    uint8_t ref[W * H * 3];
    bytes b420 = jpeg_encode(rgb, W, H, TJPF_RGB, TJSAMP_420, 75);
    CHECK(tjDecompress2(tj, b420.p, b420.n, ref, W, 0, H, TJPF_RGB, TJFLAG_ACCURATEDCT) == 0,
          "reference decode");
    tx_image_free(&im);
    CHECK_OK(tx_image_decode(b420.p, b420.n, "b.jpg", 0, &im, &err), &err);
    CHECK(count_mismatch(im.pixels, ref, W * H * 3) == 0,
          "4:2:0 decode differs from TurboJPEG's accurate-DCT fancy-upsampled output");
    tx_image_free(&im);
    tjDestroy(tj);
    /* gray JPEG: 1 channel, and replicated for want_c 3 */
    bytes g = jpeg_encode(gray, W, H, TJPF_GRAY, TJSAMP_GRAY, 100);
    CHECK_OK(tx_image_decode(g.p, g.n, "g.jpg", 0, &im, &err), &err);
    CHECK(im.c == 1, "gray JPEG has %d channels", im.c);
    for (int i = 0; i < W * H; i++) {
        got[i] = im.pixels[i];
        want[i] = gray[i];
    }
    CHECK(tu_close("gray jpeg q100", got, want, W * H, 2.0f, 0.0f), "gray");
    tx_image im3;
    CHECK_OK(tx_image_decode(g.p, g.n, "g.jpg", 3, &im3, &err), &err);
    int bad = 0;
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) bad += im3.pixels[3 * i + c] != im.pixels[i];
    CHECK(im3.c == 3 && bad == 0, "gray->RGB replicate: %d differ", bad);
    tx_image_free(&im);
    tx_image_free(&im3);
    /* CMYK (YCCK) JPEG: RGB = C*K/255 */
    bytes k = jpeg_encode(cmyk, W, H, TJPF_CMYK, TJSAMP_444, 100);
    CHECK(k.n > 0, "CMYK encode failed");
    CHECK_OK(tx_image_decode(k.p, k.n, "k.jpg", 0, &im, &err), &err);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) {
            got[3 * i + c] = im.pixels[3 * i + c];
            want[3 * i + c] = (float)(cmyk[4 * i + c] * cmyk[4 * i + 3]) / 255.0f;
        }
    CHECK(im.c == 3 && tu_close("cmyk jpeg -> rgb", got, want, W * H * 3, 4.0f, 0.0f), "cmyk");
    tx_image_free(&im);
    /* corrupt entropy data must not decode silently */
    uint8_t *c = malloc(b.n);
    memcpy(c, b.p, b.n);
    memset(c + b.n / 2, 0xFF, 8);
    tx_err e2 = {0};
    int rc = tx_image_decode(c, b.n, "corrupt.jpg", 0, &im, &e2);
    if (rc == TX_OK) tx_image_free(&im);
    printf("  corrupt jpeg: rc=%d %s\n", rc, rc ? e2.msg : "(decoded)");
    free(c);
    expect_fail((const uint8_t *)"\xff\xd8\xff\xe0garbage-garbage", 19, "hdr.jpg", "hdr.jpg: JPEG",
                "garbage after SOI");
    /* Stray bytes before a marker (cameras write them; Pillow accepts them) are the one
     * tolerated warning: in the header (before DQT) and before EOI. */
    tx_image ref_im;
    CHECK_OK(tx_image_decode(b.p, b.n, "a.jpg", 0, &ref_im, &err), &err);
    static const uint8_t dqt[2] = {0xFF, 0xDB}, eoi[2] = {0xFF, 0xD9};
    for (int which = 0; which < 2; which++) {
        const uint8_t *m = which ? eoi : dqt;
        size_t at = 0;
        for (size_t i = 2; i + 1 < b.n; i++)
            if (b.p[i] == m[0] && b.p[i + 1] == m[1]) {
                at = i;
                if (!which) break;
            }
        CHECK(at > 0, "marker not found");
        uint8_t *x = malloc(b.n + 3);
        memcpy(x, b.p, at);
        memset(x + at, 0, 3);
        memcpy(x + at + 3, b.p + at, b.n - at);
        CHECK_OK(tx_image_decode(x, b.n + 3, "stray.jpg", 0, &im, &err), &err);
        CHECK(count_mismatch(im.pixels, ref_im.pixels, W * H * 3) == 0,
              "stray bytes before %s changed pixels", which ? "EOI" : "DQT");
        tx_image_free(&im);
        free(x);
    }
    tx_image_free(&ref_im);
    /* A small file claiming 16000 x 16000 pixels fails (at its first warning). */
    uint8_t *big = malloc(b.n);
    memcpy(big, b.p, b.n);
    for (size_t i = 2; i + 9 < b.n; i++)
        if (big[i] == 0xFF && big[i + 1] == 0xC0) {
            big[i + 5] = big[i + 7] = 16000 >> 8;
            big[i + 6] = big[i + 8] = 16000 & 255;
            break;
        }
    expect_fail(big, b.n, "huge.jpg", "truncated", "16000x16000 header on a small file");
    /* ... and with stray bytes before DQT too, so that the tolerant pass would be next:
     * refused up front rather than decoded for seconds (found by fuzz_image). */
    size_t dq = 0;
    for (size_t i = 2; i + 1 < b.n && !dq; i++)
        if (big[i] == 0xFF && big[i + 1] == 0xDB) dq = i;
    uint8_t *sb = malloc(b.n + 3);
    memcpy(sb, big, dq);
    memset(sb + dq, 0, 3);
    memcpy(sb + dq + 3, big + dq, b.n - dq);
    expect_fail(sb, b.n + 3, "stray_huge.jpg", "stray bytes", "stray bytes and a huge header");
    free(sb);
    free(big);
    free(b.p);
    free(b420.p);
    free(g.p);
    free(k.p);
}
#endif

/* ---- conversions, dispatch, files ----------------------------------------------- */

static void test_rgb_to_gray_matches_pillow(void) {
    /* (R, G, B) -> L as Pillow 11 computes convert("L") (recorded from Pillow; note that
     * it rounds, so (2,0,0) gives 1 where R*299/1000 truncated would give 0). */
    static const uint8_t t[][4] = {
        {255, 0, 0, 76},   {0, 255, 0, 150}, {0, 0, 255, 29},  {2, 0, 0, 1},
        {1, 1, 1, 1},      {255, 255, 255, 255}, {10, 200, 30, 124}, {123, 45, 67, 71},
        {0, 3, 0, 2},      {0, 0, 5, 1},     {254, 1, 128, 91}, {77, 77, 200, 91},
    };
    int n = (int)(sizeof t / sizeof *t);
    uint8_t rgb[64 * 3];
    for (int i = 0; i < n; i++) memcpy(rgb + 3 * i, t[i], 3);
    bmp_spec s = {.w = n, .h = 1, .bpp = 24, .hsize = 40, .rgb = rgb};
    bytes b = bmp_encode(&s);
    tx_err err = {0};
    tx_image im;
    CHECK_OK(tx_image_decode(b.p, b.n, "l.bmp", 1, &im, &err), &err);
    CHECK(im.c == 1, "c=%d", im.c);
    for (int i = 0; i < n; i++)
        CHECK(im.pixels[i] == t[i][3], "(%d,%d,%d): got %d, Pillow %d", t[i][0], t[i][1],
              t[i][2], im.pixels[i], t[i][3]);
    tx_image_free(&im);
    free(b.p);
}

static void test_dispatch_and_args(void) {
    tx_err err = {0};
    tx_image im;
    expect_fail((const uint8_t *)"", 0, "empty.png", "empty", "empty file");
    expect_fail((const uint8_t *)"GIF89a......", 12, "x.gif", "unrecognized", "GIF");
    expect_fail((const uint8_t *)"\x89PNG", 4, "short.png", "truncated", "4-byte PNG");
    bytes b = bmp24(3, 2, 0);
    int rc = tx_image_decode(b.p, b.n, "w.bmp", 2, &im, &err);
    CHECK(rc == TX_EINVAL && strstr(err.msg, "want_c"), "want_c 2 accepted: %s", err.msg);
    rc = tx_image_decode_max(b.p, b.n, "w.bmp", 0, 5, &im, &err);
    CHECK(rc == TX_EUNSUP && strstr(err.msg, "limit of 5 pixels") && !im.pixels,
          "pixel limit: %s", err.msg);
    rc = tx_image_decode_max(b.p, b.n, "w.bmp", 0, 6, &im, &err);
    CHECK(rc == TX_OK, "6 pixels refused with a limit of 6");
    tx_image_free(&im);
    rc = tx_image_decode(b.p, b.n, NULL, 0, &im, &err);
    CHECK(rc == TX_OK, "NULL name rejected");
    tx_image_free(&im);
    tx_image_free(&im); /* double free of a freed image is harmless */
    /* The name does not matter: a BMP called .png decodes as BMP. */
    char path[] = "/tmp/tx_test_image_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        CHECK(write(fd, b.p, b.n) == (ssize_t)b.n, "write");
        close(fd);
        CHECK_OK(tx_image_load(path, 0, &im, &err), &err);
        CHECK(im.w == 3 && im.h == 2 && im.c == 3, "loaded %dx%dx%d", im.w, im.h, im.c);
        tx_image_free(&im);
        unlink(path);
        rc = tx_image_load(path, 0, &im, &err);
        CHECK(rc != TX_OK && strstr(err.msg, path), "missing file: %s", err.msg);
    }
    free(b.p);
#ifndef TX_HAVE_PNG
    expect_fail((const uint8_t *)"\x89PNG\r\n\x1a\n....", 12, "x.png", "without PNG", "no png");
#endif
}

/* Every prefix of a valid file must be rejected, cleanly. */
static void truncations(const uint8_t *buf, size_t n, size_t upto, const char *name) {
    int fails = 0;
    for (size_t len = 0; len < upto; len++) {
        tx_err err = {0};
        tx_image im;
        int want[3] = {0, 1, 3};
        int rc = tx_image_decode(buf, len, name, want[len % 3], &im, &err);
        if (rc == TX_OK) {
            if (fails++ < 3) printf("  %s: prefix of %zu/%zu bytes decoded\n", name, len, n);
            tx_image_free(&im);
        } else if (!strstr(err.msg, name) || im.pixels) {
            if (fails++ < 3) printf("  %s: bad failure at %zu: %s\n", name, len, err.msg);
        }
    }
    CHECK(fails == 0, "%s: %d of %zu truncations not rejected cleanly", name, fails, upto);
    /* and the whole file decodes */
    tx_err err = {0};
    tx_image im;
    CHECK_OK(tx_image_decode(buf, n, name, 0, &im, &err), &err);
    tx_image_free(&im);
}

static void test_truncation_every_length(void) {
    bytes b = bmp24(5, 3, 0);
    truncations(b.p, b.n, b.n, "t24.bmp");
    free(b.p);
    uint8_t idx[12] = {0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 2};
    bmp_spec s8 = {.w = 4, .h = 3, .bpp = 8, .hsize = 40, .npal = 4, .idx = idx,
                   .pal = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {10, 11, 12}}};
    b = bmp_encode(&s8);
    truncations(b.p, b.n, b.n, "t8.bmp");
    free(b.p);
    const uint8_t p5[] = "P5\n4 2\n255\n01234567";
    truncations(p5, sizeof p5 - 1, sizeof p5 - 1, "t.pgm");
    const uint8_t p6[] = "P6 2 2 200\nabcdefghijkl";
    truncations(p6, sizeof p6 - 1, sizeof p6 - 1, "t.ppm");
    /* ASCII: cutting inside the last number still leaves a (different) number, so only
     * prefixes that end before the last sample are required to fail. */
    const char *p3 = "P3\n2 1\n255\n10 20 30\n40 50 60\n";
    truncations((const uint8_t *)p3, strlen(p3), (size_t)(strrchr(p3, '6') - p3), "t3.ppm");
#ifdef TX_HAVE_PNG
    b = small_png();
    truncations(b.p, b.n, b.n, "t.png");
    free(b.p);
#endif
#ifdef TX_HAVE_TURBOJPEG
    uint8_t rgb[16 * 8 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++) rgb[i] = (uint8_t)(i * 5);
    b = jpeg_encode(rgb, 16, 8, TJPF_RGB, TJSAMP_420, 90);
    truncations(b.p, b.n, b.n, "t.jpg");
    free(b.p);
    b = jpeg_encode(rgb, 16, 8, TJPF_RGB, TJSAMP_444, 90);
    truncations(b.p, b.n, b.n, "t444.jpg");
    free(b.p);
#endif
}

/* Flipping bytes of valid files: decoding may succeed or fail, but never crash, leak
 * (checked under ASan) or return an inconsistent image. */
static void flips(const uint8_t *buf, size_t n, const char *name) {
    uint8_t *c = malloc(n);
    int ok = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            memcpy(c, buf, n);
            c[i] ^= k ? 0xFF : 0x01;
            tx_err err = {0};
            tx_image im;
            int rc = tx_image_decode(c, n, name, 0, &im, &err);
            if (rc == TX_OK) {
                ok++;
                if (im.w < 1 || im.h < 1 || (im.c != 1 && im.c != 3) || !im.pixels) bad++;
                tx_image_free(&im);
            } else if (!err.msg[0] || im.pixels) {
                bad++;
            }
        }
    }
    printf("  %-10s %zu bytes x 2 flips: %d decoded, %zu rejected\n", name, n, ok, 2 * n - (size_t)ok);
    CHECK(bad == 0, "%s: %d inconsistent results", name, bad);
    free(c);
}

static void test_flipped_bytes(void) {
    bytes b = bmp24(5, 3, 1);
    flips(b.p, b.n, "f.bmp");
    free(b.p);
    const uint8_t p6[] = "P6 2 2 255\nabcdefghijkl";
    flips(p6, sizeof p6 - 1, "f.ppm");
#ifdef TX_HAVE_PNG
    b = small_png();
    flips(b.p, b.n, "f.png");
    free(b.p);
#endif
#ifdef TX_HAVE_TURBOJPEG
    uint8_t rgb[16 * 8 * 3];
    for (int i = 0; i < (int)sizeof rgb; i++) rgb[i] = (uint8_t)(i * 3);
    b = jpeg_encode(rgb, 16, 8, TJPF_RGB, TJSAMP_420, 90);
    flips(b.p, b.n, "f.jpg");
    free(b.p);
#endif
}

static void test_shared_images(void) {
    const char *dir = tu_shared_dir();
    if (!dir) SKIP("../shared not found");
    static const struct { const char *name; int w, h; } im[] = {
        {"cat.bmp", 512, 341}, {"bird.bmp", 512, 343}, {"grace_hopper.bmp", 512, 600},
        {"hot_dog.jpg", 512, 384}, {"parrot.jpg", 512, 929},
    };
    for (size_t i = 0; i < sizeof im / sizeof *im; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/images/%s", dir, im[i].name);
        tx_err err = {0};
        tx_image a;
        int rc = tx_image_load(path, 0, &a, &err);
#ifndef TX_HAVE_TURBOJPEG
        if (rc != TX_OK && strstr(im[i].name, ".jpg")) continue;
#endif
        CHECK_OK(rc, &err);
        CHECK(a.w == im[i].w && a.h == im[i].h && a.c == 3, "%s: %dx%dx%d", im[i].name, a.w,
              a.h, a.c);
        tx_image_free(&a);
    }
}

int main(void) {
#ifdef TX_HAVE_PNG
    RUN(test_png_limit_before_rows);
#endif
    RUN(test_bmp_24_and_32);
    RUN(test_bmp_paletted);
    RUN(test_bmp_bitfields_and_core);
    RUN(test_bmp_bad_headers);
    RUN(test_pnm);
#ifdef TX_HAVE_PNG
    RUN(test_png_formats);
    RUN(test_png_corrupt);
#endif
#ifdef TX_HAVE_TURBOJPEG
    RUN(test_jpeg);
#endif
    RUN(test_rgb_to_gray_matches_pillow);
    RUN(test_dispatch_and_args);
    RUN(test_truncation_every_length);
    RUN(test_flipped_bytes);
    RUN(test_shared_images);
    TEST_MAIN_END();
}
