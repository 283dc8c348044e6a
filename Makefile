# taxon build. `make` builds build/libtaxon.a and build/taxon.
#   make test   installs what the tests need, then runs the suite normally, under
#               ASan+UBSan, and the fuzz targets for a bounded time.
#   make demo   trains, evaluates and uses a small CNN on Fashion-MNIST.
# Variables: BUILD (output dir), SAN=1 (sanitizers), ARCH (default -march=native).

BUILD ?= build
CC ?= cc
ARCH ?= -march=native
OPT ?= -O2
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS_BASE := -std=c17 $(OPT) $(ARCH) -g -fopenmp $(WARN) -D_GNU_SOURCE -Iinclude -Isrc
LDLIBS_BASE := -lm -fopenmp -lpthread

# ---- what we found -----------------------------------------------------------
PKG := pkg-config
have = $(shell $(PKG) --exists $(1) 2>/dev/null && echo yes)

ifeq ($(call have,openblas),yes)
  FEAT += -DTX_HAVE_BLAS $(shell $(PKG) --cflags openblas)
  LIBS += $(shell $(PKG) --libs openblas)
  FOUND += openblas
else
  MISSING += openblas(naive-gemm)
endif
ifeq ($(call have,libturbojpeg),yes)
  FEAT += -DTX_HAVE_TURBOJPEG $(shell $(PKG) --cflags libturbojpeg)
  LIBS += $(shell $(PKG) --libs libturbojpeg)
  FOUND += turbojpeg
else
  MISSING += turbojpeg(no-jpeg)
endif
ifeq ($(call have,libpng),yes)
  FEAT += -DTX_HAVE_PNG $(shell $(PKG) --cflags libpng)
  LIBS += $(shell $(PKG) --libs libpng)
  FOUND += libpng
else
  MISSING += libpng(no-png)
endif
ifeq ($(call have,libcjson),yes)
  FEAT += $(shell $(PKG) --cflags libcjson)
  LIBS += $(shell $(PKG) --libs libcjson)
  FOUND += cjson
else
  $(error libcjson not found: run tools/install-deps.sh build)
endif
ifeq ($(call have,zlib),yes)
  LIBS += $(shell $(PKG) --libs zlib)
  FOUND += zlib
else
  $(error zlib not found: run tools/install-deps.sh build)
endif

ifeq ($(SAN),1)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  OPT := -O1
endif

CFLAGS := $(CFLAGS_BASE) $(FEAT) $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(LIBS) $(LDLIBS_BASE) $(SANFLAGS)

LIB_SRC := $(sort $(wildcard src/*/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HDRS := $(wildcard include/*.h src/*/*.h cli/*.h tests/*.h)

.PHONY: all test test-fast test-san fuzz demo clean found deps
all: found $(BUILD)/taxon

found:
	@echo "taxon build ($(BUILD)): found: $(FOUND)$(if $(MISSING), ; missing (optional): $(MISSING))"

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libtaxon.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR    $@"
	@ar rcs $@ $^

$(BUILD)/taxon: $(CLI_OBJ) $(BUILD)/libtaxon.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) $(CLI_OBJ) $(BUILD)/libtaxon.a $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/golden_cases.h $(BUILD)/libtaxon.a
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	@$(CC) $(CFLAGS) $< $(BUILD)/libtaxon.a $(LDLIBS) -o $@

tests: $(TEST_BIN) $(BUILD)/taxon

deps:
	@tools/install-deps.sh test
	@tools/venv.sh || echo "taxon: no Python virtualenv (safetensors interop tests will skip)"

# Unit + golden + CLI tests in the normal build.
test-fast: all tests
	@BUILD=$(BUILD) tests/run.sh

# The whole suite again under ASan + UBSan.
test-san:
	@$(MAKE) --no-print-directory BUILD=build-san SAN=1 test-fast

fuzz:
	@tools/fuzz.sh

test: deps
	@tools/test-all.sh

demo:
	@tools/install-deps.sh build
	@$(MAKE) --no-print-directory all
	@tools/demo.sh

clean:
	rm -rf build build-san build-fuzz
