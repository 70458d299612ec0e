/**
 * Proof of life for one end of the link, read at the socket: whether bytes arrived since the last look. Both ends
 * decide a link is dead when no frame arrived for a while; but a frame that arrived can still wait in this process
 * behind `ws`'s zlib queue (the thread's (de)compressions run a few at a time, and a link's later frames, pings and
 * pongs included, wait behind its message being inflated). On a saturated machine that wait reached 45 s for every
 * link at once, and both ends dropped all 10,000 links of a healthy fleet (bench/RESULTS.md, 10,000 nodes). Bytes
 * the kernel handed to the socket, or a socket ws paused because its frames are not read yet, show the peer is
 * alive; a black-holed or half-open link shows neither, so it is still noticed.
 */
export interface ArrivalSource {
  readonly bytesRead: number;
  isPaused(): boolean;
}

export class LinkArrivals {
  private last: number;

  constructor(private readonly socket: ArrivalSource) {
    this.last = socket.bytesRead;
  }

  /** True when bytes arrived since the previous call (or construction), or the socket holds unread frames. */
  moved(): boolean {
    const now = this.socket.bytesRead;
    const moved = now !== this.last || this.socket.isPaused();
    this.last = now;
    return moved;
  }
}
