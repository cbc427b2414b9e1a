/**
 * What Vault's answers mean. Vault bodies are `{"errors": [...]}`; messages name the capability
 * and path to grant and never carry a token or a value (the core scrubs the store's credentials
 * and the token formats below from every message).
 */
import {
  type Classification,
  type HttpAnswer,
  HttpStatusError,
  NetworkError,
  type Scrubber,
} from '../core/index.js';

/** Statuses worth another attempt: sealed (503), standby without a leader (500), gateway and rate limits. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** Vault tokens (hvs./hvb./s.…) in any text. */
export const VAULT_SCRUB: ReadonlyArray<[RegExp, string]> = [
  [/\b(hv[sbr]\.|[sbr]\.)[A-Za-z0-9_-]{8,}/g, '$1[redacted]'],
];

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
  const text = errorText(err.answer, scrub);
  const summary = `HTTP ${status}`;
  if (/sealed/i.test(text)) {
    const message = `Vault is sealed (${status}): unseal it (vault operator unseal) and retry`;
    return { kind: 'unavailable', message, fix: 'unseal Vault (vault operator unseal)', summary };
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
  const said = text ? `: ${text}` : '';
  if (status === 429) {
    const fix = 'spread requests over time or raise the rate limit quota';
    return { kind: 'throttled', message: `Vault is rate limiting requests (429${said})`, fix, summary };
  }
  const fix = 'check that Vault is up and retry later';
  return { kind: 'unavailable', message: `Vault answered ${status}${said}`, fix, summary };
}
