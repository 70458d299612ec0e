/**
 * The auto-deploying manifests directory as K3s reads it: every `*.yaml`, `*.yml` and `*.json` under it
 * (subdirectories included, dot-files not), skipped while a `<file>.skip` sits beside it; one Addon per file,
 * named after the file's base name.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];
/** metadata.name of an Addon: a DNS-1123 subdomain, as for most objects. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface ManifestFile {
  /** Absolute path. */
  path: string;
  /** The Addon's name: the base name without its extension. */
  addon: string;
}

/** Manifest files under `dir` (sorted by path; a missing directory has none). */
export async function listManifestFiles(dir: string): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const names = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) { await walk(full); continue; }
      const ext = path.extname(e.name);
      if (!MANIFEST_EXTENSIONS.includes(ext) || names.has(`${e.name}.skip`)) continue;
      // A symlink counts when it points at a file (as K3s follows them); a dangling one is skipped.
      if (!e.isFile() && !(e.isSymbolicLink() && (await stat(full).then((s) => s.isFile(), () => false)))) continue;
      out.push({ path: full, addon: path.basename(e.name, ext) });
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export function addonNameError(name: string): string | undefined {
  if (name.length <= 253 && DNS1123_SUBDOMAIN.test(name)) return undefined;
  return `Addon name ${JSON.stringify(name)} (from the file name) is invalid: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
}

/** Larger files are refused unread: a manifest is configuration, and the API server caps a request body at 3 MiB. */
export const MAX_MANIFEST_BYTES = 16 << 20;

/** One file's text and its checksum (what decides whether it changed). */
export async function readManifest(file: string): Promise<{ text: string; checksum: string }> {
  const size = (await stat(file)).size;
  if (size > MAX_MANIFEST_BYTES) throw new Error(`${size} bytes is more than the ${MAX_MANIFEST_BYTES} a manifest may have`);
  const text = await readFile(file, 'utf8');
  return { text, checksum: createHash('sha256').update(text).digest('hex') };
}

export function parseManifest(text: string): KubernetesObject[] {
  const docs: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    // The parser's message ends in a multi-line excerpt; its first line says what and where.
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) docs.push(value);
  }
  const objects: KubernetesObject[] = [];
  const take = (v: unknown, where: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: not an object`);
    const o = v as KubernetesObject & { items?: unknown };
    if (o.kind && o.kind.endsWith('List') && Array.isArray(o.items)) {
      o.items.forEach((item, i) => take(item, `${where} item ${i + 1}`));
      return;
    }
    if (!o.apiVersion || !o.kind) throw new Error(`${where}: apiVersion and kind are required`);
    if (!o.metadata?.name) throw new Error(`${where} (${o.kind}): metadata.name is required`);
    objects.push(o);
  };
  docs.forEach((d, i) => take(d, `document ${i + 1}`));
  return orderForApply(objects);
}

/** Namespaces and CRDs before what may live in them or be of their kind (as kubectl apply's users expect). */
function orderForApply(objects: KubernetesObject[]): KubernetesObject[] {
  const rank = (o: KubernetesObject) => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2);
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map((x) => x.o);
}
