/**
 * Builds single-layer OCI image-layout tarballs in memory (oci-layout, index.json, blobs/sha256/*),
 * the format `ctr images import` (and `docker load`, podman) accept. Used to make images from
 * binaries already on the node, e.g. the sandbox ("pause") image from busybox-static, so an offline
 * edge site needs no registry.
 */
import { createHash } from 'node:crypto';
import { tar, type TarEntry } from './tar.js';

export interface ImageSpecInput {
  /** Full reference the image gets when imported, e.g. kedge.local/busybox:1. */
  ref: string;
  /** Files of the single layer. */
  layer: TarEntry[];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  architecture?: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

export function buildOciArchive(spec: ImageSpecInput): Buffer {
  const layer = tar(spec.layer);
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? goArch(),
      os: 'linux',
      config: {
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Entrypoint: spec.entrypoint,
        Cmd: spec.cmd,
        WorkingDir: spec.workingDir ?? '/',
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created_by: 'kedge oci-archive builder' }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const tag = spec.ref.includes(':') && !spec.ref.slice(spec.ref.lastIndexOf(':')).includes('/') ? spec.ref.slice(spec.ref.lastIndexOf(':') + 1) : 'latest';
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestDigest}`,
          size: manifest.length,
          // containerd names the imported image from io.containerd.image.name; other tools read ref.name.
          annotations: { 'io.containerd.image.name': spec.ref, 'org.opencontainers.image.ref.name': tag },
          platform: { architecture: spec.architecture ?? goArch(), os: 'linux' },
        },
      ],
    }),
  );
  return tar([
    { type: 'file', name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { type: 'file', name: 'index.json', data: index },
    { type: 'dir', name: 'blobs' },
    { type: 'dir', name: 'blobs/sha256' },
    { type: 'file', name: `blobs/sha256/${layerDigest}`, data: layer },
    { type: 'file', name: `blobs/sha256/${configDigest}`, data: config },
    { type: 'file', name: `blobs/sha256/${manifestDigest}`, data: manifest },
  ]);
}
