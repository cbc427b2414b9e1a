/**
 * Who is calling and what they may do. A principal is a bearer token (role, namespace scope,
 * `reveal`) or, in agent mode, the holder of the host's agent token. Routes declare the roles
 * they admit; handlers check every namespace they act in against the principal's scope.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../resolve/access.js';
import type { Role, TokenInfo } from '../tokens/index.js';
import { ForbiddenError } from './errors.js';

export type { Principal } from '../resolve/access.js';
export { checkNamespace, describeNamespace } from '../resolve/access.js';

/**
 * Which principals a route admits: `roles` always, `revealRoles` only with `reveal`.
 * `public` routes take no token.
 */
export type Access = 'public' | { roles: readonly Role[]; revealRoles?: readonly Role[] };

export function principalOf(token: TokenInfo): Principal {
  return { kind: 'token', id: token.id, role: token.role, namespace: token.namespace, reveal: token.reveal };
}

function list(roles: readonly Role[]): string {
  if (roles.length === 1) return roles[0] as string;
  return `${roles.slice(0, -1).join(', ')} or ${roles[roles.length - 1]}`;
}

/** Throw 403 unless the route admits the principal; the message says what is missing. */
export function checkAccess(principal: Principal, access: Exclude<Access, 'public'>, what: string): void {
  if (access.roles.includes(principal.role)) return;
  const revealRoles = access.revealRoles ?? [];
  if (revealRoles.includes(principal.role)) {
    if (principal.reveal) return;
    throw new ForbiddenError(
      'reveal_required',
      `${what} returns secret values: it needs a token with the reveal permission (this ${principal.role} token does not have it)`,
    );
  }
  const article = (roles: readonly Role[]) => (/^[aeiou]/.test(roles[0] ?? '') ? 'an' : 'a');
  const needs = [
    access.roles.length > 0 ? `${article(access.roles)} ${list(access.roles)} token` : undefined,
    revealRoles.length > 0 ? `${article(revealRoles)} ${list(revealRoles)} token with the reveal permission` : undefined,
  ]
    .filter(Boolean)
    .join(', or ');
  throw new ForbiddenError('forbidden_role', `${what} needs ${needs}; this token has role ${principal.role}`);
}

/** Compare two secrets in constant time (their sha256, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
