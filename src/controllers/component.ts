import { startControllerManager, type ControllerManagerOptions } from './manager.js';

/**
 * The controller manager as a `kedge server` component (apiserver/run.ts serverComponents): started once the
 * API serves and admin.kubeconfig exists, stopped on shutdown. Structurally typed so this folder does not
 * import src/apiserver.
 */
export function controllersComponent(opts: Omit<ControllerManagerOptions, 'kubeConfig'>) {
  return async (ctx: { kubeconfigPath: string }): Promise<() => Promise<void>> => {
    const cm = startControllerManager({ ...opts, kubeConfig: ctx.kubeconfigPath });
    return () => cm.stop();
  };
}

/** Parses a --controllers flag value ("*,-scheduler") into the list startControllerManager takes. */
export function parseControllersFlag(value: string | undefined): string[] | 'all' {
  if (value === undefined) return 'all';
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * In `kedge server` the API server already empties terminating namespaces and creates default
 * ServiceAccounts itself, so those two controllers stay off there by default.
 */
export const serverDefaultControllers = ['*', '-namespace', '-serviceaccount'];
