/*
 * loch/export.h - which symbols libloch exports.
 *
 * libloch is built with -fvisibility=hidden: every function is private to the library
 * unless its declaration in include/loch/ carries LOCH_EXTERN. So the shared library's
 * symbol table is exactly the documented API (all named loch_*), internal names cannot
 * collide with a host program's, and nothing outside these headers becomes something a
 * caller could start to depend on. `make unit` checks this with nm.
 */
#ifndef LOCH_EXPORT_H
#define LOCH_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define LOCH_EXTERN __attribute__((visibility("default")))
#else
#define LOCH_EXTERN
#endif

#endif
