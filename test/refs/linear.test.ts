/**
 * Parsing is linear in the input. For adversarial families of inputs, the work for size 8n must
 * stay under a constant times the work for size n (linear: ~8; the old template scan, which ran
 * a global regex to the end of the string for every `{{`: ~64 and growing).
 *
 * Work is counted, not timed, so the property is deterministic on a loaded machine: while an
 * input is parsed, the string, regex, array and URI primitives the parsers use are wrapped to add
 * the number of characters (or elements) each call examines — `indexOf` counts from its start
 * to the match (or the end), a regex `exec` from `lastIndex` to the end of the match (or the end
 * of the string), `slice` and `join` the length they copy, `charCodeAt` and `push` one. A
 * regression to a rescanning loop shows as a ratio near 64. One timing check remains, with an
 * absolute bound far above linear and far below quadratic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkDocumentLimits } from '../../src/refs/limits.js';
import { parsePointer } from '../../src/refs/pointer.js';
import { formatReference, parseReference } from '../../src/refs/reference.js';
import { collectReferences, compileTemplate } from '../../src/refs/template.js';

/** No limit gets in the way: these tests measure the scan, not the early refusal. */
const NO_LIMITS = { maxStringLength: Infinity, maxPlaceholders: Infinity, maxNodes: Infinity, maxDepth: 64 };

const attempt = (fn: () => unknown): void => {
  try {
    fn();
  } catch {
    // Malformed on purpose: the time to reject counts as much as the time to accept.
  }
};
const template = (s: string) => () => attempt(() => compileTemplate(s, 'f', NO_LIMITS));
const reference = (s: string) => () => attempt(() => parseReference(s, 'f'));

/**
 * Each family: n → a function doing the work for an input of size proportional to n (a few
 * families use n/4 or n/8 repetitions of a longer unit, to keep the counted run short).
 */
const FAMILIES: Record<string, (n: number) => () => void> = {
  'unmatched {{': (n) => template('{{'.repeat(n)),
  'unmatched {{{': (n) => template('{{{'.repeat(n)),
  '{{ secret://a/b without close': (n) => template('{{ secret://a/b'.repeat(n)),
  '{{ secret://a/b with one close at the end': (n) => template(`${'{{ secret://a/b'.repeat(n)}}}`),
  '{{secret: without close': (n) => template('{{secret:'.repeat(n)),
  '{{ secret near-misses': (n) => template('{{ secret'.repeat(n)),
  '{{ and blanks': (n) => template('{{ \t '.repeat(n)),
  'escaped \\{{': (n) => template('\\{{'.repeat(n)),
  'escaped \\{{ secret:': (n) => template('\\{{ secret://a/b }}'.repeat(n)),
  'many valid placeholders': (n) => template('x{{ secret://a/b#k }}'.repeat(Math.round(n / 4))),
  'many closes': (n) => template(`{{ secret://a/b ${'}}'.repeat(n)}`),
  'long name with slashes': (n) => reference(`secret://${'a/'.repeat(n)}`),
  'long bad store': (n) => reference(`secret://${'a'.repeat(n)}A/x`),
  'long pointer key of ~1': (n) => reference(`secret://s/x#/${'~1'.repeat(n)}`),
  'long pointer key, bad ~ at the end': (n) => reference(`secret://s/x#/${'~1'.repeat(n)}~`),
  'deep %-escapes': (n) => reference(`secret://s/${'%25'.repeat(n)}`),
  'multi-byte %-escapes': (n) => reference(`secret://s/${'%C3%A9'.repeat(n)}#${'%7E'.repeat(n)}`),
  'bad %-escape at the end': (n) => reference(`secret://s/${'%41'.repeat(n)}%4`),
  'many ? and &': (n) => reference(`secret://s/x?version=${'&?'.repeat(n)}`),
  'parsePointer ~1': (n) => () => attempt(() => parsePointer(`/${'~1'.repeat(n)}`)),
  'parsePointer many tokens': (n) => () => attempt(() => parsePointer('/a~0'.repeat(n))),
  formatReference: (n) => () => attempt(() => formatReference({ store: 's', name: '#{ %'.repeat(n / 8), key: '&'.repeat(n / 8) })),
  'collectReferences wide array': (n) => {
    const doc = Array.from({ length: n / 10 }, (_, i) => (i % 2 ? '{{ x' : 'secret://e/V'));
    return () => attempt(() => collectReferences(doc, 'doc', NO_LIMITS));
  },
  'checkDocumentLimits wide object': (n) => {
    const doc = Object.fromEntries(Array.from({ length: n / 10 }, (_, i) => [`k${i}`, { v: '{{'.repeat(5) }]));
    return () => attempt(() => checkDocumentLimits(doc, NO_LIMITS, 'doc'));
  },
};

/** Characters or elements examined by the primitives `fn` calls (see the header). */
function countWork(fn: () => void): number {
  let work = 0;
  const add = (n: number) => {
    work += Math.max(1, n);
  };
  const S = String.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const A = Array.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const R = RegExp.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved: Array<[Record<string, unknown>, string, unknown]> = [];
  const wrap = (
    target: Record<string, (...args: unknown[]) => unknown>,
    name: string,
    cost: (self: never, args: unknown[], result: never) => number,
  ) => {
    const original = target[name] as (...args: unknown[]) => unknown;
    saved.push([target, name, original]);
    target[name] = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args);
      add(cost(this as never, args, result as never));
      return result;
    };
  };
  const scanned = (self: string, args: unknown[], at: number) =>
    (at === -1 ? self.length : at + String(args[0]).length) - Number(args[1] ?? 0);
  wrap(S, 'indexOf', (self: string, args, r: number) => scanned(self, args, r));
  wrap(S, 'includes', (self: string, args) => self.length - Number(args[1] ?? 0));
  wrap(S, 'startsWith', (_self, args) => String(args[0]).length);
  wrap(S, 'slice', (_self, _args, r: string) => r.length);
  wrap(S, 'charCodeAt', () => 1);
  wrap(S, 'split', (self: string) => self.length);
  wrap(S, 'replace', (self: string) => self.length);
  wrap(A, 'push', (_self, args) => args.length);
  wrap(A, 'pop', () => 1);
  wrap(A, 'join', (_self, _args, r: string) => r.length);
  wrap(A, 'map', (self: unknown[]) => self.length);
  wrap(R, 'exec', (self: RegExp, args, r: RegExpExecArray | null) => {
    const input = String(args[0]);
    const from = self.global || self.sticky ? self.lastIndex : 0;
    // After exec, lastIndex moved past a match (global/sticky); measure from the match instead.
    return (r ? r.index + r[0].length : input.length) - (r && (self.global || self.sticky) ? Math.min(from, r.index) : 0);
  });
  const g = globalThis as unknown as Record<string, (s: string) => string>;
  const decode = g['decodeURIComponent'] as (s: string) => string;
  const keys = Object.keys;
  g['decodeURIComponent'] = (x: string) => {
    add(x.length);
    return decode(x);
  };
  Object.keys = (o: object) => {
    const r = keys(o);
    add(r.length);
    return r;
  };
  try {
    fn();
  } finally {
    for (const [target, name, original] of saved.reverse()) target[name] = original;
    g['decodeURIComponent'] = decode;
    Object.keys = keys;
  }
  return work;
}

/** Ratio of the work at 8n to the work at n. Linear: ~8. Quadratic: ~64. */
const growth = (family: (n: number) => () => void, n: number): number =>
  countWork(family(8 * n)) / countWork(family(n));

const MAX_GROWTH = 12;

describe('linear-time parsing', () => {
  it('a template with 100k unmatched {{ compiles in linear time', () => {
    const input = '{{'.repeat(100_000);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const start = performance.now();
      const t = compileTemplate(input, 'f');
      best = Math.min(best, performance.now() - start);
      expect(t.count).toBe(0);
      expect(t.parts).toEqual([input]);
    }
    // The quadratic scan took seconds here (80 KB: 2.7 s); a linear one takes about a millisecond.
    expect(best).toBeLessThan(500);
    expect(growth(FAMILIES['unmatched {{'] as (n: number) => () => void, 20_000)).toBeLessThan(MAX_GROWTH);
  });

  it('a template with 100k "{{ secret://a/b" and one close at the end is rejected in linear time', () => {
    const start = performance.now();
    expect(() => compileTemplate(`${'{{ secret://a/b'.repeat(100_000)}}}`, 'f', NO_LIMITS)).toThrow(/offset/);
    expect(performance.now() - start).toBeLessThan(500);
  });

  it('the work counter sees a quadratic scan (self-check of the method)', () => {
    const rescan = (n: number) => () => {
      const s = '{{'.repeat(n);
      const re = /\{\{[ \t]*secret:/g;
      for (let i = s.indexOf('{{'); i !== -1; i = s.indexOf('{{', i + 2)) {
        re.lastIndex = i;
        re.exec(s);
      }
    };
    expect(growth(rescan, 1_000)).toBeGreaterThan(40);
  });

  it.each(Object.keys(FAMILIES))('work for 8n stays under 12x the work for n: %s', (name) => {
    const family = FAMILIES[name] as (n: number) => () => void;
    fc.assert(
      fc.property(fc.integer({ min: 20_000, max: 24_000 }), (n) => {
        const ratio = growth(family, n);
        if (ratio >= MAX_GROWTH) throw new Error(`${name}: work(8n)/work(n) = ${ratio.toFixed(1)} at n = ${n}`);
      }),
      { numRuns: 2 },
    );
  });
});
