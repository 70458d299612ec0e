/**
 * A pod's resolv.conf as the kubelet builds it (pkg/kubelet/network/dns): the CRI sandbox's DNSConfig from the
 * pod's dnsPolicy and dnsConfig, the node's cluster DNS and the host's resolv.conf.
 *   ClusterFirst (default; Default for hostNetwork pods), ClusterFirstWithHostNet:
 *       nameserver <cluster DNS>; search <ns>.svc.<domain> svc.<domain> <domain> + host search; options ndots:5
 *   Default: the host's resolv.conf      None: only the pod's dnsConfig
 * then dnsConfig appended (nameservers and searches without duplicates; options merged by name, the pod's
 * winning), cut to 3 nameservers and 32 search domains / 2048 characters as the kubelet does. With no cluster
 * DNS configured, ClusterFirst falls back to Default (the kubelet does the same and records MissingClusterDNS).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { readResolvConf, type ResolvConf } from './resolv-conf.js';

export interface PodDnsSettings {
  /** The kubelet's --cluster-dns: what ClusterFirst pods get as nameserver (empty: none configured). */
  clusterDns: string[];
  /** The kubelet's --cluster-domain (default cluster.local). */
  clusterDomain: string;
  /** The host's resolver configuration (the kubelet's --resolv-conf), read when a sandbox is made. */
  hostResolvConf: () => ResolvConf;
}

export interface SandboxDnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;
const MAX_SEARCH_CHARS = 2048;

export function defaultPodDnsSettings(clusterDns: string[], clusterDomain = 'cluster.local', resolvConf?: string): PodDnsSettings {
  return { clusterDns, clusterDomain, hostResolvConf: () => readHostResolvConf(resolvConf) };
}

/**
 * The host's file for pods. A host running systemd-resolved lists only its 127.0.0.53 stub, which a pod in its own
 * network namespace cannot reach; the upstream list systemd keeps is used instead (kubeadm points the kubelet there).
 */
export function readHostResolvConf(file?: string): ResolvConf {
  const host = readResolvConf(file);
  if (file === undefined && host.nameservers.length > 0 && host.nameservers.every((ns) => ns.startsWith('127.'))) {
    const upstream = readResolvConf('/run/systemd/resolve/resolv.conf');
    if (upstream.nameservers.length) return upstream;
  }
  return host;
}

export type PodDnsKind = 'cluster' | 'host' | 'none';

export function podDnsKind(pod: V1Pod, clusterDnsConfigured: boolean): PodDnsKind {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'None') return 'none';
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec?.hostNetwork);
  return cluster && clusterDnsConfigured ? 'cluster' : 'host';
}

export function podDnsConfig(pod: V1Pod, s: PodDnsSettings): SandboxDnsConfig {
  const kind = podDnsKind(pod, s.clusterDns.length > 0);
  let cfg: SandboxDnsConfig = { servers: [], searches: [], options: [] };
  if (kind === 'host') {
    const host = s.hostResolvConf();
    cfg = { servers: host.nameservers, searches: host.searches, options: host.options };
  } else if (kind === 'cluster') {
    const ns = pod.metadata?.namespace ?? 'default';
    const d = s.clusterDomain;
    cfg = { servers: [...s.clusterDns], searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...s.hostResolvConf().searches], options: ['ndots:5'] };
  }
  const extra = pod.spec?.dnsConfig;
  if (extra) {
    cfg.servers = unique([...cfg.servers, ...(extra.nameservers ?? [])]);
    cfg.searches = unique([...cfg.searches, ...(extra.searches ?? [])]);
    cfg.options = mergeOptions(cfg.options, (extra.options ?? []).filter((o) => o.name).map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name!)));
  }
  return { servers: cfg.servers.slice(0, MAX_NAMESERVERS), searches: fitSearches(unique(cfg.searches)), options: cfg.options };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs.filter((x) => x !== ''))];
}

/** Options by name (`ndots:2` replaces `ndots:5`), in first-seen order. */
function mergeOptions(base: string[], pod: string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...base, ...pod]) byName.set(o.split(':')[0]!, o);
  return [...byName.values()];
}

function fitSearches(searches: string[]): string[] {
  const out: string[] = [];
  let chars = 0;
  for (const s of searches.slice(0, MAX_SEARCHES)) {
    chars += s.length + (out.length ? 1 : 0);
    if (chars > MAX_SEARCH_CHARS) break;
    out.push(s);
  }
  return out;
}
