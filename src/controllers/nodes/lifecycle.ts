import type { V1Lease, V1Node, V1NodeCondition, V1Pod, V1Taint } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import type { Controller, ControllerContext } from '../controller.js';
import { toMillis } from '../util/pods.js';
import { tolerates } from '../util/selectors.js';
import { ZoneTainter } from './disruption.js';
import { peerReachableCondition, PeerReachableCondition, peerVote, type PeerVote } from './peer-vote.js';

import { autonomyOf, NotReadyTaintKey, UnreachableTaintKey } from './autonomy.js';
export { AutonomyAnnotation, NotReadyTaintKey, UnreachableTaintKey } from './autonomy.js';
export { EDGE_ROLE_LABEL as EdgeRoleLabel } from '../../common/node-restriction.js';
/** Reason we put on pods' Ready condition, so on reconnect we know which ones to restore. */
export const NodeUnreachablePodReason = 'NodeUnreachable';

/**
 * Edge nodes and OpenYurt-autonomous nodes keep their pods while the cloud cannot reach them — forever, unless
 * they opted out (`apps.openyurt.io/binding` / `node.beta.openyurt.io/autonomy` "false") or bound their autonomy with
 * `node.openyurt.io/autonomy-duration`: those get the NoExecute taint, and their pods go after the tolerations the
 * podbinding controller gave them (the same rule as under upstream's controller, autonomy.ts).
 */
export function isAutonomous(node: V1Node): boolean {
  const a = autonomyOf(node);
  return a.bind && a.seconds === undefined;
}

const readyOf = (node: V1Node) => node.status?.conditions?.find((c) => c.type === 'Ready');

/** The controller marked this node unreachable (its heartbeat had stopped): Ready=Unknown or the unreachable taint. */
export function markedUnreachable(node: V1Node): boolean {
  if ((node.spec?.taints ?? []).some((t) => t.key === UnreachableTaintKey || t.key === NotReadyTaintKey)) return true;
  const ready = readyOf(node);
  return ready?.status === 'Unknown' && (ready.reason === 'NodeStatusUnknown' || ready.reason === 'NodeStatusNeverUpdated');
}

/**
 * When a pod on a NoExecute-tainted node must go: 0 = now, a number = ms after the taint was added,
 * undefined = never (tolerated forever). Pods without any toleration for the unreachable/not-ready taint get
 * defaultTolerationSeconds, as the DefaultTolerationSeconds admission plugin would have given them; with
 * `defaultTolerationSeconds` undefined (upstream's taint manager, which leaves that to admission) they go at once.
 */
export function evictionDelayMs(pod: V1Pod, taint: V1Taint, defaultTolerationSeconds: number | undefined): number | undefined {
  const tols = (pod.spec?.tolerations ?? []).filter((t) => tolerates(t, taint));
  if (tols.length === 0) {
    const defaulted = defaultTolerationSeconds !== undefined && (taint.key === UnreachableTaintKey || taint.key === NotReadyTaintKey);
    return defaulted ? defaultTolerationSeconds * 1000 : 0;
  }
  if (tols.some((t) => t.tolerationSeconds === undefined || t.tolerationSeconds === null)) return undefined;
  return Math.max(0, Math.min(...tols.map((t) => t.tolerationSeconds!))) * 1000;
}

/**
 * Node lifecycle, edge-aware, following upstream's (pkg/controller/nodelifecycle): heartbeats are the
 * kube-node-lease Lease's renewTime and the Ready condition's lastHeartbeatTime, timed with our own clock
 * (when did we last *see* either change), never comparing clocks across machines. A node we see for the first
 * time — at start, and so after every control-plane restart — gets a full grace period from that moment and
 * keeps the condition it has: a node that was NotReady stays NotReady, its taints (and their eviction clocks)
 * and its pods' readiness stay as they were. A node silent for the grace period goes Ready=Unknown.
 * The taints and pods then follow the Ready condition:
 * - Unknown: the unreachable NoSchedule taint, pods' Ready=False so endpoints stop routing to them. Cloud
 *   nodes also get the NoExecute taint and their pods are deleted after their toleration period. Edge and
 *   autonomous nodes get no NoExecute taint: their pods stay bound.
 * - True: only the kubelet (the edge agent, through the hub) sets it, never this controller — a lease renewal
 *   alone makes nothing Ready. Then the unreachable taint goes and the pods we marked get their Ready back:
 *   same pods, same UIDs, nothing recreated.
 */
export class NodeLifecycleController implements Controller {
  readonly name = 'nodelifecycle';
  /** Per node: the last heartbeat record seen, and our local time when we first saw it (upstream probeTimestamp). */
  private readonly lastSeen = new Map<string, { record: string; at: number }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  /** A full pass over every node is due (the monitor period elapsed). */
  private fullPassDue = false;
  /** Nodes marked unreachable that showed a sign of life: looked at without waiting for the next full pass. */
  private readonly recovering = new Set<string>();

  /** Upstream mode (kube-controller-manager's behaviour, no edge autonomy): zone states and the NoExecute rate. */
  private readonly zones?: ZoneTainter;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly now: () => number = Date.now,
  ) {
    if (ctx.options.upstreamNodeLifecycle) this.zones = new ZoneTainter(ctx.options.upstreamNodeLifecycle);
  }

  start(): void {
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const leases = this.ctx.informers.get<V1Lease>('nodeleases');
    this.ctx.informers.get<V1Pod>('pods');
    // A renewal costs O(1) here: every node renews every 10 s, so a full pass per renewal would make the
    // controller's work grow with nodes² (10,000 nodes = 1,000 passes/s over 10,000 nodes). Healthy nodes'
    // renewals are noticed by the periodic pass (as upstream, which times heartbeats per monitor period);
    // only a node we marked unreachable is looked at once, so when its kubelet posts Ready its taint goes and
    // its pods become Ready again without delay.
    const signOfLife = (name: string | undefined) => {
      const node = name ? nodes.get(name) : undefined;
      if (!node || !markedUnreachable(node)) return;
      this.recovering.add(name!);
      this.kickSoon();
    };
    leases.onUpdate((l) => signOfLife(l.metadata?.name));
    leases.onAdd((l) => signOfLife(l.metadata?.name));
    // A new node carries not-ready:NoSchedule from admission until it is Ready: lifted as soon as it posts Ready.
    const readyNow = (n: V1Node) => {
      if (readyOf(n)?.status === 'True') signOfLife(n.metadata?.name);
    };
    nodes.onAdd(readyNow);
    nodes.onUpdate(readyNow);
    nodes.onDelete((n) => this.lastSeen.delete(n.metadata!.name!));
    const period = Math.max(200, this.ctx.options.nodeMonitorPeriodSeconds * 1000);
    this.fullPassDue = true;
    this.kickSoon();
    this.timer = setInterval(() => {
      this.fullPassDue = true;
      this.kickSoon();
    }, period);
  }

  private kickTimer?: NodeJS.Timeout;
  private kickSoon(): void {
    if (this.kickTimer || this.stopped) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      if (this.running) return this.kickSoon();
      const only = this.fullPassDue ? undefined : new Set(this.recovering);
      this.fullPassDue = false;
      this.recovering.clear();
      this.running = this.monitor(this.now(), only)
        .catch((err) => this.ctx.log.warn({ err: String(err) }, 'node monitor pass failed'))
        .finally(() => (this.running = undefined));
    }, 100);
  }

  /** Local time at which we last saw this node's heartbeat change. */
  private heartbeat(node: V1Node, now: number): number {
    const name = node.metadata!.name!;
    const lease = this.ctx.informers.get<V1Lease>('nodeleases').get(name, 'kube-node-lease');
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    const record = `${lease?.spec?.renewTime ?? ''}|${String(ready?.lastHeartbeatTime ?? '')}`;
    const prev = this.lastSeen.get(name);
    if (!prev || prev.record !== record) {
      this.lastSeen.set(name, { record, at: now });
      return now;
    }
    return prev.at;
  }

  /** One pass over every node, or over `only` these nodes. */
  async monitor(now = Date.now(), only?: ReadonlySet<string>): Promise<void> {
    await this.ctx.synced;
    const informer = this.ctx.informers.get<V1Node>('nodes');
    const nodes = only ? [...only].map((n) => informer.get(n)).filter((n): n is V1Node => !!n) : informer.list();
    if (!nodes.length) return;
    const pods = this.ctx.informers.get<V1Pod>('pods').list();
    const byNode = new Map<string, V1Pod[]>();
    for (const p of pods) {
      const n = p.spec?.nodeName;
      if (!n || (only && !only.has(n))) continue;
      let l = byNode.get(n);
      if (!l) byNode.set(n, (l = []));
      l.push(p);
    }
    const grace = this.ctx.options.nodeMonitorGracePeriodSeconds * 1000;
    if (this.zones) return this.upstreamPass(nodes, byNode, now, grace);
    for (let node of nodes) {
      if (this.stopped) return;
      const name = node.metadata!.name!;
      const silentFor = now - this.heartbeat(node, now);
      const nodePods = byNode.get(name) ?? [];
      try {
        if (silentFor > grace) node = await this.markStatusUnknown(node, now);
        const ready = readyOf(node)?.status;
        if (ready === 'Unknown') await this.whileUnreachable(node, nodePods, now);
        else if (ready === 'True') await this.whileReady(node, nodePods, now);
        else if (ready === 'False') await this.ensureTaints(node, [{ key: NotReadyTaintKey, effect: 'NoSchedule' }], [{ key: UnreachableTaintKey, effect: 'NoSchedule' }], now);
      } catch (err) {
        if (errorCode(err) !== 404) this.ctx.log.warn({ node: name, err: String(err) }, 'node lifecycle update failed');
      }
    }
  }

  /**
   * kube-controller-manager's pass: every node's health first, then the zone states from all nodes, then per node
   * the taints its Ready condition calls for (NoExecute only as its zone allows), its pods' readiness, and the taint
   * manager's evictions.
   */
  private async upstreamPass(nodes: readonly V1Node[], byNode: Map<string, V1Pod[]>, now: number, grace: number): Promise<void> {
    const latest = new Map<string, V1Node>();
    for (const node of nodes) {
      const name = node.metadata!.name!;
      try {
        latest.set(name, now - this.heartbeat(node, now) > grace ? await this.markStatusUnknown(node, now) : node);
      } catch (err) {
        if (errorCode(err) !== 404) this.ctx.log.warn({ node: name, err: String(err) }, 'node lifecycle update failed');
      }
    }
    const zones = this.zones!;
    const wasAllDisrupted = zones.allFullyDisrupted;
    zones.observe(this.ctx.informers.get<V1Node>('nodes').list().map((n) => latest.get(n.metadata!.name!) ?? n));
    if (zones.allFullyDisrupted !== wasAllDisrupted) {
      this.ctx.log.warn({ allFullyDisrupted: zones.allFullyDisrupted }, zones.allFullyDisrupted ? 'all nodes are not Ready: entering master disruption mode (no evictions)' : 'leaving master disruption mode');
    }
    for (const node of latest.values()) {
      if (this.stopped) return;
      try {
        await this.upstreamNode(node, byNode.get(node.metadata!.name!) ?? [], now);
      } catch (err) {
        if (errorCode(err) !== 404) this.ctx.log.warn({ node: node.metadata!.name, err: String(err) }, 'node lifecycle update failed');
      }
    }
  }

  /**
   * Upstream's taints for one node: Ready=False → not-ready, Unknown → unreachable, each NoSchedule at once and
   * NoExecute when the zone's rate allows (none in master disruption); Ready=True → neither. A node not Ready has
   * its pods' Ready set False (MarkPodsNotReady); only the kubelet sets it True again. Then the taint manager.
   */
  private async upstreamNode(node: V1Node, pods: V1Pod[], now: number): Promise<void> {
    const zones = this.zones!;
    const ready = readyOf(node)?.status;
    const both = (key: string): V1Taint[] => [{ key, effect: 'NoSchedule' }, { key, effect: 'NoExecute' }];
    let taints = node.spec?.taints ?? [];
    if (ready === 'True') {
      taints = await this.ensureTaints(node, [], [...both(UnreachableTaintKey), ...both(NotReadyTaintKey)], now);
    } else if (ready === 'False' || ready === 'Unknown') {
      const key = ready === 'False' ? NotReadyTaintKey : UnreachableTaintKey;
      const add: V1Taint[] = [{ key, effect: 'NoSchedule' }];
      const remove = both(key === NotReadyTaintKey ? UnreachableTaintKey : NotReadyTaintKey);
      const hasNoExecute = taints.some((t) => t.key === key && t.effect === 'NoExecute');
      if (zones.allFullyDisrupted) remove.push({ key, effect: 'NoExecute' });
      else if (!hasNoExecute && zones.tryTaint(node, now)) add.push({ key, effect: 'NoExecute' });
      taints = await this.ensureTaints(node, add, remove, now);
      for (const p of pods) {
        const rc = p.status?.conditions?.find((c) => c.type === 'Ready');
        if (rc && rc.status !== 'False' && !p.metadata?.deletionTimestamp) await this.setPodReady(p, 'False', rc.reason ?? undefined, now);
      }
    }
    await this.evictUntolerated(taints, pods, now, undefined);
  }

  /**
   * The taint manager: a pod goes once a NoExecute taint it does not tolerate is on its node, or when the shortest
   * tolerationSeconds of those it does tolerate has passed since the taint's timeAdded. It first gets upstream's
   * DisruptionTarget condition (reason DeletionByTaintManager), then is deleted with its uid as precondition.
   */
  private async evictUntolerated(taints: V1Taint[], pods: V1Pod[], now: number, defaultTolerationSeconds: number | undefined): Promise<void> {
    const noExecute = taints.filter((t) => t.effect === 'NoExecute');
    if (!noExecute.length) return;
    for (const p of pods) {
      if (p.metadata?.deletionTimestamp) continue;
      let due = Infinity;
      for (const t of noExecute) {
        const delay = evictionDelayMs(p, t, defaultTolerationSeconds);
        if (delay !== undefined) due = Math.min(due, (toMillis(t.timeAdded) || now) + delay);
      }
      if (now < due) continue;
      const ref = { apiVersion: 'v1', kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! };
      this.ctx.events.event({ ...p, apiVersion: 'v1', kind: 'Pod' }, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${p.metadata!.namespace}/${p.metadata!.name}`);
      try {
        if (this.zones) {
          const conditions = [...(p.status?.conditions ?? []).filter((c) => c.type !== 'DisruptionTarget'), { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'Taint manager: deleting due to NoExecute taint', lastTransitionTime: new Date(now).toISOString() as unknown as Date }];
          await this.ctx.api.patchStatus(ref, { status: { conditions } });
        }
        await this.ctx.api.delete(ref, { uid: p.metadata?.uid });
      } catch (err) {
        if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
      }
    }
  }

  /**
   * The grace period passed without a heartbeat: Ready and the pressure conditions become Unknown, whatever
   * they were (upstream tryUpdateNodeHealth). Conditions the kubelet never posted are added as Unknown.
   */
  private async markStatusUnknown(node: V1Node, now: number): Promise<V1Node> {
    const name = node.metadata!.name!;
    const nowIso = new Date(now).toISOString() as unknown as Date;
    let changed = false;
    const conditions: V1NodeCondition[] = [...(node.status?.conditions ?? [])];
    for (const type of ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure']) {
      const i = conditions.findIndex((c) => c.type === type);
      if (i < 0) {
        conditions.push({ type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.', lastHeartbeatTime: node.metadata?.creationTimestamp, lastTransitionTime: nowIso });
        changed = true;
      } else if (conditions[i]!.status !== 'Unknown') {
        conditions[i] = { ...conditions[i]!, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: nowIso };
        changed = true;
      }
    }
    if (!changed) return node;
    const wasReady = readyOf(node)?.status === 'True';
    const updated = await this.ctx.api.patchStatus<V1Node>({ apiVersion: 'v1', kind: 'Node', name }, { status: { conditions } });
    if (wasReady) this.ctx.events.event({ ...updated, apiVersion: 'v1', kind: 'Node' }, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
    return updated;
  }

  /**
   * Ready=Unknown: first the pool's vote (peer-vote.ts). A majority of its Ready pool peers reaching the node means
   * only its uplink failed: the NoSchedule taint only, its pods stay Ready (so in the pool's endpoints; any we marked
   * are restored) and nothing is evicted. Otherwise the unreachable taints, pods not Ready, and (cloud nodes only)
   * evictions after tolerations.
   */
  private async whileUnreachable(node: V1Node, pods: V1Pod[], now: number): Promise<void> {
    const vote = peerVote(node, this.ctx.informers.get<V1Node>('nodes').list());
    if (vote.verdict === 'reachable') {
      await this.ensureTaints(node, [{ key: UnreachableTaintKey, effect: 'NoSchedule' }], [{ key: UnreachableTaintKey, effect: 'NoExecute' }], now);
      await this.showPeerVote(node, vote, now);
      await this.restoreUnreachablePods(pods, now);
      return;
    }
    await this.showPeerVote(node, vote, now);
    const autonomous = isAutonomous(node);
    const want: V1Taint[] = [{ key: UnreachableTaintKey, effect: 'NoSchedule' }];
    if (!autonomous) want.push({ key: UnreachableTaintKey, effect: 'NoExecute' });
    const taints = await this.ensureTaints(node, want, autonomous ? [{ key: UnreachableTaintKey, effect: 'NoExecute' }] : [], now);
    // Pods stop being Ready so Services stop routing to them (upstream MarkPodsNotReady).
    for (const p of pods) {
      const rc = p.status?.conditions?.find((c) => c.type === 'Ready');
      if (rc && rc.status !== 'False' && !p.metadata?.deletionTimestamp) await this.setPodReady(p, 'False', NodeUnreachablePodReason, now);
    }
    if (autonomous) return;
    await this.evictUntolerated(taints.filter((t) => t.key === UnreachableTaintKey), pods, now, this.ctx.options.defaultTolerationSeconds);
  }

  /**
   * Ready=True, as the kubelet posted it: the unreachable taints go (upstream markNodeAsReachable) and the
   * pods we marked not Ready get their Ready back unless their containers are not ready (an edge agent that
   * was cut off may have nothing new to report about them).
   */
  private async whileReady(node: V1Node, pods: V1Pod[], now: number): Promise<void> {
    if ((node.spec?.taints ?? []).some((t) => t.key === UnreachableTaintKey || (t.key === NotReadyTaintKey && t.effect === 'NoSchedule'))) {
      const remove: V1Taint[] = [{ key: UnreachableTaintKey, effect: 'NoSchedule' }, { key: UnreachableTaintKey, effect: 'NoExecute' }, { key: NotReadyTaintKey, effect: 'NoSchedule' }];
      await this.ensureTaints(node, [], remove, now);
    }
    await this.restoreUnreachablePods(pods, now);
  }

  /** The pods we marked not Ready get their Ready back, unless their containers are not ready. */
  private async restoreUnreachablePods(pods: V1Pod[], now: number): Promise<void> {
    for (const p of pods) {
      const rc = p.status?.conditions?.find((c) => c.type === 'Ready');
      const containersReady = p.status?.conditions?.find((c) => c.type === 'ContainersReady');
      if (rc?.status === 'False' && rc.reason === NodeUnreachablePodReason && containersReady?.status !== 'False' && !p.metadata?.deletionTimestamp) {
        await this.setPodReady(p, 'True', undefined, now);
      }
    }
  }

  /**
   * The vote as the node's PeerReachable condition (and an event when its verdict changes); written only when its
   * status, reason or message changed. The agent's next status post (on reconnect) replaces the conditions: the
   * vote then no longer matters.
   */
  private async showPeerVote(node: V1Node, vote: PeerVote, now: number): Promise<void> {
    const conditions = node.status?.conditions ?? [];
    const previous = conditions.find((c) => c.type === PeerReachableCondition);
    const next = peerReachableCondition(vote, previous, new Date(now).toISOString());
    if (!next || (previous && previous.status === next.status && previous.reason === next.reason && previous.message === next.message)) return;
    const name = node.metadata!.name!;
    const updated = await this.ctx.api.patchStatus<V1Node>({ apiVersion: 'v1', kind: 'Node', name }, { status: { conditions: [...conditions.filter((c) => c !== previous), next] } });
    if (previous?.status !== next.status) {
      this.ctx.events.event({ ...updated, apiVersion: 'v1', kind: 'Node' }, next.status === 'True' ? 'Normal' : 'Warning', next.reason!, `Node ${name}: ${next.message}`);
    }
  }

  private async setPodReady(p: V1Pod, status: 'True' | 'False', reason: string | undefined, now: number): Promise<void> {
    const conditions = (p.status?.conditions ?? []).map((c) =>
      c.type === 'Ready' ? { ...c, status, reason: reason ?? null, lastTransitionTime: new Date(now).toISOString() } : c,
    );
    try {
      await this.ctx.api.patchStatus({ apiVersion: 'v1', kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! }, { status: { conditions } });
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }

  /** Adds `add` taints (with timeAdded) and removes `remove` ones; optimistic on resourceVersion. */
  private async ensureTaints(node: V1Node, add: V1Taint[], remove: V1Taint[], now: number): Promise<V1Taint[]> {
    const cur = node.spec?.taints ?? [];
    const same = (a: V1Taint, b: V1Taint) => a.key === b.key && a.effect === b.effect;
    let next = cur.filter((t) => !remove.some((r) => same(r, t)));
    for (const t of add) if (!next.some((x) => same(x, t))) next = [...next, { ...t, timeAdded: new Date(now).toISOString() as unknown as Date }];
    if (next.length === cur.length && next.every((t) => cur.some((c) => same(c, t)))) return cur;
    await this.ctx.api.patch(
      { apiVersion: 'v1', kind: 'Node', name: node.metadata!.name! },
      { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints: next } },
    );
    return next;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    await this.running;
  }
}
