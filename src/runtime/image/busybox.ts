/**
 * Images made from the node's own busybox-static (Debian package `busybox-static`): a general
 * busybox image (used by tests and for offline demos) and Kedge's sandbox image. No registry needed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TarEntry } from './tar.js';
import { buildOciArchive } from './oci-archive.js';

export const SANDBOX_IMAGE = 'kedge.local/pause:1';
export const BUSYBOX_IMAGE = 'kedge.local/busybox:1';

export function busyboxLayer(busyboxPath = '/bin/busybox'): TarEntry[] {
  const applets = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'busybox' && /^[\w.[-]+$/.test(s));
  const entries: TarEntry[] = [];
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'var', 'root']) entries.push({ type: 'dir', name: d, mode: d === 'tmp' ? 0o1777 : 0o755 });
  entries.push({ type: 'file', name: 'bin/busybox', data: readFileSync(busyboxPath), mode: 0o755 });
  for (const a of applets) entries.push({ type: 'symlink', name: `bin/${a}`, target: 'busybox' });
  entries.push({ type: 'file', name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') });
  entries.push({ type: 'file', name: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
  return entries;
}

/** busybox with `sh` as its default command. */
export function buildBusyboxArchive(ref = BUSYBOX_IMAGE): Buffer {
  return buildOciArchive({ ref, layer: busyboxLayer(), cmd: ['sh'] });
}

/**
 * The sandbox ("pause") image: holds the pod's namespaces and does nothing. PID 1 ignores signals
 * it has no handler for, so it traps TERM/INT to exit promptly when the sandbox is stopped.
 */
export function buildSandboxArchive(ref = SANDBOX_IMAGE): Buffer {
  return buildOciArchive({
    ref,
    layer: busyboxLayer(),
    entrypoint: ['/bin/sh', '-c', "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done"],
  });
}
