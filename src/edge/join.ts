/**
 * Edge side of token join (kubeadm-style discovery): fetch the cloud CA from the hub without trusting
 * it, accept it only if its public-key hash matches the pin (`--ca-cert-hash sha256:...`), then over a
 * connection verified against that CA send the bootstrap token and a fresh CSR for
 * CN=system:node:NAME, O=system:nodes, and store the issued certificate in the data dir.
 * Also: certificate renewal over the node's own client certificate, before expiry.
 */
import https from 'node:https';
import { caCertHash, createCertificateRequest, singleCertificatePem } from '../pki/index.js';
import { writeEdgeIdentity, writeNodeIdentity, type EdgeConfig, type EdgeCredentials, type EdgeRunSettings } from './config.js';
import { parseHubList } from './hubs.js';

export interface JoinOptions {
  server: string;
  token: string;
  nodeName: string;
  /** The NodePool to join (`--nodepool`): the hub sets the node's apps.openyurt.io/nodepool label when it registers it. */
  nodePool?: string;
  /** This node's pod subnet (`--pod-cidr`, its CNI bridge's): the hub records it as the Node's spec.podCIDR. */
  podCIDR?: string;
  dataDir: string;
  /** sha256:<hex> of the CA's SubjectPublicKeyInfo; required unless unsafeSkipCaVerification. */
  caCertHash?: string;
  unsafeSkipCaVerification?: boolean;
  /** How the node runs, kept in config.json for `kedge edge run`. */
  settings?: EdgeRunSettings;
}

interface HttpResult {
  status: number;
  body: string;
}

function request(url: string, opts: https.RequestOptions, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...opts, timeout: 60_000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        data += c;
        if (data.length > 1024 * 1024) req.destroy(new Error('response too large'));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

function statusMessage(r: HttpResult): string {
  try {
    return (JSON.parse(r.body) as { message?: string }).message ?? r.body;
  } catch {
    return r.body;
  }
}

/**
 * Fetch the CA from the hub and check it against the pin. Only bytes the pin covers are trusted: the answer must
 * be exactly one certificate (a bundle could carry a second, attacker's CA past a pin checked on the first), and
 * what is returned (and later stored as the node's only trust root) is that certificate re-encoded, nothing else.
 */
export async function discoverCa(server: string, pin: string | undefined, unsafeSkip = false): Promise<string> {
  if (!pin && !unsafeSkip) throw new Error('--ca-cert-hash is required to trust the cloud (or pass --unsafe-skip-ca-verification)');
  if (pin && !/^sha256:[0-9a-f]{64}$/.test(pin)) throw new Error(`invalid --ca-cert-hash ${JSON.stringify(pin)}: expected sha256:<64 hex digits>`);
  // Not verified yet on purpose: the pin below is what makes this CA trustworthy.
  const r = await request(new URL('/v1/cacert', server).toString(), { method: 'GET', rejectUnauthorized: false });
  if (r.status !== 200 || !r.body.includes('BEGIN CERTIFICATE')) throw new Error(`could not fetch the cloud CA from ${server}: HTTP ${r.status}`);
  let caPem: string;
  try {
    caPem = singleCertificatePem(r.body);
  } catch (err) {
    throw new Error(`refusing the cloud CA from ${server}: ${(err as Error).message}; the pin covers one certificate, so nothing else may be trusted (wrong server or man in the middle)`);
  }
  if (pin) {
    const actual = caCertHash(caPem);
    if (actual !== pin) throw new Error(`cloud CA does not match --ca-cert-hash: the server presented ${actual}, expected ${pin} (wrong server or man in the middle)`);
  }
  return caPem;
}

/**
 * Join through the first hub of `o.server` (one URL, or several comma-separated) that answers; a hub that refuses
 * (bad token, pin mismatch) stops the join, since every hub of a cluster would answer the same.
 */
export async function joinCluster(o: JoinOptions): Promise<EdgeCredentials> {
  const hubs = parseHubList(o.server);
  for (let i = 0; ; i++) {
    try {
      return await joinThrough(hubs[i]!, hubs.join(','), o);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const unreachable = ['ECONNREFUSED', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'ENOTFOUND'].includes(code ?? '') || /timed out/.test((err as Error).message);
      if (!unreachable || i === hubs.length - 1) throw err;
    }
  }
}

async function joinThrough(server: string, allHubs: string, o: JoinOptions): Promise<EdgeCredentials> {
  const caCertPem = await discoverCa(server, o.caCertHash, o.unsafeSkipCaVerification);
  const { csrPem, keyPem } = await createCertificateRequest({ commonName: `system:node:${o.nodeName}`, organizations: ['system:nodes'] });
  const r = await request(
    new URL('/v1/join', server).toString(),
    { method: 'POST', ca: caCertPem, headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' } },
    JSON.stringify({ nodeName: o.nodeName, csr: csrPem, ...(o.nodePool !== undefined ? { nodepool: o.nodePool } : {}), ...(o.podCIDR !== undefined ? { podCIDR: o.podCIDR } : {}) }),
  );
  if (r.status !== 201) throw new Error(`join refused by the cloud (HTTP ${r.status}): ${statusMessage(r)}`);
  const { certificate } = JSON.parse(r.body) as { certificate: string };
  const creds = { caCertPem, certPem: certificate, keyPem };
  const config: EdgeConfig = { server: allHubs, nodeName: o.nodeName, ...o.settings };
  await writeEdgeIdentity(o.dataDir, config, creds);
  return creds;
}

/** A new key + certificate for the same node, authenticated by the current certificate. */
export async function renewCertificate(server: string, nodeName: string, dataDir: string, creds: EdgeCredentials): Promise<EdgeCredentials> {
  const { csrPem, keyPem } = await createCertificateRequest({ commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] });
  const r = await request(
    new URL('/v1/renew', server).toString(),
    { method: 'POST', ca: creds.caCertPem, cert: creds.certPem, key: creds.keyPem, headers: { 'content-type': 'application/json' } },
    JSON.stringify({ csr: csrPem }),
  );
  if (r.status !== 201) throw new Error(`certificate renewal refused (HTTP ${r.status}): ${statusMessage(r)}`);
  const { certificate } = JSON.parse(r.body) as { certificate: string };
  const renewed = { caCertPem: creds.caCertPem, certPem: certificate, keyPem };
  await writeNodeIdentity(dataDir, renewed);
  return renewed;
}
