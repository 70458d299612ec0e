/**
 * Liveness/readiness/startup probes with the upstream semantics: initialDelaySeconds, periodSeconds,
 * timeoutSeconds, successThreshold, failureThreshold; exec through CRI ExecSync, httpGet (2xx/3xx
 * succeeds), tcpSocket (connect succeeds). Readiness and liveness wait for the startup probe.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import type { ContainerRuntime } from '../../runtime/types.js';

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export type ProbeOutcome = { ok: boolean; message: string };

function resolvePort(port: number | string | undefined, c: V1Container): number {
  if (typeof port === 'number') return port;
  if (port && /^\d+$/.test(port)) return Number(port);
  const named = c.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`named port ${port} not found in container ${c.name}`);
  return named.containerPort;
}

function httpProbe(probe: V1Probe, c: V1Container, podIP: string, timeoutMs: number): Promise<ProbeOutcome> {
  const g = probe.httpGet!;
  const scheme = (g.scheme ?? 'HTTP').toUpperCase();
  const port = resolvePort(g.port as number | string, c);
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
  for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
  const mod = scheme === 'HTTPS' ? https : http;
  return new Promise((resolve) => {
    const req = mod.request(
      { host: g.host || podIP, port, path: g.path ?? '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false, agent: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
    req.on('error', (e) => resolve({ ok: false, message: `Get "${scheme.toLowerCase()}://${g.host || podIP}:${port}${g.path ?? '/'}": ${e.message}` }));
    req.end();
  });
}

function tcpProbe(probe: V1Probe, c: V1Container, podIP: string, timeoutMs: number): Promise<ProbeOutcome> {
  const port = resolvePort(probe.tcpSocket!.port as number | string, c);
  const host = probe.tcpSocket!.host || podIP;
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (o: ProbeOutcome) => {
      sock.destroy();
      resolve(o);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    sock.on('connect', () => done({ ok: true, message: '' }));
    sock.on('error', (e) => done({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
  });
}

export async function runProbe(runtime: ContainerRuntime, containerId: string, c: V1Container, probe: V1Probe, podIP: string): Promise<ProbeOutcome> {
  const timeoutS = probe.timeoutSeconds ?? 1;
  try {
    if (probe.exec) {
      const r = await runtime.execSync(containerId, probe.exec.command ?? [], timeoutS);
      const out = Buffer.concat([r.stdout, r.stderr]).toString('utf8').trim();
      return r.exitCode === 0 ? { ok: true, message: '' } : { ok: false, message: `command ${JSON.stringify((probe.exec.command ?? []).join(' '))} exited with ${r.exitCode}: ${out}` };
    }
    if (probe.httpGet) return await httpProbe(probe, c, podIP, timeoutS * 1000);
    if (probe.tcpSocket) return await tcpProbe(probe, c, podIP, timeoutS * 1000);
    if (probe.grpc) return { ok: false, message: 'grpc probes are not supported by kedge yet' };
    return { ok: true, message: '' };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}

/** Per-container-instance probe bookkeeping (reset when the container restarts). */
export class ProbeState {
  private readonly lastRun: Partial<Record<ProbeKind, number>> = {};
  private readonly successes: Partial<Record<ProbeKind, number>> = {};
  private readonly failures: Partial<Record<ProbeKind, number>> = {};
  private readonly inFlight = new Set<ProbeKind>();
  started: boolean;
  ready: boolean;
  /** Set when liveness (or startup) failed past its threshold: the container must be restarted. */
  unhealthy: ProbeKind | null = null;

  constructor(readonly container: V1Container) {
    this.started = !container.startupProbe;
    this.ready = !container.readinessProbe;
  }

  /** Probes due at `now` (ms) for a container running since `startedAtMs`. */
  due(now: number, startedAtMs: number): ProbeKind[] {
    const out: ProbeKind[] = [];
    const kinds: ProbeKind[] = this.started ? ['liveness', 'readiness'] : ['startup'];
    for (const k of kinds) {
      const p = this.probe(k);
      if (!p || this.inFlight.has(k)) continue;
      if (now - startedAtMs < (p.initialDelaySeconds ?? 0) * 1000) continue;
      const last = this.lastRun[k];
      if (last !== undefined && now - last < (p.periodSeconds ?? 10) * 1000) continue;
      out.push(k);
    }
    return out;
  }

  probe(k: ProbeKind): V1Probe | undefined {
    return k === 'liveness' ? this.container.livenessProbe : k === 'readiness' ? this.container.readinessProbe : this.container.startupProbe;
  }

  begin(k: ProbeKind, now: number): void {
    this.inFlight.add(k);
    this.lastRun[k] = now;
  }

  /** Records a result; returns true when the externally visible state changed. */
  record(k: ProbeKind, ok: boolean): boolean {
    this.inFlight.delete(k);
    const p = this.probe(k)!;
    if (ok) {
      this.failures[k] = 0;
      this.successes[k] = (this.successes[k] ?? 0) + 1;
    } else {
      this.successes[k] = 0;
      this.failures[k] = (this.failures[k] ?? 0) + 1;
    }
    const passed = ok && this.successes[k]! >= (k === 'readiness' ? (p.successThreshold ?? 1) : 1);
    const failed = !ok && this.failures[k]! >= (p.failureThreshold ?? 3);
    if (k === 'startup') {
      if (passed && !this.started) return (this.started = true);
      if (failed) return (this.unhealthy = 'startup'), true;
      return false;
    }
    if (k === 'readiness') {
      if (passed && !this.ready) return (this.ready = true);
      if (failed && this.ready) return !(this.ready = false);
      return false;
    }
    if (failed && !this.unhealthy) return (this.unhealthy = 'liveness'), true;
    return false;
  }
}
