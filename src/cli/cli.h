/* Subcommands of the infergate binary. Each takes argv after the command word (argv[0] is the
 * command name) and returns the process exit status. */
#ifndef IG_CLI_H
#define IG_CLI_H

int ig_cli_inspect(int argc, char **argv);
int ig_cli_run(int argc, char **argv);
int ig_cli_perf(int argc, char **argv);
int ig_cli_serve(int argc, char **argv);
int ig_cli_bench(int argc, char **argv);
int ig_cli_gateway(int argc, char **argv);


/* ---- shared by subcommands (cli_common.c) ---- */
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/engine.h"

/* Prints "infergate CMD: reason" to stderr; returns the exit status for bad usage or input (2 for
 * usage, 1 otherwise). */
int ig_cli_fail(const char *cmd, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses a positive integer option value; false (after printing why) when it is not one. */
bool ig_cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max, long *out);
/* Loads a model with n_threads (0 = cores), printing the reason on failure. */
ig_model *ig_cli_load_model(const char *cmd, const char *path, int n_threads);
/* Reads a .npy or .pb tensor file into arena. */
int ig_cli_read_tensor(const char *path, ig_arena *arena, ig_tensor *out, ig_error *err);
/* "FLOAT [1,3,224,224]" style description of a declared input or output. */
void ig_cli_describe_io(const ig_io_info *io, char *buf, size_t len);

#endif
