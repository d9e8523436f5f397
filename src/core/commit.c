/*
 * core/commit.c - building, rendering, parsing and checking commits. See commit.h for
 * the rules and their source.
 *
 * Invariant: everything a commit points at lives in its arena. commit_append copies an
 * action deeply (strings, string lists, maps), so a verb can build a log_file on the
 * stack from buffers it frees right after.
 */
#include "core/commit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/schema.h"
#include "util/error.h"
#include "util/json.h"

#define ENGINE_INFO "loch/0.1.0"

void commit_init(commit *c, const char *operation, int64_t read_version)
{
    memset(c, 0, sizeof(*c));
    c->operation = operation ? arena_strdup(&c->a, operation) : NULL;
    c->read_version = read_version;
    c->isolation = ISOLATION_WRITE_SERIALIZABLE;
    c->blind_append_flag = -1;
}

void commit_free(commit *c)
{
    free(c->actions);
    free(c->reads.predicates);
    free(c->reads.files);
    free(c->reads.app_ids);
    free(c->reads.sources);
    free((void *)c->parameters.keys);
    free((void *)c->parameters.values);
    free((void *)c->metrics.keys);
    free((void *)c->metrics.values);
    arena_free(&c->a);
    memset(c, 0, sizeof(*c));
}

/* ---- deep copies into the arena ------------------------------------------------- */

static int dup(arena *a, const char **s)
{
    if (!*s)
        return 0;
    return (*s = arena_strdup(a, *s)) ? 0 : LOCH_ENOMEM;
}

static int dup_strings(arena *a, const char ***v, size_t n)
{
    if (!*v)
        return 0;
    const char **copy = arena_alloc(a, sizeof(*copy) * (n + 1));
    if (!copy)
        return LOCH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i] = (*v)[i];
        if (dup(a, &copy[i]) < 0)
            return LOCH_ENOMEM;
    }
    *v = copy;
    return 0;
}

static int dup_kv(arena *a, log_kv *kv)
{
    int rc = dup_strings(a, &kv->keys, kv->count);
    return rc ? rc : dup_strings(a, &kv->values, kv->count);
}

static int dup_file(arena *a, log_file *f)
{
    int rc = dup(a, &f->path) || dup_kv(a, &f->partition_values) || dup(a, &f->stats) ||
             dup(a, &f->dv.path_or_inline) || dup_kv(a, &f->tags);
    return rc ? LOCH_ENOMEM : 0;
}

static int dup_action(arena *a, log_action *act)
{
    int rc = 0;
    switch (act->kind) {
    case LOG_PROTOCOL:
        rc = dup_strings(a, &act->u.protocol.reader_features, act->u.protocol.reader_count) ||
             dup_strings(a, &act->u.protocol.writer_features, act->u.protocol.writer_count);
        break;
    case LOG_METADATA: {
        log_metadata *m = &act->u.metadata;
        rc = dup(a, &m->id) || dup(a, &m->name) || dup(a, &m->description) || dup(a, &m->schema_string) ||
             dup_strings(a, &m->partition_columns, m->partition_count) || dup_kv(a, &m->configuration);
        break;
    }
    case LOG_ADD:
    case LOG_REMOVE:
    case LOG_CDC:
        rc = dup_file(a, &act->u.file);
        break;
    case LOG_TXN:
        rc = dup(a, &act->u.txn.app_id);
        break;
    case LOG_DOMAIN:
        rc = dup(a, &act->u.domain.domain) || dup(a, &act->u.domain.configuration);
        break;
    default:
        return error_set(LOCH_EINVALID, "a commit cannot hold this kind of action (%d)", (int)act->kind);
    }
    return rc ? error_set(LOCH_ENOMEM, "out of memory") : 0;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return error_set(LOCH_ENOMEM, "out of memory");
    *v = p;
    *cap = n;
    return 0;
}

/* Delta's rule for the change data feed: its readers add columns _change_type,
 * _commit_version and _commit_timestamp to the rows, so a table holding a column of
 * one of those names (in any case: engines compare names so) cannot have the feed on,
 * whichever comes first. Spark refuses both orders; so does every loch commit. */
static int check_cdf_columns(arena *a, const log_metadata *m)
{
    static const char *const reserved[] = {"_change_type", "_commit_version", "_commit_timestamp"};
    bool on = false;
    for (size_t i = 0; i < m->configuration.count; i++)
        on = on || (strcmp(m->configuration.keys[i], "delta.enableChangeDataFeed") == 0 &&
                    m->configuration.values[i] && strcasecmp(m->configuration.values[i], "true") == 0);
    schema sc;
    if (!on || !m->schema_string || schema_parse(a, m->schema_string, NULL, 0, &sc) < 0) {
        error_clear(); /* a schema that does not parse is refused where it is read */
        return 0;
    }
    for (size_t i = 0; i < sc.count; i++)
        for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++)
            if (strcasecmp(sc.fields[i].name, reserved[r]) == 0)
                return error_set(LOCH_EINVALID, "column \"%s\" has a name the change data feed reserves "
                                 "(_change_type, _commit_version, _commit_timestamp): with "
                                 "delta.enableChangeDataFeed = true a table cannot hold it", sc.fields[i].name);
    return 0;
}

int commit_append(commit *c, const log_action *act)
{
    log_action copy = *act;
    int rc = act->kind == LOG_METADATA ? check_cdf_columns(&c->a, &act->u.metadata) : 0;
    rc = rc ? rc : dup_action(&c->a, &copy);
    rc = rc ? rc : grow((void **)&c->actions, &c->cap, c->count + 1, sizeof(*c->actions));
    if (rc == 0)
        c->actions[c->count++] = copy;
    return rc;
}

void commit_truncate(commit *c, size_t count)
{
    if (count < c->count)
        c->count = count;
}

/* Appends key = value to a map of strings whose capacity is *cap. */
static int kv_put(commit *c, log_kv *p, size_t *kv_cap, const char *key, const char *value)
{
    const char *k = key, *v = value;
    size_t cap = *kv_cap;
    int rc = dup(&c->a, &k) || dup(&c->a, &v) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    rc = rc ? rc : grow((void **)&p->keys, &cap, p->count + 1, sizeof(*p->keys));
    if (rc == 0 && cap != *kv_cap) {
        const char **values = realloc((void *)p->values, cap * sizeof(*p->values));
        if (!values)
            return error_set(LOCH_ENOMEM, "out of memory");
        p->values = values;
        *kv_cap = cap;
    }
    if (rc == 0) {
        p->keys[p->count] = k;
        p->values[p->count++] = v;
    }
    return rc;
}

int commit_parameter(commit *c, const char *key, const char *value)
{
    return kv_put(c, &c->parameters, &c->parameters_cap, key, value);
}

int commit_metric(commit *c, const char *key, int64_t value)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)value);
    return kv_put(c, &c->metrics, &c->metrics_cap, key, v);
}

/* ---- the read set ------------------------------------------------------------- */

void commit_read_whole_table(commit *c) { c->reads.whole_table = true; }

static int add_string(commit *c, const char ***v, size_t *n, size_t *cap, const char *s)
{
    const char *copy = s;
    int rc = grow((void **)v, cap, *n + 1, sizeof(**v));
    rc = rc ? rc : dup(&c->a, &copy) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    if (rc == 0)
        (*v)[(*n)++] = copy;
    return rc;
}

int commit_read_predicate(commit *c, const log_kv *partition_equals)
{
    commit_predicate p = {*partition_equals};
    commit_reads *r = &c->reads;
    int rc = dup_kv(&c->a, &p.partition_equals) ? error_set(LOCH_ENOMEM, "out of memory") : 0;
    rc = rc ? rc : grow((void **)&r->predicates, &r->predicate_cap, r->predicate_count + 1, sizeof(p));
    if (rc == 0)
        r->predicates[r->predicate_count++] = p;
    return rc;
}

int commit_read_file(commit *c, const char *path)
{
    return add_string(c, &c->reads.files, &c->reads.file_count, &c->reads.file_cap, path);
}

int commit_read_app_id(commit *c, const char *app_id)
{
    return add_string(c, &c->reads.app_ids, &c->reads.app_id_count, &c->reads.app_id_cap, app_id);
}

int commit_read_source(commit *c, const char *sha256)
{
    return add_string(c, &c->reads.sources, &c->reads.source_count, &c->reads.source_cap, sha256);
}

bool commit_is_blind_append(const commit *c)
{
    if (c->reads.whole_table || c->reads.predicate_count || c->reads.file_count)
        return false;
    for (size_t i = 0; i < c->count; i++)
        if (c->actions[i].kind == LOG_REMOVE)
            return false;
    return true;
}

bool commit_changes_metadata(const commit *c)
{
    for (size_t i = 0; i < c->count; i++)
        if (c->actions[i].kind == LOG_METADATA)
            return true;
    return false;
}

int commit_isolation_parse(const char *text, commit_isolation *out)
{
    if (!text || !*text || strcmp(text, "WriteSerializable") == 0)
        *out = ISOLATION_WRITE_SERIALIZABLE;
    else if (strcmp(text, "Serializable") == 0)
        *out = ISOLATION_SERIALIZABLE;
    else
        return error_set(LOCH_EINVALID, "delta.isolationLevel \"%s\" is not one loch writes under "
                         "(Serializable or WriteSerializable)", text);
    return 0;
}

/* ---- rendering and parsing ----------------------------------------------------- */

static int render_action(buf *out, const log_action *act)
{
    switch (act->kind) {
    case LOG_PROTOCOL: return log_write_protocol(out, &act->u.protocol);
    case LOG_METADATA: return log_write_metadata(out, &act->u.metadata);
    case LOG_ADD: return log_write_add(out, &act->u.file);
    case LOG_REMOVE: return log_write_remove(out, &act->u.file);
    case LOG_CDC: return log_write_cdc(out, &act->u.file);
    case LOG_TXN: return log_write_txn(out, &act->u.txn);
    case LOG_DOMAIN: return log_write_domain(out, &act->u.domain);
    default: return error_set(LOCH_EINVALID, "a commit cannot hold this kind of action (%d)", (int)act->kind);
    }
}

int commit_render(const commit *c, int64_t timestamp_ms, buf *out)
{
    int rc = buf_printf(out, "{\"commitInfo\":{\"timestamp\":%lld,\"operation\":", (long long)timestamp_ms);
    rc = rc || buf_put_json_str(out, c->operation ? c->operation : "WRITE");
    rc = rc || buf_puts(out, ",\"operationParameters\":") || log_write_kv(out, &c->parameters);
    if (c->metrics.count)
        rc = rc || buf_puts(out, ",\"operationMetrics\":") || log_write_kv(out, &c->metrics);
    else
        rc = rc || buf_printf(out, ",\"operationMetrics\":{\"numFiles\":\"%lld\",\"numOutputRows\":\"%lld\"}",
                              (long long)c->files_written, (long long)c->rows_written);
    /* readVersion is unsigned for delta-rs: a new table has none. */
    if (c->read_version >= 0)
        rc = rc || buf_printf(out, ",\"readVersion\":%lld", (long long)c->read_version);
    rc = rc || buf_printf(out, ",\"isolationLevel\":\"%s\",\"isBlindAppend\":%s",
                          c->isolation == ISOLATION_SERIALIZABLE ? "Serializable" : "WriteSerializable",
                          commit_is_blind_append(c) ? "true" : "false");
    rc = rc || buf_puts(out, ",\"engineInfo\":\"" ENGINE_INFO "\",\"clientVersion\":\"loch-0.1.0\"}}\n");
    for (size_t i = 0; rc == 0 && i < c->count; i++)
        rc = render_action(out, &c->actions[i]);
    return rc ? loch_error_last_code() : 0;
}

int commit_parse(commit *c, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int rc = 0;
    for (size_t line = 1; rc == 0 && p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        log_action act;
        rc = log_parse_action(&c->a, p, (size_t)(e - p), &act);
        if (rc < 0) {
            error_prefix("line %zu: ", line);
            break;
        }
        if (act.kind == LOG_COMMITINFO) {
            const json *b = json_get(act.u.commit_info, "isBlindAppend");
            c->blind_append_flag = b && b->type == JSON_BOOL ? b->boolean : -1;
            const char *op = json_get_str(act.u.commit_info, "operation");
            c->operation = op ? op : c->operation;
        } else if (act.kind != LOG_NONE && act.kind != LOG_OTHER) {
            /* Parsed strings already live in c's arena: no copy. */
            rc = grow((void **)&c->actions, &c->cap, c->count + 1, sizeof(*c->actions));
            if (rc == 0)
                c->actions[c->count++] = act;
        }
        p = e + 1;
    }
    return rc;
}

/* ---- conflicts ------------------------------------------------------------------ */

static bool same(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static const char *kv_get(const log_kv *kv, const char *key, bool *found)
{
    for (size_t i = 0; i < kv->count; i++)
        if (strcmp(kv->keys[i], key) == 0) {
            *found = true;
            return kv->values[i];
        }
    *found = false;
    return NULL;
}

/* Whether an added file is one our read set would have seen. */
static bool read_would_see(const commit_reads *r, const log_file *f)
{
    if (r->whole_table)
        return true;
    for (size_t i = 0; i < r->predicate_count; i++) {
        const log_kv *want = &r->predicates[i].partition_equals;
        bool all = true;
        for (size_t k = 0; all && k < want->count; k++) {
            bool found;
            const char *v = kv_get(&f->partition_values, want->keys[k], &found);
            /* A file without the column (a foreign writer's omission) may hold any value. */
            all = !found || same(v, want->values[k]);
        }
        if (all)
            return true;
    }
    return false;
}

static bool in_list(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static bool ours_removes(const commit *ours, const char *path)
{
    for (size_t i = 0; i < ours->count; i++)
        if (ours->actions[i].kind == LOG_REMOVE && strcmp(ours->actions[i].u.file.path, path) == 0)
            return true;
    return false;
}

static bool ours_writes_domain(const commit *ours, const char *domain)
{
    for (size_t i = 0; i < ours->count; i++)
        if (ours->actions[i].kind == LOG_DOMAIN && strcmp(ours->actions[i].u.domain.domain, domain) == 0)
            return true;
    return false;
}

const char *commit_file_sources(const log_file *f)
{
    bool found;
    return kv_get(&f->tags, "loch.source.sha256", &found);
}

bool commit_file_has_source(const log_file *f, const char *sha256)
{
    const char *tag = commit_file_sources(f);
    size_t n = strlen(sha256);
    for (const char *p = tag; n && p && (p = strstr(p, sha256)); p += n)
        if ((p == tag || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

static bool adds_source(const commit_reads *r, const log_file *f)
{
    for (size_t i = 0; i < r->source_count; i++)
        if (commit_file_has_source(f, r->sources[i]))
            return true;
    return false;
}

/* One winner, rule by rule in Delta's order (commit.h). */
static conflict_kind check_one(const commit *ours, const commit *w, const char **subject)
{
    bool ours_meta = commit_changes_metadata(ours);
    /* WriteSerializable skips a blind append's files unless we change the metadata. */
    bool skip_blind = ours->isolation == ISOLATION_WRITE_SERIALIZABLE && !ours_meta && w->blind_append_flag == 1;
    *subject = NULL;
    for (size_t i = 0; i < w->count; i++)
        if (w->actions[i].kind == LOG_PROTOCOL)
            return CONFLICT_PROTOCOL;
    for (size_t i = 0; i < w->count; i++)
        if (w->actions[i].kind == LOG_METADATA)
            return CONFLICT_METADATA;
    for (size_t i = 0; i < w->count; i++)
        if (w->actions[i].kind == LOG_DOMAIN && ours_writes_domain(ours, w->actions[i].u.domain.domain)) {
            *subject = w->actions[i].u.domain.domain;
            return CONFLICT_DOMAIN;
        }
    for (size_t i = 0; i < w->count; i++)
        if (w->actions[i].kind == LOG_TXN &&
            in_list(ours->reads.app_ids, ours->reads.app_id_count, w->actions[i].u.txn.app_id)) {
            *subject = w->actions[i].u.txn.app_id;
            return CONFLICT_APP_ID;
        }
    for (size_t i = 0; !skip_blind && i < w->count; i++)
        if (w->actions[i].kind == LOG_ADD && read_would_see(&ours->reads, &w->actions[i].u.file)) {
            *subject = w->actions[i].u.file.path;
            return CONFLICT_APPEND;
        }
    for (size_t i = 0; i < w->count; i++) {
        const log_file *f = &w->actions[i].u.file;
        if (w->actions[i].kind == LOG_REMOVE &&
            (ours->reads.whole_table || in_list(ours->reads.files, ours->reads.file_count, f->path))) {
            *subject = f->path;
            return CONFLICT_DELETE_READ;
        }
    }
    for (size_t i = 0; i < w->count; i++)
        if (w->actions[i].kind == LOG_REMOVE && ours_removes(ours, w->actions[i].u.file.path)) {
            *subject = w->actions[i].u.file.path;
            return CONFLICT_DELETE_DELETE;
        }
    for (size_t i = 0; ours->reads.source_count && i < w->count; i++)
        if (w->actions[i].kind == LOG_ADD && adds_source(&ours->reads, &w->actions[i].u.file)) {
            *subject = w->actions[i].u.file.path;
            return CONFLICT_SAME_SOURCE;
        }
    return CONFLICT_NONE;
}

int conflict_check(const commit *ours, const commit *const *winners, size_t n, conflict *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *subject;
        conflict_kind k = check_one(ours, winners[i], &subject);
        if (k != CONFLICT_NONE) {
            out->kind = k;
            out->winner = i;
            out->subject = subject;
            return 1;
        }
    }
    return 0;
}

const char *conflict_describe(conflict_kind kind)
{
    switch (kind) {
    case CONFLICT_NONE: return "no conflict";
    case CONFLICT_PROTOCOL: return "a concurrent commit changed the table's protocol";
    case CONFLICT_METADATA: return "a concurrent commit changed the table's schema or properties";
    case CONFLICT_DOMAIN: return "a concurrent commit wrote the same metadata domain";
    case CONFLICT_APP_ID: return "a concurrent commit advanced the same application transaction";
    case CONFLICT_APPEND: return "a concurrent commit added data this one should have read";
    case CONFLICT_DELETE_READ: return "a concurrent commit removed a file this one read";
    case CONFLICT_DELETE_DELETE: return "a concurrent commit removed a file this one removes too";
    case CONFLICT_SAME_SOURCE: return "a concurrent commit added these exact bytes";
    }
    return "conflict";
}
