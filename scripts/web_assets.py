#!/usr/bin/env python3
"""Writes the browser UI's files into a C source as byte arrays, for `loch serve` to
answer from the binary itself (src/server/web.h): each file's URL path, media type,
bytes and an ETag made of its SHA-256.

Usage: web_assets.py OUT.c URL=FILE...   (e.g. /ui/app.js=build/web/app.js)
"""
import hashlib
import sys

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


def main():
    out, pairs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    lines = ["/* Made by scripts/web_assets.py from web/ at build time: do not edit. */",
             '#include "server/web.h"', ""]
    table = []
    # the page names every script chunk for the browser to fetch and compile at once,
    # instead of finding each one only when the one importing it has run
    chunks = [url for url, _ in pairs if url.startswith("/ui/chunk-") and url.endswith(".js")]
    preload = "".join(f'<link rel="modulepreload" href="{u}">\n' for u in chunks).encode()
    for i, (url, path) in enumerate(pairs):
        data = open(path, "rb").read()
        if url == "/":
            data = data.replace(b"</head>", preload + b"</head>", 1)
        ext = path[path.rfind("."):]
        kind = TYPES["." + url.rsplit(".", 1)[1]] if "." in url.rsplit("/", 1)[-1] else TYPES[ext]
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        lines.append(f"static const unsigned char asset{i}[] = {{")
        for k in range(0, len(data), 32):
            lines.append("    " + ",".join(str(b) for b in data[k:k + 32]) + ",")
        lines.append("    0};")
        table.append(f'    {{"{url}", "{kind}", asset{i}, {len(data)}, "{etag.replace(chr(34), chr(92) + chr(34))}"}},')
    lines.append("const web_asset web_assets[] = {")
    lines += table
    lines.append("};")
    lines.append(f"const size_t web_nassets = {len(pairs)};")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    import os
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
