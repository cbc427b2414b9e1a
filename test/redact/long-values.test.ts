/**
 * Long values (certificate bundles, kubeconfigs, service account files, documents): masked as
 * surely as short ones, without the matcher holding every character of every form.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeForm } from '../../src/redact/automaton.js';
import { maskedForms } from '../../src/redact/forms.js';
import { type Compaction, MASK, MIN_MASK_LENGTH, Redactor } from '../../src/redact/redactor.js';
import { randomText } from '../support/random-text.js';

/**
 * What masking must produce, computed the slow and obvious way: every occurrence of every form of
 * every value (read as the matcher reads text: `-` as `+`, `_` as `/`), overlapping spans united.
 */
function reference(values: readonly string[], text: string): string {
  const norm = normalizeForm(text);
  const spans: [number, number][] = [];
  for (const v of values) {
    if (v.length < MIN_MASK_LENGTH) continue;
    for (const form of new Set(maskedForms(v, MIN_MASK_LENGTH).map(normalizeForm))) {
      for (let at = norm.indexOf(form); at >= 0; at = norm.indexOf(form, at + 1))
        spans.push([at, at + form.length - 1]);
    }
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let out = '';
  let written = 0;
  let k = 0;
  while (k < spans.length) {
    let [s, e] = spans[k]!;
    k++;
    while (k < spans.length && spans[k]![0] <= e) e = Math.max(e, spans[k++]![1]);
    s = Math.max(s, written);
    out += text.slice(written, s) + MASK;
    written = e + 1;
  }
  return out + text.slice(written);
}

async function streamed(r: Redactor, text: string, cuts: readonly number[]): Promise<string> {
  const stream = r.createStream();
  let out = '';
  stream.on('data', (c) => {
    out += String(c);
  });
  const ended = new Promise<void>((resolve) => stream.on('end', resolve));
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const p of [...points, text.length]) {
    if (p > at) stream.write(text.slice(at, p));
    at = Math.max(at, p);
  }
  stream.end();
  await ended;
  return out;
}

/** Text over a small alphabet, so values share long prefixes and repeat inside themselves. */
const small = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => 'ab-_+/'[(Math.imul(seed + i, 2654435761) >>> 13) % 6]).join('');

describe('long values', () => {
  it('a server that learnt a 1 MB value still masks every other value it learnt (the bound keeps them all)', async () => {
    const r = new Redactor();
    const reports: Compaction[] = [];
    // The bound `sesame serve` gives its redactor.
    r.bound(64 * 2 ** 20, (c) => reports.push(c));
    const small = Array.from({ length: 300 }, (_, i) => `token-${i}-${randomText(24, i + 7)}`);
    for (const v of small.slice(0, 150)) r.add(v);
    const bundle = randomText(2 ** 20, 99);
    r.add(bundle);
    for (const v of small.slice(150)) r.add(v);
    expect(r.redact(`cert ${bundle} end`)).toBe(`cert ${MASK} end`);
    const b64 = Buffer.from(bundle).toString('base64');
    expect(r.redact(`b64 ${b64.slice(0, 400_000)} ${b64} end`)).toBe(`b64 ${b64.slice(0, 400_000)} ${MASK} end`);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(reports).toEqual([]);
    for (const v of small) expect(r.redact(`x ${v} y`)).toBe(`x ${MASK} y`);
    expect(r.has(bundle)).toBe(true);
    expect(r.has(b64)).toBe(true);
    expect(r.has(b64.slice(1))).toBe(false);
  }, 60_000);

  it('masks a long value whose start is in the text without the rest only where it is whole', async () => {
    const r = new Redactor();
    const v = randomText(5000, 3);
    r.add(v);
    const cut = `${v.slice(0, 4000)}!${v.slice(4001)}`;
    const text = `a ${v.slice(0, 2000)} b ${cut} c ${v} d ${v}${v} e`;
    const expected = `a ${v.slice(0, 2000)} b ${cut} c ${MASK} d ${MASK}${MASK} e`;
    expect(r.redact(text)).toBe(expected);
    expect(await streamed(r, text, [1, 300, 2500, 9000, 9001, 17_000])).toBe(expected);
    expect(await streamed(r, text, Array.from({ length: 200 }, (_, i) => i * 131))).toBe(expected);
  });

  it('writes the text before a long value at once, and the rest once the value turns out not to be there', async () => {
    const r = new Redactor();
    const v = randomText(100_000, 5);
    r.add(v);
    const stream = r.createStream();
    const seen: string[] = [];
    stream.on('data', (c) => seen.push(String(c)));
    // The first 1000 characters of the value, then ordinary output: the held text is written
    // long before 100,000 characters have passed, as soon as they cannot be the value.
    stream.write(`log line\n${v.slice(0, 1000)}`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.join('')).toBe('log line\n');
    stream.write('x'.repeat(600));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.join('')).toContain(v.slice(0, 1000));
    stream.end();
  });

  it('a long value written slowly, in pieces with pauses past the 50 ms release: no more than 3 of its characters get out', async () => {
    const r = new Redactor();
    const v = randomText(3000, 11);
    r.add(v);
    const stream = r.createStream();
    let out = '';
    stream.on('data', (c) => {
      out += String(c);
    });
    const ended = new Promise<void>((resolve) => stream.on('end', resolve));
    const cuts = [0, 2, 3, 60, 127, 128, 129, 700, 2999, 3000];
    stream.write('key: ');
    for (let k = 0; k + 1 < cuts.length; k++) {
      stream.write(v.slice(cuts[k], cuts[k + 1]));
      await new Promise((resolve) => setTimeout(resolve, 70));
    }
    stream.write(' done\n');
    stream.end();
    await ended;
    expect(out).toMatch(/^key: .{0,3}\*\*\* done\n$/s);
    expect(out).toBe(`key: ${v.slice(0, 3)}${MASK} done\n`);
  });

  it('masks each of many long values that share their first characters (more than share one head)', async () => {
    const r = new Redactor();
    const common = randomText(400, 21);
    const values = Array.from({ length: 40 }, (_, i) => `${common}${i}${randomText(50 + i, 100 + i)}`);
    for (const v of values) r.add(v);
    const text = values.map((v, i) => `${i}=${v};`).join('\n') + `\nother=${common}zz;`;
    const expected = values.map((_, i) => `${i}=${MASK};`).join('\n') + `\nother=${common}zz;`;
    expect(r.redact(text)).toBe(expected);
    expect(await streamed(r, text, [10, 500, 1000, 7000, 7001])).toBe(expected);
    for (const v of values) expect(r.has(v)).toBe(true);
    expect(r.has(`${common}zz`)).toBe(false);
  });

  it('property: redact() and the stream, however split, mask long values exactly where a slow search finds their forms', async () => {
    const valueArb = fc.oneof(
      // Periodic: a block repeated, then a tail.
      fc.record({ block: fc.integer({ min: 1, max: 300 }), times: fc.integer({ min: 1, max: 8 }), seed: fc.nat() }).map(
        ({ block, times, seed }) => small(block, seed).repeat(times) + small(seed % 50, seed + 1),
      ),
      // Values sharing a long prefix.
      fc.record({ n: fc.integer({ min: 0, max: 400 }), seed: fc.nat({ max: 3 }) }).map(
        ({ n, seed }) => randomText(300, 1) + randomText(n, seed + 2),
      ),
      fc.record({ n: fc.integer({ min: 4, max: 1500 }), seed: fc.nat() }).map(({ n, seed }) => randomText(n, seed)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(valueArb, { minLength: 1, maxLength: 4 }),
        fc.array(
          fc.record({
            which: fc.nat(),
            form: fc.nat(),
            how: fc.constantFrom('whole', 'cut', 'changed', 'twice', 'filler'),
            at: fc.nat(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.array(fc.nat({ max: 20_000 }), { maxLength: 12 }),
        async (values, parts, cuts) => {
          const r = new Redactor();
          for (const v of values) r.add(v);
          let text = '';
          for (const p of parts) {
            const v = values[p.which % values.length]!;
            const forms = maskedForms(v, MIN_MASK_LENGTH);
            const f = forms.length > 0 ? forms[p.form % forms.length]! : v;
            const i = f.length > 0 ? p.at % f.length : 0;
            if (p.how === 'whole') text += f;
            else if (p.how === 'cut') text += f.slice(0, i);
            else if (p.how === 'changed') text += `${f.slice(0, i)}\u00a7${f.slice(i + 1)}`;
            else if (p.how === 'twice') text += f + f.slice(0, i);
            else text += ' -- ';
          }
          const expected = reference(values, text);
          expect(r.redact(text)).toBe(expected);
          expect(await streamed(r, text, cuts)).toBe(expected);
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
