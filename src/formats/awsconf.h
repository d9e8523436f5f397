/*
 * formats/awsconf.h - the AWS CLI's shared files (~/.aws/credentials, ~/.aws/config),
 * read for adapters/s3_settings.c, which resolves an AWS user's S3 settings as the AWS
 * CLI and botocore do, so that a lake in a bucket needs nothing loch-specific:
 *
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the
 *                profile's aws_access_key_id/aws_secret_access_key/aws_session_token in
 *                the shared credentials file, else in the config file
 *   profile      AWS_PROFILE, else "default"
 *   region       AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region (the
 *                AWS CLI v2's order; botocore reads no AWS_REGION)
 *   endpoint     AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the s3 block of the
 *                [services x] section the profile names (services = x), else the
 *                profile's endpoint_url (MinIO, R2, moto)
 *   addressing   the profile's "s3 = / addressing_style = path|virtual"; a custom
 *                endpoint defaults to path style (what MinIO and moto need)
 *   files        AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials) and
 *                AWS_CONFIG_FILE (else ~/.aws/config); a missing file is no error
 *
 * The files are INI as the AWS CLI writes them: [default], [profile name] in config and
 * [name] in credentials, "key = value", comments from # or ;, and a key with no value
 * opening indented sub-keys (s3 = / addressing_style = path). Keys are matched in lower
 * case. The reader takes hostile text (a file anyone may have written): it never reads
 * past len and refuses a line it cannot read, naming the file and line.
 *
 * Nothing here prints or logs a value: an error names the file and line, never its text.
 */
#ifndef LOCH_FORMATS_AWSCONF_H
#define LOCH_FORMATS_AWSCONF_H

#include <stddef.h>

/* The value of key in section of an INI text (section "default", "profile x" or "x";
 * sub for a key under "s3 =", NULL for a top-level key). *out is owned by the caller;
 * NULL when not there. LOCH_ECORRUPT names `name` and the line of a line not readable. */
int awsconf_ini_get(const char *text, size_t len, const char *name, const char *section, const char *sub,
                    const char *key, char **out);

#endif
