/* Subcommands of the infergate binary. Each takes argv after the command word (argv[0] is the
 * command name) and returns the process exit status. */
#ifndef IG_CLI_H
#define IG_CLI_H

int ig_cli_inspect(int argc, char **argv);
int ig_cli_run(int argc, char **argv);
int ig_cli_perf(int argc, char **argv);

#endif
