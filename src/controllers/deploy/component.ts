import path from 'node:path';
import { batteries } from '../../common/batteries.js';
import { loadKubeClient } from '../../common/kubeconfig.js';
import { createLogger } from '../../common/logger.js';
import { makeKubeApi } from '../client.js';
import { ApiEventRecorder } from '../events.js';
import { ManifestDeployer } from './deployer.js';

/** K3s's place for auto-deploying manifests, under the server's data dir. */
export const manifestsDir = (dataDir: string): string => path.join(dataDir, 'server', 'manifests');

/**
 * The deploy controller as a `kedge server` component (apiserver/run.ts serverComponents; structurally typed so this
 * folder does not import src/apiserver). Every server runs its own, on its own data dir's files, as K3s's servers do.
 */
export function deployComponent(opts: { disabledBatteries: ReadonlySet<string> }) {
  return async (ctx: { kubeconfigPath: string; dataDir: string }): Promise<() => Promise<void>> => {
    const api = makeKubeApi(loadKubeClient(ctx.kubeconfigPath));
    const events = new ApiEventRecorder(api, 'kedge-deploy');
    const log = createLogger('deploy');
    const deployer = new ManifestDeployer({
      dir: manifestsDir(ctx.dataDir),
      api,
      events,
      log,
      batteries: batteries.map((battery) => ({ battery, disabled: opts.disabledBatteries.has(battery.name) })),
    });
    // Not awaited: a slow first apply must not hold back the server's other components.
    const started = deployer.start().catch((err) => log.error({ err: String(err) }, 'deploy controller failed to start'));
    return async () => {
      await started;
      await deployer.stop();
      await events.flush();
    };
  };
}
