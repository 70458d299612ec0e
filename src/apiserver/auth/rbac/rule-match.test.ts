import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1PolicyRule } from '@kubernetes/client-node';
import type { RequestAttributes } from '../types.js';
import { ruleAllows } from './rule-match.js';

const user = { username: 'u', groups: [] };
const res = (verb: string, apiGroup: string, resource: string, extra: Partial<RequestAttributes> = {}): RequestAttributes =>
  ({ user, verb, resourceRequest: true, apiGroup, resource, ...extra });
const path = (verb: string, p: string): RequestAttributes => ({ user, verb, resourceRequest: false, path: p });

const cases: Array<[string, V1PolicyRule, RequestAttributes, boolean]> = [
  ['exact match', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', '', 'pods'), true],
  ['verb mismatch', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('create', '', 'pods'), false],
  ['verb wildcard', { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, res('deletecollection', '', 'pods'), true],
  ['group mismatch', { verbs: ['get'], apiGroups: ['apps'], resources: ['pods'] }, res('get', '', 'pods'), false],
  ['group wildcard', { verbs: ['get'], apiGroups: ['*'], resources: ['deployments'] }, res('get', 'apps', 'deployments'), true],
  ['no apiGroups matches nothing', { verbs: ['get'], resources: ['pods'] }, res('get', '', 'pods'), false],
  ['resource wildcard', { verbs: ['get'], apiGroups: [''], resources: ['*'] }, res('get', '', 'secrets'), true],
  ['resource wildcard covers subresources', { verbs: ['get'], apiGroups: [''], resources: ['*'] }, res('get', '', 'pods', { subresource: 'log' }), true],
  ['parent does not grant subresource', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', '', 'pods', { subresource: 'log' }), false],
  ['subresource exact', { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, res('get', '', 'pods', { subresource: 'log' }), true],
  ['subresource does not grant parent', { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, res('get', '', 'pods'), false],
  ['*/subresource', { verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] }, res('update', 'apps', 'deployments', { subresource: 'scale' }), true],
  ['*/subresource other sub', { verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] }, res('update', 'apps', 'deployments', { subresource: 'status' }), false],
  ['*/subresource no sub', { verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] }, res('update', 'apps', 'deployments'), false],
  ['pods/* is not a wildcard', { verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }, res('get', '', 'pods', { subresource: 'log' }), false],
  ['resourceNames match', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a', 'b'] }, res('get', '', 'configmaps', { name: 'b' }), true],
  ['resourceNames other name', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('get', '', 'configmaps', { name: 'c' }), false],
  ['resourceNames excludes list (no name)', { verbs: ['list'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] }, res('list', '', 'configmaps'), false],
  ['empty resourceNames allows any', { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: [] }, res('get', '', 'configmaps', { name: 'z' }), true],
  ['resource rule never matches a path', { verbs: ['get'], apiGroups: ['*'], resources: ['*'] }, path('get', '/healthz'), false],
  ['path exact', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, path('get', '/healthz'), true],
  ['path exact is not prefix', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, path('get', '/healthz/etcd'), false],
  ['path star suffix', { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, path('get', '/apis/apps/v1'), true],
  ['path star suffix needs the slash', { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, path('get', '/apis'), false],
  ['path star prefix w/o slash', { verbs: ['get'], nonResourceURLs: ['/healthz*'] }, path('get', '/healthzfoo'), true],
  ['path all', { verbs: ['*'], nonResourceURLs: ['*'] }, path('post', '/anything'), true],
  ['path verb mismatch', { verbs: ['get'], nonResourceURLs: ['/version'] }, path('post', '/version'), false],
  ['url rule never matches a resource', { verbs: ['*'], nonResourceURLs: ['*'] }, res('get', '', 'pods'), false],
];

for (const [name, rule, attrs, want] of cases) {
  test(`rule match: ${name}`, () => assert.equal(ruleAllows(attrs, rule), want));
}
