/*
 * core/csvcheck.c - field counting per record; see csvcheck.h. Blank lines are not
 * records (CSV readers skip them too). Fuzzed by fuzz/fuzz_csvcheck.c.
 */
#include "core/csvcheck.h"

void csvcheck_init(csvcheck *c, char delim, char quote)
{
    *c = (csvcheck){.delim = delim, .quote = quote, .line = 1, .cur_line = 1, .fields = 1, .expect = -1};
}

static int end_record(csvcheck *c)
{
    if (c->record_has_data) {
        c->records++;
        if (c->expect < 0) {
            c->expect = c->fields;
        } else if (c->fields != c->expect && !c->bad_line) {
            c->bad_line = c->line;
            c->bad_fields = c->fields;
        }
    }
    c->fields = 1;
    c->record_has_data = 0;
    c->line = c->cur_line;
    return c->bad_line != 0;
}

int csvcheck_feed(csvcheck *c, const char *data, size_t n)
{
    for (size_t i = 0; i < n && !c->bad_line; i++) {
        char ch = data[i];
        if (ch == '\n')
            c->cur_line++;
        if (c->in_quote) {
            if (ch == c->quote)
                c->in_quote = 0; /* a doubled quote reopens at once: same count */
            continue;
        }
        if (c->quote && ch == c->quote) {
            c->in_quote = 1;
            c->record_has_data = 1;
        } else if (ch == c->delim) {
            c->fields++;
            c->record_has_data = 1;
        } else if (ch == '\n') {
            end_record(c);
        } else if (ch != '\r') {
            c->record_has_data = 1;
        }
    }
    return c->bad_line != 0;
}

int csvcheck_finish(csvcheck *c)
{
    if (!c->bad_line)
        end_record(c);
    return c->bad_line != 0;
}
