/**
 * The network wiring of a store, declared once: where its calls go, which settings name that
 * address (and a CA, a proxy), and how its SDK tells an answer from no answer. With that the core
 * tells a failure below HTTP (refused, timed out, TLS) or an answer that is not the provider's
 * (a sign-in page, another service's 404) before the adapter's classifier sees the error, so an
 * adapter only classifies what its provider said.
 */
import type { Classification } from './errors.js';
import { NetworkError, networkFailureOf } from './http.js';
import { classifyNetwork, ForeignAnswerError, type NetworkSettings } from './network.js';

/** Where one call went, and how messages introduce it (`Key Vault https://…`, `read secret/db at Vault …`). */
export interface EndpointOf {
  /** The URL or origin called; only its scheme, host and port are used. */
  url: string | URL;
  settings: NetworkSettings;
  /** Said before the failure: `${what}: 127.0.0.1:8200 refused the connection …`. */
  what: string;
}

/**
 * A store type's endpoint, for `StoreCore`'s `endpoint` option.
 *
 * @example
 * endpoint: {
 *   at: (op) => ({ url: vaultUrl, settings: { address: 'vaultUrl', provider: 'Key Vault' }, what: `Key Vault ${vaultUrl}` }),
 *   answered: (err) => (err as RestError).statusCode !== undefined,
 * }
 */
export interface StoreEndpoint<Op> {
  at(op: Op): EndpointOf;
  /**
   * Whether an error is the provider's own answer (an SDK error with a status and the provider's
   * error type): never told as a network failure. Default: nothing is known to be an answer, and
   * only errors that carry a socket, DNS or TLS code or text are told as network failures.
   */
  answered?(err: unknown): boolean;
  /**
   * The detail of an answer that is not the provider's (`HTTP 404 without a Key Vault error
   * code`: every answer of the provider carries one), or undefined.
   */
  foreign?(err: unknown): string | undefined;
  /** Whether the SDK failed reading the answer (its error for a body that is not the provider's). */
  unreadable?(err: unknown): boolean;
  /**
   * Whether the error is the SDK's own request time limit running out, for SDKs that say so only
   * as an abort (`The operation was aborted.`): it is told as a timeout, like a socket's.
   */
  timedOut?(err: unknown): boolean;
}

/** A request that got no answer within its time limit, as the transports report it. */
const timeout = () =>
  Object.assign(new Error('no answer within the request time limit'), { code: 'timeout' });

/**
 * The classification of a failure below HTTP or of a foreign answer, for `op` at `endpoint`, or
 * undefined when `err` is anything else (the adapter classifies it). `timeoutMs` is the request
 * time limit, said by a timeout; errors of the core's HTTP transport carry their own target.
 */
export function classifyAtEndpoint<Op>(
  err: unknown,
  op: Op,
  endpoint: StoreEndpoint<Op>,
  timeoutMs: number,
): Classification | undefined {
  const at = endpoint.at(op);
  if (err instanceof NetworkError) {
    const failure = networkFailureOf(err);
    return {
      kind: 'unavailable',
      message: `${at.what}: ${failure.reason}`,
      fix: failure.fix,
      retry: failure.retry,
      summary: `NetworkError ${err.code}`,
    };
  }
  const target = { url: at.url, settings: at.settings, timeoutMs };
  if (endpoint.timedOut?.(err)) return classifyNetwork(timeout(), at.what, target);
  const foreign = endpoint.foreign?.(err);
  if (foreign !== undefined) return classifyNetwork(new ForeignAnswerError(foreign), at.what, target);
  if (endpoint.answered?.(err)) return undefined;
  return classifyNetwork(err, at.what, target, { unreadable: endpoint.unreadable?.(err) === true });
}
