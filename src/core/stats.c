/*
 * core/stats.c - building an add action's statistics. See stats.h for the rules.
 */
#include "core/stats.h"

#include <string.h>

#include "util/error.h"

#define PREFIX_BYTES 32

bool stats_has_bounds(const char *delta_type)
{
    static const char *ok[] = {"\"byte\"", "\"short\"", "\"integer\"", "\"long\"", "\"float\"",
                               "\"double\"", "\"string\"", "\"date\""};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(delta_type, ok[i]) == 0)
            return true;
    return strncmp(delta_type, "\"decimal(", 9) == 0;
}

static bool is_flat(const char *delta_type) { return delta_type[0] == '"'; }

static bool is_text(const char *delta_type)
{
    return strcmp(delta_type, "\"string\"") == 0 || strcmp(delta_type, "\"date\"") == 0;
}

/* Appends "name":value to an object being written, unless the value is no bound. */
static int put_value(buf *b, const char *name, const char *delta_type, const char *v, bool is_max, bool *first)
{
    bool text = is_text(delta_type);
    size_t n = strlen(v);
    if (text && n > PREFIX_BYTES) {
        if (is_max)
            return 0;
        n = PREFIX_BYTES;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    if (!text && (!*v || strpbrk(v, "nNiI")))
        return 0; /* nan, inf: no usable bound */
    int rc = (*first ? 0 : buf_putc(b, ',')) || buf_put_json_str(b, name) || buf_putc(b, ':') ? LOCH_ENOMEM : 0;
    *first = false;
    if (rc)
        return rc;
    return text ? buf_put_json_strn(b, v, n) : buf_puts(b, v);
}

int stats_json(int64_t rows, const stats_column *cols, size_t n, buf *out)
{
    int rc = buf_printf(out, "{\"numRecords\":%lld", (long long)rows);
    for (int k = 0; k < 3 && !rc; k++) {
        bool first = true;
        rc = buf_puts(out, k == 0 ? ",\"minValues\":{" : k == 1 ? ",\"maxValues\":{" : ",\"nullCount\":{");
        for (size_t i = 0; !rc && i < n; i++) {
            const stats_column *c = &cols[i];
            if (!is_flat(c->delta_type) || (k < 2 && (!stats_has_bounds(c->delta_type) || c->has_nan)))
                continue;
            const char *v = k == 0 ? c->min : k == 1 ? c->max : c->null_count;
            if (v)
                rc = put_value(out, c->name, k == 2 ? "\"long\"" : c->delta_type, v, k == 1, &first);
        }
        rc = rc ? rc : buf_putc(out, '}');
    }
    return rc ? rc : buf_putc(out, '}');
}
