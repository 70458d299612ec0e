/**
 * Single-writer lock for a store that cannot hold SQLite's exclusive locking mode (the background
 * checkpointer needs a second connection to the file). The store keeps its revision counter in memory,
 * so a second writer would hand out the same revisions: it must be refused instead.
 *
 * The lock is an exclusive SQLite lock on a small companion file (`<store>-writer.lock`), held for the
 * life of the store: the kernel drops it when the process dies (kill -9 included), so no stale lock ever
 * needs cleaning up, and SQLite refuses a second connection within the same process as well.
 */
import Database from 'better-sqlite3';

export interface WriterLock {
  release(): void;
}

/** Take the lock or throw (an Error whose `code` is 'SQLITE_BUSY' when someone holds it). */
export function acquireWriterLock(storePath: string): WriterLock {
  const db = new Database(`${storePath}-writer.lock`, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY'); // no -journal file beside it (OFF is refused by this build)
    // The first write takes the exclusive file lock; exclusive locking mode keeps it until close.
    db.exec('CREATE TABLE IF NOT EXISTS writer (pid INTEGER); DELETE FROM writer;');
    db.prepare('INSERT INTO writer (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    db.close();
    throw err;
  }
  return { release: () => db.close() };
}
