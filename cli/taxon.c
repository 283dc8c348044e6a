/* taxon.c - the command-line tool's entry point: dispatches to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_convert(int argc, char **argv);
int cmd_embed(int argc, char **argv);

/* OpenMP wait policy. libgomp's worker threads spin (busy-wait) between parallel regions by
 * default; when another process wants one of the cores, the spinning thread and the
 * descheduled one stall every barrier and batch-1 latency collapses (MobileNetV2 int8 on 2
 * threads: 4.7 ms median with PASSIVE against 75 ms with the default while one other
 * process ran; docs/benchmarks.md). The CLI therefore waits passively unless the user
 * chose: OMP_WAIT_POLICY=ACTIVE (or a GOMP_SPINCOUNT) restores spinning, the lowest latency
 * on a machine the run has to itself. libgomp reads the variable in its own initializer, so
 * it is set from .preinit_array, which the dynamic linker runs before any shared library's
 * initializers (the library itself changes no environment). */
static void omp_wait_policy(int argc, char **argv, char **envp) {
    (void)argc; (void)argv; (void)envp;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}
__attribute__((section(".preinit_array"), used)) static void (*const tx_preinit_omp)(int, char **, char **) =
    omp_wait_policy;

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
