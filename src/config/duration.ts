/** Durations in config: `500ms`, `30s`, `5m`, `1h`, `7d`, combined as `1h30m`, or `0`. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * The longest duration taken: 100 years. Each duration ends up a date or a timer, and
 * `99999999999d` from now is no date at all (a token's expiry, a purge time: "Invalid time
 * value" where the date was made, reported as an unexpected or a database error).
 */
export const MAX_DURATION_MS = 36_500 * 86_400_000;

/**
 * Parse a duration into milliseconds; returns undefined when the text is not a duration or is
 * longer than {@link MAX_DURATION_MS} ({@link durationProblem} says which, for a message).
 */
export function parseDuration(text: string): number | undefined {
  const ms = parseUnbounded(text);
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined;
}

/** What is wrong with a text {@link parseDuration} refused, worded to follow it in a message. */
export function durationProblem(text: string): string {
  const ms = parseUnbounded(text);
  return ms !== undefined && ms > MAX_DURATION_MS ? 'is longer than 100 years (36500d)' : 'is not a duration';
}

function parseUnbounded(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s.length === 0) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const start = PART.lastIndex;
    const m = PART.exec(s);
    if (!m || m.index !== start) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
