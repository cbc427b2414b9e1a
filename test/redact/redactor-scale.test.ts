/**
 * The redactor at scale: the server learns every value it resolves. Kept out of `npm run
 * test:unit` (about 15-30 s alone here); the whole suite runs it.
 */
import { describe, expect, it } from 'vitest';
import { MASK, Redactor } from '../../src/redact/redactor.js';
import { randomText } from '../support/random-text.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Redactor at scale', () => {
  it('works with 100,000 known values, added one by one with scans in between', () => {
    const r = new Redactor();
    const values: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const v = `v${i}-${randomText(16, i + 1)}`;
      values.push(v);
      r.add(v);
      if (i % 1000 === 0) expect(r.redact(`line ${v} line`)).toBe(`line ${MASK} line`);
    }
    for (const i of [0, 1, 4242, 50_000, 99_999]) {
      const v = values[i]!;
      expect(r.redact(`a=${v} b=${b64(v)} c=${encodeURIComponent(v)}`)).toBe(`a=${MASK} b=${MASK} c=${MASK}`);
    }
    expect(r.redact('nothing secret in this line')).toBe('nothing secret in this line');
    // About 20-30 s alone on the shared 2-core machine: these random values hold every character
    // other encoders spell differently (URL in both hex cases, JSON), so each has about 13.5 forms
    // (10.5 before the lower-case and path-segment URL forms), not 9.
  }, 90_000);
});
