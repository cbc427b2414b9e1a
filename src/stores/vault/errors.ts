/**
 * What Vault's answers mean. Vault bodies are `{"errors": [...]}`; messages name the capability
 * and path to grant and never carry a token or a value (the core scrubs the store's credentials
 * and the token formats below from every message).
 */
import {
  type Classification,
  classifyHttp,
  type HttpAnswer,
  HttpStatusError,
  type NetworkSettings,
  type Scrubber,
  type StoreEndpoint,
  withFix,
} from '../core/index.js';
import type { VaultSettings } from './settings.js';

/** Vault tokens (hvs./hvb./s.…) in any text. */
export const VAULT_SCRUB: ReadonlyArray<[RegExp, string]> = [
  [/\b(hv[sbr]\.|[sbr]\.)[A-Za-z0-9_-]{8,}/g, '$1[redacted]'],
];

/** A Vault request, as its errors describe it. */
export interface VaultOp {
  /** What it does, in messages: `read secret/app/db`, `userpass login as "john"`. */
  action: string;
  /** Statuses besides 2xx that its caller reads itself. */
  also?: readonly number[];
  /** The policy path, and the capabilities a 403 asks to grant on it. */
  path?: string;
  capabilities?: readonly string[];
  /** A login: what to check when Vault refuses it. */
  check?: string;
}

/** A policy rule granting `capabilities` on `path`, as denied errors and `stores test` print it. */
export const policyLine = (path: string, capabilities: readonly string[]) =>
  `path "${path}" { capabilities = [${capabilities.map((c) => `"${c}"`).join(', ')}] }`;

/** Vault's multi-error text (`1 error occurred:\n\t* permission denied\n\n`) on one line, scrubbed. */
export function errorText(answer: HttpAnswer, scrub: Scrubber): string {
  const errors = answer.json<{ errors?: unknown }>()?.errors;
  const joined = (Array.isArray(errors) ? errors.map(String) : [])
    .map((e) =>
      e
        .replace(/^\d+ errors? occurred:\s*/, '')
        .replace(/\s*\*\s*/g, ' ')
        .trim(),
    )
    .filter((e) => e.length > 0)
    .join('; ');
  return scrub(joined);
}

/**
 * A KV v1 path sent to a KV v2 mount (kvVersion: 1 on a v2 engine): Vault answers 404 with no
 * error, only a warning saying the path is invalid for a versioned engine.
 */
function wrongKvVersion(answer: HttpAnswer): boolean {
  const warnings = answer.json<{ warnings?: unknown }>()?.warnings;
  return (
    answer.status === 404 &&
    Array.isArray(warnings) &&
    warnings.some((w) => /versioned K\/V secrets engine|root of a K\/V v2 mount/.test(String(w)))
  );
}

/** Vault's router found no mount for the path (`no handler for route "…". route entry not found.`). */
const noMount = (answer: HttpAnswer, scrub: Scrubber) =>
  answer.status === 404 && /no handler for route/.test(errorText(answer, scrub));

/**
 * A 404 about where the request went, never a missing secret: a namespace Vault does not know,
 * no mount at the path, or a KV v1 path on a KV v2 mount ({@link classifyVault} names each).
 */
export const missedRoute = (answer: HttpAnswer, scrub: Scrubber) =>
  answer.status === 404 &&
  (/namespace not found/i.test(errorText(answer, scrub)) || noMount(answer, scrub) || wrongKvVersion(answer));

/** The settings a failure to reach Vault names: no answer, TLS, an answer that is not Vault's. */
export const VAULT_ADDRESS: NetworkSettings = { address: 'address', ca: 'caFile', provider: 'Vault' };

/** Where a store's requests go, for the core's network classification: `<action> at Vault <address>: …`. */
export const vaultEndpoint = (address: string): StoreEndpoint<VaultOp> => ({
  at: (op) => ({ url: address, settings: VAULT_ADDRESS, what: `${op.action} at Vault ${address}` }),
});

/**
 * What a status its caller does not read itself means (no answer at all is the core's, at the
 * endpoint the store declares). What Vault does not say in its own way is classified as any HTTP
 * API's answer (Retry-After honoured), in Vault's words when it gave some.
 */
export function classifyVault(
  err: unknown,
  op: VaultOp,
  origin: Pick<VaultSettings, 'address' | 'namespace' | 'mount'>,
  scrub: Scrubber,
): Classification | undefined {
  const http = classifyHttp(err, op.action);
  if (!(err instanceof HttpStatusError) || !http) return http;
  const { status } = err;
  const text = errorText(err.answer, scrub);
  const summary = `HTTP ${status}`;
  if (/sealed/i.test(text)) {
    const message = `Vault is sealed (${status}): unseal it (vault operator unseal) and retry`;
    return { kind: 'unavailable', message, fix: 'unseal Vault (vault operator unseal)', summary };
  }
  if (/not active|standby/i.test(text)) {
    const fix = 'wait for leader election or point address at the active node';
    return withFix('unavailable', `Vault has no active node (${status} ${text})`, fix, { summary });
  }
  if (wrongKvVersion(err.answer)) {
    const fix = 'set kvVersion: 2, or leave kvVersion out to have it detected';
    const why = 'Vault: invalid path for a versioned K/V secrets engine';
    const message = `mount "${origin.mount}" is KV v2, but kvVersion is 1 (${why})`;
    return { kind: 'config', message, fix, summary };
  }
  if (/namespace not found/i.test(text)) {
    const fix = 'check the namespace setting (Vault Enterprise or HCP Vault)';
    return { kind: 'config', message: `Vault namespace "${origin.namespace ?? ''}" not found`, fix, summary };
  }
  if (op.check && status < 500 && status !== 429) {
    const fix = `${op.check}, and that the method is enabled at auth.path`;
    const message = `${op.action} failed: ${text || `status ${status}`} (${op.check})`;
    return { kind: 'denied', message, fix, summary };
  }
  if (noMount(err.answer, scrub)) {
    const where = origin.namespace ? ` in namespace "${origin.namespace}"` : '';
    const fix = 'check the mount setting: vault secrets list shows the mounts';
    const message = `Vault has no secrets engine at "${origin.mount}/"${where} (${text})`;
    return { kind: 'config', message, fix, summary };
  }
  if (status === 403 && op.path && op.capabilities) {
    const where = origin.namespace ? ` in namespace "${origin.namespace}"` : '';
    const grant = op.capabilities.map((c) => `"${c}"`).join(', ');
    const fix = `grant ${grant} on ${op.path}${where} — policy: ${policyLine(op.path, op.capabilities)}`;
    const why = text && text !== 'permission denied' ? ` (${text})` : '';
    return withFix('denied', `permission denied${why}`, fix, { summary });
  }
  return text ? { ...http, message: `${op.action}: Vault answered ${status}: ${text}` } : http;
}
