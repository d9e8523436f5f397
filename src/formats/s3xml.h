/*
 * formats/s3xml.h - the two XML documents an S3-compatible store answers loch with: a
 * ListObjectsV2 page and an error. Hostile input (a store, or whatever answers at its
 * address, writes it): the reader never reads past len, never allocates more than the
 * document holds, and takes only the elements it knows, by exact name, at any depth
 * (stores differ in namespaces and in the order of elements).
 *
 * It is a scanner for these documents, not an XML parser: no DTD, no entities but the
 * five predefined ones and numeric character references (a store sends no others), no
 * CDATA. Text it cannot decode (an unknown entity, a reference to a code point that is
 * not a character) makes the document corrupt, never a guess.
 *
 * Fuzzed by fuzz/fuzz_s3xml.c; checked against moto's answers in tests/py/test_s3.py.
 */
#ifndef LOCH_FORMATS_S3XML_H
#define LOCH_FORMATS_S3XML_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key;         /* owned; the object's key, or the common prefix (is_prefix) */
    int64_t size;      /* -1 for a prefix */
    int64_t mtime_ms;  /* LastModified; -1 when absent or unreadable */
    char etag[72];     /* without its quotes; "" when absent */
    int is_prefix;     /* a CommonPrefixes entry: a "directory" under the delimiter */
} s3xml_entry;

typedef struct {
    s3xml_entry *entries; /* owned */
    size_t count;
    int truncated;        /* IsTruncated: another page follows */
    char *next_token;     /* owned; NextContinuationToken, or NULL */
} s3xml_list;

/* Reads a ListObjectsV2 page. LOCH_ECORRUPT (with the byte offset) for a document that
 * is not one; LOCH_ENOMEM. On failure *out holds nothing. */
int s3xml_parse_list(const char *xml, size_t len, s3xml_list *out);
void s3xml_list_free(s3xml_list *l);

/* The text of the first element named `element` at any depth (UploadId of an
 * InitiateMultipartUploadResult), decoded, cut to fit out. 1 when found, 0 when not (or
 * the document is not readable). */
int s3xml_text(const char *xml, size_t len, const char *element, char *out, size_t cap);

/* The UploadIds of a ListMultipartUploadsResult's uploads of `key`, into ids (cap of
 * them, each NUL-terminated in 256 bytes); *n gets how many. LOCH_ECORRUPT for a
 * document that is not readable. */
int s3xml_upload_ids(const char *xml, size_t len, const char *key, char (*ids)[256], size_t cap, size_t *n);

/* Reads an <Error> document's Code and Message into the buffers (NUL-terminated, cut
 * to fit, "" when absent). Returns 1 when it was one, 0 when not. */
int s3xml_parse_error(const char *xml, size_t len, char *code, size_t code_cap, char *message, size_t message_cap);

#endif
