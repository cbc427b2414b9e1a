import { describe, expect, it } from 'vitest';
import { FormMatcher } from '../../src/redact/matcher.js';
import { type Compaction, MASK, Redactor } from '../../src/redact/redactor.js';

/** A printable value of `n` characters, distinct per seed (no two share a long substring). */
function value(seed: number, n = 300): string {
  let x = seed * 2654435761 + 1;
  let out = `v${seed}-`;
  while (out.length < n) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out += String.fromCharCode(33 + (x % 94));
  }
  return out;
}

const settled = async () => new Promise((r) => setTimeout(r, 0));

describe('a bounded redactor (the server: it learns every value it resolves)', () => {
  it('keeps its matcher within the bound by dropping the values least recently added, and says how many', async () => {
    const limit = 2 * 2 ** 20;
    const r = new Redactor();
    const reports: Compaction[] = [];
    r.bound(limit, (c) => reports.push(c));
    const values = Array.from({ length: 400 }, (_, i) => value(i));
    for (const v of values) {
      r.add(v);
      expect(r.redact(`x ${v} y`)).toBe(`x ${MASK} y`);
    }
    await settled();
    expect(reports.length).toBeGreaterThan(0);
    for (const c of reports) {
      expect(c.dropped).toBeGreaterThan(0);
      expect(c.limitBytes).toBe(limit);
    }
    // After every scan the matcher is within the bound.
    expect((r as unknown as { matcher: { bytes: number } }).matcher.bytes).toBeLessThanOrEqual(limit);
    // The newest values are masked; the oldest were dropped (the documented limit of a bound).
    for (const v of values.slice(-5)) expect(r.redact(v)).toBe(MASK);
    expect(r.redact(values[0]!)).toBe(values[0]);
    expect(r.has(values[0]!)).toBe(false);
  });

  it('keeps a value seen again (resolved again) and pinned values through compactions', async () => {
    const r = new Redactor();
    const reports: Compaction[] = [];
    r.bound(2 ** 20, (c) => reports.push(c));
    const pinned = value(100_000);
    const busy = value(100_001);
    r.add(pinned, { pin: true });
    r.add(busy);
    for (let i = 0; i < 400; i++) {
      r.add(value(i));
      r.add(busy); // resolved again and again: the newest each time
      expect(r.redact(`${busy} ${pinned}`)).toBe(`${MASK} ${MASK}`);
    }
    await settled();
    expect(reports.length).toBeGreaterThan(1);
    expect(r.redact(`a ${pinned} b ${busy} c`)).toBe(`a ${MASK} b ${MASK} c`);
    expect(r.redact(value(0))).toBe(value(0));
  });

  it('does not rebuild at every scan when pinned values alone are above the bound, and reports no rebuild that dropped nothing', async () => {
    let rebuilds = 0;
    class Counting extends Redactor {
      protected override createMatcher(): FormMatcher {
        return new (class extends FormMatcher {
          override clear(): void {
            rebuilds++;
            super.clear();
          }
        })();
      }
    }
    const r = new Counting();
    const reports: Compaction[] = [];
    r.bound(64 * 1024, (c) => reports.push(c));
    for (let i = 0; i < 20; i++) r.add(value(i, 2000), { pin: true });
    expect(r.redact(`line ${value(0, 2000)}`)).toBe(`line ${MASK}`);
    // While they were added the matcher was rebuilt a few times (each past twice its last size:
    // logarithmic); the scans after rebuild nothing.
    const during = rebuilds;
    expect(during).toBeGreaterThanOrEqual(1);
    expect(during).toBeLessThanOrEqual(6);
    for (let i = 0; i < 50; i++) expect(r.redact(`line ${value(i % 20, 2000)}`)).toBe(`line ${MASK}`);
    expect(rebuilds).toBe(during);
    await settled();
    expect(reports).toEqual([]);
  });

  it('always keeps the value learnt last, even one whose forms alone are over the bound (a big file just resolved)', async () => {
    const r = new Redactor();
    const reports: Compaction[] = [];
    r.bound(2 ** 20, (c) => reports.push(c));
    const small = value(1);
    // Repetitive (a 10-character block): indexed whole, every character of every form (long-values.test.ts).
    const big = '0123456789'.repeat(6554);
    r.add(small);
    r.add(big);
    expect(r.redact(`a ${big} b`)).toBe(`a ${MASK} b`);
    await settled();
    expect(reports).toEqual([{ dropped: 1, kept: 1, limitBytes: 2 ** 20 }]);
    expect(r.redact(`a ${big} b`)).toBe(`a ${MASK} b`);
    // A newer value takes its place as the one always kept.
    const next = 'abcdefghij'.repeat(6554);
    r.add(next);
    expect(r.redact(`${next}`)).toBe(MASK);
  });

  it('stays bounded while values arrive with no scan between them (resolves are not logged)', async () => {
    const limit = 2 * 2 ** 20;
    const r = new Redactor();
    const reports: Compaction[] = [];
    r.bound(limit, (c) => reports.push(c));
    const values = Array.from({ length: 2000 }, (_, i) => value(i));
    for (const v of values) r.add(v);
    await settled();
    // Without a scan the forms of all 2,000 values waited to be built: about 100 MiB of matcher.
    expect(reports.length).toBeGreaterThan(0);
    expect(r.has(values[0]!)).toBe(false);
    expect(r.size).toBeLessThan(2000);
    expect(r.redact(`x ${values[1999]} y`)).toBe(`x ${MASK} y`);
    expect((r as unknown as { matcher: { bytes: number } }).matcher.bytes).toBeLessThanOrEqual(limit);
  });

  it('an unbounded redactor (sesame run) drops nothing', () => {
    const r = new Redactor();
    const values = Array.from({ length: 400 }, (_, i) => value(i));
    for (const v of values) r.add(v);
    for (const v of [values[0]!, values[199]!, values[399]!]) expect(r.redact(v)).toBe(MASK);
  });

  it('reports counts only: no value in what compaction says', async () => {
    const r = new Redactor();
    const said: string[] = [];
    r.bound(2 ** 20, (c) => said.push(JSON.stringify(c)));
    const values = Array.from({ length: 300 }, (_, i) => value(i));
    for (const v of values) {
      r.add(v);
      r.redact('scan');
    }
    await settled();
    expect(said.length).toBeGreaterThan(0);
    const text = said.join('\n');
    for (const v of values) expect(text.includes(v.slice(0, 12))).toBe(false);
  });
});
