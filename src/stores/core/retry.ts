/**
 * Retry with exponential backoff and full jitter, shared by every adapter that talks to a
 * network backend. Only errors the classifier calls retryable are retried; the last error is
 * rethrown as is so the adapter can map it.
 */
export interface RetryOptions {
  /** Total attempts including the first. */
  attempts?: number;
  /** First backoff in ms; doubles each attempt, capped by `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Return a delay in ms to honour (e.g. Retry-After), `true` to back off, `false` to stop. */
  retryable: (err: unknown) => boolean | number;
  /** Replaceable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

// Not unref'd: a backoff between attempts is pending work, and a CLI process with nothing else
// to wait for would otherwise exit 0 in the middle of it, printing nothing.
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 2_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (err) {
      const verdict = options.retryable(err);
      if (verdict === false || attempt >= attempts) throw err;
      const backoff = Math.min(max, base * 2 ** (attempt - 1));
      const delay = typeof verdict === 'number' ? Math.min(verdict, max * 5) : Math.round(random() * backoff);
      await sleep(delay);
    }
  }
}
