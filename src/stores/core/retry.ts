/**
 * Retry with exponential backoff and full jitter, shared by every adapter that talks to a
 * network backend. Only errors the classifier calls retryable are retried; the last error is
 * rethrown as is so the adapter can map it.
 *
 * A call also has a time budget. An attempt that ran out its whole time limit (the store did not
 * answer) is followed by another only when a whole new attempt fits in what is left of the
 * budget: three silent attempts of 15 s each would keep a workflow run waiting 45 s on a dead
 * store. Quick failures (refused, reset, a 503, throttling) keep their attempts and backoff, as
 * long as the backoff itself ends inside the budget.
 */
import { timerDelay } from '../../timers.js';
export interface RetryOptions {
  /** Total attempts including the first. */
  attempts?: number;
  /** First backoff in ms; doubles each attempt, capped by `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The time all attempts and backoffs of one call may take, in ms. Default: no limit. */
  budgetMs?: number | undefined;
  /**
   * One attempt's time limit in ms (the request time limit). An attempt that failed after this
   * long, or with `noAnswer` true, got no answer: another is made only if a whole one fits.
   */
  attemptLimitMs?: number | undefined;
  /** Whether a failure is a request that got no answer (a timeout), whatever its duration. */
  noAnswer?: (err: unknown) => boolean;
  /** Return a delay in ms to honour (e.g. Retry-After), `true` to back off, `false` to stop. */
  retryable: (err: unknown) => boolean | number;
  /** Called once with how the attempts went, before the last error is rethrown. */
  gaveUp?: (tally: RetryTally) => void;
  /** Replaceable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/** How a call's attempts went, for the message of its final failure. */
export interface RetryTally {
  attempts: number;
  /** From the first attempt's start to the last one's failure. */
  elapsedMs: number;
  /** Whether an attempt got no answer (it ran out its time limit). */
  silent: boolean;
  /**
   * Set when the budget, not the attempt count, stopped the retries: the budget and the time limit.
   */
  outOfBudget?: { budgetMs: number; attemptLimitMs: number | undefined } | undefined;
}

// Not unref'd: a backoff between attempts is pending work, and a CLI process with nothing else
// to wait for would otherwise exit 0 in the middle of it, printing nothing.
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, timerDelay(ms)));

/** Timers fire a little early or late: an attempt this close to its limit used it up. */
const LIMIT_SLACK = 0.95;

export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 2_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const { budgetMs, attemptLimitMs } = options;
  const start = now();
  let silent = false;
  for (let attempt = 1; ; attempt++) {
    const began = now();
    try {
      return await operation(attempt);
    } catch (err) {
      const ended = now();
      silent ||=
        options.noAnswer?.(err) === true ||
        (attemptLimitMs !== undefined && ended - began >= attemptLimitMs * LIMIT_SLACK);
      const tally: RetryTally = { attempts: attempt, elapsedMs: ended - start, silent };
      const verdict = options.retryable(err);
      if (verdict === false || attempt >= attempts) {
        options.gaveUp?.(tally);
        throw err;
      }
      const backoff = Math.min(max, base * 2 ** (attempt - 1));
      const delay = typeof verdict === 'number' ? Math.min(verdict, max * 5) : Math.round(random() * backoff);
      if (budgetMs !== undefined) {
        // A silent store is likely to stay silent: the next attempt is counted at its whole limit.
        const next = delay + (silent ? (attemptLimitMs ?? 0) : 0);
        if (tally.elapsedMs + next > budgetMs) {
          options.gaveUp?.({ ...tally, outOfBudget: { budgetMs, attemptLimitMs } });
          throw err;
        }
      }
      await sleep(delay);
    }
  }
}
