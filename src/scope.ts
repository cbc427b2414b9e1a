/**
 * Roles and namespace scopes: the words tokens (which grant them) and the access policy (which
 * checks them) share. A scope `acme` covers `acme` and `acme.*`; the root scope `` covers all.
 */
export const ROLES = ['admin', 'operator', 'runtime', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** `scope` covers `namespace`: equal, a child, or the root scope. */
export function covers(scope: string, namespace: string): boolean {
  return scope === '' || namespace === scope || namespace.startsWith(`${scope}.`);
}
