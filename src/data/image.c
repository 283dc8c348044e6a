/* image.c - decoding PNG (libpng), JPEG (TurboJPEG), BMP and PGM/PPM (by hand) to
 * 8-bit HWC pixels.
 *
 * The format is chosen by the file's magic bytes, never by its name. Every decoder
 * first produces the file's own channel count (1 for gray, 3 for everything else, alpha
 * dropped) and tx_image_decode converts to the caller's want_c at the end, so the
 * conversions live in one place:
 *   gray -> RGB: the gray value replicated into R, G and B.
 *   RGB -> gray: Pillow's "L" conversion, L = R*299/1000 + G*587/1000 + B*114/1000
 *                evaluated the way Pillow's Convert.c does it: 16-bit fixed point
 *                (19595, 38470, 7471) plus 0x8000, shifted right by 16, i.e. the
 *                formula rounded to the nearest integer.
 *
 * Library rules: no printing, no exits; libpng's error and warning handlers are
 * replaced so that nothing reaches stderr and a libpng error returns here through the
 * one setjmp in png_run() (all state that changes after that setjmp lives in a struct
 * owned by the caller, so nothing is clobbered by the longjmp). */
#define _POSIX_C_SOURCE 200809L
#include "data/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TX_HAVE_PNG
#include <png.h>
#endif
#ifdef TX_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

#define TX_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)
#define TX_IMAGE_MAX_SIDE (1 << 24)

/* ---- helpers ------------------------------------------------------------- */

static uint16_t rd16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Checks the size limits and allocates w*h*c bytes into img. */
static int img_alloc(tx_image *img, uint64_t w, uint64_t h, int c, const char *name,
                     const char *fmt, uint64_t maxpx, tx_err *err) {
    if (w == 0 || h == 0)
        return tx_err_set(err, TX_EFORMAT, "%s: %s image has a zero side (%llu x %llu)",
                          name, fmt, (unsigned long long)w, (unsigned long long)h);
    if (w > TX_IMAGE_MAX_SIDE || h > TX_IMAGE_MAX_SIDE || w * h > maxpx)
        return tx_err_set(err, TX_EUNSUP,
                          "%s: %s image is %llu x %llu pixels, more than the limit of %llu "
                          "pixels",
                          name, fmt, (unsigned long long)w, (unsigned long long)h,
                          (unsigned long long)maxpx);
    size_t n = (size_t)(w * h * (uint64_t)c);
    img->pixels = malloc(n);
    if (!img->pixels)
        return tx_err_set(err, TX_ENOMEM, "%s: out of memory for %llu x %llu x %d pixels", name,
                          (unsigned long long)w, (unsigned long long)h, c);
    img->w = (int)w;
    img->h = (int)h;
    img->c = c;
    return TX_OK;
}

/* Converts img (c = 1 or 3) to want_c channels in place (reallocating). */
static int img_convert(tx_image *img, int want_c, const char *name, tx_err *err) {
    if (want_c == 0 || want_c == img->c) return TX_OK;
    size_t np = (size_t)img->w * (size_t)img->h;
    if (want_c == 3 && img->c == 1) {
        uint8_t *p = malloc(np * 3);
        if (!p) return tx_err_set(err, TX_ENOMEM, "%s: out of memory converting to RGB", name);
        for (size_t i = 0; i < np; i++) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = img->pixels[i];
        free(img->pixels);
        img->pixels = p;
        img->c = 3;
        return TX_OK;
    }
    if (want_c == 1 && img->c == 3) {
        uint8_t *p = img->pixels;
        for (size_t i = 0; i < np; i++) p[i] = tx_rgb_to_gray(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        uint8_t *q = realloc(p, np ? np : 1);
        if (q) img->pixels = q; /* shrinking; keeping the larger block is fine too */
        img->c = 1;
        return TX_OK;
    }
    return tx_err_set(err, TX_EINVAL, "%s: cannot convert %d to %d channels", name, img->c,
                      want_c);
}

/* ---- BMP ----------------------------------------------------------------- */

/* One channel mask of a BI_BITFIELDS image: value = (pixel & mask) >> shift, scaled
 * from `bits` bits to 8. */
typedef struct {
    uint32_t mask;
    int shift, bits;
} bmp_mask;

static int mask_init(bmp_mask *m, uint32_t mask) {
    m->mask = mask;
    m->shift = 0;
    m->bits = 0;
    if (!mask) return 0;
    while (!((mask >> m->shift) & 1)) m->shift++;
    uint32_t v = mask >> m->shift;
    while (v & 1) {
        m->bits++;
        v >>= 1;
    }
    return v == 0; /* contiguous */
}

static uint8_t mask_get(const bmp_mask *m, uint32_t px) {
    if (!m->bits) return 0;
    uint32_t v = (px & m->mask) >> m->shift;
    if (m->bits == 8) return (uint8_t)v;
    if (m->bits > 8) return (uint8_t)(v >> (m->bits - 8));
    uint32_t maxv = (1u << m->bits) - 1;
    return (uint8_t)((v * 255u + maxv / 2) / maxv);
}

static const char *bmp_compression_name(uint32_t c) {
    switch (c) {
    case 1: return "RLE8";
    case 2: return "RLE4";
    case 4: return "JPEG";
    case 5: return "PNG";
    case 11: return "CMYK";
    case 12: return "CMYK-RLE8";
    case 13: return "CMYK-RLE4";
    default: return "unknown";
    }
}

static int decode_bmp(const uint8_t *buf, size_t size, const char *name, uint64_t maxpx,
                      tx_image *out, tx_err *err) {
    if (size < 14 + 12)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: BMP is %zu bytes, too short for its headers (at least 26)", name,
                          size);
    uint32_t data_off = rd32le(buf + 10);
    uint32_t hsize = rd32le(buf + 14);
    int64_t w, h;
    unsigned bpp, planes;
    uint32_t comp = 0, clr_used = 0;
    size_t pal_off, pal_entry;
    int have_masks = 0;
    uint32_t masks[3] = {0, 0, 0};

    if (hsize == 12) { /* OS/2 1.x BITMAPCOREHEADER */
        w = rd16le(buf + 18);
        h = rd16le(buf + 20);
        planes = rd16le(buf + 22);
        bpp = rd16le(buf + 24);
        pal_entry = 3;
    } else if (hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 || hsize == 108 ||
               hsize == 124) {
        if (size < 14 + (size_t)hsize)
            return tx_err_set(err, TX_EFORMAT,
                              "%s: BMP info header of %u bytes at offset 14 runs past the end "
                              "of the %zu-byte file",
                              name, hsize, size);
        w = (int32_t)rd32le(buf + 18);
        h = (int32_t)rd32le(buf + 22);
        planes = rd16le(buf + 26);
        bpp = rd16le(buf + 28);
        comp = rd32le(buf + 30);
        clr_used = rd32le(buf + 46);
        pal_entry = 4;
        if (hsize == 64 && comp != 0)
            return tx_err_set(err, TX_EUNSUP,
                              "%s: OS/2 2.x BMP with compression %u is not supported", name,
                              comp);
        if (comp == 3 || comp == 6) { /* BI_BITFIELDS / BI_ALPHABITFIELDS */
            size_t moff = 14 + 40;
            if (moff + 12 > size)
                return tx_err_set(err, TX_EFORMAT,
                                  "%s: BMP bit masks at offset %zu run past the end of the "
                                  "%zu-byte file",
                                  name, moff, size);
            for (int i = 0; i < 3; i++) masks[i] = rd32le(buf + moff + 4 * (size_t)i);
            have_masks = 1;
        } else if (comp != 0) {
            return tx_err_set(err, TX_EUNSUP,
                              "%s: compressed BMP (compression %u, %s) is not supported; only "
                              "uncompressed BMPs are",
                              name, comp, bmp_compression_name(comp));
        }
    } else {
        return tx_err_set(err, TX_EFORMAT,
                          "%s: BMP info header size %u is not one of 12, 40, 52, 56, 64, 108, "
                          "124",
                          name, hsize);
    }
    pal_off = 14 + (size_t)hsize;
    if (hsize == 40 && have_masks) pal_off += (comp == 6) ? 16 : 12;

    if (planes != 1)
        return tx_err_set(err, TX_EFORMAT, "%s: BMP planes is %u, must be 1", name, planes);
    if (w <= 0)
        return tx_err_set(err, TX_EFORMAT, "%s: BMP width %lld must be positive", name,
                          (long long)w);
    int top_down = h < 0;
    if (top_down) h = -h;
    if (h == 0) return tx_err_set(err, TX_EFORMAT, "%s: BMP height is 0", name);
    if (!(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32))
        return tx_err_set(err, TX_EUNSUP,
                          "%s: BMP with %u bits per pixel is not supported (1, 4, 8, 16, 24, "
                          "32 are)",
                          name, bpp);
    if (have_masks && !(bpp == 16 || bpp == 32))
        return tx_err_set(err, TX_EFORMAT, "%s: BMP bit masks need 16 or 32 bits per pixel, "
                          "file has %u", name, bpp);

    bmp_mask mk[3];
    if (bpp == 16 && !have_masks) { /* X1R5G5B5 */
        masks[0] = 0x7C00;
        masks[1] = 0x03E0;
        masks[2] = 0x001F;
        have_masks = 1;
    }
    if (have_masks) {
        for (int i = 0; i < 3; i++)
            if (!mask_init(&mk[i], masks[i]))
                return tx_err_set(err, TX_EFORMAT,
                                  "%s: BMP %s mask 0x%08x is not a contiguous run of bits",
                                  name, i == 0 ? "red" : i == 1 ? "green" : "blue", masks[i]);
    }
    if (w > TX_IMAGE_MAX_SIDE || h > TX_IMAGE_MAX_SIDE ||
        (uint64_t)w * (uint64_t)h > maxpx)
        return img_alloc(out, (uint64_t)w, (uint64_t)h, 3, name, "BMP", maxpx, err); /* reports */

    /* Palette. */
    uint8_t pal[256][3];
    unsigned npal = 0;
    int gray = 0;
    if (bpp <= 8) {
        unsigned maxpal = 1u << bpp;
        npal = clr_used ? clr_used : maxpal;
        if (npal > maxpal) npal = maxpal; /* extra entries are never referenced */
        if (pal_off > size || (size - pal_off) / pal_entry < npal)
            return tx_err_set(err, TX_EFORMAT,
                              "%s: BMP palette of %u entries at offset %zu runs past the end "
                              "of the %zu-byte file",
                              name, npal, pal_off, size);
        gray = 1;
        for (unsigned i = 0; i < 256; i++) {
            if (i < npal) {
                const uint8_t *e = buf + pal_off + (size_t)i * pal_entry;
                pal[i][0] = e[2];
                pal[i][1] = e[1];
                pal[i][2] = e[0];
                if (e[0] != e[1] || e[1] != e[2]) gray = 0;
            } else {
                pal[i][0] = pal[i][1] = pal[i][2] = 0; /* out-of-range index: black */
            }
        }
    }

    uint64_t stride = (((uint64_t)w * bpp + 31) / 32) * 4;
    uint64_t need = stride * (uint64_t)h;
    if (data_off > size || need > size - data_off)
        return tx_err_set(err, TX_EFORMAT,
                          "%s: BMP pixel data at offset %u needs %llu bytes, file has %zu "
                          "(%zu after the offset)",
                          name, data_off, (unsigned long long)need, size,
                          data_off > size ? (size_t)0 : size - data_off);

    int c = gray ? 1 : 3;
    int rc = img_alloc(out, (uint64_t)w, (uint64_t)h, c, name, "BMP", maxpx, err);
    if (rc) return rc;
    size_t W = (size_t)w;
    for (int64_t y = 0; y < h; y++) {
        int64_t sy = top_down ? y : h - 1 - y;
        const uint8_t *row = buf + data_off + (size_t)sy * stride;
        uint8_t *o = out->pixels + (size_t)y * W * (size_t)c;
        if (bpp <= 8) {
            unsigned per = 8 / bpp, m = (1u << bpp) - 1;
            for (size_t x = 0; x < W; x++) {
                unsigned byte = row[x / per];
                unsigned shift = (unsigned)(8 - bpp - (x % per) * bpp);
                unsigned idx = (byte >> shift) & m;
                if (c == 1) {
                    o[x] = pal[idx][0];
                } else {
                    o[3 * x] = pal[idx][0];
                    o[3 * x + 1] = pal[idx][1];
                    o[3 * x + 2] = pal[idx][2];
                }
            }
        } else if (bpp == 24 && !have_masks) {
            for (size_t x = 0; x < W; x++) {
                o[3 * x] = row[3 * x + 2];
                o[3 * x + 1] = row[3 * x + 1];
                o[3 * x + 2] = row[3 * x];
            }
        } else if (bpp == 32 && !have_masks) { /* BGRX / BGRA: alpha dropped */
            for (size_t x = 0; x < W; x++) {
                o[3 * x] = row[4 * x + 2];
                o[3 * x + 1] = row[4 * x + 1];
                o[3 * x + 2] = row[4 * x];
            }
        } else { /* bit fields, 16 or 32 bits */
            for (size_t x = 0; x < W; x++) {
                uint32_t px = bpp == 16 ? rd16le(row + 2 * x) : rd32le(row + 4 * x);
                o[3 * x] = mask_get(&mk[0], px);
                o[3 * x + 1] = mask_get(&mk[1], px);
                o[3 * x + 2] = mask_get(&mk[2], px);
            }
        }
    }
    return TX_OK;
}

/* ---- PGM / PPM ----------------------------------------------------------- */

typedef struct {
    const uint8_t *buf;
    size_t size, pos;
} pnm_reader;

static int pnm_space(int ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Skips whitespace and # comments; returns 0 at end of buffer. */
static int pnm_skip(pnm_reader *r) {
    while (r->pos < r->size) {
        uint8_t ch = r->buf[r->pos];
        if (ch == '#') {
            while (r->pos < r->size && r->buf[r->pos] != '\n' && r->buf[r->pos] != '\r')
                r->pos++;
        } else if (pnm_space(ch)) {
            r->pos++;
        } else {
            return 1;
        }
    }
    return 0;
}

/* Reads an unsigned decimal number; returns 0 if none, -1 if it overflows `limit`. */
static int pnm_uint(pnm_reader *r, uint32_t limit, uint32_t *v) {
    if (!pnm_skip(r)) return 0;
    uint64_t x = 0;
    size_t start = r->pos;
    while (r->pos < r->size && r->buf[r->pos] >= '0' && r->buf[r->pos] <= '9') {
        x = x * 10 + (uint64_t)(r->buf[r->pos] - '0');
        if (x > limit) return -1;
        r->pos++;
    }
    if (r->pos == start) return 0;
    *v = (uint32_t)x;
    return 1;
}

static int decode_pnm(const uint8_t *buf, size_t size, const char *name, uint64_t maxpx,
                      tx_image *out, tx_err *err) {
    char kind = (char)buf[1];
    const char *fmt = (kind == '2' || kind == '5') ? "PGM" : "PPM";
    int c = (kind == '2' || kind == '5') ? 1 : 3;
    int ascii = kind == '2' || kind == '3';
    pnm_reader r = {buf, size, 2};
    static const char *const field[3] = {"width", "height", "maxval"};
    uint32_t v[3];
    for (int i = 0; i < 3; i++) {
        if (r.pos < r.size && !pnm_space(r.buf[r.pos]) && r.buf[r.pos] != '#')
            return tx_err_set(err, TX_EFORMAT,
                              "%s: %s header: expected whitespace before %s at offset %zu",
                              name, fmt, field[i], r.pos);
        int got = pnm_uint(&r, i == 2 ? 65535u : (uint32_t)TX_IMAGE_MAX_SIDE, &v[i]);
        if (got == 0)
            return tx_err_set(err, TX_EFORMAT, "%s: %s header: missing %s (offset %zu)%s", name,
                              fmt, field[i], r.pos, r.pos >= size ? ", file truncated" : "");
        if (got < 0)
            return tx_err_set(err, TX_EFORMAT, "%s: %s header: %s at offset %zu is larger than "
                              "%u", name, fmt, field[i], r.pos,
                              i == 2 ? 65535u : (unsigned)TX_IMAGE_MAX_SIDE);
    }
    if (v[2] == 0) return tx_err_set(err, TX_EFORMAT, "%s: %s maxval is 0", name, fmt);
    if (v[0] == 0 || v[1] == 0)
        return img_alloc(out, v[0], v[1], c, name, fmt, maxpx, err); /* reports the zero side */
    /* Exactly one whitespace byte separates the header from binary data. */
    if (r.pos >= size || !pnm_space(buf[r.pos]))
        return tx_err_set(err, TX_EFORMAT,
                          "%s: %s header: expected one whitespace byte after maxval at offset "
                          "%zu%s",
                          name, fmt, r.pos, r.pos >= size ? " (file truncated)" : "");
    r.pos++;
    uint32_t maxval = v[2];
    uint64_t nsamp = (uint64_t)v[0] * v[1] * (uint64_t)c;
    if ((uint64_t)v[0] * v[1] > maxpx)
        return img_alloc(out, v[0], v[1], c, name, fmt, maxpx, err); /* reports */
    int bytes = maxval > 255 ? 2 : 1;
    if (!ascii) {
        uint64_t need = nsamp * (uint64_t)bytes;
        if (need > size - r.pos)
            return tx_err_set(err, TX_EFORMAT,
                              "%s: %s pixel data at offset %zu needs %llu bytes, file has "
                              "%zu (%zu after the offset)",
                              name, fmt, r.pos, (unsigned long long)need, size, size - r.pos);
    }
    int rc = img_alloc(out, v[0], v[1], c, name, fmt, maxpx, err);
    if (rc) return rc;
    uint8_t *o = out->pixels;
    for (uint64_t i = 0; i < nsamp; i++) {
        uint32_t s;
        if (ascii) {
            size_t at = r.pos;
            int got = pnm_uint(&r, 65535u, &s);
            if (got <= 0 || (r.pos < size && !pnm_space(buf[r.pos]) && buf[r.pos] != '#')) {
                tx_image_free(out);
                if (got == 0 && r.pos >= size)
                    return tx_err_set(err, TX_EFORMAT,
                                      "%s: %s has %llu of %llu samples, file truncated", name,
                                      fmt, (unsigned long long)i, (unsigned long long)nsamp);
                return tx_err_set(err, TX_EFORMAT, "%s: %s sample %llu at offset %zu is not a "
                                  "number up to 65535", name, fmt, (unsigned long long)i, at);
            }
        } else if (bytes == 1) {
            s = buf[r.pos++];
        } else {
            s = ((uint32_t)buf[r.pos] << 8) | buf[r.pos + 1];
            r.pos += 2;
        }
        if (s > maxval) {
            tx_image_free(out);
            return tx_err_set(err, TX_EFORMAT, "%s: %s sample %llu is %u, above maxval %u", name,
                              fmt, (unsigned long long)i, s, maxval);
        }
        o[i] = maxval == 255 ? (uint8_t)s : (uint8_t)((s * 255u + maxval / 2) / maxval);
    }
    return TX_OK;
}

/* ---- PNG ----------------------------------------------------------------- */

#ifdef TX_HAVE_PNG
typedef struct {
    const uint8_t *buf;
    size_t size, pos;
    const char *name;
    uint64_t maxpx;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    tx_image *out;
    char msg[256];
    int code;
} png_ctx;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    if (!c->msg[0]) snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (bad ancillary chunks and the like) are not errors */
}

static void png_read_fn(png_structp png, png_bytep data, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos) {
        snprintf(c->msg, sizeof c->msg,
                 "file truncated: needs %zu bytes at offset %zu, file has %zu", n, c->pos,
                 c->size);
        png_error(png, "truncated");
    }
    memcpy(data, c->buf + c->pos, n);
    c->pos += n;
}

/* All state lives in *c (owned by the caller), so the longjmp clobbers nothing. */
static int png_run(png_ctx *c, tx_err *err) {
    if (setjmp(png_jmpbuf(c->png))) return TX_EFORMAT;
    png_set_read_fn(c->png, c, png_read_fn);
    png_set_user_limits(c->png, TX_IMAGE_MAX_SIDE, TX_IMAGE_MAX_SIDE);
    png_read_info(c->png, c->info);
    png_uint_32 w = png_get_image_width(c->png, c->info);
    png_uint_32 h = png_get_image_height(c->png, c->info);
    /* The size limit is checked before png_read_update_info, which allocates row
     * buffers from the width alone (2 x 128 MB for a 2^24-pixel-wide 16-bit RGBA row). */
    if ((uint64_t)w * (uint64_t)h > c->maxpx) {
        c->code = img_alloc(c->out, w, h, 1, c->name, "PNG", c->maxpx, err);
        return c->code;
    }
    int color = png_get_color_type(c->png, c->info);
    /* Pillow-like: palette -> RGB, low-bit gray -> 8 bits, 16 bits -> high byte,
     * alpha (and tRNS) dropped, no gamma correction. */
    png_set_expand(c->png);
    png_set_strip_16(c->png);
    png_set_strip_alpha(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    int ch = png_get_channels(c->png, c->info);
    int want = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if (ch != want || png_get_bit_depth(c->png, c->info) != 8) {
        snprintf(c->msg, sizeof c->msg, "unexpected layout after expansion (%d channels)", ch);
        return TX_EFORMAT;
    }
    c->code = img_alloc(c->out, w, h, ch, c->name, "PNG", c->maxpx, err);
    if (c->code) return c->code;
    c->rows = malloc(sizeof *c->rows * (size_t)h);
    if (!c->rows) {
        c->code = tx_err_set(err, TX_ENOMEM, "%s: out of memory for PNG row table", c->name);
        return c->code;
    }
    size_t stride = (size_t)w * (size_t)ch;
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->out->pixels + (size_t)y * stride;
    png_read_image(c->png, c->rows);
    png_read_end(c->png, NULL);
    return TX_OK;
}

static int decode_png(const uint8_t *buf, size_t size, const char *name, uint64_t maxpx,
                      tx_image *out, tx_err *err) {
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    c.size = size;
    c.name = name;
    c.maxpx = maxpx;
    c.out = out;
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_err_fn, png_warn_fn);
    if (!c.png) return tx_err_set(err, TX_ENOMEM, "%s: cannot create PNG reader", name);
    c.info = png_create_info_struct(c.png);
    if (!c.info) {
        png_destroy_read_struct(&c.png, NULL, NULL);
        return tx_err_set(err, TX_ENOMEM, "%s: cannot create PNG info", name);
    }
    int rc = png_run(&c, err);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    if (rc != TX_OK) {
        tx_image_free(out);
        if (c.code) return c.code; /* message already set */
        return tx_err_set(err, TX_EFORMAT, "%s: PNG: %s", name, c.msg[0] ? c.msg : "corrupt");
    }
    return TX_OK;
}
#endif

/* ---- JPEG ---------------------------------------------------------------- */

#ifdef TX_HAVE_TURBOJPEG
/* The last call failed only with libjpeg's "N extraneous bytes before marker" warning. */
static int jpeg_stray_warning(tjhandle tj) {
    return tjGetErrorCode(tj) == TJERR_WARNING && strstr(tjGetErrorStr2(tj), "extraneous bytes");
}

static int decode_jpeg(const uint8_t *buf, size_t size, const char *name, uint64_t maxpx,
                       tx_image *out, tx_err *err) {
#if SIZE_MAX > ULONG_MAX
    if (size > ULONG_MAX) return tx_err_set(err, TX_EUNSUP, "%s: JPEG too large", name);
#endif
    tjhandle tj = tjInitDecompress();
    if (!tj) return tx_err_set(err, TX_ENOMEM, "%s: cannot create JPEG decoder", name);
    int w = 0, h = 0, subsamp = 0, cs = 0, rc = TX_OK;
    if (tjDecompressHeader3(tj, buf, (unsigned long)size, &w, &h, &subsamp, &cs) != 0 &&
        !jpeg_stray_warning(tj)) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: JPEG header: %s", name, tjGetErrorStr2(tj));
        goto done;
    }
    if (w <= 0 || h <= 0) {
        rc = tx_err_set(err, TX_EFORMAT, "%s: JPEG has a zero side (%d x %d)", name, w, h);
        goto done;
    }
    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    int c = cs == TJCS_GRAY ? 1 : 3;
    int pf = cs == TJCS_GRAY ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;
    rc = img_alloc(out, (uint64_t)w, (uint64_t)h, c, name, "JPEG", maxpx, err);
    if (rc) goto done;
    uint8_t *dst = out->pixels;
    if (cmyk) {
        dst = malloc((size_t)w * (size_t)h * 4);
        if (!dst) {
            rc = tx_err_set(err, TX_ENOMEM, "%s: out of memory for CMYK JPEG", name);
            goto done;
        }
    }
    /* No DCT/upsampling flags: libjpeg-turbo's defaults (islow IDCT, fancy upsampling).
     * Warnings are errors, so a truncated or corrupt file never decodes to gray padding,
     * and the first pass stops at the first one (a 700-byte file claiming 16000 x 16000
     * pixels fails at once instead of filling 768 MB). The one tolerated warning is stray
     * bytes between markers, which many cameras write: then the file is decoded again
     * without stopping. libjpeg reports only a file's first warning, so that second pass
     * cannot see later ones; it is therefore refused to files claiming far more pixels
     * than such a file plausibly holds (photos have a few pixels per byte; this allows
     * 64 per byte beyond the first 4 million). */
    int flags = TJFLAG_STOPONWARNING;
#ifdef TJFLAG_LIMITSCANS
    flags |= TJFLAG_LIMITSCANS; /* refuse pathological progressive files (> 500 scans) */
#endif
    int ok = tjDecompress2(tj, buf, (unsigned long)size, dst, w, 0, h, pf, flags) == 0;
    if (!ok && jpeg_stray_warning(tj)) {
        uint64_t plausible = (uint64_t)size * 64 + ((uint64_t)1 << 22);
        if ((uint64_t)w * (uint64_t)h > plausible) {
            rc = tx_err_set(err, TX_EFORMAT,
                            "%s: JPEG has stray bytes between markers and claims %d x %d "
                            "pixels for a %zu-byte file; refusing it as corrupt (%s)",
                            name, w, h, size, tjGetErrorStr2(tj));
        } else {
            ok = tjDecompress2(tj, buf, (unsigned long)size, dst, w, 0, h, pf,
                               flags & ~TJFLAG_STOPONWARNING) == 0 ||
                 jpeg_stray_warning(tj);
        }
    }
    if (!ok && !rc) {
        int warn = tjGetErrorCode(tj) == TJERR_WARNING;
        rc = tx_err_set(err, TX_EFORMAT, "%s: JPEG %s: %s", name,
                        warn ? "data is corrupt or truncated" : "decoding failed",
                        tjGetErrorStr2(tj));
    }
    if (rc) {
        if (cmyk) free(dst);
        goto done;
    }
    if (cmyk) { /* Adobe-style inverted CMYK as libjpeg delivers it */
        size_t np = (size_t)w * (size_t)h;
        for (size_t i = 0; i < np; i++) {
            unsigned k = dst[4 * i + 3];
            for (int j = 0; j < 3; j++)
                out->pixels[3 * i + (size_t)j] = (uint8_t)((dst[4 * i + (size_t)j] * k + 127) / 255);
        }
        free(dst);
    }
done:
    if (rc) tx_image_free(out);
    tjDestroy(tj);
    return rc;
}
#endif

/* ---- entry points -------------------------------------------------------- */

int tx_image_decode(const uint8_t *buf, size_t size, const char *name, int want_c,
                    tx_image *out, tx_err *err) {
    return tx_image_decode_max(buf, size, name, want_c, 0, out, err);
}

int tx_image_decode_max(const uint8_t *buf, size_t size, const char *name, int want_c,
                        uint64_t max_pixels, tx_image *out, tx_err *err) {
    if (!name) name = "<buffer>";
    if (!out) return tx_err_set(err, TX_EINVAL, "%s: no output image", name);
    memset(out, 0, sizeof *out);
    if (want_c != 0 && want_c != 1 && want_c != 3)
        return tx_err_set(err, TX_EINVAL, "%s: want_c must be 0, 1 or 3, not %d", name, want_c);
    if (!buf || size == 0) return tx_err_set(err, TX_EFORMAT, "%s: file is empty", name);
    uint64_t maxpx = max_pixels && max_pixels < TX_IMAGE_MAX_PIXELS ? max_pixels
                                                                     : TX_IMAGE_MAX_PIXELS;

    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    static const uint8_t jpg_sig[3] = {0xFF, 0xD8, 0xFF};
    int rc;
    if (size >= 8 && memcmp(buf, png_sig, 8) == 0) {
#ifdef TX_HAVE_PNG
        rc = decode_png(buf, size, name, maxpx, out, err);
#else
        return tx_err_set(err, TX_EUNSUP, "%s: PNG file, but taxon was built without PNG "
                          "support (libpng)", name);
#endif
    } else if (size >= 3 && memcmp(buf, jpg_sig, 3) == 0) {
#ifdef TX_HAVE_TURBOJPEG
        rc = decode_jpeg(buf, size, name, maxpx, out, err);
#else
        return tx_err_set(err, TX_EUNSUP, "%s: JPEG file, but taxon was built without JPEG "
                          "support (libturbojpeg)", name);
#endif
    } else if (size >= 2 && buf[0] == 'B' && buf[1] == 'M') {
        rc = decode_bmp(buf, size, name, maxpx, out, err);
    } else if (size >= 2 && buf[0] == 'P' && (buf[1] == '2' || buf[1] == '3' || buf[1] == '5' ||
                                              buf[1] == '6')) {
        rc = decode_pnm(buf, size, name, maxpx, out, err);
    } else if (size >= 2 && buf[0] == 'P' && (buf[1] == '1' || buf[1] == '4' || buf[1] == '7')) {
        return tx_err_set(err, TX_EUNSUP, "%s: %s files are not supported (PGM P2/P5 and PPM "
                          "P3/P6 are)", name, buf[1] == '7' ? "PAM (P7)" : "PBM (P1/P4)");
    } else if ((size < 8 && memcmp(buf, png_sig, size) == 0) ||
               (size < 3 && memcmp(buf, jpg_sig, size) == 0)) {
        return tx_err_set(err, TX_EFORMAT, "%s: file truncated: only %zu bytes", name, size);
    } else {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0; i < size && i < 8; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%s%02x", i ? " " : "", buf[i]);
        return tx_err_set(err, TX_EFORMAT,
                          "%s: unrecognized image format (first bytes %s); PNG, JPEG, BMP, "
                          "PGM and PPM are supported",
                          name, hex);
    }
    if (rc == TX_OK) rc = img_convert(out, want_c, name, err);
    if (rc != TX_OK) tx_image_free(out);
    return rc;
}

int tx_image_load(const char *path, int want_c, tx_image *out, tx_err *err) {
    uint8_t *buf;
    size_t size;
    if (out) memset(out, 0, sizeof *out);
    int rc = tx_read_file(path, &buf, &size, err);
    if (rc) return rc;
    rc = tx_image_decode(buf, size, path, want_c, out, err);
    free(buf);
    return rc;
}

void tx_image_free(tx_image *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
