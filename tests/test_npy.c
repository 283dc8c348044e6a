/* The .npy reader: float32/float64/float16 arrays written by NumPy (the fuzz corpus
 * files, made by numpy.save), and malformed headers and sizes. */
#include "testutil.h"

#include "io/npy.h"

static void test_numpy_files(void) {
    tx_err err = {0};
    tx_npy a;
    CHECK_OK(tx_npy_load("tests/fuzz/corpus/npy/f4_nchw.npy", &a, &err), &err);
    CHECK(a.ndim == 4 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 4 && a.shape[3] == 4, "shape");
    float want[96];
    for (int i = 0; i < 96; i++) want[i] = (float)i / 7.0f;
    if (a.numel == 96) CHECK(tu_close("float32 arange/7", a.data, want, 96, 0, 0), "values");
    tx_npy_free(&a);
    CHECK_OK(tx_npy_load("tests/fuzz/corpus/npy/f8_vec.npy", &a, &err), &err);
    float lin[5] = {-1, -0.5f, 0, 0.5f, 1};
    CHECK(a.ndim == 1 && a.numel == 5, "f8 shape");
    if (a.numel == 5) CHECK(tu_close("float64 linspace", a.data, lin, 5, 0, 0), "values");
    tx_npy_free(&a);
    CHECK_OK(tx_npy_load("tests/fuzz/corpus/npy/f2_mat.npy", &a, &err), &err);
    float ones[6] = {1, 1, 1, 1, 1, 1};
    if (a.numel == 6) CHECK(tu_close("float16 ones", a.data, ones, 6, 0, 0), "values");
    tx_npy_free(&a);
    CHECK_OK(tx_npy_load("tests/fuzz/corpus/npy/scalar.npy", &a, &err), &err);
    CHECK(a.ndim == 0 && a.numel == 1 && a.data[0] == 3.5f, "scalar");
    tx_npy_free(&a);
    CHECK_OK(tx_npy_load("tests/fuzz/corpus/npy/v2.npy", &a, &err), &err);
    CHECK(a.ndim == 4 && a.numel == 4, "version 2 header");
    tx_npy_free(&a);
}

static void expect_fail(const char *label, const char *header, size_t data_bytes, const char *want) {
    uint8_t buf[512];
    size_t hl = strlen(header);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memcpy(buf + 10, header, hl);
    memset(buf + 10 + hl, 0, data_bytes);
    tx_npy a;
    tx_err err = {0};
    int rc = tx_npy_parse(buf, 10 + hl + data_bytes, "x.npy", &a, &err);
    CHECK(rc < 0 && strstr(err.msg, want) && strstr(err.msg, "x.npy") && !a.data, "%s: rc %d, message '%s'",
          label, rc, err.msg);
    printf("  %-16s -> %s\n", label, err.msg);
}

static void test_malformed(void) {
    expect_fail("int32", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8, "<i4");
    expect_fail("big endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, ">f4");
    expect_fail("fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran");
    expect_fail("short data", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "truncated");
    expect_fail("long data", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "needs 4");
    expect_fail("no shape", "{'descr': '<f4', 'fortran_order': False, }", 0, "shape");
    expect_fail("open shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, ", 0, "not closed");
    expect_fail("5 dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1), }", 4, "dimensions");
    expect_fail("huge dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999,), }", 4,
                "too large");
    expect_fail("no descr", "{'fortran_order': False, 'shape': (1,), }", 4, "descr");
    /* header length beyond the file, bad magic, unknown version */
    uint8_t b[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 200, 0};
    tx_npy a;
    tx_err err = {0};
    CHECK(tx_npy_parse(b, sizeof b, "x.npy", &a, &err) == TX_EFORMAT && strstr(err.msg, "exceeds"), "%s", err.msg);
    b[6] = 9;
    CHECK(tx_npy_parse(b, sizeof b, "x.npy", &a, &err) == TX_EUNSUP, "version 9: %s", err.msg);
    CHECK(tx_npy_parse((const uint8_t *)"PK\x03\x04", 4, "x.npy", &a, &err) == TX_EFORMAT, "zip accepted");
    CHECK(tx_npy_load("/nonexistent/x.npy", &a, &err) < 0 && strstr(err.msg, "/nonexistent/x.npy"), "%s", err.msg);
}

int main(void) {
    RUN(test_numpy_files);
    RUN(test_malformed);
    TEST_MAIN_END();
}
