/*
 * cli/shell.c - the interactive prompt (libedit): statements end with ';' and may
 * span lines; history persists in ~/.loch_history; dot-commands:
 *   .tables  .schema [TABLE]  .mode FMT  .timer on|off  .help  .quit
 * Ctrl-C cancels the running statement (the SIGINT handler in main.c interrupts the
 * engine) or, at the prompt, drops the partial statement.
 */
#include "shell.h"

#include <editline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    ".tables           list tables\n"
    ".schema [TABLE]   columns of one table, or of all\n"
    ".mode FMT         box csv json ndjson markdown\n"
    ".timer on|off     print each statement's time\n"
    ".help             this text\n"
    ".quit             leave (also Ctrl-D)\n"
    "SQL ends with ';'. Tables are Delta tables; time travel with \"t@v3\".\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void show(loch_result *r, output_format f)
{
    if (loch_result_message(r))
        printf("%s\n", loch_result_message(r));
    format_result(stdout, r, f, 40);
}

static void schema_of(loch_lake *lake, const char *table, output_format f)
{
    loch_result *r = NULL;
    if (loch_table_describe(&r, lake, table) < 0)
        fprintf(stderr, "Error: %s\n", loch_error_last());
    else
        show(r, f);
    loch_result_free(r);
}

/* Returns 1 to leave the shell. */
static int dot_command(loch_lake *lake, char *line, output_format *f, int *timer)
{
    char *cmd = strtok(line, " \t"), *arg = strtok(NULL, " \t");
    loch_result *r = NULL;
    if (strcmp(cmd, ".quit") == 0 || strcmp(cmd, ".exit") == 0)
        return 1;
    if (strcmp(cmd, ".help") == 0) {
        fputs(help, stdout);
    } else if (strcmp(cmd, ".tables") == 0) {
        if (loch_table_list(&r, lake) < 0)
            fprintf(stderr, "Error: %s\n", loch_error_last());
        else
            show(r, *f);
    } else if (strcmp(cmd, ".schema") == 0) {
        if (arg) {
            schema_of(lake, arg, *f);
        } else if (loch_table_list(&r, lake) == 0) {
            for (size_t i = 0; i < loch_result_rows(r); i++) {
                char *name = loch_result_text(r, i, 0);
                printf("%s:\n", name);
                schema_of(lake, name, *f);
                loch_free(name);
            }
        }
    } else if (strcmp(cmd, ".mode") == 0) {
        int m = arg ? format_parse(arg) : -1;
        if (m < 0 || m == FMT_PARQUET)
            fprintf(stderr, "Error: .mode box|csv|json|ndjson|markdown\n");
        else
            *f = (output_format)m;
    } else if (strcmp(cmd, ".timer") == 0) {
        *timer = arg && strcmp(arg, "on") == 0;
    } else {
        fprintf(stderr, "Error: unknown command %s (try .help)\n", cmd);
    }
    loch_result_free(r);
    return 0;
}

static int complete(const char *sql)
{
    size_t n = strlen(sql);
    while (n && (sql[n - 1] == ' ' || sql[n - 1] == '\n' || sql[n - 1] == '\t'))
        n--;
    return n && sql[n - 1] == ';';
}

int shell_run(loch_lake *lake, output_format format)
{
    char hist[4096] = "";
    const char *home = getenv("HOME");
    int timer = 0, tty = isatty(STDIN_FILENO);
    char *pending = NULL;
    if (home) {
        snprintf(hist, sizeof(hist), "%s/.loch_history", home);
        read_history(hist);
    }
    if (tty)
        printf("loch %s - SQL over %s (.help for help)\n", LOCH_VERSION, loch_lake_root(lake));
    for (;;) {
        cli_interrupted = 0;
        char *line = readline(pending ? "   ...> " : "loch> ");
        if (!line && cli_interrupted) {
            /* Ctrl-C at the prompt: forget the unfinished statement, not the session. */
            free(pending);
            pending = NULL;
            putchar('\n');
            continue;
        }
        if (!line)
            break;
        if (!pending && line[0] == '.') {
            add_history(line);
            int quit = dot_command(lake, line, &format, &timer);
            free(line);
            if (quit)
                break;
            continue;
        }
        size_t a = pending ? strlen(pending) : 0, b = strlen(line);
        char *joined = realloc(pending, a + b + 2);
        if (!joined) {
            free(line);
            break;
        }
        if (a)
            joined[a++] = '\n';
        memcpy(joined + a, line, b + 1);
        pending = joined;
        free(line);
        if (!complete(pending))
            continue;
        add_history(pending);
        loch_result *r = NULL;
        double t0 = now();
        if (loch_sql(&r, lake, pending) < 0)
            fprintf(stderr, "Error: %s\n", loch_error_last());
        else
            show(r, format);
        if (timer)
            printf("Run Time: %.3f s\n", now() - t0);
        fflush(stdout); /* a program driving the shell through a pipe sees each answer */
        loch_result_free(r);
        free(pending);
        pending = NULL;
    }
    free(pending);
    if (hist[0])
        write_history(hist);
    return 0;
}
