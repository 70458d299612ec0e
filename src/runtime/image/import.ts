/**
 * Importing image tarballs (OCI layout or docker-archive, as `docker save` writes) into the
 * runtime, for edge sites without a registry.
 *
 * Why `ctr` and not the containerd gRPC API: an import means writing every blob to the content
 * store, creating the image record and unpacking layers into the CRI's snapshotter — three
 * containerd services and a lease. `ctr` ships in the same Debian package, speaks to the same
 * socket and does exactly that, in the `k8s.io` namespace where the CRI plugin looks for images.
 */
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ImportResult {
  /** Image references ctr reported as imported. */
  images: string[];
  output: string;
}

export function importImageArchive(socket: string, file: string, ctrPath = 'ctr'): Promise<ImportResult> {
  return new Promise((resolve, reject) => {
    execFile(
      ctrPath,
      ['-a', socket, '-n', 'k8s.io', 'images', 'import', '--no-unpack=false', file],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        if (err) return reject(new Error(`image import of ${file} failed: ${output.trim() || err.message}`));
        // ctr prints "unpacking <ref> (sha256:...)...done" per image.
        const images = [...output.matchAll(/unpacking (\S+) \(sha256:/g)].map((m) => m[1]!);
        resolve({ images, output });
      },
    );
  });
}

/** Import an archive held in memory (writes it to a temp file first). */
export async function importImageBuffer(socket: string, archive: Buffer, ctrPath = 'ctr'): Promise<ImportResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kedge-img-'));
  try {
    const file = path.join(dir, 'image.tar');
    await writeFile(file, archive);
    return await importImageArchive(socket, file, ctrPath);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
