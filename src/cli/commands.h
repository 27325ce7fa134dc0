/*
 * commands.h - the subcommands of the agentpush program.  Each takes the
 * arguments after its own name (argv[0] is the subcommand name) and returns
 * the process exit status: 0 ok, 1 a target failed, 2 usage or
 * configuration error.
 */
#ifndef AP_CLI_COMMANDS_H
#define AP_CLI_COMMANDS_H

int cmd_explain(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_passphrase(int argc, char **argv);
int cmd_accounts(int argc, char **argv);
int cmd_fix(int argc, char **argv);

#endif
