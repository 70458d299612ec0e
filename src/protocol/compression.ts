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

/**
 * How many (de)compressions `ws` runs at once per thread, for all of that thread's links together. ws queues every
 * permessage-deflate job of a thread behind one FIFO limiter (default 10), and a link's later frames — pings, pongs,
 * heartbeats — wait behind its message in the queue. On a saturated machine a job's round trip through libuv's pool
 * is slow, so 10 slots carried fewer jobs per second than 10,000 links asked for: the queue grew until every link
 * was silent past its keepalive (the 10,000-node collapse; bench/link-contention.ts). Past the limiter the jobs
 * queue in libuv's pool, which keeps its 4 threads busy back to back instead of waiting for each job's callback.
 * ws reads this once per thread, from the first link's options.
 */
export const LINK_ZLIB_CONCURRENCY = 256;

/** The hub's permessage-deflate offer answer (ws server options); see src/cloudhub/hub.ts for the window's why. */
export function linkServerDeflate(windowBits: number = LINK_DEFLATE_WINDOW_BITS) {
  return {
    threshold: 1024,
    serverMaxWindowBits: windowBits,
    clientMaxWindowBits: windowBits,
    zlibDeflateOptions: LINK_ZLIB_DEFLATE,
    zlibInflateOptions: LINK_ZLIB_INFLATE,
    concurrencyLimit: LINK_ZLIB_CONCURRENCY,
  };
}

/** The edge's permessage-deflate offer (ws client options): the hub picks the window. */
export const LINK_CLIENT_DEFLATE = { threshold: 1024, zlibDeflateOptions: LINK_ZLIB_DEFLATE, zlibInflateOptions: LINK_ZLIB_INFLATE, concurrencyLimit: LINK_ZLIB_CONCURRENCY } as const;

/**
 * Text frames shorter than this (in UTF-16 units, which never exceed the UTF-8 bytes) go out uncompressed.
 * permessage-deflate marks each message as compressed or not (RSV1, RFC 7692 §6), so this needs no negotiation:
 * every receiver, old edges included, reads both. Why: ws applies its own `threshold` only without context
 * takeover, so with takeover every heartbeat, ack, status-ack and lease renewal went through zlib — an async
 * job on the libuv pool plus a flush per frame, on both ends — to save a few tens of bytes each
 * (docs/design/reconnect-traffic.md, "small frames uncompressed"; bench/link.ts measures both per frame kind).
 */
export const LINK_COMPRESS_MIN_CHARS = 256;

const COMPRESSED = { compress: true } as const;
const UNCOMPRESSED = { compress: false } as const;

/** ws send options for one text frame of the link. */
export function linkFrameOptions(text: string): { readonly compress: boolean } {
  return text.length < LINK_COMPRESS_MIN_CHARS ? UNCOMPRESSED : COMPRESSED;
}
