/**
 * Whether a failure is worth another attempt, for adapters whose SDK throws its own errors (the
 * HTTP transport's {@link NetworkError} and `classifyHttp` already decide this for plain HTTP).
 * An adapter classifies what its provider names first (not found, denied, throttled…) and asks
 * here only about what is left: a request that got no answer, or an answer saying the server
 * failed, is transient; anything else is the provider refusing the request and retrying cannot
 * help.
 *
 * @example
 * if (isTransient(err, err.$metadata?.httpStatusCode)) return { kind: 'unavailable', message, retry: true };
 */
import { NETWORK_ERROR_CODES } from './network.js';

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  $retryable?: unknown;
  cause?: { code?: unknown } | undefined;
}

/** Messages of a request that never got an answer, from SDKs that drop the error code. */
const NO_ANSWER = /socket hang up|ECONNRESET|ECONNREFUSED|network|fetch failed/i;

/**
 * The network error code ({@link NETWORK_ERROR_CODES}: connection refused or reset, timeout, name
 * not resolved…) of an error or of its `cause` (undici's `fetch failed` keeps it there), or
 * `undefined` when the error is not a network failure.
 */
export function networkCode(err: unknown): string | undefined {
  const e = (err ?? {}) as ErrorLike;
  for (const code of [e.code, e.cause?.code]) {
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return code;
  }
  return undefined;
}

/**
 * Transient: a network error code, an HTTP status of 500 or more (`status`, when the caller knows
 * it), an SDK's own `$retryable` mark (AWS SDK v3), or a message naming a lost connection.
 */
export function isTransient(err: unknown, status?: number): boolean {
  if (networkCode(err) !== undefined) return true;
  if (status !== undefined && status >= 500) return true;
  const e = (err ?? {}) as ErrorLike;
  if (e.$retryable) return true;
  const message = typeof e.message === 'string' ? e.message : String(err);
  return NO_ANSWER.test(message);
}
