import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { RecordType } from 'dns-packet';
import { ClusterRecords, dashIp, reverseName, undashIp, type LocalAnswer } from './records.js';

const svc = (ns: string, name: string, spec: V1Service['spec']): V1Service => ({ metadata: { namespace: ns, name }, spec });
const slice = (ns: string, service: string, addressType: 'IPv4' | 'IPv6', endpoints: { ip: string; ready?: boolean; hostname?: string }[], ports: { name: string; port: number; protocol?: string }[] = []): V1EndpointSlice => ({
  metadata: { namespace: ns, name: `${service}-${addressType}`, labels: { 'kubernetes.io/service-name': service } },
  addressType,
  endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: e.ready === undefined ? {} : { ready: e.ready }, ...(e.hostname ? { hostname: e.hostname } : {}) })),
  ports,
});

function fixture(): ClusterRecords {
  const r = new ClusterRecords('cluster.local');
  r.load(
    [
      svc('default', 'web', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }, { port: 9000 }] }),
      svc('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
      svc('default', 'empty', { clusterIP: 'None', ports: [{ name: 'x', port: 1 }] }),
      svc('default', 'ext', { type: 'ExternalName', externalName: 'example.com.' }),
      svc('other', 'web', { clusterIP: '10.96.0.11', ports: [{ name: 'http', port: 8080 }] }),
    ],
    [
      slice('default', 'db', 'IPv4', [{ ip: '10.88.0.5', hostname: 'db-0' }, { ip: '10.88.0.6' }, { ip: '10.88.0.7', ready: false }], [{ name: 'pg', port: 15432 }]),
      slice('default', 'empty', 'IPv4', [{ ip: '10.88.0.9', ready: false }]),
      slice('default', 'web', 'IPv4', [{ ip: '10.88.0.20' }]),
    ],
  );
  return r;
}

const data = (a: LocalAnswer | undefined) => a!.answers.map((x) => `${x.type} ${JSON.stringify((x as { data: unknown }).data)}`);

test('ClusterIP service: A and AAAA from clusterIPs, NODATA for other types, case-insensitive with a trailing dot', () => {
  const r = fixture();
  assert.deepEqual(data(r.resolve('web.default.svc.cluster.local', 'A')), ['A "10.96.0.10"']);
  assert.deepEqual(data(r.resolve('WEB.Default.svc.cluster.local.', 'AAAA')), ['AAAA "fd00::10"']);
  const txt = r.resolve('web.default.svc.cluster.local', 'TXT')!;
  assert.equal(txt.rcode, 'NOERROR');
  assert.equal(txt.answers.length, 0);
  assert.deepEqual(data(r.resolve('web.other.svc.cluster.local', 'A')), ['A "10.96.0.11"']);
});

test('unknown names under the zone are NXDOMAIN; a namespace with services is an empty non-terminal', () => {
  const r = fixture();
  assert.equal(r.resolve('nope.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('web.nons.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('default.svc.cluster.local', 'A')!.rcode, 'NOERROR');
  assert.equal(r.resolve('nons.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('a.b.web.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('foo.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  // The search path at work: an outside name with the pod's search suffix appended is ours, and NXDOMAIN.
  assert.equal(r.resolve('example.com.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('example.com', 'A'), undefined);
  assert.equal(r.resolve('cluster.local', 'SOA')!.answers[0]!.type, 'SOA');
});

test('headless service: ready endpoint addresses, per-endpoint names (hostname or dashed IP), NXDOMAIN with none ready', () => {
  const r = fixture();
  assert.deepEqual(data(r.resolve('db.default.svc.cluster.local', 'A')).sort(), ['A "10.88.0.5"', 'A "10.88.0.6"']);
  assert.deepEqual(data(r.resolve('db-0.db.default.svc.cluster.local', 'A')), ['A "10.88.0.5"']);
  assert.deepEqual(data(r.resolve('10-88-0-6.db.default.svc.cluster.local', 'A')), ['A "10.88.0.6"']);
  assert.equal(r.resolve('10-88-0-7.db.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN', 'not ready: no record');
  assert.equal(r.resolve('empty.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('10-88-0-20.web.default.svc.cluster.local', 'A')!.rcode, 'NXDOMAIN', 'ClusterIP services have no endpoint names');
});

test('publishNotReadyAddresses publishes not-ready endpoints', () => {
  const r = new ClusterRecords();
  r.load([svc('default', 'db', { clusterIP: 'None', publishNotReadyAddresses: true })], [slice('default', 'db', 'IPv4', [{ ip: '10.0.0.1', ready: false }])]);
  assert.deepEqual(data(r.resolve('db.default.svc.cluster.local', 'A')), ['A "10.0.0.1"']);
});

test('SRV: named ports with protocol; ClusterIP targets the service, headless one record per endpoint with the endpoint port', () => {
  const r = fixture();
  const http = r.resolve('_http._tcp.web.default.svc.cluster.local', 'SRV')!;
  assert.deepEqual(data(http), ['SRV {"priority":0,"weight":100,"port":80,"target":"web.default.svc.cluster.local"}']);
  assert.ok(http.additionals.some((a) => a.type === 'A'));
  assert.deepEqual(data(r.resolve('_dns._udp.web.default.svc.cluster.local', 'SRV')), ['SRV {"priority":0,"weight":100,"port":53,"target":"web.default.svc.cluster.local"}']);
  assert.equal(r.resolve('_http._udp.web.default.svc.cluster.local', 'SRV')!.rcode, 'NXDOMAIN');
  assert.equal(r.resolve('_http._tcp.web.default.svc.cluster.local', 'A')!.answers.length, 0, 'NODATA');
  const pg = data(r.resolve('_pg._tcp.db.default.svc.cluster.local', 'SRV')).sort();
  assert.deepEqual(pg, [
    'SRV {"priority":0,"weight":50,"port":15432,"target":"10-88-0-6.db.default.svc.cluster.local"}',
    'SRV {"priority":0,"weight":50,"port":15432,"target":"db-0.db.default.svc.cluster.local"}',
  ]);
  assert.equal(data(r.resolve('web.default.svc.cluster.local', 'SRV')).length, 2, 'every named port on the service name');
});

test('ExternalName: a CNAME to the target, chased for address questions', () => {
  const r = fixture();
  const a = r.resolve('ext.default.svc.cluster.local', 'A')!;
  assert.deepEqual(data(a), ['CNAME "example.com"']);
  assert.equal(a.chase, 'example.com');
  assert.equal(r.resolve('ext.default.svc.cluster.local', 'CNAME')!.chase, undefined);
  assert.equal(r.resolve('ext.default.svc.cluster.local', 'MX')!.answers.length, 0);
});

test('pod records (pods insecure) and PTR for service and endpoint addresses', () => {
  const r = fixture();
  assert.deepEqual(data(r.resolve('10-88-0-99.default.pod.cluster.local', 'A')), ['A "10.88.0.99"']);
  assert.deepEqual(data(r.resolve('fd00--1.default.pod.cluster.local', 'AAAA')), ['AAAA "fd00::1"']);
  assert.equal(r.resolve('10-88-0-999.default.pod.cluster.local', 'A')!.rcode, 'NXDOMAIN');
  assert.deepEqual(data(r.resolve('10.0.96.10.in-addr.arpa', 'PTR')), ['PTR "web.default.svc.cluster.local"']);
  assert.deepEqual(data(r.resolve(reverseName('10.88.0.5'), 'PTR')), ['PTR "db-0.db.default.svc.cluster.local"']);
  assert.equal(r.resolve('1.2.3.4.in-addr.arpa', 'PTR'), undefined, 'other reverse names fall through to the upstream');
});

test('a custom cluster domain is the zone', () => {
  const r = new ClusterRecords('edge.example');
  r.load([svc('default', 'web', { clusterIP: '10.96.0.1' })], []);
  assert.deepEqual(data(r.resolve('web.default.svc.edge.example', 'A')), ['A "10.96.0.1"']);
  assert.equal(r.resolve('web.default.svc.cluster.local', 'A'), undefined);
});

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);

test('property: any name under the zone gets an answer (never forwarded), names outside never do, and nothing throws', () => {
  const r = fixture();
  const types = fc.constantFrom<RecordType | 'ANY'>('A', 'AAAA', 'SRV', 'TXT', 'CNAME', 'PTR', 'ANY', 'MX', 'SOA', 'NS');
  fc.assert(
    fc.property(fc.array(fc.oneof(label, fc.constantFrom('svc', 'pod', 'default', 'web', 'db', '_http', '_tcp')), { maxLength: 6 }), types, (labels, type) => {
      const inZone = r.resolve([...labels, 'cluster.local'].join('.'), type);
      assert.ok(inZone && (inZone.rcode === 'NOERROR' || inZone.rcode === 'NXDOMAIN'));
      for (const a of inZone.answers) assert.ok(type === 'ANY' || a.type === type || a.type === 'CNAME', `${a.type} for ${type}`);
      if (labels.length) assert.equal(r.resolve([...labels, 'example'].join('.'), type), undefined);
    }),
  );
});

test('property: dashed addresses round-trip and reverse names are well-formed', () => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
      const back = undashIp(dashIp(ip));
      assert.ok(back !== undefined);
      assert.equal(reverseName(back), reverseName(ip));
      assert.match(reverseName(ip), /\.(in-addr|ip6)\.arpa$/);
    }),
  );
});
