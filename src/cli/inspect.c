/* infergate inspect MODEL.onnx: what a model takes, gives and needs. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void print_op(const char *domain, const char *op, int count, int supported, void *ctx)
{
    char name[160];
    snprintf(name, sizeof(name), "%s%s%s", domain, domain[0] ? "." : "", op);
    int *unsupported = ctx;
    printf("  %-32s %5d%s\n", name, count, supported ? "" : "   UNSUPPORTED");
    if (!supported) (*unsupported)++;
}

int ig_cli_inspect(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && !strcmp(argv[1], "--help")) {
            printf("usage: infergate inspect MODEL.onnx\n");
            return 0;
        }
        return ig_cli_fail("inspect", 2, "usage: infergate inspect MODEL.onnx");
    }
    ig_model *m;
    ig_error err = {0};
    if (ig_model_open(argv[1], &m, &err)) return ig_cli_fail("inspect", 1, "%s: %s", argv[1], err.msg);
    ig_model_summary s;
    ig_model_get_summary(m, &s);
    char desc[512];
    printf("model: %s\n", argv[1]);
    printf("ir_version: %lld  producer: %s\n", (long long)s.ir_version, s.producer[0] ? s.producer : "-");
    printf("opsets:");
    for (int i = 0; i < s.n_opsets; i++)
        printf(" %s=%lld", s.opset_domains[i], (long long)s.opset_versions[i]);
    printf("\ninputs:\n");
    for (int i = 0; i < ig_model_num_inputs(m); i++) {
        ig_cli_describe_io(ig_model_input(m, i), desc, sizeof(desc));
        printf("  %-24s %s\n", ig_model_input(m, i)->name, desc);
    }
    printf("outputs:\n");
    for (int i = 0; i < ig_model_num_outputs(m); i++) {
        ig_cli_describe_io(ig_model_output(m, i), desc, sizeof(desc));
        printf("  %-24s %s\n", ig_model_output(m, i)->name, desc);
    }
    printf("weights: %zu bytes\nnodes: %d\nops:\n", s.weight_bytes, s.n_nodes);
    int unsupported = 0;
    ig_model_foreach_op(m, print_op, &unsupported);
    printf("unsupported ops: %d\n", unsupported);
    ig_model_free(m);
    return 0;
}
