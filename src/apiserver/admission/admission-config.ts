/**
 * kube-apiserver's `--admission-control-config-file`: an AdmissionConfiguration (apiserver.config.k8s.io/v1) whose
 * `plugins` entry `PodSecurity` carries, inline (`configuration`) or in a file of its own (`path`, relative to the
 * config file), a PodSecurityConfiguration (pod-security.admission.config.k8s.io/v1): `defaults` for namespaces
 * without the labels, and `exemptions` by requesting username, pod runtimeClassName and namespace. Bad files stop
 * the server with a message naming the field, as upstream's do. Other plugins' entries are accepted and ignored.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { POD_SECURITY_LABEL_PREFIX } from './pod-security.js';

export interface PodSecurityConfig {
  /** The defaults as namespace labels (`pod-security.kubernetes.io/enforce: baseline`, ...); a namespace's own win. */
  defaults: Record<string, string>;
  exemptions: { usernames: Set<string>; runtimeClasses: Set<string>; namespaces: Set<string> };
}

type Doc = Record<string, unknown>;
const MODES = ['enforce', 'audit', 'warn'] as const;
const LEVELS = ['privileged', 'baseline', 'restricted'];
const VERSION = /^(latest|v1\.(0|[1-9]\d*))$/;

function parse(file: string): Doc {
  let doc: unknown;
  try { doc = YAML.parse(readFileSync(file, 'utf8')); } catch (err) { throw new Error(`admission config ${file}: ${(err as Error).message}`); }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`admission config ${file}: not an object`);
  return doc as Doc;
}

function strings(v: unknown, field: string): Set<string> {
  if (v === undefined || v === null) return new Set();
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x)) throw new Error(`${field}: must be a list of non-empty strings`);
  return new Set(v as string[]);
}

/** A PodSecurityConfiguration document, validated. */
export function podSecurityConfigFrom(doc: Doc): PodSecurityConfig {
  if (!['pod-security.admission.config.k8s.io/v1', 'pod-security.admission.config.k8s.io/v1beta1'].includes(String(doc.apiVersion)) || doc.kind !== 'PodSecurityConfiguration') {
    throw new Error(`PodSecurity configuration: want apiVersion pod-security.admission.config.k8s.io/v1, kind PodSecurityConfiguration; got ${String(doc.apiVersion)}, ${String(doc.kind)}`);
  }
  const defaults: Record<string, string> = {};
  const given = (doc.defaults ?? {}) as Doc;
  for (const mode of MODES) {
    const level = given[mode] ?? 'privileged';
    const version = given[`${mode}-version`] ?? 'latest';
    if (typeof level !== 'string' || !LEVELS.includes(level)) throw new Error(`defaults.${mode}: Unsupported value: ${JSON.stringify(level)}: supported values: "privileged", "baseline", "restricted"`);
    if (typeof version !== 'string' || !VERSION.test(version)) throw new Error(`defaults.${mode}-version: Invalid value: ${JSON.stringify(version)}: must be "latest" or "v1.x"`);
    if (level !== 'privileged') {
      defaults[`${POD_SECURITY_LABEL_PREFIX}${mode}`] = level;
      defaults[`${POD_SECURITY_LABEL_PREFIX}${mode}-version`] = version;
    }
  }
  const ex = (doc.exemptions ?? {}) as Doc;
  return {
    defaults,
    exemptions: { usernames: strings(ex.usernames, 'exemptions.usernames'), runtimeClasses: strings(ex.runtimeClasses, 'exemptions.runtimeClasses'), namespaces: strings(ex.namespaces, 'exemptions.namespaces') },
  };
}

/** The PodSecurity part of an admission configuration file (undefined when it has none). */
export function loadAdmissionConfig(file: string): PodSecurityConfig | undefined {
  const doc = parse(file);
  if (!['apiserver.config.k8s.io/v1', 'apiserver.k8s.io/v1alpha1'].includes(String(doc.apiVersion)) || doc.kind !== 'AdmissionConfiguration') {
    throw new Error(`admission config ${file}: want apiVersion apiserver.config.k8s.io/v1, kind AdmissionConfiguration; got ${String(doc.apiVersion)}, ${String(doc.kind)}`);
  }
  const plugins = doc.plugins ?? [];
  if (!Array.isArray(plugins)) throw new Error(`admission config ${file}: plugins must be a list`);
  const entry = (plugins as Doc[]).find((p) => p?.name === 'PodSecurity');
  if (!entry) return undefined;
  try {
    if (entry.configuration !== undefined) return podSecurityConfigFrom(entry.configuration as Doc);
    if (typeof entry.path === 'string') return podSecurityConfigFrom(parse(path.resolve(path.dirname(file), entry.path)));
  } catch (err) {
    throw new Error(`admission config ${file}: plugin PodSecurity: ${(err as Error).message}`);
  }
  throw new Error(`admission config ${file}: plugin PodSecurity needs configuration or path`);
}
