/* cli.c - option parsing, help, progress bars. */
#include "cli.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cli_help(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: taxon %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->details) fprintf(f, "\n%s\n", cmd->details);
    fprintf(f, "\noptions:\n");
    for (const cli_opt *o = cmd->opts; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
    fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

static int set_value(const char *cmd, const cli_opt *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L) break;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') break;
        *(uint64_t *)o->dst = x;
        return 0;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end) break;
        *(float *)o->dst = x;
        return 0;
    }
    case OPT_FLAG: break;
    }
    fprintf(stderr, "taxon %s: error: --%s expects %s, got '%s'\n", cmd, o->name,
            o->kind == OPT_FLOAT ? "a number" : "an integer", v);
    return 2;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, char ***pos, int *npos) {
    *pos = calloc((size_t)argc + 1, sizeof(char *));
    *npos = 0;
    if (!*pos) return 2;
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            (*pos)[(*npos)++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_help(cmd, stdout);
            return 1;
        }
        if (a[1] != '-') {
            fprintf(stderr, "taxon %s: error: unknown option '%s' (options are long, like --epochs; see taxon %s --help)\n",
                    cmd->name, a, cmd->name);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (const cli_opt *q = cmd->opts; q && q->name; q++)
            if (strlen(q->name) == len && !strncmp(q->name, name, len)) o = q;
        if (!o) {
            fprintf(stderr, "taxon %s: error: unknown option '--%.*s' (see taxon %s --help)\n", cmd->name,
                    (int)len, name, cmd->name);
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "taxon %s: error: --%s takes no value\n", cmd->name, o->name);
                return 2;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "taxon %s: error: --%s needs a value (%s)\n", cmd->name, o->name,
                    o->metavar ? o->metavar : "");
            return 2;
        }
        if (set_value(cmd->name, o, v)) return 2;
    }
    return 0;
}

int cli_fail(const char *cmd, const tx_err *err) {
    fprintf(stderr, "taxon %s: error: %s\n", cmd, err->msg[0] ? err->msg : "failed");
    return 1;
}

void cli_set_threads(int threads) {
    if (threads > 0) omp_set_num_threads(threads);
}

void cli_bar_init(cli_bar *b) {
    b->tty = isatty(2);
    b->last = 0;
}

void cli_bar_draw(cli_bar *b, double frac, const char *text) {
    if (!b->tty) return;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    const int W = 24;
    int fill = (int)(frac * W + 0.5);
    char bar[32];
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '-';
    bar[W] = 0;
    fprintf(stderr, "\r\033[K[%s] %3.0f%% %s", bar, frac * 100, text);
    fflush(stderr);
}

void cli_bar_done(cli_bar *b) {
    if (b->tty) fprintf(stderr, "\r\033[K");
}

void cli_fmt_duration(char *buf, size_t n, double s) {
    if (s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void cli_image_error(const char *cmd, const char *image, const char *msg, int json) {
    if (json) {
        printf("{\"image\": ");
        cli_json_str(stdout, image);
        printf(", \"error\": ");
        cli_json_str(stdout, msg);
        printf("}\n");
    }
    fprintf(stderr, "taxon %s: error: %s\n", cmd, msg);
}
