/**
 * What Vault's answers mean. Vault bodies are `{"errors": [...]}`; messages name the capability
 * and path to grant and never carry a token or a value (the core scrubs the store's credentials
 * and the token formats below from every message).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type Classification, HttpStatusError, NetworkError, type Scrubber } from '../core/index.js';

/** A Vault answer with its JSON body parsed. */
export interface VaultHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** Statuses worth another attempt: sealed (503), standby without a leader (500), gateway and rate limits. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** Vault tokens (hvs./hvb./s.…) in any text. */
export const VAULT_SCRUB: ReadonlyArray<[RegExp, string]> = [
  [/\b(hv[sbr]\.|[sbr]\.)[A-Za-z0-9_-]{8,}/g, '$1[redacted]'],
];

export function vaultErrors(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.map(String) : [];
}

/** Vault's multi-error text (`1 error occurred:\n\t* permission denied\n\n`) on one line, scrubbed. */
export function errorText(body: unknown, scrub: Scrubber): string {
  const joined = vaultErrors(body)
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

/** A call that never got a usable answer: no answer at all, or a retryable status. */
export function classifyVault(err: unknown, address: string, scrub: Scrubber): Classification | undefined {
  if (err instanceof NetworkError) {
    const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|SSL|TLS|HOSTNAME_MISMATCH/.test(err.code);
    return {
      kind: 'unavailable',
      message: `cannot reach Vault at ${address} (${err.code}): check the address and the network`,
      fix: tls
        ? 'set caFile to the CA that signed the Vault certificate'
        : 'check the address and the network',
      retry: !tls,
      summary: `NetworkError ${err.code}`,
    };
  }
  if (!(err instanceof HttpStatusError)) return undefined;
  const { status } = err;
  const text = errorText(err.answer.json(), scrub);
  const summary = `HTTP ${status}`;
  if (/sealed/i.test(text)) {
    return {
      kind: 'unavailable',
      message: `Vault is sealed (${status}): unseal it (vault operator unseal) and retry`,
      fix: 'unseal Vault (vault operator unseal)',
      summary,
    };
  }
  if (/not active|standby/i.test(text)) {
    const fix = 'wait for leader election or point address at the active node';
    return {
      kind: 'unavailable',
      message: `Vault has no active node (${status} ${text}): ${fix}`,
      fix,
      summary,
    };
  }
  if (status === 429)
    return {
      kind: 'throttled',
      message: `Vault is rate limiting requests (429${text ? `: ${text}` : ''})`,
      fix: 'spread requests over time or raise the rate limit quota',
      summary,
    };
  return {
    kind: 'unavailable',
    message: `Vault answered ${status}${text ? `: ${text}` : ''}`,
    fix: 'check that Vault is up and retry later',
    summary,
  };
}
