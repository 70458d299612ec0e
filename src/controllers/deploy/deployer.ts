/**
 * K3s's deploy controller: the files in `<data-dir>/server/manifests` are applied (server-side apply, field manager
 * `kedge-deploy`) on start and whenever one changes; deleting a file leaves its objects (K3s documents the same).
 * Each file is tracked as an `Addon` (deploy.kedge.io/v1, kube-system, K3s's k3s.cattle.io Addon under Kedge's group)
 * with Events (`ApplyingManifest`, `AppliedManifest`, `ApplyManifestFailed`) and an `Applied` condition, so
 * `kubectl describe addon -n kube-system NAME` says what went wrong. A bad file never stops the others.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubernetesObject, V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { Battery } from '../../common/batteries.js';
import type { Logger } from '../../common/logger.js';
import { apiErrorMessage, isNotFound, type KubeApi } from '../client.js';
import type { EventRecorder } from '../events.js';
import { addonNameError, listManifestFiles, parseManifest, readManifest, type ManifestFile } from './manifest-files.js';

export const FIELD_MANAGER = 'kedge-deploy';
export const ADDON_GROUP = 'deploy.kedge.io';
const ADDON_API_VERSION = `${ADDON_GROUP}/v1`;
const ADDON_NAMESPACE = 'kube-system';
/** Rescans between change notifications: fs.watch can miss events (editors that rename, network filesystems). */
const DEFAULT_RESCAN_MS = 15_000;
/** Several writes to one file arrive as several notifications: one scan after they settle. */
const SETTLE_MS = 200;

interface Addon extends KubernetesObject {
  spec?: { source?: string; checksum?: string };
}

export interface ManifestDeployerOptions {
  dir: string;
  api: KubeApi;
  events: EventRecorder;
  log: Logger;
  /** Batteries and whether each is disabled: enabled ones' manifests are (re)written, disabled ones' removed. */
  batteries: ReadonlyArray<{ battery: Battery; disabled: boolean }>;
  rescanMs?: number;
}

/** The Addon kind, created through the API like any CRD (so the deployer needs nothing from the API server's code). */
export function addonCrd(): V1CustomResourceDefinition {
  const str = { type: 'string' };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `addons.${ADDON_GROUP}` },
    spec: {
      group: ADDON_GROUP,
      names: { plural: 'addons', singular: 'addon', kind: 'Addon', listKind: 'AddonList' },
      scope: 'Namespaced',
      versions: [{
        name: 'v1', served: true, storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Source', type: 'string', jsonPath: '.spec.source' },
          { name: 'Applied', type: 'string', jsonPath: '.status.conditions[?(@.type=="Applied")].status' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { source: str, checksum: str } },
              status: {
                type: 'object',
                properties: {
                  objects: { type: 'array', items: { type: 'object', properties: { apiVersion: str, kind: str, namespace: str, name: str } } },
                  conditions: { type: 'array', items: { type: 'object', properties: { type: str, status: str, reason: str, message: str, lastTransitionTime: { type: 'string', format: 'date-time' } } } },
                },
              },
            },
          },
        },
      }],
    },
  };
}

export class ManifestDeployer {
  /** Checksum last applied successfully, per file: an unchanged file is not applied again. */
  private readonly applied = new Map<string, string>();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private settle?: NodeJS.Timeout;
  private scanning: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: ManifestDeployerOptions) {}

  async start(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    await this.writeBatteryManifests();
    await this.ensureAddonKind();
    try {
      this.watcher = watch(this.o.dir, { recursive: true }, () => this.scheduleScan());
      this.watcher.on('error', (err) => this.o.log.warn({ err: String(err) }, 'manifests directory watch failed; rescanning periodically'));
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'cannot watch the manifests directory; rescanning periodically');
    }
    const rescan = this.o.rescanMs ?? DEFAULT_RESCAN_MS;
    const loop = () => { this.timer = setTimeout(() => { this.scheduleScan(0); loop(); }, rescan); this.timer.unref(); };
    loop();
    await this.scan();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearTimeout(this.timer);
    clearTimeout(this.settle);
    await this.scanning;
  }

  private scheduleScan(delay = SETTLE_MS): void {
    if (this.stopped) return;
    clearTimeout(this.settle);
    this.settle = setTimeout(() => void this.scan(), delay);
  }

  /** One scan at a time; a request during a scan runs after it. */
  scan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanOnce()).catch((err) => this.o.log.error({ err: String(err) }, 'manifests scan failed'));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    if (this.stopped) return;
    for (const file of await listManifestFiles(this.o.dir)) {
      if (this.stopped) return;
      await this.deployFile(file);
    }
  }

  /**
   * K3s rewrites its packaged components' manifests on every start (an edited copy is restored); a disabled one's
   * file is removed and what it created deleted ("disabled components are actively uninstalled").
   */
  private async writeBatteryManifests(): Promise<void> {
    for (const { battery, disabled } of this.o.batteries) {
      if (!battery.manifest) continue;
      const file = path.join(this.o.dir, `${battery.name}.yaml`);
      const text = battery.manifest();
      if (!disabled) {
        await writeFile(file, text, { mode: 0o600 });
        continue;
      }
      await rm(file, { force: true });
      for (const obj of parseManifest(text).reverse()) {
        const ref = { apiVersion: obj.apiVersion!, kind: obj.kind!, namespace: obj.metadata?.namespace, name: obj.metadata!.name! };
        await this.o.api.delete(ref, { propagationPolicy: 'Background' }).catch((err) => {
          if (!isNotFound(err)) this.o.log.warn({ battery: battery.name, kind: ref.kind, name: ref.name, err: apiErrorMessage(err) }, 'cannot remove a disabled battery\'s object');
        });
      }
      this.o.log.info({ battery: battery.name }, 'battery disabled: its manifest and objects removed');
    }
  }

  /** The Addon CRD, applied and waited for until served. */
  private async ensureAddonKind(): Promise<void> {
    try {
      await this.o.api.apply(addonCrd(), FIELD_MANAGER);
    } catch (err) {
      this.o.log.warn({ err: apiErrorMessage(err) }, 'cannot install the Addon kind: manifests are applied without their Addon status');
      return;
    }
    for (let i = 0; i < 100 && !this.stopped; i++) {
      try {
        // A list, not a get: get answers a kind that is not served yet as a missing object.
        await this.o.api.listObjects(ADDON_API_VERSION, 'Addon', ADDON_NAMESPACE);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.o.log.warn('Addon kind not served yet: manifests are applied without their Addon status');
  }

  private async deployFile(file: ManifestFile): Promise<void> {
    const log = this.o.log.child({ manifest: file.path });
    const nameError = addonNameError(file.addon);
    if (nameError) {
      if (this.applied.get(file.path) !== 'invalid-name') log.error({ err: nameError }, 'manifest not applied');
      this.applied.set(file.path, 'invalid-name');
      return;
    }
    let read;
    try {
      read = await readManifest(file.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed since listed
      await this.fail(file, undefined, `cannot read ${file.path}: ${(err as Error).message}`, log);
      return;
    }
    if (this.applied.get(file.path) === read.checksum) return;
    let manifestObjects: KubernetesObject[];
    try {
      manifestObjects = parseManifest(read.text);
    } catch (err) {
      // Parsing again cannot help: wait for the file to change (apply errors, below, are retried).
      await this.fail(file, undefined, `cannot parse ${file.path}: ${(err as Error).message}`, log, [], read.checksum);
      this.applied.set(file.path, read.checksum);
      return;
    }
    const parsed = { checksum: read.checksum, objects: manifestObjects };
    const addon = await this.upsertAddon(file, parsed.checksum, log);
    if (addon) this.o.events.event(addon, 'Normal', 'ApplyingManifest', `Applying manifest at "${file.path}"`);
    const errors: string[] = [];
    for (const obj of parsed.objects) {
      try {
        await this.o.api.apply(obj, FIELD_MANAGER);
      } catch (err) {
        errors.push(`${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}: ${apiErrorMessage(err)}`);
      }
    }
    const objects = parsed.objects.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, ...(o.metadata?.namespace ? { namespace: o.metadata.namespace } : {}), name: o.metadata?.name }));
    if (errors.length) {
      await this.fail(file, addon, `Failed to apply manifest at "${file.path}": ${errors.join('; ')}`, log, objects);
      return;
    }
    this.applied.set(file.path, parsed.checksum);
    log.info({ objects: objects.length }, 'manifest applied');
    if (addon) {
      this.o.events.event(addon, 'Normal', 'AppliedManifest', `Applied manifest at "${file.path}"`);
      await this.setStatus(addon, 'True', 'Applied', `${objects.length} object(s) applied`, objects, log);
    }
  }

  /** A failed file is retried on the next scan (the checksum is not recorded); the reason goes on its Addon. */
  private async fail(file: ManifestFile, addon: Addon | undefined, message: string, log: Logger, objects: object[] = [], checksum?: string): Promise<void> {
    this.applied.delete(file.path);
    log.error({ err: message }, 'manifest not applied');
    const target = addon ?? (await this.upsertAddon(file, checksum, log));
    if (!target) return;
    this.o.events.event(target, 'Warning', 'ApplyManifestFailed', message);
    await this.setStatus(target, 'False', 'ApplyFailed', message, objects, log);
  }

  private async upsertAddon(file: ManifestFile, checksum: string | undefined, log: Logger): Promise<Addon | undefined> {
    const addon: Addon = {
      apiVersion: ADDON_API_VERSION, kind: 'Addon',
      metadata: { name: file.addon, namespace: ADDON_NAMESPACE },
      spec: { source: file.path, ...(checksum ? { checksum } : {}) },
    };
    try {
      return await this.o.api.apply(addon, FIELD_MANAGER);
    } catch (err) {
      log.warn({ err: apiErrorMessage(err) }, 'cannot record the Addon');
      return undefined;
    }
  }

  private async setStatus(addon: Addon, status: 'True' | 'False', reason: string, message: string, objects: object[], log: Logger): Promise<void> {
    const ref = { apiVersion: ADDON_API_VERSION, kind: 'Addon', namespace: ADDON_NAMESPACE, name: addon.metadata!.name! };
    const condition = { type: 'Applied', status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    await this.o.api.patchStatus(ref, { status: { objects, conditions: [condition] } }).catch((err) => log.warn({ err: apiErrorMessage(err) }, 'cannot update the Addon status'));
  }
}
