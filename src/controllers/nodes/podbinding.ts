import type { V1Node, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import { keyOf, QueueRunner, type Controller, type ControllerContext } from '../controller.js';
import { AutonomyDurationAnnotation, autonomyOf, OriginalTolerationAnnotation } from './autonomy.js';
export { AutonomyDurationAnnotation, autonomyOf, OriginalTolerationAnnotation, PodBindingAnnotation } from './autonomy.js';

/** The original value of a toleration that had no tolerationSeconds (tolerated forever). */
const Infinite = 'infinite';

const isDaemonOrMirrorPod = (pod: V1Pod): boolean =>
  (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet') || !!pod.metadata?.annotations?.['kubernetes.io/config.mirror'];

/**
 * The tolerations and annotations a pod should have under `autonomy`, or undefined when it already has them.
 * Bound: each not-ready/unreachable NoExecute toleration gets the autonomy's seconds, its first original value kept
 * in an annotation ("infinite" for none); unbound: the originals come back from those annotations.
 */
export function bindPod(pod: V1Pod, autonomy: { bind: boolean; seconds?: number }): { tolerations: V1Toleration[]; annotations: Record<string, string> } | undefined {
  const annotations: Record<string, string> = {};
  let changed = false;
  const tolerations = (pod.spec?.tolerations ?? []).map((t) => {
    const note = t.effect === 'NoExecute' && t.key ? OriginalTolerationAnnotation[t.key] : undefined;
    if (!note) return t;
    const cur = t.tolerationSeconds ?? undefined;
    let want = cur;
    if (autonomy.bind) {
      if (pod.metadata?.annotations?.[note] === undefined) {
        annotations[note] = cur === undefined ? Infinite : String(cur);
        changed = true;
      }
      want = autonomy.seconds;
    } else {
      const orig = pod.metadata?.annotations?.[note];
      if (orig === Infinite) want = undefined;
      else if (orig !== undefined && /^\d+$/.test(orig)) want = Number(orig);
    }
    if (want === cur) return t;
    changed = true;
    const { tolerationSeconds: _old, ...rest } = t;
    return want === undefined ? rest : { ...rest, tolerationSeconds: want };
  });
  return changed ? { tolerations, annotations } : undefined;
}

/**
 * Pod binding, as OpenYurt's yurt-manager podbinding controller: upstream's taint manager evicts a pod after the
 * tolerationSeconds of its not-ready/unreachable NoExecute tolerations (300 s from DefaultTolerationSeconds), so
 * for pods on autonomous nodes those seconds are rewritten (removed = tolerate forever, or the node's
 * autonomy-duration), which upstream's validation allows on a running pod; the originals are kept in
 * annotations and restored when the node opts out. This is how edge pods survive a lost cloud link under an
 * unmodified kube-controller-manager (`kedge cloud`), and it runs in `kedge server` alike.
 */
export class PodBindingController implements Controller {
  readonly name = 'podbinding';
  private readonly runner: QueueRunner;
  /** Nodes whose invalid autonomy-duration was already reported (one Warning per value). */
  private readonly warned = new Map<string, string>();

  /**
   * `onlyWhereTainted`: Kedge's edge-aware node lifecycle runs in the same manager and never puts a NoExecute taint
   * on a node bound forever, so the tolerations of that node's pods do not matter and are left as they are (a patch
   * per edge pod, each a spec change sent down to its node, was what slowed `kedge server`'s delivery at 1,000
   * nodes: bench/RESULTS.md). Under upstream's node lifecycle every bound pod needs the rewrite.
   */
  constructor(private readonly ctx: ControllerContext, private readonly opts: { onlyWhereTainted?: boolean } = {}) {
    this.runner = new QueueRunner(this.name, ctx, (key) => this.reconcile(key));
  }

  start(): void {
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const enqueue = (p: V1Pod) => {
      if (p.spec?.nodeName && !isDaemonOrMirrorPod(p)) this.runner.queue.add(keyOf(p));
    };
    pods.onAdd(enqueue);
    pods.onUpdate(enqueue);
    const relevant = (n: V1Node) => JSON.stringify(autonomyOf(n));
    const seen = new Map<string, string>();
    const nodeChanged = (n: V1Node) => {
      const name = n.metadata!.name!;
      const r = relevant(n);
      if (seen.get(name) === r) return;
      seen.set(name, r);
      for (const p of pods.list()) if (p.spec?.nodeName === name) enqueue(p);
    };
    nodes.onAdd(nodeChanged);
    nodes.onUpdate(nodeChanged);
    nodes.onDelete((n) => {
      seen.delete(n.metadata!.name!);
      this.warned.delete(n.metadata!.name!);
    });
    this.runner.run();
  }

  private async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pod = this.ctx.informers.get<V1Pod>('pods').get(name, namespace);
    const nodeName = pod?.spec?.nodeName;
    if (!pod || !nodeName || pod.metadata?.deletionTimestamp || isDaemonOrMirrorPod(pod)) return;
    const node = this.ctx.informers.get<V1Node>('nodes').get(nodeName);
    if (!node) return;
    const autonomy = autonomyOf(node);
    if (autonomy.invalid !== undefined && this.warned.get(nodeName) !== autonomy.invalid) {
      this.warned.set(nodeName, autonomy.invalid);
      this.ctx.events.event({ ...node, apiVersion: 'v1', kind: 'Node' }, 'Warning', 'InvalidAutonomyDuration', `annotation ${AutonomyDurationAnnotation}=${JSON.stringify(autonomy.invalid)} is not a duration (e.g. 1h, 30m, 0 = never evict); ignored`);
    }
    if (this.opts.onlyWhereTainted && autonomy.bind && autonomy.seconds === undefined) return;
    const next = bindPod(pod, autonomy);
    if (!next) return;
    try {
      // Merge patch: tolerations replace the list; the resourceVersion makes a concurrent change a 409 (retried).
      await this.ctx.api.patch(
        { apiVersion: 'v1', kind: 'Pod', namespace, name },
        { metadata: { resourceVersion: pod.metadata?.resourceVersion, annotations: next.annotations }, spec: { tolerations: next.tolerations } },
      );
    } catch (err) {
      if (errorCode(err) === 404) return;
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }
}
