/**
 * Timers for delays that come from outside the code: a config setting, a provider's lease, an
 * environment variable. Node keeps a timer's delay in a signed 32-bit integer: a delay past
 * 2^31-1 ms (about 24.8 days) fires after 1 ms instead, with a warning on stderr, and
 * `AbortSignal.timeout` does the same. A token with a lease of a year was renewed in a loop, and
 * `SESAME_SERVER_TIMEOUT=30d` gave up at once. Every timer in `src/` whose delay is not a
 * constant goes through here (`test/layers/timers.test.ts` checks it).
 */

/** The longest delay Node's timers hold. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `ms` as a timer takes it: at least 0, at most {@link MAX_TIMER_MS}. For a limit on waiting
 * (a request timeout), 24.8 days is as good as none; for a wait that must last longer, use
 * {@link setLongTimeout}.
 */
export function timerDelay(ms: number): number {
  if (Number.isNaN(ms)) return MAX_TIMER_MS;
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}

/** A pending {@link setLongTimeout}. */
export interface LongTimeout {
  clear(): void;
}

/**
 * `fn` after `ms`, however long: a delay past {@link MAX_TIMER_MS} waits in steps. Unref'd when
 * asked (it then never keeps the process alive).
 */
export function setLongTimeout(fn: () => void, ms: number, options: { unref?: boolean } = {}): LongTimeout {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer =
      left > MAX_TIMER_MS
        ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
        : setTimeout(fn, timerDelay(left));
    if (options.unref) timer.unref?.();
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}
