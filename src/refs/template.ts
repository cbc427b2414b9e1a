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
import { parseReference, type Reference, SCHEME } from './reference.js';

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

const PLACEHOLDER_START = /\{\{[ \t]*secret:/g;

/**
 * Compile a string into literal parts and reference slots. Throws {@link ReferenceSyntaxError}
 * naming `field` and the offset within the string.
 */
export function compileTemplate(input: string, field?: string): CompiledTemplate {
  if (input.startsWith(SCHEME) && !input.includes('{{')) {
    const slot = { ref: parseReference(input, field), raw: input, offset: 0 };
    return { parts: [slot], whole: slot, count: 1 };
  }
  if (!input.includes('{{')) return { parts: [input], whole: undefined, count: 0 };

  const parts: Array<string | ReferenceSlot> = [];
  let literal = '';
  let cursor = 0;
  let count = 0;
  PLACEHOLDER_START.lastIndex = 0;
  for (;;) {
    const open = input.indexOf('{{', cursor);
    if (open === -1) break;
    if (open > 0 && input[open - 1] === '\\') {
      literal += `${input.slice(cursor, open - 1)}{{`;
      cursor = open + 2;
      continue;
    }
    PLACEHOLDER_START.lastIndex = open;
    const m = PLACEHOLDER_START.exec(input);
    if (!m || m.index !== open) {
      // Not ours (e.g. a workflow engine's own expression): keep it literally.
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
    parts.push({ ref, raw, offset: refStart });
    count++;
    cursor = close + 2;
  }
  literal += input.slice(cursor);
  if (literal) parts.push(literal);
  const only = parts.length === 1 ? parts[0] : undefined;
  const whole = count === 1 && typeof only === 'object' ? only : undefined;
  return { parts, whole, count };
}

/** True when a string may hold references (cheap pre-check before compiling). */
export function mayHoldReferences(s: string): boolean {
  return s.includes('{{') || s.startsWith(SCHEME);
}

/** Collect every reference in a JSON-like value, with the field path of each. */
export function collectReferences(value: unknown, path = ''): Array<ReferenceSlot & { field: string }> {
  const out: Array<ReferenceSlot & { field: string }> = [];
  const walk = (v: unknown, p: string) => {
    if (typeof v === 'string') {
      if (!mayHoldReferences(v)) return;
      for (const part of compileTemplate(v, p || undefined).parts) {
        if (typeof part !== 'string') out.push({ ...part, field: p });
      }
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => {
        walk(item, `${p}[${i}]`);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) walk(item, p ? `${p}.${k}` : k);
    }
  };
  walk(value, path);
  return out;
}
