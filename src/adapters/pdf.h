/*
 * adapters/pdf.h - text out of PDF files, one row per page, by running poppler's
 * pdftotext (Debian package poppler-utils). No PDF parsing happens in loch.
 */
#ifndef LOCH_ADAPTERS_PDF_H
#define LOCH_ADAPTERS_PDF_H

/* Writes an NDJSON file with one object per page: {"file": name, "page": n, "text": t}.
 * Pages are numbered from 1. Errors name the file and pdftotext's complaint. */
int pdf_pages_to_ndjson(const char *pdf_path, const char *name, const char *ndjson_path);

#endif
