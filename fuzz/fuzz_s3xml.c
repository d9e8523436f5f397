/*
 * fuzz/fuzz_s3xml.c - libFuzzer target for the store's XML answers (formats/s3xml.c).
 *
 * The first byte picks the document: a list page, an error, or a listing of multipart
 * uploads. Besides "no crash, no
 * overrun", it checks the promises: a list read whole has a key for every entry and a
 * size for every object, and a truncated page a continuation token; an error's code and
 * message fit their buffers.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_s3xml.c src/formats/s3xml.c \
 *     src/util/buf.c src/util/error.c src/util/misc.c -o /tmp/fuzz_s3xml
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/s3xml.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 2) { /* an upload listing, and one element's text */
        char ids[4][256], text[32];
        size_t n = 0;
        if (s3xml_upload_ids(xml, len, "k", ids, 4, &n) == 0)
            for (size_t i = 0; i < n; i++)
                if (n > 4 || strlen(ids[i]) >= 256 || !ids[i][0])
                    abort();
        if (s3xml_text(xml, len, "UploadId", text, sizeof(text)) && strlen(text) >= sizeof(text))
            abort();
        error_clear();
        return 0;
    }
    if (data[0] & 1) {
        char code[16], message[64];
        int is = s3xml_parse_error(xml, len, code, sizeof(code), message, sizeof(message));
        if (strlen(code) >= sizeof(code) || strlen(message) >= sizeof(message) || (!is && (code[0] || message[0])))
            abort();
        return 0;
    }
    s3xml_list l;
    if (s3xml_parse_list(xml, len, &l) == 0) {
        for (size_t i = 0; i < l.count; i++)
            if (!l.entries[i].key || (!l.entries[i].is_prefix && l.entries[i].size < 0))
                abort();
        if (l.truncated && (!l.next_token || !*l.next_token))
            abort();
        s3xml_list_free(&l);
    } else if (l.entries || l.count || l.next_token) {
        abort(); /* a failed read leaves nothing behind */
    }
    error_clear();
    return 0;
}
