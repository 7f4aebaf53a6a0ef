/* infergate command-line entry: dispatches to one file per subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"inspect", ig_cli_inspect, "show a model's inputs, outputs, opsets, ops and weights"},
    {"run", ig_cli_run, "run a model on input files and write its outputs"},
    {"perf", ig_cli_perf, "measure a model's latency and throughput"},
    {"serve", ig_cli_serve, "serve a model repository over the Open Inference Protocol (REST)"},
    {"gateway", ig_cli_gateway, "route, secure, limit and roll out inference traffic to OIP endpoints"},
    {"bench", ig_cli_bench, "load-test an inference server over HTTP (like perf_analyzer)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: infergate COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'infergate COMMAND --help' describes one command.\n");
}

/* OpenMP worker threads (oneDNN's and the kernels') spin for a while after each parallel region
 * before sleeping. libgomp's default spin is long enough that, on a host with other busy processes,
 * spinning threads steal the cores the work needs: MobileNetV2 at batch 8 took 122 ms per run under
 * load with the default and 43 ms with GOMP_SPINCOUNT=10000. On an idle host 10000 matches the
 * default within noise (1000 was 4% slower on ResNet-18). libgomp reads its settings once when it
 * loads, before main, so the binary sets the shorter spin and starts itself again; an explicit
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user is left alone. */
static void tune_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1)) return;
    execv("/proc/self/exe", argv);
    /* If the binary cannot be started again, it still runs, with the default spin. */
}

int main(int argc, char **argv)
{
    tune_openmp(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("infergate 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "infergate: unknown command '%s' (try 'infergate --help')\n", argv[1]);
    return 2;
}
