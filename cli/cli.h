/* cli.h - shared pieces of the taxon command-line tool: strict option parsing,
 * help text, progress bars and the subcommand entry points. */
#ifndef TX_CLI_H
#define TX_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "taxon.h"

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_U64 } cli_kind;

typedef struct cli_opt {
    const char *name;     /* long name without dashes */
    cli_kind kind;
    void *dst;            /* const char **, int *, float *, int * (flag), uint64_t * */
    const char *metavar;
    const char *help;
} cli_opt;

typedef struct cli_cmd {
    const char *name, *usage, *summary, *details;
    const cli_opt *opts;
} cli_cmd;

/* Parses argv (after the subcommand). Positional arguments are collected in order.
 * Returns 0 to go on, 1 when help was printed (exit 0), 2 on a usage error (printed). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, char ***pos, int *npos);
void cli_help(const cli_cmd *cmd, FILE *f);
int cli_fail(const char *cmd, const tx_err *err); /* prints "taxon CMD: error: msg", returns 1 */
void cli_set_threads(int threads);

/* A one-line progress bar on stderr (redrawn in place on a terminal, quiet otherwise). */
typedef struct cli_bar {
    int tty;
    double last;
} cli_bar;
void cli_bar_init(cli_bar *b);
void cli_bar_draw(cli_bar *b, double frac, const char *text);
void cli_bar_done(cli_bar *b);
void cli_fmt_duration(char *buf, size_t n, double s);
/* Writes s as a JSON string literal. */
void cli_json_str(FILE *f, const char *s);
/* An image a per-image command could not process: {"image": ..., "error": ...} on stdout
 * with --json, and "taxon CMD: error: msg" on stderr either way. */
void cli_image_error(const char *cmd, const char *image, const char *msg, int json);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
