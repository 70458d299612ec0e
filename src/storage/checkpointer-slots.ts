/** What the writer's thread and the checkpointer thread share (kept apart so the worker loads nothing else). */

/** Indexes into the shared Float64Array the checkpointer thread writes and `SqliteStore.stats()` reads. */
export const CheckpointSlot = {
  /** Rounds that copied frames into the database file. */
  Rounds: 0,
  /** RESTART checkpoints (the WAL did not rewind by itself). */
  Restarts: 1,
  /** Frames in the WAL after the last round. */
  WalFrames: 2,
  LastRoundMs: 3,
  /** Date.now() of the last round that copied frames. */
  LastRoundAt: 4,
  Errors: 5,
} as const;
export const CHECKPOINT_SLOTS = 6;

export interface CheckpointerWorkerData {
  path: string;
  shared: SharedArrayBuffer;
  intervalMs: number;
  busyTimeoutMs: number;
  catchUpRounds: number;
  restartFrames: number;
}
