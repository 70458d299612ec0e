/**
 * Network namespaces made by a test: a private L2 "site LAN" (a bridge in a namespace of its own) that the test's node
 * namespaces join through veth pairs, plus one veth to the host so processes on the host (the `kedge server` and its
 * hub) are reachable from the nodes. Addresses are link-local (169.254.<id>.0/24: never routed beyond the link, so
 * nothing here can reach or shadow another network); the host side is 169.254.<id>.1, node i is 169.254.<id>.(10+i).
 * The LAN bridge lives in its own namespace so host firewall rules (br_netfilter, a FORWARD DROP policy) never see
 * node-to-node traffic.
 *
 * Processes go into a node with `nsenter --net=…` (network namespace only: same filesystem, so sockets and data
 * dirs are reachable from the test). `cutCloud(node)` blackholes the hub's address inside that node only: the node
 * keeps its LAN (peers) and loses the cloud, as a site whose uplink failed.
 *
 * May import: Node built-ins only (test/harness rule).
 */
import { execFileSync } from 'node:child_process';

export interface LabNode {
  name: string;
  /** Network namespace name (`ip netns`), also `/run/netns/<netns>`. */
  netns: string;
  /** The node's LAN address (its eth0). */
  address: string;
  /** Index on the LAN (address 169.254.<id>.(10+index)). */
  index: number;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // best effort (cleanup)
  }
}

export function netnsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root; CI runs these suites as root';
  try {
    sh('ip', ['netns', 'list']);
  } catch (err) {
    return `ip netns unavailable: ${String(err)}`;
  }
  return undefined;
}

/** `nsenter` prefix that runs a program in a node's network namespace only. */
export function inNetns(netns: string, command: string, args: string[]): { command: string; args: string[] } {
  return { command: 'nsenter', args: [`--net=/run/netns/${netns}`, '--', command, ...args] };
}

export class NetnsLab {
  private readonly nodes: LabNode[] = [];
  private destroyed = false;

  private constructor(readonly id: number) {}

  /** A new LAN with an id no other lab on this machine uses (its namespaces and 169.254.<id>/24 are free). */
  static create(): NetnsLab {
    const namespaces = sh('ip', ['netns', 'list']);
    const addrs = sh('ip', ['-o', '-4', 'addr', 'show']);
    const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
    for (let attempt = 0; attempt < 200; attempt++) {
      const id = 1 + Math.floor(Math.random() * 250);
      if (id === 169) continue; // 169.254.169.254: cloud metadata services
      const prefix = `169.254.${id}.`;
      if (namespaces.includes(`ksv${id}-`) || addrs.includes(prefix) || routes.includes(prefix)) continue;
      const lab = new NetnsLab(id);
      try {
        lab.setUp();
      } catch (err) {
        lab.destroy();
        throw err;
      }
      return lab;
    }
    throw new Error('no free 169.254.x.0/24 for a test LAN');
  }

  get lanNetns(): string {
    return `ksv${this.id}-lan`;
  }

  /** The host's address on the LAN: where the nodes reach the hub. */
  get hostAddress(): string {
    return `169.254.${this.id}.1`;
  }

  private get hostIf(): string {
    return `ksv${this.id}h`;
  }

  private setUp(): void {
    const lan = this.lanNetns;
    sh('ip', ['netns', 'add', lan]);
    sh('ip', ['-n', lan, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', lan, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', lan, 'link', 'set', 'br0', 'up']);
    sh('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', lan]);
    sh('ip', ['-n', lan, 'link', 'set', 'uplink', 'master', 'br0', 'up']);
    sh('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', this.hostIf]);
    sh('ip', ['link', 'set', this.hostIf, 'up']);
  }

  /** A node namespace on the LAN: eth0 with its address, lo up, IPv4 forwarding on (it routes for its pods). */
  addNode(name: string): LabNode {
    const index = this.nodes.length;
    const netns = `ksv${this.id}-n${index}`;
    const address = `169.254.${this.id}.${10 + index}`;
    const lanSide = `n${index}`;
    sh('ip', ['netns', 'add', netns]);
    const node: LabNode = { name, netns, address, index };
    this.nodes.push(node);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', this.lanNetns, 'link', 'add', lanSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    sh('ip', ['-n', this.lanNetns, 'link', 'set', lanSide, 'master', 'br0', 'up']);
    sh('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    this.exec(netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    return node;
  }

  all(): readonly LabNode[] {
    return this.nodes;
  }

  /** Run a program in a namespace and return its stdout (throws with stderr on failure). */
  exec(netns: string, command: string, args: string[]): string {
    const c = inNetns(netns, command, args);
    return sh(c.command, c.args);
  }

  /** The node can no longer reach the hub (its peers still can be reached). */
  cutCloud(node: LabNode): void {
    this.exec(node.netns, 'ip', ['route', 'replace', 'blackhole', `${this.hostAddress}/32`]);
    // Established connections keep their state until the agent's keepalive notices: kill them now, as a link
    // failure would after its timeout.
    tryRun('nsenter', [`--net=/run/netns/${node.netns}`, '--', 'ss', '-K', 'dst', this.hostAddress]);
  }

  /** The node loses its LAN too (its peers and the hub): its eth0 goes down, as a node whose site link failed. */
  cutLan(node: LabNode): void {
    this.exec(node.netns, 'ip', ['link', 'set', 'eth0', 'down']);
  }

  healLan(node: LabNode): void {
    tryRun('nsenter', [`--net=/run/netns/${node.netns}`, '--', 'ip', 'link', 'set', 'eth0', 'up']);
  }

  healCloud(node: LabNode): void {
    tryRun('nsenter', [`--net=/run/netns/${node.netns}`, '--', 'ip', 'route', 'del', 'blackhole', `${this.hostAddress}/32`]);
  }

  /**
   * Deletes every namespace and link of the lab. Processes still inside a node namespace are the test's own (it
   * started them there); they are killed by pid before the namespace goes.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const n of [...this.nodes].reverse()) {
      let pids: string[] = [];
      try {
        pids = sh('ip', ['netns', 'pids', n.netns]).split('\n').filter(Boolean);
      } catch {}
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {}
      }
      tryRun('ip', ['netns', 'del', n.netns]);
    }
    tryRun('ip', ['link', 'del', this.hostIf]);
    tryRun('ip', ['netns', 'del', this.lanNetns]);
  }
}
