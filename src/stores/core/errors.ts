/**
 * Error classification, once for every adapter. An adapter says what a provider error *is* — a
 * {@link Classification}: its kind, a message about this store and what to fix — and the core
 * builds the typed `SesameError` from it: the class and code follow the kind, the message is
 * prefixed with `[store]`, known credentials are scrubbed from the message and the fix, and the
 * provider error is never kept as `cause` (SDK errors can carry the request, its signature or a
 * body holding a value); a summary with its name and status is kept instead.
 */
import {
  AccessDeniedError,
  ConfigError,
  InvalidRequestError,
  SecretNotFoundError,
  SecretStateError,
  type SesameError,
  StoreThrottledError,
  StoreUnavailableError,
} from '../../errors.js';

/**
 * What a provider error means for the caller.
 * - `not_found`: no such secret or version (not a failure of the store);
 * - `denied`: the credentials are refused or lack a permission — the fix names it;
 * - `unavailable`: no answer, a 5xx, a sealed or failing backend — retried, then stale-if-error;
 * - `throttled`: rate or quota limits — retried (honouring Retry-After), then stale-if-error;
 * - `invalid`: the provider refused the request as malformed (bad name, bad version format);
 * - `conflict`: the secret exists but its state refuses the operation (disabled, deleted, changed);
 * - `config`: the store's settings cannot work (wrong endpoint kind, unreadable key file).
 */
export type ErrorKind =
  | 'not_found'
  | 'denied'
  | 'unavailable'
  | 'throttled'
  | 'invalid'
  | 'conflict'
  | 'config';

/** Kinds worth another attempt with backoff. */
export const RETRYABLE_KINDS: ReadonlySet<ErrorKind> = new Set(['unavailable', 'throttled']);

export interface Classification {
  kind: ErrorKind;
  /** What happened, about this store, without the `[store]` tag. Never a secret value. */
  message: string;
  /** What the operator should do (shown by `stores test`, kept as `SesameError.fix`). */
  fix?: string | undefined;
  /** Honour this delay before the next attempt (Retry-After). */
  retryAfterMs?: number | undefined;
  /** Override the kind's retry rule: `false` never retries (expired static keys), `true` always does. */
  retry?: boolean | undefined;
  /** A safe summary of the provider error kept as `cause` (e.g. `ThrottlingException HTTP 400`). */
  summary?: string | undefined;
}

/**
 * The shape most refusals take: the message says what happened, then what to do (`${what}:
 * ${fix}`), and the fix is kept on its own for `stores test`; `more` adds a summary, a retry rule.
 *
 * @example
 * return withFix('denied', 'AWS rejected the request signature', 'check the store credentials', { summary });
 */
export function withFix(
  kind: ErrorKind,
  what: string,
  fix: string,
  more: Omit<Classification, 'kind' | 'message' | 'fix'> = {},
): Classification {
  return { kind, message: `${what}: ${fix}`, fix, ...more };
}

/** Removes credentials from text that may reach a log or a user. */
export type Scrubber = (text: string) => string;

/**
 * The user and password written in a URL (`https://svc:pw@vault…`): a store's address is not a
 * credential setting, but what its userinfo holds is one, and adapters name the address they
 * could not reach.
 */
const URL_USERINFO: [RegExp, string] = [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi, '$1[redacted]@'];

/**
 * A scrubber for the given credential values (the store's credential settings), the userinfo of
 * any URL, and extra patterns an adapter knows (request signatures, token formats). Values
 * shorter than 4 characters are left alone: replacing every "a" would only destroy the message.
 */
export function scrubber(
  values: readonly string[],
  patterns: ReadonlyArray<[RegExp, string]> = [],
): Scrubber {
  const known = [...new Set(values.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const value of known) out = out.split(value).join('[redacted]');
    for (const [pattern, replacement] of [URL_USERINFO, ...patterns]) out = out.replace(pattern, replacement);
    return out;
  };
}

/** Build the typed error for a classification (message already tagged and scrubbed). */
export function errorOf(
  kind: ErrorKind,
  message: string,
  fix: string | undefined,
  cause: Error | undefined,
): SesameError {
  const options = cause ? { cause } : {};
  let err: SesameError;
  switch (kind) {
    case 'not_found':
      err = new SecretNotFoundError(message, {}, options);
      break;
    case 'denied':
      err = new AccessDeniedError(message, {}, options);
      break;
    case 'throttled':
      err = new StoreThrottledError(message, {}, options);
      break;
    case 'unavailable':
      err = new StoreUnavailableError(message, {}, options);
      break;
    case 'invalid':
      err = new InvalidRequestError(message, options);
      break;
    case 'conflict':
      err = new SecretStateError(message, {}, options);
      break;
    case 'config':
      // A settings problem says what to change in the message itself (`config … (hint)`).
      err = new ConfigError(message, { ...options, ...(fix ? { hint: fix } : {}) });
      break;
  }
  err.fix = fix;
  return err;
}

/** A stand-in cause holding only a name and a summary: never the provider error itself. */
export function summaryCause(err: unknown, summary?: string): Error {
  const name = err instanceof Error ? err.name : typeof err;
  const cause = new Error(summary ?? name);
  cause.name = name;
  return cause;
}
