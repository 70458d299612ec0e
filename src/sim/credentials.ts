/**
 * Node certificates for a hollow fleet, minted fast. Issuing a certificate through src/pki costs ~20 ms of
 * CPU (a fresh key pair, the CA key re-imported, the certificate built in pure-JS ASN.1): 10,000 nodes would
 * spend ~200 s of the simulator's CPU on the join's critical path. A load generator needs each node to present
 * a *real* CA-signed certificate naming it (the hub checks the chain and CN=system:node:NAME, as for any edge),
 * not a fresh key per node, so:
 *   - one certificate is issued through src/pki as a template (for one node name, with its key pair);
 *   - for another node name of the same length, the template's to-be-signed part is copied with the name
 *     bytes and the serial number replaced, and signed again with the CA key (native ECDSA, ~0.1 ms).
 * Every hollow node thus shares one key pair but has its own certificate, serial and signature, verified by
 * the hub like any other. Real edge nodes never do this: they generate their own key and join with a CSR.
 * The hub accepts a node certificate only with the identity binding its join signs in (the Node's UID, see
 * src/cloudhub/node-identity.ts): when the template names its Node's `uid`, each minted certificate gets its
 * own Node's UID in the same place (UIDs are UUIDs: all the same length).
 */
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { EdgeCredentials } from '../edge/config.js';

/** A DER element: where its value starts and ends inside the buffer. */
interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

function readTlv(buf: Buffer, at: number): Tlv {
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let valueStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i]!;
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > buf.length) throw new Error('truncated DER element');
  return { tag, start: at, valueStart, end };
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derElement(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(value.length), value]);
}

function pemToDer(pem: string): Buffer {
  const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}

function derToPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export interface CredentialTemplate {
  caCertPem: string;
  /** The CA's private key (PEM): re-signs each node's certificate. */
  caKeyPem: string;
  /** A CA-issued client certificate for `nodeName` (CN=system:node:NODE, O=system:nodes) and its key. */
  certPem: string;
  keyPem: string;
  nodeName: string;
  /** The UID of the template node's Node, as bound into its certificate (each minted one gets its own). */
  uid?: string;
}

export class HollowCredentialMinter {
  private readonly caKey: KeyObject;
  private readonly tbs: Buffer;
  private readonly sigAlg: Buffer;
  private readonly nameAt: number;
  private readonly serial: { at: number; length: number };
  private readonly nameBytes: number;
  private readonly uidAt: number = -1;

  constructor(private readonly t: CredentialTemplate) {
    this.caKey = createPrivateKey(t.caKeyPem);
    const der = pemToDer(t.certPem);
    const cert = readTlv(der, 0);
    const tbs = readTlv(der, cert.valueStart);
    const sigAlg = readTlv(der, tbs.end);
    this.tbs = der.subarray(tbs.start, tbs.end);
    this.sigAlg = der.subarray(sigAlg.start, sigAlg.end);
    // TBSCertificate ::= SEQUENCE { [0] version, serialNumber INTEGER, ... }
    const tbsInner = readTlv(this.tbs, 0);
    let at = tbsInner.valueStart;
    const first = readTlv(this.tbs, at);
    if (first.tag === 0xa0) at = first.end;
    const serial = readTlv(this.tbs, at);
    if (serial.tag !== 0x02) throw new Error('template certificate: serial number not found');
    this.serial = { at: serial.valueStart, length: serial.end - serial.valueStart };
    const name = Buffer.from(t.nodeName, 'utf8');
    this.nameAt = this.tbs.indexOf(name);
    // The name must occur once (in the subject CN), so replacing it changes nothing else.
    if (this.nameAt < 0 || this.tbs.lastIndexOf(name) !== this.nameAt) throw new Error(`template certificate must name ${t.nodeName} exactly once`);
    this.nameBytes = name.length;
    if (t.uid !== undefined) {
      const uid = Buffer.from(t.uid, 'utf8');
      this.uidAt = this.tbs.indexOf(uid);
      if (this.uidAt < 0 || this.tbs.lastIndexOf(uid) !== this.uidAt) throw new Error(`template certificate must carry uid ${t.uid} exactly once`);
    }
  }

  /** Whether `nodeName` can be minted from this template (same byte length as the template's name). */
  fits(nodeName: string): boolean {
    return Buffer.byteLength(nodeName, 'utf8') === this.nameBytes;
  }

  /** Credentials for `nodeName` (its Node's `uid` when the template is bound): the template's key, a certificate of its own (new serial, re-signed by the CA). */
  mint(nodeName: string, uid?: string): EdgeCredentials {
    if (!this.fits(nodeName)) throw new Error(`node name ${nodeName} is not ${this.nameBytes} bytes long like the template's`);
    const tbs = Buffer.from(this.tbs);
    Buffer.from(nodeName, 'utf8').copy(tbs, this.nameAt);
    if (this.uidAt >= 0) {
      if (uid === undefined || Buffer.byteLength(uid, 'utf8') !== Buffer.byteLength(this.t.uid!, 'utf8')) throw new Error(`node ${nodeName} needs a uid as long as the template's`);
      Buffer.from(uid, 'utf8').copy(tbs, this.uidAt);
    }
    const serial = randomBytes(this.serial.length);
    serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, no leading zero octet needed
    serial.copy(tbs, this.serial.at);
    // ECDSA with SHA-256, DER-encoded signature, as the template's signatureAlgorithm says (P-256 CA).
    const signature = sign('sha256', tbs, this.caKey);
    const bitString = derElement(0x03, Buffer.concat([Buffer.from([0]), signature]));
    const der = derElement(0x30, Buffer.concat([tbs, this.sigAlg, bitString]));
    return { caCertPem: this.t.caCertPem, certPem: derToPem(der), keyPem: this.t.keyPem };
  }
}
