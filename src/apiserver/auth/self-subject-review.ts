import type { V1SelfSubjectReview } from '@kubernetes/client-node';
import type { UserInfo } from './types.js';

/** authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`): echoes who the server thinks you are. */
export function evaluateSelfSubjectReview(requester: UserInfo, review: V1SelfSubjectReview = {}): V1SelfSubjectReview {
  const userInfo: NonNullable<V1SelfSubjectReview['status']>['userInfo'] = { username: requester.username, groups: [...requester.groups] };
  if (requester.uid) userInfo.uid = requester.uid;
  if (requester.extra) userInfo.extra = requester.extra;
  return { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: review.metadata ?? {}, status: { userInfo } };
}
