import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addonNameError, listManifestFiles, parseManifest } from './manifest-files.js';

test('manifest files: yaml/yml/json under the directory and its subdirectories; .skip, dot-files and other names left out', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kedge-manifests-'));
  try {
    mkdirSync(path.join(dir, 'sub'));
    for (const f of ['a.yaml', 'b.yml', 'sub/c.json', 'skipped.yaml', 'skipped.yaml.skip', '.hidden.yaml', 'notes.txt']) writeFileSync(path.join(dir, f), '');
    symlinkSync(path.join(dir, 'missing.yaml'), path.join(dir, 'dangling.yaml'));
    symlinkSync(path.join(dir, 'a.yaml'), path.join(dir, 'linked.yaml'));
    const files = await listManifestFiles(dir);
    assert.deepEqual(files.map((f) => [path.relative(dir, f.path), f.addon]), [['a.yaml', 'a'], ['b.yml', 'b'], ['linked.yaml', 'linked'], ['sub/c.json', 'c']]);
    assert.deepEqual(await listManifestFiles(path.join(dir, 'nope')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('manifests parse as multi-document YAML or JSON, Lists unpacked, namespaces and CRDs first; errors say where', () => {
  const objs = parseManifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n');
  assert.deepEqual(objs.map((o) => o.kind), ['Namespace', 'ConfigMap']);
  const list = parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }] }));
  assert.deepEqual(list.map((o) => o.metadata?.name), ['s']);
  assert.throws(() => parseManifest('kind: [\n'), /^Error: YAML: [^\n]+$/);
  assert.throws(() => parseManifest('apiVersion: v1\nkind: ConfigMap\n---\n- 1\n'), /document 1 \(ConfigMap\): metadata.name is required/);
  assert.throws(() => parseManifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- 1\n'), /document 2: not an object/);
  assert.equal(addonNameError('my-addon.v1'), undefined);
  assert.match(addonNameError('example_manifest')!, /lowercase RFC 1123 subdomain/);
});
