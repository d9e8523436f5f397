/*
 * util/render.c - result cells as JSON and CSV text. See render.h for the rules.
 */
#include "util/render.h"

#include <string.h>

static size_t digits(const char *v, size_t len, size_t i)
{
    size_t start = i;
    while (i < len && v[i] >= '0' && v[i] <= '9')
        i++;
    return i - start;
}

int render_is_json_number(const char *v, size_t len)
{
    size_t i = 0, n;
    if (i < len && v[i] == '-')
        i++;
    if ((n = digits(v, len, i)) == 0 || (n > 1 && v[i] == '0'))
        return 0; /* int = zero / ( digit1-9 *DIGIT ) */
    i += n;
    if (i < len && v[i] == '.') {
        if ((n = digits(v, len, ++i)) == 0)
            return 0;
        i += n;
    }
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        if (++i < len && (v[i] == '+' || v[i] == '-'))
            i++;
        if ((n = digits(v, len, i)) == 0)
            return 0;
        i += n;
    }
    return i == len;
}

int render_json_value(buf *b, const char *v, size_t len, loch_kind kind)
{
    if (!v)
        return buf_puts(b, "null");
    switch (kind) {
    case LOCH_KIND_NUMBER:
        return render_is_json_number(v, len) ? buf_put(b, v, len) : buf_put_json_strn(b, v, len);
    case LOCH_KIND_BOOL:
    case LOCH_KIND_NESTED:
        return buf_put(b, v, len);
    default:
        return buf_put_json_strn(b, v, len);
    }
}

int render_csv_value(buf *b, const char *v, size_t len)
{
    if (!v)
        return 0;
    int quote = 0;
    for (size_t i = 0; i < len && !quote; i++)
        quote = v[i] == ',' || v[i] == '"' || v[i] == '\n' || v[i] == '\r';
    if (!quote)
        return buf_put(b, v, len);
    int rc = buf_putc(b, '"');
    for (size_t i = 0; rc == 0 && i < len; i++)
        rc = v[i] == '"' ? buf_puts(b, "\"\"") : buf_putc(b, v[i]);
    return rc ? rc : buf_putc(b, '"');
}
