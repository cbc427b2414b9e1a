/**
 * A store type's `hostAccess` from its settings: the addresses it connects to, the host's own
 * cloud identity it acts with (instance roles, managed identities, application default
 * credentials) and the host files it reads. Settings left unset add nothing.
 *
 * @example
 * hostAccess: (s) =>
 *   hostAccessOf({
 *     addresses: { endpoint: s.endpoint },
 *     identity: s.auth.method === 'default' && "uses this server's own credentials",
 *     files: { 'auth.file': s.auth.file },
 *   }),
 */
import type { HostAccess } from '../contract.js';

export interface HostAccessParts {
  /** Settings that hold a URL, by their dotted path. */
  addresses?: Readonly<Record<string, string | undefined>>;
  /** What acting with the host's own identity means here, when these settings do (else falsy). */
  identity?: string | false | undefined;
  /** Settings that hold a path of the host, by their dotted path. */
  files?: Readonly<Record<string, string | undefined>>;
}

/** The entries, in that order: addresses, identity, files. */
export function hostAccessOf(parts: HostAccessParts): HostAccess[] {
  const out: HostAccess[] = [];
  for (const [setting, url] of Object.entries(parts.addresses ?? {})) {
    if (url) out.push({ kind: 'address', setting, url });
  }
  if (parts.identity) out.push({ kind: 'identity', detail: parts.identity });
  for (const [setting, path] of Object.entries(parts.files ?? {})) {
    if (path) out.push({ kind: 'files', setting, path });
  }
  return out;
}
