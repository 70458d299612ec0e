/**
 * Pod volumes on the node, under <podDir>/volumes/<name>, ready to bind-mount into containers.
 *
 * configMap, secret, downwardAPI and projected volumes are written the way the kubelet's atomic
 * writer does: the files live in a hidden `..<hash>` directory, `..data` is a symlink to it and each
 * visible entry is a symlink through `..data`. An update writes a new directory and swaps `..data`
 * with one rename, so a container reading a mounted configmap never sees half an update; it is
 * re-run on every resync, which is how mounted configmap/secret updates reach running pods.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { V1DownwardAPIVolumeFile, V1KeyToPath, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Store } from '../../storage/types.js';
import { configMapEntries, getConfigMap, getObject, getPodToken, getSecret, secretEntries } from './store-objects.js';
import { fieldValue, resourceValue, type PodRuntimeFacts } from './env.js';

export class VolumeError extends Error {}

interface FileSpec {
  data: Buffer;
  mode: number;
}

/**
 * `written` (optional) remembers the version this process last wrote or found in each dir: a refresh with the same
 * content then skips the disk (a mkdir and a readlink per volume, every refresh, on every pod). A container sees
 * the dir through a bind mount made at its start, so re-checking the host side could not repair anything anyway.
 */
export async function writeAtomicDir(dir: string, files: Map<string, FileSpec>, written?: Map<string, string>): Promise<void> {
  const h = createHash('sha256');
  for (const k of [...files.keys()].sort()) h.update(k).update('\0').update(files.get(k)!.data).update(String(files.get(k)!.mode));
  const version = `..${h.digest('hex').slice(0, 16)}`;
  if (written?.get(dir) === version) return;
  await mkdir(dir, { recursive: true });
  let current: string | null = null;
  try {
    current = await readlink(path.join(dir, '..data'));
  } catch {}
  if (current === version) {
    written?.set(dir, version);
    return;
  }
  const tmp = path.join(dir, `${version}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  for (const [rel, f] of files) {
    if (rel.split('/').some((p) => p === '..' || p === '') || path.isAbsolute(rel)) throw new VolumeError(`invalid path ${JSON.stringify(rel)} in volume`);
    const target = path.join(tmp, rel);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, f.data, { mode: f.mode });
  }
  await mkdir(tmp, { recursive: true });
  await rm(path.join(dir, version), { recursive: true, force: true });
  await rename(tmp, path.join(dir, version));
  const link = path.join(dir, '..data_tmp');
  await rm(link, { force: true });
  await symlink(version, link);
  await rename(link, path.join(dir, '..data'));
  const top = new Set([...files.keys()].map((k) => k.split('/')[0]!));
  for (const name of await readdir(dir)) {
    if (name.startsWith('..')) {
      if (name !== '..data' && name !== version) await rm(path.join(dir, name), { recursive: true, force: true });
    } else if (!top.has(name)) {
      await rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
  for (const name of top) {
    try {
      await readlink(path.join(dir, name));
    } catch {
      await symlink(path.join('..data', name), path.join(dir, name));
    }
  }
  written?.set(dir, version);
}

function keyFiles(entries: Map<string, Buffer>, items: V1KeyToPath[] | undefined, defaultMode: number, what: string): Map<string, FileSpec> {
  const out = new Map<string, FileSpec>();
  if (!items?.length) {
    for (const [k, v] of entries) out.set(k, { data: v, mode: defaultMode });
    return out;
  }
  for (const it of items) {
    const v = entries.get(it.key);
    if (v === undefined) throw new VolumeError(`configuration key ${it.key} not found in ${what}`);
    out.set(it.path, { data: v, mode: it.mode ?? defaultMode });
  }
  return out;
}

async function downwardFiles(pod: V1Pod, items: V1DownwardAPIVolumeFile[], defaultMode: number, facts: PodRuntimeFacts): Promise<Map<string, FileSpec>> {
  const out = new Map<string, FileSpec>();
  for (const it of items) {
    let v: string;
    if (it.fieldRef) v = fieldValue(pod, it.fieldRef.fieldPath, facts);
    else if (it.resourceFieldRef) v = resourceValue(pod, it.resourceFieldRef.containerName, it.resourceFieldRef.resource, it.resourceFieldRef.divisor as string | undefined, facts);
    else throw new VolumeError(`downwardAPI item ${it.path} has neither fieldRef nor resourceFieldRef`);
    out.set(it.path, { data: Buffer.from(v), mode: it.mode ?? defaultMode });
  }
  return out;
}

async function sourceFiles(store: Store, pod: V1Pod, v: V1Volume, facts: PodRuntimeFacts): Promise<Map<string, FileSpec> | null> {
  const ns = pod.metadata?.namespace ?? 'default';
  if (v.configMap) {
    const cm = await getConfigMap(store, ns, v.configMap.name!);
    if (!cm) {
      if (v.configMap.optional) return new Map();
      throw new VolumeError(`configmap "${v.configMap.name}" not found`);
    }
    return keyFiles(configMapEntries(cm), v.configMap.items, v.configMap.defaultMode ?? 0o644, `ConfigMap ${ns}/${v.configMap.name}`);
  }
  if (v.secret) {
    const s = await getSecret(store, ns, v.secret.secretName!);
    if (!s) {
      if (v.secret.optional) return new Map();
      throw new VolumeError(`secret "${v.secret.secretName}" not found`);
    }
    return keyFiles(secretEntries(s), v.secret.items, v.secret.defaultMode ?? 0o644, `Secret ${ns}/${v.secret.secretName}`);
  }
  if (v.downwardAPI) return downwardFiles(pod, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644, facts);
  if (v.projected) {
    const all = new Map<string, FileSpec>();
    const mode = v.projected.defaultMode ?? 0o644;
    for (const src of v.projected.sources ?? []) {
      let part: Map<string, FileSpec> | null = null;
      if (src.configMap) part = await sourceFiles(store, pod, { name: v.name, configMap: { ...src.configMap, defaultMode: mode } }, facts);
      else if (src.secret) part = await sourceFiles(store, pod, { name: v.name, secret: { secretName: src.secret.name, items: src.secret.items, optional: src.secret.optional, defaultMode: mode } }, facts);
      else if (src.downwardAPI) part = await downwardFiles(pod, src.downwardAPI.items ?? [], mode, facts);
      else if (src.serviceAccountToken) {
        // The hub requests the pod's bound token (TokenRequest) and ships it as a PodToken object; older hubs
        // shipped a `<serviceAccount>-token` secret instead. Without either the file is absent, as with an
        // unset optional source; the next sync writes it once the token arrives (atomic ..data swap on refresh).
        const tok = (await getPodToken(store, ns, pod.metadata?.name ?? ''))?.tokens?.find((t) => t.volume === v.name && t.path === src.serviceAccountToken!.path)?.token;
        if (tok) part = new Map([[src.serviceAccountToken.path, { data: Buffer.from(tok, 'utf8'), mode }]]);
        else {
          const sa = pod.spec?.serviceAccountName ?? 'default';
          const s = await getSecret(store, ns, `${sa}-token`);
          const legacy = s ? secretEntries(s).get('token') : undefined;
          if (legacy) part = new Map([[src.serviceAccountToken.path, { data: legacy, mode }]]);
        }
      }
      for (const [k, f] of part ?? []) all.set(k, f);
    }
    return all;
  }
  return null;
}

/** A hostPath volume's path, created or checked as its type says. */
async function hostPath(p: string, type: string, dirMode = 0o755): Promise<string> {
  if (!path.isAbsolute(p)) throw new VolumeError(`hostPath ${JSON.stringify(p)} must be absolute`);
  if (type === 'DirectoryOrCreate') {
    // mkdir's mode is cut by the umask; a directory this call creates gets exactly dirMode.
    if (await mkdir(p, { recursive: true, mode: dirMode }) !== undefined) await chmod(p, dirMode);
  }
  else if (type === 'FileOrCreate') {
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, '', { flag: 'a' });
  } else if (type) {
    const st = await stat(p).catch(() => null);
    if (!st) throw new VolumeError(`hostPath type check failed: ${p} does not exist`);
    if (type === 'Directory' && !st.isDirectory()) throw new VolumeError(`hostPath type check failed: ${p} is not a directory`);
    if (type === 'File' && !st.isFile()) throw new VolumeError(`hostPath type check failed: ${p} is not a file`);
  }
  return p;
}

/**
 * A claim's directory on this node: claim → bound PersistentVolume → its hostPath (created when DirectoryOrCreate,
 * as the local-path provisioner's volumes are) or local path (must exist). Both come from the local store, so a
 * restarted agent mounts the same directory offline.
 */
async function claimPath(store: Store, pod: V1Pod, claimName: string): Promise<string> {
  const ns = pod.metadata?.namespace ?? 'default';
  const claim = await getObject<V1PersistentVolumeClaim>(store, 'persistentvolumeclaims', ns, claimName);
  if (!claim) throw new VolumeError(`persistentvolumeclaim "${claimName}" not found`);
  const volumeName = claim.spec?.volumeName;
  if (!volumeName || claim.status?.phase !== 'Bound') throw new VolumeError(`persistentvolumeclaim "${claimName}" is not bound`);
  const pv = await getObject<V1PersistentVolume>(store, 'persistentvolumes', undefined, volumeName);
  if (!pv) throw new VolumeError(`persistentvolume "${volumeName}" not found`);
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== 'Filesystem') throw new VolumeError(`persistentvolume "${volumeName}": volumeMode ${pv.spec?.volumeMode} is not supported`);
  // World-writable as the local-path provisioner makes its directories: a non-root container can use its claim.
  if (pv.spec?.hostPath) return hostPath(pv.spec.hostPath.path, pv.spec.hostPath.type ?? '', 0o777);
  if (pv.spec?.local) return hostPath(pv.spec.local.path, 'Directory');
  throw new VolumeError(`persistentvolume "${volumeName}": only hostPath and local volumes can be mounted on this node`);
}

/** Prepares every volume of the pod; returns volume name → host path. Throws VolumeError. */
export async function prepareVolumes(store: Store, pod: V1Pod, podDir: string, facts: PodRuntimeFacts, written?: Map<string, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v.name)) throw new VolumeError(`invalid volume name ${JSON.stringify(v.name)}`);
    const dir = path.join(podDir, 'volumes', v.name);
    if (v.emptyDir) {
      await mkdir(dir, { recursive: true, mode: 0o777 });
      out.set(v.name, dir);
    } else if (v.hostPath) {
      out.set(v.name, await hostPath(v.hostPath.path, v.hostPath.type ?? ''));
    } else if (v.persistentVolumeClaim) {
      out.set(v.name, await claimPath(store, pod, v.persistentVolumeClaim.claimName));
    } else {
      const files = await sourceFiles(store, pod, v, facts);
      if (files === null) throw new VolumeError(`volume ${v.name}: unsupported volume source`);
      await writeAtomicDir(dir, files, written);
      out.set(v.name, dir);
    }
  }
  return out;
}
