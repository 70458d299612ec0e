/**
 * Test fixture for runtime suites: a private containerd (own root/state/socket, own CNI bridge and
 * pod subnet) started through scripts/containerd.sh, with Kedge's sandbox image and a busybox image
 * built from busybox-static and imported. Several suites can run side by side.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriRuntime } from '../../src/runtime/cri/client.js';
import { buildBusyboxArchive, BUSYBOX_IMAGE } from '../../src/runtime/image/busybox.js';
import { importImageBuffer } from '../../src/runtime/image/import.js';
import { ensureSandboxImage } from '../../src/runtime/image/ensure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RuntimeFixture {
  dir: string;
  socket: string;
  podCidrPrefix: string;
  reservationDir: string;
  runtime: CriRuntime;
  busybox: string;
  stop(): Promise<void>;
}

export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'runtime suites need root (containerd, runc, CNI); CI runs them as root';
  return undefined;
}

export interface RuntimeOptions {
  /** Run containerd (and so its CNI bridge and pods) inside this network namespace (test/harness/netns.ts). */
  netns?: string;
  /** The pod CIDR (a /24) of this containerd's CNI bridge; default a random 10.x.y.0/24. */
  podCidr?: string;
}

export async function startRuntime(opts: RuntimeOptions = {}): Promise<RuntimeFixture> {
  execFileSync('bash', [path.join(repo, 'scripts/install-system-deps.sh'), 'containerd', 'runc', 'containernetworking-plugins', 'busybox-static', 'iproute2', 'iptables'], { stdio: 'inherit' });
  const dir = mkdtempSync('/tmp/krt-');
  const a = 100 + Math.floor(Math.random() * 150);
  const b = Math.floor(Math.random() * 250);
  const podCidrPrefix = opts.podCidr?.replace(/\.0\/24$/, '') ?? `10.${a}.${b}`;
  if (opts.podCidr !== undefined && !/^\d+\.\d+\.\d+\.0\/24$/.test(opts.podCidr)) throw new Error(`podCidr must be a /24: ${opts.podCidr}`);
  // In a namespace of its own the bridge name cannot clash with anyone's.
  const inNs = (args: string[]) => (opts.netns === undefined ? { cmd: args[0]!, args: args.slice(1) } : { cmd: 'nsenter', args: [`--net=/run/netns/${opts.netns}`, '--', ...args] });
  const bridge = `kt${a}x${b}`;
  const env = {
    ...process.env,
    KEDGE_CONTAINERD_ROOT: path.join(dir, 'root'),
    KEDGE_CONTAINERD_STATE: path.join(dir, 'state'),
    KEDGE_CONTAINERD_SOCK: path.join(dir, 'c.sock'),
    KEDGE_CNI_CONF_DIR: path.join(dir, 'net.d'),
    KEDGE_CNI_BIN_DIR: path.join(dir, 'cnibin'),
    KEDGE_CNI_STATE_DIR: path.join(dir, 'cni'),
    KEDGE_CNI_BRIDGE: bridge,
    KEDGE_POD_CIDR: `${podCidrPrefix}.0/24`,
  };
  const script = path.join(repo, 'scripts/containerd.sh');
  const start = inNs(['bash', script, 'start']);
  execFileSync(start.cmd, start.args, { env, stdio: 'inherit' });
  const socket = env.KEDGE_CONTAINERD_SOCK;
  const runtime = new CriRuntime({ socket });
  await ensureSandboxImage(runtime, socket);
  await importImageBuffer(socket, buildBusyboxArchive());
  return {
    dir,
    socket,
    podCidrPrefix,
    reservationDir: path.join(dir, 'cni', 'reservations'),
    runtime,
    busybox: BUSYBOX_IMAGE,
    async stop() {
      // Shims outlive containerd, so remove every sandbox (and its containers) first.
      for (const sb of await runtime.listPodSandbox().catch(() => [])) {
        await runtime.stopPodSandbox(sb.id).catch(() => undefined);
        await runtime.removePodSandbox(sb.id).catch(() => undefined);
      }
      runtime.close();
      try {
        execFileSync('bash', [script, 'stop'], { env, stdio: 'inherit' });
      } finally {
        try {
          const del = inNs(['ip', 'link', 'del', bridge]);
          execFileSync(del.cmd, del.args, { stdio: 'ignore' });
        } catch {}
        try {
          execFileSync('umount', ['-R', path.join(dir, 'root')], { stdio: 'ignore' });
        } catch {}
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
