/**
 * Bounded fuzzing of the reference parsers: generated inputs from the grammar's alphabet plus
 * arbitrary unicode, and mutated valid references and templates. Every parser either returns or
 * throws a typed error (ReferenceSyntaxError or DocumentLimitError, both SesameError) — never a
 * TypeError, a RangeError or a stack overflow — and templates compile exactly as the previous
 * (quadratic but known-good) implementation did.
 *
 * The seed changes on every run so coverage grows over time; it is logged, and fast-check prints
 * the seed and path of any failure. Replay one with FUZZ_SEED=<seed>.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceSyntaxError, SesameError } from '../../src/errors.js';
import { checkDocumentLimits, DocumentLimitError, type DocumentLimits } from '../../src/refs/limits.js';
import { parsePointer } from '../../src/refs/pointer.js';
import { formatReference, parseReference, type Reference, SCHEME } from '../../src/refs/reference.js';
import { type CompiledTemplate, collectReferences, compileTemplate, type ReferenceSlot } from '../../src/refs/template.js';
import { FUZZ_RUNS, FUZZ_SEED, FUZZ_TOTAL_RUNS } from './fuzz-config.js';

console.info(`refs fuzz: seed ${FUZZ_SEED}, ${FUZZ_TOTAL_RUNS} inputs (replay with FUZZ_SEED=${FUZZ_SEED})`);

let seedOffset = 0;
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, seed: FUZZ_SEED + seedOffset++ });

/** Only typed errors may escape; anything else is rethrown and fails the property. */
function typed(err: unknown): SesameError {
  if (err instanceof ReferenceSyntaxError || err instanceof DocumentLimitError) {
    if (!(err instanceof SesameError)) throw err;
    return err;
  }
  throw err;
}

function offsetInRange(err: SesameError, input: string): void {
  if (err instanceof ReferenceSyntaxError && !(err.offset >= 0 && err.offset <= input.length)) {
    throw new Error(`offset ${err.offset} outside 0..${input.length}`);
  }
}

// --- generators ---------------------------------------------------------------------------------

const GRAMMAR_PIECES = [
  '{', '}', '{{', '}}', '\\', '\\{{', ' ', '\t', '\n', 'secret:', 'secret://', SCHEME, '{{ secret://', '{{secret:',
  '/', '//', '#', '#/', '?', '=', '&', '?version=', '?stage=', 'version', 'stage', '%', '%2', '%25', '%7E', '%7e',
  '%20', '%C3', '%A9', '%ff', '%zz', '~', '~0', '~1', '~2', 'a', 'Z', 'aws', 'env', '0', '9', '_', '-', ':', '.',
  'x'.repeat(70), '\u0000', '\u007f', 'é', '😀', '\uD800', '\uDC00',
];
const pieceArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...GRAMMAR_PIECES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 3 }) },
);
const grammarStringArb = fc.array(pieceArb, { maxLength: 16 }).map((a) => a.join(''));

const wellFormed = (s: string) => !/\p{Cs}/u.test(s);
const textArb = fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }).filter(wellFormed);
const pointerTextArb = fc
  .array(fc.string({ maxLength: 6 }).filter(wellFormed), { minLength: 1, maxLength: 4 })
  .map((tokens) => `/${tokens.map((t) => t.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);
const referenceArb: fc.Arbitrary<Reference> = fc
  .record({
    store: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/),
    name: textArb,
    pin: fc.option(fc.tuple(fc.constantFrom('version', 'stage'), textArb), { nil: undefined }),
    key: fc.option(fc.oneof(textArb.filter((k) => !k.startsWith('/')), pointerTextArb), { nil: undefined }),
  })
  .map(({ store, name, pin, key }) => {
    const ref: Reference = { store, name };
    if (pin) ref[pin[0] as 'version' | 'stage'] = pin[1];
    if (key !== undefined) ref.key = key;
    return ref;
  });

/** Insert a piece, delete a range, duplicate a range or cut the string short. */
const mutationArb = fc.tuple(fc.constantFrom('insert', 'delete', 'duplicate', 'truncate'), fc.nat(), fc.nat(8), pieceArb);
function mutate(s: string, mutations: ReadonlyArray<[string, number, number, string]>): string {
  let out = s;
  for (const [op, at, len, piece] of mutations) {
    const i = out.length === 0 ? 0 : at % (out.length + 1);
    if (op === 'insert') out = out.slice(0, i) + piece + out.slice(i);
    else if (op === 'delete') out = out.slice(0, i) + out.slice(i + len);
    else if (op === 'duplicate') out = out.slice(0, i + len) + out.slice(i, i + len) + out.slice(i + len);
    else out = out.slice(0, i);
  }
  return out;
}
const mutatedReferenceArb = fc
  .tuple(referenceArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
  .map(([ref, m]) => mutate(formatReference(ref), m));
const validTemplateArb = fc
  .array(fc.oneof(referenceArb.map((r) => `{{ ${formatReference(r)} }}`), grammarStringArb), { maxLength: 4 })
  .map((a) => a.join(''));
const mutatedTemplateArb = fc
  .tuple(validTemplateArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
  .map(([t, m]) => mutate(t, m));

// --- the previous compileTemplate, as an oracle (correct, but quadratic on many `{{`) ----------

const OLD_PLACEHOLDER_START = /\{\{[ \t]*secret:/g;
function oracleCompile(input: string, field?: string): CompiledTemplate {
  if (input.startsWith(SCHEME) && !input.includes('{{')) {
    const slot = { ref: parseReference(input, field), raw: input, offset: 0, start: 0, end: input.length };
    return { parts: [slot], whole: slot, count: 1 };
  }
  if (!input.includes('{{')) return { parts: [input], whole: undefined, count: 0 };
  const parts: Array<string | ReferenceSlot> = [];
  let literal = '';
  let cursor = 0;
  let count = 0;
  for (;;) {
    const open = input.indexOf('{{', cursor);
    if (open === -1) break;
    if (open > 0 && input[open - 1] === '\\') {
      literal += `${input.slice(cursor, open - 1)}{{`;
      cursor = open + 2;
      continue;
    }
    // Trim markers before a reference are refused (test/refs/trim-marker-native.test.ts).
    const trimmed = /^\{\{-[ \t]*secret:/.exec(input.slice(open));
    if (trimmed) {
      const close = input.indexOf('}}', open);
      let end = close === -1 ? 0 : close;
      if (close !== -1 && input[end - 1] === '-') end--;
      const at = open + trimmed[0].length - 'secret:'.length;
      while (end > at && (input[end - 1] === ' ' || input[end - 1] === '\t')) end--;
      const write = close === -1 ? '{{ <reference> }}' : `{{ ${input.slice(at, end)} }}`;
      throw new ReferenceSyntaxError({
        input,
        offset: open + 2,
        expected: `"{{" without "-" (Sesame replaces the placeholder and keeps the text around it as written; write ${write})`,
        field,
      });
    }
    OLD_PLACEHOLDER_START.lastIndex = open;
    const m = OLD_PLACEHOLDER_START.exec(input);
    if (!m || m.index !== open) {
      literal += input.slice(cursor, open + 2);
      cursor = open + 2;
      continue;
    }
    const close = input.indexOf('}}', open + 2);
    if (close === -1) {
      throw new ReferenceSyntaxError({ input, offset: input.length, expected: '"}}" to close the placeholder', field });
    }
    let refStart = open + 2;
    while (input[refStart] === ' ' || input[refStart] === '\t') refStart++;
    let refEnd = close;
    while (refEnd > refStart && (input[refEnd - 1] === ' ' || input[refEnd - 1] === '\t')) refEnd--;
    const raw = input.slice(refStart, refEnd);
    let ref: Reference;
    try {
      ref = parseReference(raw, field);
    } catch (err) {
      if (err instanceof ReferenceSyntaxError) throw err.at(field ?? '', refStart);
      throw err;
    }
    literal += input.slice(cursor, open);
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ ref, raw, offset: refStart, start: open, end: close + 2 });
    count++;
    cursor = close + 2;
  }
  literal += input.slice(cursor);
  if (literal) parts.push(literal);
  const only = parts.length === 1 ? parts[0] : undefined;
  const whole = count === 1 && typeof only === 'object' ? only : undefined;
  return { parts, whole, count };
}

type Outcome = { ok: CompiledTemplate } | { error: string; offset?: number; expected?: string };
function outcome(fn: () => CompiledTemplate): Outcome {
  try {
    return { ok: fn() };
  } catch (err) {
    const e = typed(err);
    return e instanceof ReferenceSyntaxError
      ? { error: e.name, offset: e.offset, expected: e.expected }
      : { error: e.name };
  }
}

function checkTemplate(input: string): void {
  const got = outcome(() => compileTemplate(input, 'fields.x'));
  const want = outcome(() => oracleCompile(input, 'fields.x'));
  expect(got).toEqual(want);
  if ('ok' in got) {
    const slots = got.ok.parts.filter((p) => typeof p !== 'string');
    expect(slots.length).toBe(got.ok.count);
  }
}

// --- properties ---------------------------------------------------------------------------------

describe(`refs fuzz (${FUZZ_TOTAL_RUNS} inputs, seed ${FUZZ_SEED})`, () => {
  it('runs at least 100,000 generated inputs in total', () => {
    expect(FUZZ_TOTAL_RUNS).toBeGreaterThanOrEqual(100_000);
  });

  it('parseReference returns or throws ReferenceSyntaxError with an offset inside the input', () => {
    const arb = fc.oneof(grammarStringArb, grammarStringArb.map((s) => SCHEME + s), fc.string({ unit: 'binary' }));
    fc.assert(
      fc.property(arb, (input) => {
        try {
          parseReference(input, 'f');
        } catch (err) {
          offsetInRange(typed(err), input);
        }
      }),
      params(FUZZ_RUNS.references),
    );
  });

  it('parseReference on mutated valid references: typed errors only, and accepted ones round-trip', () => {
    fc.assert(
      fc.property(mutatedReferenceArb, (input) => {
        let ref: Reference;
        try {
          ref = parseReference(input);
        } catch (err) {
          offsetInRange(typed(err), input);
          return;
        }
        expect(parseReference(formatReference(ref))).toEqual(ref);
      }),
      params(FUZZ_RUNS.mutatedReferences),
    );
  });

  it('compileTemplate on grammar strings: typed errors only, same result as the previous implementation', () => {
    fc.assert(fc.property(grammarStringArb, checkTemplate), params(FUZZ_RUNS.templates));
  });

  it('compileTemplate on mutated valid templates: typed errors only, same result as before', () => {
    fc.assert(fc.property(mutatedTemplateArb, checkTemplate), params(FUZZ_RUNS.mutatedTemplates));
  });

  it('parsePointer returns tokens that re-escape to the input, or throws ReferenceSyntaxError', () => {
    const arb = fc
      .array(fc.oneof(fc.constantFrom('/', '~', '~0', '~1', '~2', '0', '1', 'a', '%7E'), fc.string({ maxLength: 2 })), {
        maxLength: 12,
      })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(arb, (input) => {
        let tokens: string[];
        try {
          tokens = parsePointer(input);
        } catch (err) {
          offsetInRange(typed(err), input);
          return;
        }
        expect(tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')).toBe(input);
      }),
      params(FUZZ_RUNS.pointers),
    );
  });

  it('collectReferences and checkDocumentLimits on generated documents: typed errors only, and they agree', () => {
    const small: DocumentLimits = { maxDepth: 4, maxNodes: 30, maxPlaceholders: 4, maxStringLength: 60 };
    const { doc } = fc.letrec((tie) => ({
      doc: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.oneof(grammarStringArb, validTemplateArb, mutatedReferenceArb),
        fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)),
        fc.array(tie('doc'), { maxLength: 5 }),
        fc.dictionary(grammarStringArb, tie('doc'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(doc, fc.boolean(), (value, useSmall) => {
        const limits = useSmall ? small : undefined;
        let found: ReturnType<typeof collectReferences> | undefined;
        try {
          found = collectReferences(value, 'doc', limits);
        } catch (err) {
          typed(err);
        }
        let checked = true;
        try {
          checkDocumentLimits(value, limits, 'doc');
        } catch (err) {
          if (!(typed(err) instanceof DocumentLimitError)) throw err;
          checked = false;
        }
        // A document that collects fine is within the limits; one refused by the check does not collect.
        if (found !== undefined) expect(checked).toBe(true);
        if (!checked) expect(found).toBeUndefined();
      }),
      params(FUZZ_RUNS.documents),
    );
  });

  it('parse(format(r)) equals r for valid references, including inside a template', () => {
    fc.assert(
      fc.property(referenceArb, (ref) => {
        const text = formatReference(ref);
        expect(parseReference(text)).toEqual(ref);
        expect(compileTemplate(`x{{ ${text} }}y`).parts[1]).toEqual({ ref, raw: text, offset: 4, start: 1, end: text.length + 7 });
      }),
      params(FUZZ_RUNS.roundTrip),
    );
  });
});
