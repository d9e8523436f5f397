/*
 * cli/shell.c - the interactive prompt (libedit): statements end with ';' and may
 * span lines; history persists in ~/.loch_history; dot-commands:
 *   .tables  .schema [TABLE]  .mode FMT  .timer on|off  .help  .quit
 * Ctrl-C cancels the running statement (the SIGINT handler in main.c interrupts the
 * engine) or, at the prompt, drops the partial statement and whatever was typed on the
 * line.
 *
 * Signals at the prompt are ours, not libedit's. Its own handlers (rl_catch_signals)
 * re-raise SIGINT with kill(0, ...), which reaches every process of the group (a script
 * that started the shell gets a second Ctrl-C) and, in a process with worker threads,
 * may land on a thread other than the one reading the terminal after the read has
 * already given up: the prompt then ended as if on Ctrl-D. Instead the terminal is read
 * by shell_getc, which tells an interrupt (EINTR with cli_interrupted set) from an
 * end of input, and follows window size changes itself.
 */
#include "shell.h"

#include <editline/readline.h>
#include <errno.h>
#include <pthread.h>
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

static volatile sig_atomic_t resized;
static pthread_t reader;

static void on_sigwinch(int sig)
{
    int saved = errno;
    resized = 1;
    if (!pthread_equal(pthread_self(), reader))
        pthread_kill(reader, sig); /* end the reader's wait, as main.c does for SIGINT */
    errno = saved;
}

/* libedit's character source: one byte of the terminal; EOF at its end or on Ctrl-C
 * (cli_interrupted, checked by the caller), a redraw after a resize. */
static int shell_getc(FILE *in)
{
    for (;;) {
        unsigned char c;
        if (cli_interrupted)
            return EOF;
        ssize_t n = read(fileno(in), &c, 1);
        if (n == 1)
            return c;
        if (n == 0 || errno != EINTR)
            return EOF;
        if (resized) {
            resized = 0;
            rl_resize_terminal();
        }
    }
}

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
    rl_catch_signals = 0; /* set before libedit starts */
    rl_getc_function = shell_getc;
    rl_initialize();
    reader = pthread_self();
    /* SIGWINCH is caught only at the prompt, without SA_RESTART so that the terminal
     * read ends; elsewhere it would cut the output a query is writing. */
    struct sigaction winch, dfl;
    memset(&winch, 0, sizeof(winch));
    memset(&dfl, 0, sizeof(dfl));
    winch.sa_handler = on_sigwinch;
    dfl.sa_handler = SIG_DFL;
    if (home) {
        snprintf(hist, sizeof(hist), "%s/.loch_history", home);
        read_history(hist);
    }
    if (tty)
        printf("loch %s - SQL over %s (.help for help)\n", LOCH_VERSION, loch_lake_root(lake));
    for (;;) {
        cli_interrupted = 0;
        sigaction(SIGWINCH, &winch, NULL);
        if (tty)
            rl_resize_terminal(); /* a resize while a statement ran went unseen */
        char *line = readline(pending ? "   ...> " : "loch> ");
        sigaction(SIGWINCH, &dfl, NULL);
        if (cli_interrupted) {
            /* Ctrl-C at the prompt: forget the unfinished statement and the line typed
             * so far (libedit returns it as if Enter was pressed), not the session. */
            free(line);
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
