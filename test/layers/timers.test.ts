/**
 * Node fires a timer whose delay is past 2^31-1 ms (about 24.8 days) after 1 ms, and so does
 * `AbortSignal.timeout`: a Vault token with a lease of a year was renewed in a loop, and
 * `SESAME_SERVER_TIMEOUT=30d` gave up at once. So every timer in src/ takes a delay that is a
 * number written in the code, a constant (UPPER_CASE), or one passed through `timerDelay()`; a
 * wait that must last longer uses `setLongTimeout()` (src/timers.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, setLongTimeout, timerDelay } from '../../src/timers.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? sources(full) : /\.ts$/.test(entry) ? [full] : [];
  });
}

/** The top-level arguments of the call whose `(` is at `open`, as written. */
function argumentsAt(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return args.filter((a) => a !== '');
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  return args;
}

/** A delay that cannot overflow: a number literal, an UPPER_CASE constant, or timerDelay(…). */
const SAFE = /^(\d[\d_]*|[A-Z][A-Z0-9_]*|timerDelay\(.*\)|Math\.min\(\s*\d[\d_]*\s*,.*\))$/s;

describe('timers', () => {
  const files = sources(SRC);

  it('every timer in src/ takes a delay that cannot pass what Node holds', () => {
    const calls: string[] = [];
    const unsafe: string[] = [];
    for (const file of files) {
      if (file.endsWith(`${path.sep}timers.ts`)) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(setTimeout|setInterval|AbortSignal\.timeout)\(/g)) {
        const line = text.slice(0, m.index).split('\n').length;
        const where = `${path.relative(SRC, file)}:${line}`;
        const args = argumentsAt(text, (m.index ?? 0) + m[0].length - 1);
        // setTimeout(fn, ms) / setInterval(fn, ms) / AbortSignal.timeout(ms); a method such as
        // request.setTimeout(ms, fn) is matched by the name too, its delay first.
        const before = text[(m.index ?? 0) - 1];
        const delay = m[1] === 'AbortSignal.timeout' || before === '.' ? args[0] : args[1];
        calls.push(where);
        if (delay === undefined || !SAFE.test(delay)) unsafe.push(`${where}: ${m[1]}(…, ${delay ?? '(none)'})`);
      }
    }
    expect(calls.length).toBeGreaterThan(15);
    expect(unsafe).toEqual([]);
  });
});

describe('timerDelay and setLongTimeout', () => {
  it('timerDelay keeps a delay within what Node holds', () => {
    expect(timerDelay(30 * 86_400_000)).toBe(MAX_TIMER_MS);
    expect(timerDelay(1500)).toBe(1500);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.NaN)).toBe(MAX_TIMER_MS);
  });

  it('setLongTimeout of 30 days does not fire within 200 ms; a short one fires; clear stops it', async () => {
    let long = 0;
    let short = 0;
    let cleared = 0;
    const a = setLongTimeout(() => long++, 30 * 86_400_000, { unref: true });
    setLongTimeout(() => short++, 20);
    setLongTimeout(() => cleared++, 50).clear();
    await new Promise((resolve) => setTimeout(resolve, 200));
    a.clear();
    expect([long, short, cleared]).toEqual([0, 1, 0]);
  });
});
