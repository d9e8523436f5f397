/*
 * util/crc32c.h - CRC-32C (Castagnoli), the checksum of iSCSI, ext4, Kafka record
 * batches and LevelDB logs: what the write-ahead log puts on every frame, since the
 * Arrow IPC format carries none. The SSE4.2 instruction computes it where the CPU has
 * one (checked once at run time); elsewhere a table does, with the same results.
 */
#ifndef LOCH_UTIL_CRC32C_H
#define LOCH_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over data[0..len). crc32c("123456789") = 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
