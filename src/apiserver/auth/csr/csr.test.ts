import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import * as pki from '../../../pki/index.js';
import { StatusError } from '../../../apimachinery/status.js';
import type { Authorizer, RequestAttributes } from '../types.js';
import { KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, needsSigning, signCsrObject } from './signers.js';
import { admitCertificateSigningRequest } from './admission.js';

async function csrFor(cn: string, orgs: string[], signerName: string, usages: string[], extra: Partial<V1CertificateSigningRequest['spec']> = {}, hosts?: string[]): Promise<V1CertificateSigningRequest> {
  const { csrPem } = await pki.createCertificateRequest({ commonName: cn, organizations: orgs, hosts });
  return {
    metadata: { name: 'c1' },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName, usages, ...extra },
    status: { conditions: [{ type: 'Approved', status: 'True', reason: 'ok', message: '' }] },
  };
}

test('kube-apiserver-client: signs client certs with the requested duration, refuses server usages', async () => {
  const ca = await pki.createCertificateAuthority();
  const csr = await csrFor('alice', ['team-a'], KUBE_APISERVER_CLIENT, ['digital signature', 'client auth'], { expirationSeconds: 3600 });
  assert.equal(needsSigning(csr), true);
  const out = await signCsrObject(ca, csr);
  assert.equal(out.kind, 'signed');
  if (out.kind !== 'signed') return;
  const info = pki.inspectCertificate(out.certificatePem);
  assert.deepEqual([info.commonName, info.organizations], ['alice', ['team-a']]);
  assert.ok(Math.abs(info.notAfter.getTime() - Date.now() - 3600_000) < 60_000);
  const bad = await signCsrObject(ca, await csrFor('alice', [], KUBE_APISERVER_CLIENT, ['client auth', 'server auth']));
  assert.deepEqual(bad, { kind: 'failed', reason: 'SignerValidationFailure', message: 'invalid usage for client certificate: server auth' });
});

test('kubelet client signer enforces system:node:NAME / system:nodes and no SANs', async () => {
  const ca = await pki.createCertificateAuthority();
  assert.equal((await signCsrObject(ca, await csrFor('system:node:n1', ['system:nodes'], KUBE_APISERVER_CLIENT_KUBELET, ['digital signature', 'client auth']))).kind, 'signed');
  const wrongCn = await signCsrObject(ca, await csrFor('bob', ['system:nodes'], KUBE_APISERVER_CLIENT_KUBELET, ['client auth']));
  assert.match(wrongCn.kind === 'failed' ? wrongCn.message : '', /system:node:/);
  const wrongOrg = await signCsrObject(ca, await csrFor('system:node:n1', ['system:masters'], KUBE_APISERVER_CLIENT_KUBELET, ['client auth']));
  assert.match(wrongOrg.kind === 'failed' ? wrongOrg.message : '', /system:nodes/);
  const sans = await signCsrObject(ca, await csrFor('system:node:n1', ['system:nodes'], KUBE_APISERVER_CLIENT_KUBELET, ['client auth'], {}, ['n1']));
  assert.match(sans.kind === 'failed' ? sans.message : '', /subject alternative names/);
});

test('only approved, unsigned, non-failed requests of cluster-CA signers need signing', async () => {
  const base = await csrFor('a', [], KUBE_APISERVER_CLIENT, ['client auth']);
  assert.equal(needsSigning({ ...base, status: {} }), false);
  assert.equal(needsSigning({ ...base, status: { ...base.status, certificate: 'eA==' } }), false);
  assert.equal(needsSigning({ ...base, spec: { ...base.spec!, signerName: 'kedge.io/edge-node-client' } }), false);
  assert.equal(needsSigning({ ...base, status: { conditions: [...base.status!.conditions!, { type: 'Failed', status: 'True' }] } }), false);
});

/** An authorizer that allows exactly the listed "verb name" pairs on signers. */
function signerAuthorizer(allowed: string[]): Authorizer {
  return { authorize: async (a: RequestAttributes) => ({ allowed: a.resource === 'signers' && allowed.includes(`${a.verb} ${a.name}`), reason: '' }) };
}
const jane = { username: 'jane', groups: ['system:authenticated'] };
const forbidden = (re: RegExp) => (e: unknown): boolean => e instanceof StatusError && e.code === 403 && re.test(e.message);

test('admission: approval needs approve on the signer (exact or domain/*), certificates need sign, no system:masters via kube-apiserver-client', async () => {
  const pending = await csrFor('x', [], KUBE_APISERVER_CLIENT, ['client auth']);
  pending.status = {};
  const approved = { ...pending, status: { conditions: [{ type: 'Approved', status: 'True' }] } };
  await assert.rejects(admitCertificateSigningRequest(signerAuthorizer([]), approved, pending, { user: jane, subresource: 'approval' }),
    forbidden(/^certificatesigningrequests\.certificates\.k8s\.io "c1" is forbidden: user not permitted to approve requests with signerName "kubernetes\.io\/kube-apiserver-client"$/));
  await admitCertificateSigningRequest(signerAuthorizer(['approve kubernetes.io/kube-apiserver-client']), approved, pending, { user: jane, subresource: 'approval' });
  await admitCertificateSigningRequest(signerAuthorizer(['approve kubernetes.io/*']), approved, pending, { user: jane, subresource: 'approval' });
  const issued = { ...approved, status: { ...approved.status, certificate: 'eA==' } };
  await assert.rejects(admitCertificateSigningRequest(signerAuthorizer([]), issued, approved, { user: jane, subresource: 'status' }), forbidden(/not permitted to sign/));
  await admitCertificateSigningRequest(signerAuthorizer(['sign kubernetes.io/kube-apiserver-client']), issued, approved, { user: jane, subresource: 'status' });
  const masters = await csrFor('root', ['system:masters'], KUBE_APISERVER_CLIENT, ['client auth']);
  await assert.rejects(admitCertificateSigningRequest(signerAuthorizer([]), masters, null, { user: jane, subresource: '' }),
    forbidden(/use of kubernetes\.io\/kube-apiserver-client signer with system:masters group is not allowed/));
  // Kedge's server identity (hubs relay kubelet streams for it) is never issued through the CSR API either.
  const server = await csrFor('kedge:server:x', ['kedge:servers'], KUBE_APISERVER_CLIENT, ['client auth']);
  await assert.rejects(admitCertificateSigningRequest(signerAuthorizer([]), server, null, { user: jane, subresource: '' }),
    forbidden(/use of kubernetes\.io\/kube-apiserver-client signer with kedge:servers group is not allowed/));
});
