/**
 * Vault answers → Sesame errors. Vault bodies are `{"errors": [...]}`; messages here start with
 * `[store]`, name the capability and path to grant, and never carry a token or a value.
 */
import { StoreUnavailableError } from '../../errors.js';
import { type VaultHttpResponse, VaultNetworkError } from './http.js';

/** Statuses worth another attempt: sealed (503), standby without a leader (500), gateway and rate limits. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** A Vault answer that should be retried, thrown inside the retry loop. */
export class VaultRetryableStatus extends Error {
  constructor(readonly response: VaultHttpResponse) {
    super(`Vault answered ${response.status}`);
    this.name = 'VaultRetryableStatus';
  }
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

export function isRetryableVaultError(err: unknown): boolean {
  return err instanceof VaultRetryableStatus || err instanceof VaultNetworkError;
}

export function vaultErrors(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.map(String) : [];
}

/** Remove Vault tokens (hvs./hvb./s.…) and known credential values from text. */
export function sanitizeVault(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/\b(hv[sbr]\.|[sbr]\.)[A-Za-z0-9_-]{8,}/g, '$1[redacted]');
}

/** Vault's multi-error text (`1 error occurred:\n\t* permission denied\n\n`) on one line. */
export function errorText(body: unknown, secrets: readonly string[]): string {
  const joined = vaultErrors(body)
    .map((e) =>
      e
        .replace(/^\d+ errors? occurred:\s*/, '')
        .replace(/\s*\*\s*/g, ' ')
        .trim(),
    )
    .filter((e) => e.length > 0)
    .join('; ');
  return sanitizeVault(joined, secrets);
}

/** The error for a call that never got a usable answer after the retry budget. */
export function unavailableError(
  err: unknown,
  tag: string,
  address: string,
  secrets: readonly string[],
): StoreUnavailableError {
  if (err instanceof VaultNetworkError) {
    return new StoreUnavailableError(
      `${tag} cannot reach Vault at ${address} (${err.code ?? sanitizeVault(err.message, secrets)}): check the address and the network`,
    );
  }
  if (err instanceof VaultRetryableStatus) {
    const { status, body } = err.response;
    const text = errorText(body, secrets);
    if (/sealed/i.test(text)) {
      return new StoreUnavailableError(
        `${tag} Vault is sealed (${status}): unseal it (vault operator unseal) and retry`,
      );
    }
    if (/not active|standby/i.test(text)) {
      return new StoreUnavailableError(
        `${tag} Vault has no active node (${status} ${text}): wait for leader election or point address at the active node`,
      );
    }
    return new StoreUnavailableError(`${tag} Vault answered ${status}${text ? `: ${text}` : ''}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`${tag} Vault call failed: ${sanitizeVault(message, secrets)}`);
}
