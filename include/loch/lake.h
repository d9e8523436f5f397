/*
 * loch/lake.h - a lake: a directory (or bucket prefix) of Delta tables.
 *
 *   loch_lake *lake;
 *   loch_lake_options opts = LOCH_LAKE_OPTIONS_INIT;
 *   if (loch_lake_open(&lake, "./lake", &opts) < 0)
 *       fprintf(stderr, "%s\n", loch_error_last());
 *   ...
 *   loch_lake_free(lake);
 *
 * One lake handle serves one thread at a time.
 */
#ifndef LOCH_LAKE_H
#define LOCH_LAKE_H

#include <stdint.h>

#include "loch/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loch_lake loch_lake;

/* A warning the library cannot hand back as an error, because it worked around the
 * problem: the catalog would not open (loch carries on without it), a checkpoint failed
 * after its commit was already durable, a table could not be listed. The message names
 * the table or file, without a trailing newline; the callback runs on the thread that
 * met the problem. The library itself never prints. */
typedef enum { LOCH_LOG_WARNING = 1 } loch_log_level;
typedef void (*loch_log_fn)(void *ctx, loch_log_level level, const char *message);

typedef struct {
    unsigned int version;     /* LOCH_LAKE_OPTIONS_VERSION */
    int sandbox;              /* SQL may touch no file outside the lake (default 0) */
    const char *memory_limit; /* SQL engine memory limit, e.g. "4GB"; NULL = engine default */
    int threads;              /* SQL engine threads; 0 = one per core */
    int create;               /* create the lake when missing (default 1) */
    /* version 2: */
    loch_log_fn log;          /* where warnings go; NULL = nowhere */
    void *log_ctx;
    /* Hooks for loch's own tests (the loch command sets them from $LOCH_HOLD, $LOCH_FAULT
     * and $LOCH_NO_METADATA_ANSWERS); programs leave them NULL and 0. */
    const char *test_hold;    /* "point[,point...]:dir": at each named point of a write,
                                 create dir/<point>.<pid>.reached and wait (up to five
                                 minutes) until dir/<point>.go exists */
    const char *test_fault;   /* "step:ERRNO[:skip]": the storage's next such step
                                 ("write", "datasync", "link", "rename", "dirsync", ...)
                                 after skip others fails with ERRNO (EIO, ENOSPC, EEXIST) */
    int test_no_metadata_answers; /* answer count(*) by scanning, never from the log, and key
                                     lookups by the engine, never from the key index */
    /* version 3: */
    const char *embed_model;  /* the embedding model, "[provider:]name" (below; the loch command:
                                 $LOCH_EMBED_MODEL); NULL = all-MiniLM-L6-v2 as scripts/setup.sh
                                 installed it */
    /* version 4: */
    const char *ask_model;    /* the generation model of loch_ask, "[provider:]name" (the loch command:
                                 $LOCH_ASK_MODEL); NULL = Qwen2.5-Coder-1.5B-Instruct as
                                 scripts/setup.sh installed it */
    /* version 5: where models run. A model's name may start with its provider:
     * "embedded:" (a GGUF file run in this process), "ollama:" or "openai:" (a model on a
     * server speaking that API: "ollama:qwen2.5-coder:7b"); a name without one has ai_provider's. */
    const char *ai_provider;    /* "embedded" (NULL), "ollama" or "openai" */
    const char *ollama_url;     /* NULL = http://127.0.0.1:11434 */
    const char *openai_url;     /* with /v1; NULL = https://api.openai.com/v1 */
    const char *openai_api_key; /* sent as a bearer token to openai_url; NULL = none */
    /* version 6: a lake in an S3-compatible bucket ("s3://bucket/prefix"). The library
     * reads no environment: the loch command fills these as the AWS CLI would
     * (AWS_ACCESS_KEY_ID, ..., AWS_PROFILE, ~/.aws/credentials and config). */
    const char *s3_access_key;
    const char *s3_secret_key;
    const char *s3_session_token; /* temporary credentials; NULL = none */
    const char *s3_region;        /* NULL = us-east-1 */
    const char *s3_endpoint;      /* "http://127.0.0.1:9000" (MinIO, moto, R2); NULL = AWS */
    int s3_path_style;            /* the bucket in the URL's path, not its host name */
    const char *local_dir;        /* where a lake in a bucket keeps its local files: cached
                                     copies, scratch, catalog (the loch command:
                                     $LOCH_CACHE_DIR, else ~/.cache/loch) */
    int64_t local_cache_bytes;    /* the cached copies of a bucket's files kept, at most (the
                                     least recently used go first); 0 = 10 GiB (the loch
                                     command: $LOCH_CACHE_SIZE, e.g. "2GB") */
} loch_lake_options;

#define LOCH_LAKE_OPTIONS_VERSION 6
#define LOCH_LAKE_OPTIONS_INIT                                                                                        \
    {LOCH_LAKE_OPTIONS_VERSION, 0, NULL, 0, 1, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,     \
     NULL, NULL, NULL, NULL, NULL, 0, NULL, 0}

/* Opens (and with opts->create, initializes) the lake at uri: a path ("./lake",
 * "/data/lake") or a URI ("file:///data/lake", percent-encoded; "file://localhost/..."
 * too) or a bucket's prefix ("s3://bucket/lake", opened with opts' s3_ settings). Another
 * host in a file URI is LOCH_EINVALID; a scheme loch has no storage for ("gs://...") is
 * LOCH_EUNSUPPORTED; without opts->create, a lake that is not
 * there is LOCH_ENOTFOUND. Nothing is created when the open fails on the location. */
LOCH_EXTERN int loch_lake_open(loch_lake **out, const char *uri, const loch_lake_options *opts);

/* An AWS user's S3 settings, found as the AWS CLI finds them: the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_ENDPOINT_URL, ...), then the profile (AWS_PROFILE, else "default") in
 * ~/.aws/credentials and ~/.aws/config. Fills opts' s3_ fields with strings *out keeps
 * (free it after the lake). LOCH_EINVALID when no credentials are found, saying where
 * it looked. */
typedef struct loch_aws_settings loch_aws_settings;
LOCH_EXTERN int loch_aws_settings_load(loch_aws_settings **out, loch_lake_options *opts);
LOCH_EXTERN void loch_aws_settings_free(loch_aws_settings *s);
LOCH_EXTERN void loch_lake_free(loch_lake *lake);
/* The lake's absolute root directory on this machine (where the SQL engine works);
 * valid until loch_lake_free. */
LOCH_EXTERN const char *loch_lake_root(const loch_lake *lake);
/* Cancels the SQL statement running on this lake; safe from a signal handler. */
LOCH_EXTERN void loch_lake_interrupt(loch_lake *lake);

/* Frees memory that loch handed to the caller (strings from loch_result_text etc.). */
LOCH_EXTERN void loch_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
