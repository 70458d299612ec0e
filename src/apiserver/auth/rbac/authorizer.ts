import type { Authorizer, AuthorizationDecision, RequestAttributes } from '../types.js';
import type { RbacSource } from './source.js';
import { visitRulesFor } from './resolver.js';
import { ruleAllows } from './rule-match.js';

/** Members are allowed everything without consulting RBAC, as upstream's privileged-group authorizer does. */
export const SUPERUSER_GROUP = 'system:masters';

export interface RbacAuthorizerOptions {
  /** Groups that bypass RBAC; default [system:masters]. */
  superuserGroups?: string[];
}

/**
 * RBAC authorization per upstream: allow if any rule reachable through a binding that names the user allows
 * the request; otherwise no opinion (which the API server turns into 403). Errors from dangling role
 * references do not deny by themselves; they are reported in the reason, as upstream does.
 */
export class RbacAuthorizer implements Authorizer {
  private readonly superuserGroups: string[];

  constructor(private readonly source: RbacSource, opts: RbacAuthorizerOptions = {}) {
    this.superuserGroups = opts.superuserGroups ?? [SUPERUSER_GROUP];
  }

  async authorize(attrs: RequestAttributes): Promise<AuthorizationDecision> {
    if (attrs.user.groups.some((g) => this.superuserGroups.includes(g))) {
      return { allowed: true, reason: '' };
    }
    let allowedBy = '';
    const errors: string[] = [];
    await visitRulesFor(this.source, attrs.user, attrs.resourceRequest ? attrs.namespace ?? '' : '', (src, rule, err) => {
      if (err) {
        errors.push(err.message);
        return true;
      }
      if (src && rule && ruleAllows(attrs, rule)) {
        allowedBy = src.description;
        return false;
      }
      return true;
    });
    if (allowedBy) return { allowed: true, reason: `RBAC: allowed by ${allowedBy}` };
    return { allowed: false, reason: errors.length > 0 ? `RBAC: ${formatAggregate(errors)}` : '' };
  }
}

/** Upstream's utilerrors aggregate formatting: one error as is, several as "[a, b]". */
function formatAggregate(errors: string[]): string {
  const unique = [...new Set(errors)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
}
