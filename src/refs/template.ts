/**
 * Templates: `{{ secret://… }}` placeholders inside any string.
 *
 * - Spaces inside the braces are optional; any number of placeholders per string.
 * - `\{{` is a literal `{{` (the backslash is dropped).
 * - Only `{{` followed by optional spaces and `secret:` opens a placeholder, so a workflow
 *   engine's own `{{ vars.x }}` expressions pass through untouched.
 * - A string that is exactly one placeholder, or exactly one bare `secret://…` reference, is a
 *   whole-value slot: it takes the resolved value as is (objects and numbers stay typed).
 * - With dialects declared (dialects/index.ts), their placeholders (`{{workato:sm:…}}`,
 *   `{{ secret('X') }}`, `{{ $secrets.a.b }}`, `{{ op://… }}`), embedded vals expressions
 *   (`ref+vault://…`) and a whole-string `op://…` become slots of the same kind.
 */
import { ReferenceSyntaxError } from '../errors.js';
import type { DialectName, DialectSet } from './dialects/index.js';
import { type DocumentLimits, DocumentLimitError, resolveLimits, walkDocument } from './limits.js';
import { formatReference, parseReference, type Reference, SCHEME } from './reference.js';
import { OP_SCHEME } from './dialects/parsers.js';
import { isBlank, opensPlaceholder } from './scan.js';

export interface ReferenceSlot {
  ref: Reference;
  /** The reference text as written (without braces), for messages. */
  raw: string;
  /** Offset of the reference in the string. */
  offset: number;
  /**
   * Where it is written in the string, braces (and a vals expression's closing `+`) included:
   * `input.slice(start, end)` is the whole text to replace when rewriting it (`refs convert`).
   */
  start: number;
  end: number;
  /** The dialect it was written in (then `raw` is its canonical `secret://` form). */
  dialect?: DialectName | undefined;
}

export interface CompiledTemplate {
  /** Literal text and reference slots, in order. */
  parts: Array<string | ReferenceSlot>;
  /** Set when the whole string is one reference: the value is injected as is. */
  whole: ReferenceSlot | undefined;
  /** Number of reference slots. */
  count: number;
}

/** The limits that apply to one string. */
export type TemplateLimits = Pick<DocumentLimits, 'maxStringLength' | 'maxPlaceholders'>;

/**
 * Compile a string into literal parts and reference slots. Throws {@link ReferenceSyntaxError}
 * naming `field` and the offset within the string, and {@link DocumentLimitError} for a string
 * longer than `maxStringLength` or with more than `maxPlaceholders` placeholders.
 *
 * Linear in the length of `input`: one forward scan (see scan.ts), literal text collected as
 * slices and joined once.
 */
export function compileTemplate(
  input: string,
  field?: string,
  limits?: Partial<TemplateLimits>,
  dialects?: DialectSet,
): CompiledTemplate {
  const { maxStringLength, maxPlaceholders } = resolveLimits(limits);
  if (input.length > maxStringLength) {
    throw new DocumentLimitError({ limit: 'maxStringLength', max: maxStringLength, field });
  }
  if (!input.includes('{{')) {
    if (input.startsWith(SCHEME)) {
      if (maxPlaceholders < 1) throw new DocumentLimitError({ limit: 'maxPlaceholders', max: maxPlaceholders, field });
      const slot = { ref: parseReference(input, field), raw: input, offset: 0, start: 0, end: input.length };
      return { parts: [slot], whole: slot, count: 1 };
    }
    if (dialects === undefined || !dialects.mayHold(input)) return { parts: [input], whole: undefined, count: 0 };
    if (dialects.op && input.startsWith(OP_SCHEME)) {
      if (maxPlaceholders < 1) throw new DocumentLimitError({ limit: 'maxPlaceholders', max: maxPlaceholders, field });
      const slot = dialectSlot(dialects.parseOp(input, field), 'op', 0, 0, input.length);
      return { parts: [slot], whole: slot, count: 1 };
    }
  }

  const parts: Array<string | ReferenceSlot> = [];
  let count = 0;
  /**
   * Literal text, with embedded vals expressions cut out as slots when vals is declared. The text
   * is `pieces` joined (the input cut at dropped `\\{{` backslashes), piece k at `starts[k]` in
   * the input, so an offset in the text maps back to the input.
   */
  const pushText = (pieces: readonly string[], starts: readonly number[]): void => {
    const text = pieces.join('');
    if (!text) return;
    if (!dialects?.vals) {
      parts.push(text);
      return;
    }
    // Matches come in order, so the piece cursor only moves forward.
    let piece = 0;
    let pieceAt = 0;
    const inInput = (i: number): number => {
      while (piece + 1 < pieces.length && pieceAt + (pieces[piece] as string).length <= i) {
        pieceAt += (pieces[piece] as string).length;
        piece++;
      }
      return (starts[piece] as number) + i - pieceAt;
    };
    let from = 0;
    for (let m = dialects.findVals(text, 0); m !== undefined; m = dialects.findVals(text, m.next)) {
      if (++count > maxPlaceholders) throw new DocumentLimitError({ limit: 'maxPlaceholders', max: maxPlaceholders, field });
      if (m.start > from) parts.push(text.slice(from, m.start));
      const raw = text.slice(m.start, m.end);
      let ref: Reference;
      try {
        ref = dialects.parseVals(raw, field);
      } catch (err) {
        if (err instanceof ReferenceSyntaxError) throw err.at(field ?? '', inInput(m.start));
        throw err;
      }
      const start = inInput(m.start);
      // A vals expression never holds `{{`, so it never spans a dropped backslash.
      parts.push(dialectSlot(ref, 'vals', start, start, start + m.next - m.start));
      from = m.next;
    }
    if (from < text.length) parts.push(text.slice(from));
  };
  // Literal text is `literal` (pieces cut at `\{{` escapes, each at `literalStarts` in the
  // input) followed by input[textStart, open).
  let literal: string[] = [];
  let literalStarts: number[] = [];
  let textStart = 0;
  let cursor = 0;
  for (;;) {
    const open = input.indexOf('{{', cursor);
    if (open === -1) break;
    if (open > 0 && input.charCodeAt(open - 1) === 0x5c /* \ */) {
      // `\{{` is a literal `{{`: keep the text before the backslash, drop the backslash.
      literal.push(input.slice(textStart, open - 1));
      literalStarts.push(textStart);
      textStart = open;
      cursor = open + 2;
      continue;
    }
    if (input.charCodeAt(open + 2) === 0x2d /* - */) refuseTrimMarker(input, open, field, dialects);
    let dialect: DialectName | undefined;
    if (!opensPlaceholder(input, open)) {
      if (dialects !== undefined) {
        let at = open + 2;
        while (isBlank(input, at)) at++;
        dialect = dialects.openerAt(input, at);
      }
      if (dialect === undefined) {
        // Not ours (e.g. a workflow engine's own expression): it stays in the literal text.
        cursor = open + 2;
        continue;
      }
    }
    const close = input.indexOf('}}', open + 2);
    if (close === -1) {
      throw new ReferenceSyntaxError({ input, offset: input.length, expected: '"}}" to close the placeholder', field });
    }
    if (++count > maxPlaceholders) {
      throw new DocumentLimitError({ limit: 'maxPlaceholders', max: maxPlaceholders, field });
    }
    let refStart = open + 2;
    while (isBlank(input, refStart)) refStart++;
    let refEnd = close;
    while (refEnd > refStart && isBlank(input, refEnd - 1)) refEnd--;
    const raw = input.slice(refStart, refEnd);
    let ref: Reference;
    try {
      ref = dialect === undefined ? parseReference(raw, field) : (dialects as DialectSet).parseBraced(dialect, raw, field);
    } catch (err) {
      if (err instanceof ReferenceSyntaxError) throw err.at(field ?? '', refStart);
      throw err;
    }
    literal.push(input.slice(textStart, open));
    literalStarts.push(textStart);
    pushText(literal, literalStarts);
    literal = [];
    literalStarts = [];
    parts.push(
      dialect === undefined
        ? { ref, raw, offset: refStart, start: open, end: close + 2 }
        : dialectSlot(ref, dialect, refStart, open, close + 2),
    );
    cursor = textStart = close + 2;
  }
  literal.push(input.slice(textStart));
  literalStarts.push(textStart);
  pushText(literal, literalStarts);
  const only = parts.length === 1 ? parts[0] : undefined;
  const whole = count === 1 && typeof only === 'object' ? only : undefined;
  return { parts, whole, count };
}

/**
 * `{{-` / `-}}` trim whitespace in Pebble (Kestra), Jinja and Go templates. Before a dialect
 * reference, the `-` hid the opener and the whole placeholder stayed literal text, so the value
 * was the template itself. A `{{-` followed by a reference (`secret:`, or a declared dialect's)
 * is refused with the form to write; any other `{{-` expression is not ours and stays literal.
 */
function refuseTrimMarker(input: string, open: number, field: string | undefined, dialects: DialectSet | undefined): void {
  let at = open + 3;
  while (isBlank(input, at)) at++;
  if (!input.startsWith('secret:', at) && dialects?.openerAt(input, at) === undefined) return;
  const close = input.indexOf('}}', at);
  let end = close === -1 ? at : close;
  if (close !== -1 && input.charCodeAt(end - 1) === 0x2d) end--;
  while (end > at && isBlank(input, end - 1)) end--;
  const write = close === -1 ? '{{ <reference> }}' : `{{ ${input.slice(at, end)} }}`;
  throw new ReferenceSyntaxError({
    input,
    offset: open + 2,
    expected: `"{{" without "-" (Sesame replaces the placeholder and keeps the text around it as written; write ${write})`,
    field,
  });
}

/** A slot for a reference written in a dialect: `raw` is its canonical `secret://` form. */
function dialectSlot(
  ref: Reference,
  dialect: DialectName,
  offset: number,
  start: number,
  end: number,
): ReferenceSlot {
  return { ref, raw: formatReference(ref), offset, dialect, start, end };
}

/** True when a string may hold references (cheap pre-check before compiling). */
export function mayHoldReferences(s: string, dialects?: DialectSet): boolean {
  return s.includes('{{') || s.startsWith(SCHEME) || (dialects !== undefined && dialects.mayHold(s));
}

/**
 * Collect every reference in a JSON-like value, with the field path of each, in document order.
 * Iterative: enforces {@link DOCUMENT_LIMITS} (or `limits`) and throws
 * {@link DocumentLimitError} instead of overflowing the stack on deep documents.
 */
export function collectReferences(
  value: unknown,
  path = '',
  limits?: Partial<DocumentLimits>,
  dialects?: DialectSet,
): Array<ReferenceSlot & { field: string }> {
  const l = resolveLimits(limits);
  const out: Array<ReferenceSlot & { field: string }> = [];
  walkDocument(value, l, path, (s, p) => {
    if (!mayHoldReferences(s, dialects)) return;
    for (const part of compileTemplate(s, p || undefined, l, dialects).parts) {
      if (typeof part !== 'string') out.push({ ...part, field: p });
    }
    if (out.length > l.maxPlaceholders) {
      throw new DocumentLimitError({ limit: 'maxPlaceholders', max: l.maxPlaceholders, field: p });
    }
  });
  return out;
}
