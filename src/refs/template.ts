/**
 * Templates: `{{ secret://… }}` placeholders inside any string.
 *
 * - Spaces inside the braces are optional; any number of placeholders per string.
 * - `\{{` is a literal `{{` (the backslash is dropped).
 * - Only `{{` followed by optional spaces and `secret:` opens a placeholder, so a workflow
 *   engine's own `{{ vars.x }}` expressions pass through untouched.
 * - A string that is exactly one placeholder, or exactly one bare `secret://…` reference, is a
 *   whole-value slot: it takes the resolved value as is (objects and numbers stay typed).
 */
import { ReferenceSyntaxError } from '../errors.js';
import { type DocumentLimits, DocumentLimitError, resolveLimits, walkDocument } from './limits.js';
import { parseReference, type Reference, SCHEME } from './reference.js';
import { isBlank, opensPlaceholder } from './scan.js';

export interface ReferenceSlot {
  ref: Reference;
  /** The reference text as written (without braces), for messages. */
  raw: string;
  /** Offset of the reference in the string. */
  offset: number;
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
export function compileTemplate(input: string, field?: string, limits?: Partial<TemplateLimits>): CompiledTemplate {
  const { maxStringLength, maxPlaceholders } = resolveLimits(limits);
  if (input.length > maxStringLength) {
    throw new DocumentLimitError({ limit: 'maxStringLength', max: maxStringLength, field });
  }
  if (!input.includes('{{')) {
    if (!input.startsWith(SCHEME)) return { parts: [input], whole: undefined, count: 0 };
    if (maxPlaceholders < 1) throw new DocumentLimitError({ limit: 'maxPlaceholders', max: maxPlaceholders, field });
    const slot = { ref: parseReference(input, field), raw: input, offset: 0 };
    return { parts: [slot], whole: slot, count: 1 };
  }

  const parts: Array<string | ReferenceSlot> = [];
  // Literal text is `literal` (pieces cut at `\{{` escapes) followed by input[textStart, open).
  let literal: string[] = [];
  let textStart = 0;
  let cursor = 0;
  let count = 0;
  for (;;) {
    const open = input.indexOf('{{', cursor);
    if (open === -1) break;
    if (open > 0 && input.charCodeAt(open - 1) === 0x5c /* \ */) {
      // `\{{` is a literal `{{`: keep the text before the backslash, drop the backslash.
      literal.push(input.slice(textStart, open - 1));
      textStart = open;
      cursor = open + 2;
      continue;
    }
    if (!opensPlaceholder(input, open)) {
      // Not ours (e.g. a workflow engine's own expression): it stays in the literal text.
      cursor = open + 2;
      continue;
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
      ref = parseReference(raw, field);
    } catch (err) {
      if (err instanceof ReferenceSyntaxError) throw err.at(field ?? '', refStart);
      throw err;
    }
    literal.push(input.slice(textStart, open));
    const text = literal.join('');
    if (text) parts.push(text);
    literal = [];
    parts.push({ ref, raw, offset: refStart });
    cursor = textStart = close + 2;
  }
  literal.push(input.slice(textStart));
  const text = literal.join('');
  if (text) parts.push(text);
  const only = parts.length === 1 ? parts[0] : undefined;
  const whole = count === 1 && typeof only === 'object' ? only : undefined;
  return { parts, whole, count };
}

/** True when a string may hold references (cheap pre-check before compiling). */
export function mayHoldReferences(s: string): boolean {
  return s.includes('{{') || s.startsWith(SCHEME);
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
): Array<ReferenceSlot & { field: string }> {
  const l = resolveLimits(limits);
  const out: Array<ReferenceSlot & { field: string }> = [];
  walkDocument(value, l, path, (s, p) => {
    if (!mayHoldReferences(s)) return;
    for (const part of compileTemplate(s, p || undefined, l).parts) {
      if (typeof part !== 'string') out.push({ ...part, field: p });
    }
    if (out.length > l.maxPlaceholders) {
      throw new DocumentLimitError({ limit: 'maxPlaceholders', max: l.maxPlaceholders, field: p });
    }
  });
  return out;
}
