/**
 * SuperEdge's ServiceGroup kinds (superedge.io/v1): DeploymentGrid, StatefulSetGrid and ServiceGrid, one version,
 * no conversion. Admission as SuperEdge's controller assumes it: gridUniqKey is a label key and is required.
 */
import type { KubeObject } from '../../../apimachinery/object.js';
import type { FieldError } from '../../../apimachinery/status.js';
import { ageColumn, s, type BuiltinKind, type Crd } from './kinds.js';

export const SUPEREDGE_GROUP = 'superedge.io';

type Obj = KubeObject & { spec?: Record<string, unknown> };

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function gridCrd(kind: string, plural: string, shortName: string, withTemplates: boolean): Crd {
  const spec: Record<string, object> = { gridUniqKey: s.str(), template: s.free() };
  if (withTemplates) {
    spec.templatePool = { type: 'object', additionalProperties: s.free() };
    spec.templates = s.strMap();
    spec.defaultTemplateName = s.str();
    spec.autoDeleteUnusedTemplate = s.bool();
  }
  const status = withTemplates ? s.obj({ states: { type: 'object', additionalProperties: s.free() } }) : undefined;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${SUPEREDGE_GROUP}` },
    spec: {
      group: SUPEREDGE_GROUP,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames: [shortName] },
      versions: [{
        name: 'v1', served: true, storage: true,
        ...(withTemplates ? { subresources: { status: {} } } : {}),
        additionalPrinterColumns: [{ name: 'GridUniqKey', type: 'string', jsonPath: '.spec.gridUniqKey', priority: 1 }, ageColumn],
        schema: { openAPIV3Schema: s.root(s.obj(spec, { required: ['gridUniqKey'] }), status) },
      }],
    },
  };
}

function validateGrid(obj: Obj, withTemplates: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const key = obj.spec?.gridUniqKey;
  if (typeof key !== 'string' || !LABEL_KEY.test(key)) {
    errs.push({ type: 'Invalid', field: 'spec.gridUniqKey', value: key, detail: 'must be a node label key (e.g. "zone" or "example.com/zone")' });
  }
  if (withTemplates) {
    const pool = (obj.spec?.templatePool ?? {}) as Record<string, unknown>;
    const def = obj.spec?.defaultTemplateName;
    if (typeof def === 'string' && def !== '' && def !== 'default' && !(def in pool)) {
      errs.push({ type: 'Invalid', field: 'spec.defaultTemplateName', value: def, detail: 'must be "default" or a key of spec.templatePool' });
    }
    for (const [unit, tpl] of Object.entries((obj.spec?.templates ?? {}) as Record<string, string>)) {
      if (!(tpl in pool)) errs.push({ type: 'Invalid', field: `spec.templates[${unit}]`, value: tpl, detail: 'must name a template in spec.templatePool' });
    }
  }
  return errs;
}

function gridKind(kind: string, plural: string, shortName: string, withTemplates: boolean): BuiltinKind {
  return {
    crd: gridCrd(kind, plural, shortName, withTemplates),
    validate: (obj) => validateGrid(obj as Obj, withTemplates),
    validateUpdate: (obj) => validateGrid(obj as Obj, withTemplates),
  };
}

export const deploymentGridKind = gridKind('DeploymentGrid', 'deploymentgrids', 'dg', true);
export const statefulSetGridKind = gridKind('StatefulSetGrid', 'statefulsetgrids', 'ssg', true);
export const serviceGridKind = gridKind('ServiceGrid', 'servicegrids', 'sg', false);
