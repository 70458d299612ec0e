/**
 * Child process for the crash-safety test: writes as fast as it can (64 writers in flight, so
 * group commit batches them) and prints one line per acknowledged write. The test SIGKILLs it
 * mid-stream and checks that every printed write is in the reopened store.
 * Usage: crash-writer.ts DB_PATH [background]
 * `background`: the background checkpointer runs every 10 ms and RESTARTs the WAL often, so the kill
 * lands among checkpoints and WAL rewinds as well as commits.
 * stdout to a pipe is synchronous on Linux, so a printed line really follows the acknowledgement.
 */
import { openSqliteStore } from '../sqlite.js';

const background = process.argv[3] === 'background';
const store = await openSqliteStore(
  process.argv[2]!,
  background ? { checkpoint: 'background', checkpointIntervalMs: 10, checkpointRestartFrames: 64 } : {},
);
process.stdout.write('ready\n');
// Lets the test check that checkpoints really ran before the kill.
setInterval(() => {
  const { backgroundCheckpoints, checkpointRestarts } = store.stats();
  process.stdout.write(`# checkpoints ${backgroundCheckpoints} restarts ${checkpointRestarts}\n`);
}, 20);

async function writer(id: number): Promise<never> {
  for (let n = 0; ; n++) {
    const key = `/crash/${id}/${n}`;
    const created = await store.create(key, `c${n}`);
    process.stdout.write(`${key} ${created.modRevision} c${n}\n`);
    const updated = await store.update(key, `u${n}`, created.modRevision);
    process.stdout.write(`${key} ${updated.modRevision} u${n}\n`);
  }
}

await Promise.all(Array.from({ length: 64 }, (_, id) => writer(id)));
