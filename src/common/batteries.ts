/**
 * K3s's "packaged components" that `kedge server` ships, under K3s's names, each switchable off with
 * `kedge server --disable NAME` (repeatable, comma-separated). One list, here: the CLI validates against it, leaves
 * out a disabled battery's controller (`withoutDisabledControllers`), and any other owner asks
 * `isBatteryEnabled(disabled, name)` where it starts (docs/design/batteries.md).
 *
 * A battery may ship a manifest: it is written to `<data-dir>/server/manifests/<name>.yaml` on every start (so an
 * edited copy is restored, as K3s does) and applied by the deploy controller; a disabled battery's file is removed
 * and the objects it created deleted (K3s: "disabled components are actively uninstalled").
 */
export interface Battery {
  /** K3s's name for it. */
  name: string;
  /** What it is, for `--help` and the error listing valid names. */
  description: string;
  /** Multi-document YAML written into the manifests directory unless the battery is disabled. */
  manifest?: () => string;
  /** The controller-manager controller that is this battery (src/controllers/manager.ts), if it is one. */
  controller?: string;
}

export const batteries: Battery[] = [
  { name: 'servicelb', description: 'LoadBalancer Services get the addresses of the nodes that serve them (K3s\'s ServiceLB, src/controllers/services/servicelb.ts)', controller: 'servicelb' },
  { name: 'local-storage', description: 'local-path provisioner: StorageClass local-path (default), PVs in a directory on the pod\'s node', controller: 'local-path-provisioner' },
  { name: 'metrics-server', description: 'metrics.k8s.io (kubectl top, HPA) from the nodes\' resource metrics' },
];

/** Names from `--disable` values (each may hold a comma-separated list); throws naming the valid ones. */
export function parseDisabledBatteries(values: readonly string[] | undefined): ReadonlySet<string> {
  const known = new Set(batteries.map((b) => b.name));
  const disabled = new Set<string>();
  for (const value of values ?? []) {
    for (const raw of value.split(',')) {
      const name = raw.trim();
      if (name === '') continue;
      if (!known.has(name)) {
        throw new Error(`unknown component ${JSON.stringify(name)}: valid names are ${[...known].join(', ')}`);
      }
      disabled.add(name);
    }
  }
  return disabled;
}

export function isBatteryEnabled(disabled: ReadonlySet<string>, name: string): boolean {
  if (!batteries.some((b) => b.name === name)) throw new Error(`no battery named ${JSON.stringify(name)}`);
  return !disabled.has(name);
}

/**
 * The `--controllers` list with every disabled battery's controller switched off ("-name"), whatever the list
 * asked for: `--disable servicelb --controllers '*'` still runs no ServiceLB.
 */
export function withoutDisabledControllers(controllers: readonly string[] | 'all', disabled: ReadonlySet<string>): readonly string[] | 'all' {
  const off = batteries.filter((b) => b.controller && disabled.has(b.name)).map((b) => `-${b.controller}`);
  if (off.length === 0) return controllers;
  return [...(controllers === 'all' ? ['*'] : controllers), ...off];
}
