/*
 * adapters/s3_settings.c - s3_settings_resolve: the environment, then the AWS CLI's
 * shared files (formats/awsconf.h), in the AWS CLI's order of precedence. Checked against
 * botocore's own resolution in tests/py/test_s3.py.
 */
#include "adapters/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/awsconf.h"
#include "util/buf.h"
#include "util/error.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A whole file, NULL (and 0) when there is none; capped, as anyone may have written it. */
static int slurp(const char *path, buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? 0 : error_errno(errno, "cannot read", path);
    out->cap = 4 << 20;
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_put(out, chunk, n) < 0)
            rc = error_set(LOCH_EINVALID, "%s is larger than an AWS settings file can be", path);
    fclose(f);
    return rc;
}

static int file_path(buf *out, const char *var, const char *name)
{
    const char *p = env(var), *home = env("HOME");
    if (p)
        return buf_puts(out, p);
    return home ? buf_printf(out, "%s/.aws/%s", home, name) : 0;
}

/* key from the profile's section of text, or of its "s3 =" block when sub. */
static int get(const buf *text, const char *path, const char *section, const char *sub, const char *key, char **out)
{
    *out = NULL;
    return text->len ? awsconf_ini_get(text->data, text->len, path, section, sub, key, out) : 0;
}

static int set_from(char **field, const char *v)
{
    return !v || *field ? 0 : (*field = strdup(v)) ? 0 : error_set(LOCH_ENOMEM, "out of memory");
}

int s3_settings_resolve(s3_settings *out)
{
    buf cpath = BUF_INIT, fpath = BUF_INIT, creds = BUF_INIT, conf = BUF_INIT, section = BUF_INIT;
    char *v = NULL;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    rc = set_from(&out->profile, env("AWS_PROFILE") ? env("AWS_PROFILE") : "default");
    if (rc == 0 && (file_path(&cpath, "AWS_SHARED_CREDENTIALS_FILE", "credentials") < 0 ||
                    file_path(&fpath, "AWS_CONFIG_FILE", "config") < 0))
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc == 0 && cpath.len)
        rc = slurp(cpath.data, &creds);
    if (rc == 0 && fpath.len)
        rc = slurp(fpath.data, &conf);
    /* the config file names a profile "profile x", except the default */
    if (rc == 0 && (strcmp(out->profile, "default") ? buf_printf(&section, "profile %s", out->profile)
                                                     : buf_puts(&section, "default")) < 0)
        rc = error_set(LOCH_ENOMEM, "out of memory");
    if (rc < 0)
        goto done;
    if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
        rc = set_from(&out->access_key, env("AWS_ACCESS_KEY_ID"));
        rc = rc ? rc : set_from(&out->secret_key, env("AWS_SECRET_ACCESS_KEY"));
        rc = rc ? rc : set_from(&out->session_token, env("AWS_SESSION_TOKEN"));
        out->credentials_from = "environment";
    }
    /* a profile's keys come from one file whole: the credentials file, else the config */
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"};
    for (int pass = 0; rc == 0 && !out->access_key && pass < 2; pass++) {
        const buf *text = pass ? &conf : &creds;
        const char *path = pass ? fpath.data : cpath.data, *sec = pass ? section.data : out->profile;
        char *got[3] = {NULL, NULL, NULL};
        for (int i = 0; rc == 0 && i < 3; i++)
            rc = get(text, path, sec, NULL, keys[i], &got[i]);
        if (rc == 0 && got[0] && got[1]) {
            out->access_key = got[0], out->secret_key = got[1], out->session_token = got[2];
            out->credentials_from = pass ? "config file" : "credentials file";
        } else {
            free(got[0]), free(got[1]), free(got[2]);
        }
    }
    rc = rc ? rc : set_from(&out->region, env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION"));
    if (rc == 0 && !out->region && (rc = get(&conf, fpath.data, section.data, NULL, "region", &v)) == 0)
        out->region = v, v = NULL;
    rc = rc ? rc : set_from(&out->endpoint, env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3")
                                                                       : env("AWS_ENDPOINT_URL"));
    /* the profile's "services = name" names a [services name] section with an s3 block */
    if (rc == 0 && !out->endpoint && (rc = get(&conf, fpath.data, section.data, NULL, "services", &v)) == 0 && v) {
        buf svc = BUF_INIT;
        rc = buf_printf(&svc, "services %s", v) < 0 ? error_set(LOCH_ENOMEM, "out of memory") : 0;
        free(v);
        v = NULL;
        if (rc == 0 && (rc = get(&conf, fpath.data, svc.data, "s3", "endpoint_url", &v)) == 0)
            out->endpoint = v, v = NULL;
        buf_free(&svc);
    }
    if (rc == 0 && !out->endpoint && (rc = get(&conf, fpath.data, section.data, NULL, "endpoint_url", &v)) == 0)
        out->endpoint = v, v = NULL;
    out->path_style = out->endpoint != NULL; /* MinIO, moto and most others want it */
    if (rc == 0 && (rc = get(&conf, fpath.data, section.data, "s3", "addressing_style", &v)) == 0 && v)
        out->path_style = !strcasecmp(v, "path") ? 1 : !strcasecmp(v, "virtual") ? 0 : out->path_style;
    free(v);
    v = NULL;
    if (rc == 0 && !out->access_key)
        rc = error_set(LOCH_EINVALID, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                                      "aws_access_key_id and aws_secret_access_key in profile \"%s\" of %s",
                       out->profile, cpath.len ? cpath.data : "~/.aws/credentials");
done:
    if (creds.data)
        memset(creds.data, 0, creds.len);
    if (conf.data)
        memset(conf.data, 0, conf.len);
    buf_free(&cpath), buf_free(&fpath), buf_free(&creds), buf_free(&conf), buf_free(&section);
    if (rc < 0)
        s3_settings_free(out);
    return rc;
}

void s3_settings_free(s3_settings *s)
{
    if (s->secret_key)
        memset(s->secret_key, 0, strlen(s->secret_key));
    free(s->access_key), free(s->secret_key), free(s->session_token), free(s->region), free(s->endpoint);
    free(s->profile);
    memset(s, 0, sizeof(*s));
}
