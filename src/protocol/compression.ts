/**
 * permessage-deflate settings of the cloud↔edge link, shared by the hub, the edge and the benchmarks that
 * compare the link's bytes with other traffic compressed the same way.
 *
 * chunkSize: each zlib stream keeps an output buffer for the life of the connection (16 KiB by default, one per
 * direction per node); frames are a few KiB, so 4 KiB buffers cut ~24 KiB of allocations per connection.
 * The deflate state itself stays ≥ 90 KiB whatever memLevel: Node's zlib always uses a 64 KiB hash table.
 */
export const LINK_DEFLATE_WINDOW_BITS = 13;
export const LINK_ZLIB_DEFLATE = { memLevel: 4, level: 4, chunkSize: 4096 } as const;
export const LINK_ZLIB_INFLATE = { chunkSize: 4096 } as const;
