/**
 * Worker-thread entry of the background WAL checkpointer (see checkpointer.ts): its own SQLite connection
 * copies the WAL into the database file every `intervalMs`, so the two fsyncs and the page copying of a
 * checkpoint never run on the writer's (the API server's) thread.
 *
 * Each round: PASSIVE checkpoints (they never take the writer lock, so they never delay a commit), repeated
 * a few times while the writer keeps appending, because SQLite only rewinds the WAL to its start when a write
 * transaction begins with every frame already copied. If the WAL still holds `restartFrames` or more after
 * that, one RESTART: it takes the writer lock for the copy of the last frames (the writer sees SQLITE_BUSY
 * and retries a moment later, never blocking its thread) and makes the next commit rewind the WAL.
 *
 * Progress goes into a shared Float64Array (no messages, so the writer's thread pays nothing per round).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CheckpointSlot, type CheckpointerWorkerData } from './checkpointer-slots.js';

const data = workerData as CheckpointerWorkerData;
const port = parentPort!;
const slots = new Float64Array(data.shared);
const db = new Database(data.path, { timeout: data.busyTimeoutMs });
// Checkpoint syncs follow this connection's level: NORMAL syncs the WAL before copying and the database after.
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

function checkpoint(mode: 'PASSIVE' | 'RESTART'): CheckpointRow {
  return (db.pragma(`wal_checkpoint(${mode})`) as CheckpointRow[])[0]!;
}

function round(): void {
  const started = performance.now();
  let r = checkpoint('PASSIVE');
  if (r.log <= 0 || r.checkpointed <= 0) {
    slots[CheckpointSlot.WalFrames] = Math.max(0, r.log);
    return; // nothing new since the last round
  }
  // Catch up with what the writer appended during the copy, so its next transaction can rewind the WAL.
  for (let i = 0; i < data.catchUpRounds && r.checkpointed < r.log; i++) r = checkpoint('PASSIVE');
  if (r.log >= data.restartFrames) {
    r = checkpoint('RESTART');
    slots[CheckpointSlot.Restarts]! += 1;
  }
  slots[CheckpointSlot.Rounds]! += 1;
  slots[CheckpointSlot.WalFrames] = Math.max(0, r.log);
  slots[CheckpointSlot.LastRoundMs] = performance.now() - started;
  slots[CheckpointSlot.LastRoundAt] = Date.now();
}

let timer: NodeJS.Timeout | null = null;
function schedule(): void {
  timer = setTimeout(() => {
    try {
      round();
    } catch (err) {
      slots[CheckpointSlot.Errors]! += 1;
      port.postMessage({ type: 'error', error: (err as Error).message });
    }
    schedule();
  }, data.intervalMs);
}

port.on('message', (m: { type?: string }) => {
  if (m.type !== 'stop') return;
  if (timer) clearTimeout(timer);
  db.close();
  port.postMessage({ type: 'stopped' });
  port.close();
});
port.postMessage({ type: 'started' });
schedule();
