/**
 * The policy every adapter shares, in one object an adapter's client holds: the `[store]` tag,
 * retries with backoff and jitter for retryable failures only, inside a time budget, the
 * classification of failures below HTTP at the endpoint the adapter declares, classification of
 * provider errors into Sesame's typed errors with credentials scrubbed, lazily loaded SDKs and
 * prefix/name mapping. The adapter only says how to talk to its backend and what its errors mean.
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
import { classifyAtEndpoint, type StoreEndpoint } from './endpoint.js';
import { type Lazy, lazy } from './lazy.js';
import { lowLevelCode, seconds } from './network.js';
import { type RetryOptions, type RetryTally, withRetry } from './retry.js';
import { checkValue, type ValueLimit } from './value-limit.js';

/**
 * Retry tuning: attempts, delays, the time budget of one call (`budgetMs`, default the request
 * time limit plus 5 s), and replaceable sleep/random/now for tests.
 */
export type RetryPolicy = Partial<Omit<RetryOptions, 'retryable' | 'attemptLimitMs' | 'noAnswer' | 'gaveUp'>>;

/** The request time limit when an adapter declares none (the HTTP transport's default). */
const REQUEST_TIMEOUT_MS = 15_000;
/** What a call's budget allows beyond one request time limit: backoffs and quick retries. */
const BUDGET_MARGIN_MS = 5_000;

/**
 * What an embedding program or a test may tune of a store client when it constructs one (the
 * config file has no such settings, except the http store's `timeout`).
 */
export interface StoreCoreTuning {
  /** Default: 3 attempts, 100 ms doubling to at most 2 s, full jitter, within the time budget. */
  retry?: RetryPolicy | undefined;
  /**
   * One request's time limit (default 15 s), as the adapter gives it to its SDK or transport:
   * a timeout's message says it, and an attempt that used it up is repeated only when a whole
   * new one fits in the call's time budget.
   */
  requestTimeoutMs?: number | undefined;
}

export interface StoreCoreOptions<Op, Sdk = never> extends StoreCoreTuning {
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
  /**
   * Where calls go, declared once: a failure below HTTP (no answer, TLS) or an answer that is not
   * the provider's is told by the core, naming these settings, before `classify` sees it.
   */
  endpoint?: StoreEndpoint<Op> | undefined;
  /** The provider's limits on a value, checked by {@link StoreCore.checkValue} before a write sends it. */
  valueLimit?: ValueLimit | undefined;
  /**
   * The SDK client, loaded and built on first use by {@link StoreCore.withSdk} (concurrent calls
   * share one build, a failed build is tried again at the next call, its failure classified like
   * any other), disposed by {@link StoreCore.close}.
   */
  sdk?: { build(): Promise<Sdk>; dispose?(sdk: Sdk): unknown } | undefined;
}

export class StoreCore<Op = { action: string }, Sdk = never> {
  readonly tag: string;
  readonly scrub: Scrubber;
  readonly #options: StoreCoreOptions<Op, Sdk>;
  /** The declared SDK client (see {@link StoreCoreOptions.sdk}); `reset()` it to build a new one. */
  readonly sdk: Lazy<Sdk>;

  /** One request's time limit, for the adapter's SDK or transport (see {@link StoreCoreOptions}). */
  readonly requestTimeoutMs: number;

  constructor(options: StoreCoreOptions<Op, Sdk>) {
    this.#options = options;
    this.tag = `[${options.context.storeName}]`;
    this.scrub = scrubber(credentialValues(options.settings, options.credentialPaths ?? []), options.scrub);
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const { sdk } = options;
    this.sdk = lazy(
      () => (sdk ? sdk.build() : Promise.reject(new Error('this store declared no SDK'))),
      sdk?.dispose && ((client: Sdk) => sdk.dispose?.(client)),
    );
  }

  get context(): StoreContext {
    return this.#options.context;
  }

  /** {@link call} with the declared SDK client, built on first use. */
  withSdk<T>(op: Op, call: (sdk: Sdk, attempt: number) => Promise<T>, retry?: RetryPolicy): Promise<T> {
    return this.call(op, async (attempt) => call(await this.sdk.get(), attempt), retry);
  }

  /** Dispose of the SDK client, if one was built. */
  close(): Promise<void> {
    return this.sdk.reset();
  }

  #classify(err: unknown, op: Op): Classification {
    const { endpoint } = this.#options;
    return (
      (endpoint && classifyAtEndpoint(err, op, endpoint, this.requestTimeoutMs)) ??
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
   * throttled; Retry-After honoured) and the call's time budget allows another attempt, then a
   * failure becomes the typed `SesameError`, saying how many attempts were made and how long
   * they took. A `SesameError` thrown by `call` itself passes through (scrubbed), unretried.
   */
  async call<T>(op: Op, call: (attempt: number) => Promise<T>, retry?: RetryPolicy): Promise<T> {
    let tally: RetryTally = { attempts: 1, elapsedMs: 0, silent: false };
    try {
      return await withRetry(call, {
        attempts: 3,
        baseDelayMs: 100,
        maxDelayMs: 2_000,
        budgetMs: this.requestTimeoutMs + BUDGET_MARGIN_MS,
        ...this.#options.retry,
        ...retry,
        attemptLimitMs: this.requestTimeoutMs,
        noAnswer: (err) =>
          this.#options.endpoint?.timedOut?.(err) === true ||
          /^(timeout|ETIMEDOUT)$/.test(lowLevelCode(err)?.code ?? ''),
        gaveUp: (t) => {
          tally = t;
        },
        retryable: (err) => {
          if (err instanceof SesameError) return false;
          const c = this.#classify(err, op);
          if (c.retry === false) return false;
          if (c.retry !== true && !RETRYABLE_KINDS.has(c.kind)) return false;
          return c.retryAfterMs ?? true;
        },
      });
    } catch (err) {
      throw this.error(err, op, tally);
    }
  }

  /**
   * The typed error for a failure of `op` (a `SesameError` is only scrubbed); `tally` is how the
   * attempts went, or their number.
   */
  error(err: unknown, op: Op, tally: number | RetryTally = 1): SesameError {
    if (err instanceof SesameError) {
      err.message = this.scrub(err.message);
      if (err.fix) err.fix = this.scrub(err.fix);
      return err;
    }
    const c = this.#classify(err, op);
    const tries = c.kind === 'unavailable' || c.kind === 'throttled' ? attemptsText(tally) : '';
    const message = this.scrub(`${this.tag} ${c.message}${tries}`);
    return errorOf(
      c.kind,
      message,
      c.fix === undefined ? undefined : this.scrub(c.fix),
      summaryCause(err, c.summary && this.scrub(c.summary)),
    );
  }

  /** Refuse a value the provider's declared limits refuse (too large, or empty), before it is sent. */
  checkValue(name: string, value: string): void {
    if (this.#options.valueLimit) checkValue(this.tag, name, value, this.#options.valueLimit);
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

/**
 * ` (after 3 attempts)`; with the time they took when one got no answer (waiting is then what
 * the caller noticed), and why the time budget stopped the retries when it did. Empty for a
 * single attempt the attempt count alone ended.
 */
function attemptsText(tally: number | RetryTally): string {
  const t: RetryTally = typeof tally === 'number' ? { attempts: tally, elapsedMs: 0, silent: false } : tally;
  const n = `${t.attempts} attempt${t.attempts === 1 ? '' : 's'}`;
  const took = t.silent || t.outOfBudget ? ` in ${(t.elapsedMs / 1000).toFixed(1)} s` : '';
  if (t.outOfBudget) {
    const { budgetMs, attemptLimitMs } = t.outOfBudget;
    const next =
      t.silent && attemptLimitMs !== undefined
        ? `another attempt of up to ${seconds(attemptLimitMs)}`
        : 'the next backoff';
    return ` (after ${n}${took}: ${next} would not fit in the call's time budget of ${seconds(budgetMs)})`;
  }
  return t.attempts > 1 ? ` (after ${n}${took})` : '';
}
