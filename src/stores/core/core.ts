/**
 * The policy every adapter shares, in one object an adapter's client holds: the `[store]` tag,
 * retries with backoff and jitter for retryable failures only, classification of provider errors
 * into Sesame's typed errors with credentials scrubbed, lazily loaded SDKs and prefix/name
 * mapping. The adapter only says how to talk to its backend and what its errors mean.
 */
import { SesameError } from '../../errors.js';
import type { StoreContext } from '../contract.js';
import { credentialValues } from './credentials.js';
import {
  type Classification,
  errorOf,
  RETRYABLE_KINDS,
  type Scrubber,
  scrubber,
  summaryCause,
} from './errors.js';
import { type Lazy, lazy } from './lazy.js';
import { type RetryOptions, withRetry } from './retry.js';

/** Retry tuning: attempts and delays, and replaceable sleep/random for tests. */
export type RetryPolicy = Partial<Omit<RetryOptions, 'retryable'>>;

export interface StoreCoreOptions<Op> {
  context: StoreContext;
  /**
   * The store's parsed settings and the paths of its credential settings (the type's
   * `secretSettings`): their values are scrubbed from every message the core builds or passes on.
   */
  settings?: unknown;
  credentialPaths?: readonly string[] | undefined;
  /** Other patterns to scrub (request signatures, token formats), as `[pattern, replacement]`. */
  scrub?: ReadonlyArray<[RegExp, string]>;
  /**
   * What a provider error means, for the operation `op` (the adapter's own description of the
   * call: an action, a name…). Return undefined for errors it does not know: they become
   * `unavailable` with the error's name only.
   */
  classify(err: unknown, op: Op): Classification | undefined;
  /** Default: 3 attempts, 100 ms doubling to at most 2 s, full jitter. */
  retry?: RetryPolicy | undefined;
}

export class StoreCore<Op = { action: string }> {
  readonly tag: string;
  readonly scrub: Scrubber;
  readonly #options: StoreCoreOptions<Op>;

  constructor(options: StoreCoreOptions<Op>) {
    this.#options = options;
    this.tag = `[${options.context.storeName}]`;
    this.scrub = scrubber(credentialValues(options.settings, options.credentialPaths ?? []), options.scrub);
  }

  get context(): StoreContext {
    return this.#options.context;
  }

  /** A lazily built SDK client (see {@link lazy}); failures to build it are classified by {@link call}. */
  lazy<T>(build: () => Promise<T>, dispose?: (value: T) => unknown): Lazy<T> {
    return lazy(build, dispose);
  }

  #classify(err: unknown, op: Op): Classification {
    return (
      this.#options.classify(err, op) ?? {
        kind: 'unavailable',
        message: `the call failed (${err instanceof Error ? err.name : typeof err})`,
        fix: 'check that the store is reachable and retry later',
        retry: false,
      }
    );
  }

  /**
   * Run one backend call: retried while its failure classifies as retryable (unavailable,
   * throttled; Retry-After honoured), then a failure becomes the typed `SesameError`.
   * A `SesameError` thrown by `call` itself passes through (scrubbed), unretried.
   */
  async call<T>(op: Op, call: (attempt: number) => Promise<T>, retry?: RetryPolicy): Promise<T> {
    let attempts = 0;
    try {
      return await withRetry(
        (attempt) => {
          attempts = attempt;
          return call(attempt);
        },
        {
          attempts: 3,
          baseDelayMs: 100,
          maxDelayMs: 2_000,
          ...this.#options.retry,
          ...retry,
          retryable: (err) => {
            if (err instanceof SesameError) return false;
            const c = this.#classify(err, op);
            if (c.retry === false) return false;
            if (c.retry !== true && !RETRYABLE_KINDS.has(c.kind)) return false;
            return c.retryAfterMs ?? true;
          },
        },
      );
    } catch (err) {
      throw this.error(err, op, attempts);
    }
  }

  /** The typed error for a failure of `op` (a `SesameError` is only scrubbed). */
  error(err: unknown, op: Op, attempts = 1): SesameError {
    if (err instanceof SesameError) {
      err.message = this.scrub(err.message);
      if (err.fix) err.fix = this.scrub(err.fix);
      return err;
    }
    const c = this.#classify(err, op);
    const tries =
      attempts > 1 && (c.kind === 'unavailable' || c.kind === 'throttled')
        ? ` (after ${attempts} attempts)`
        : '';
    const message = this.scrub(`${this.tag} ${c.message}${tries}`);
    return errorOf(
      c.kind,
      message,
      c.fix === undefined ? undefined : this.scrub(c.fix),
      summaryCause(err, c.summary && this.scrub(c.summary)),
    );
  }

  /** Build a typed error from a classification directly (answers that are errors without an exception). */
  fail(c: Classification): SesameError {
    return errorOf(
      c.kind,
      this.scrub(`${this.tag} ${c.message}`),
      c.fix === undefined ? undefined : this.scrub(c.fix),
      undefined,
    );
  }
}
