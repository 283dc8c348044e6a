/* taxon.c - the command-line tool's entry point: dispatches to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_convert(int argc, char **argv);
int cmd_embed(int argc, char **argv);

/* OpenMP wait policy. Between parallel regions libgomp's workers spin GOMP_SPINCOUNT times
 * (default 300000: milliseconds) and then sleep in the kernel. Neither end suits the CLI:
 *  - sleeping at once (OMP_WAIT_POLICY=PASSIVE) makes every one of the ~40-80 regions of a
 *    batch-1 forward wait for a sleeping worker to wake, which on a virtual machine means
 *    waking an idle virtual CPU: efficientnet_b0 fp32 12.6-14.3 ms against 7.4-9.7 with a
 *    short spin, MobileNetV2 int8 5.6 against 2.2 ms (docs/benchmarks.md);
 *  - spinning for milliseconds takes the core from any other busy process, and a
 *    descheduled worker then stalls every barrier (MobileNetV2 int8: 75 ms against 4.7
 *    with PASSIVE while another process ran).
 * So the CLI spins 1000 times (~26 us on Zen 4), enough to bridge the gaps inside a
 * forward, unless the user chose: OMP_WAIT_POLICY=PASSIVE is the most robust on a machine
 * other processes keep busy (1.3-3x faster there than the short spin), ACTIVE the fastest
 * on one the run has to itself. libgomp reads its variables in its own constructor, before
 * any code of ours runs (setting them from .preinit_array, as an earlier version did, is
 * too late), so the CLI sets the variable and executes itself again, once. The library
 * itself changes no environment. */
static void omp_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* no /proc: carry on with libgomp's default */
}

static const struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} cmds[] = {
    {"train", "train a classifier (Fashion-MNIST or any IDX data set)", cmd_train},
    {"eval", "accuracy, per-class precision/recall/F1, confusion matrix", cmd_eval},
    {"predict", "classify image files (PNG, JPEG, BMP, PGM/PPM)", cmd_predict},
    {"embed", "feature vectors (embeddings) of image files", cmd_embed},
    {"info", "architecture, parameters, FLOPs, classes, preprocessing, provenance", cmd_info},
    {"convert", "TFLite (or PyTorch) model -> taxon model file", cmd_convert},
    {"bench", "inference latency/throughput or training-step speed", cmd_bench},
};

static void usage(FILE *f) {
    fprintf(f, "taxon %s - image classification in C\n\nusage: taxon COMMAND [options]\n\ncommands:\n",
            TAXON_VERSION);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\nRun 'taxon COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    omp_wait_policy(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("taxon %s\n", TAXON_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "taxon: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
