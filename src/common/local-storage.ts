/**
 * Where an edge node keeps local-path volumes: K3s puts them in `<data-dir>/storage`, and so does the Kedge agent,
 * under its own `--data-dir`. The cloud cannot know an agent's data dir, so the agent reports the directory on its
 * Node (this annotation, kept by the hub's status writer when it is an absolute path) and the local-path provisioner
 * uses it for nodes the `local-path-config` ConfigMap does not name.
 */
import path from 'node:path';

export const LOCAL_STORAGE_PATH_ANNOTATION = 'kedge.io/local-storage-path';

/** The local-path directory of an agent with this data dir (K3s: `<data-dir>/storage`). */
export const localStoragePath = (dataDir: string): string => path.join(path.resolve(dataDir), 'storage');

/** Upper bound on a reported path (PATH_MAX): anything longer is not a directory the node can have. */
const MAX_PATH = 4096;

/** A reported path the provisioner may use: absolute, normalized (no `..`), no NUL, bounded. */
export function validLocalStoragePath(p: unknown): p is string {
  return typeof p === 'string' && p.length <= MAX_PATH && path.isAbsolute(p) && path.normalize(p) === p && !p.includes('\0');
}
