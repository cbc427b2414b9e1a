/**
 * RFC 6901 JSON Pointer. Small enough to write by hand; the libraries for it either mutate,
 * allow prototype walking, or do not distinguish "absent" from "undefined".
 */
import { ReferenceSyntaxError } from '../errors.js';

/**
 * Split a pointer into reference tokens. Throws {@link ReferenceSyntaxError} (with the offset)
 * for a pointer that does not start with `/` or a `~` not followed by `0` or `1`. One forward
 * scan: linear in the length of the pointer.
 */
export function parsePointer(pointer: string): string[] {
  if (typeof pointer !== 'string') {
    throw new ReferenceSyntaxError({ input: String(pointer), offset: 0, expected: 'a JSON Pointer string' });
  }
  if (pointer === '') return [];
  if (pointer.charCodeAt(0) !== 0x2f /* / */) {
    throw new ReferenceSyntaxError({ input: pointer, offset: 0, expected: 'a JSON Pointer starting with "/"' });
  }
  const tokens: string[] = [];
  // The current token is `decoded` (text before its last escape) + pointer[start, i).
  let decoded = '';
  let start = 1;
  for (let i = 1; i <= pointer.length; i++) {
    const c = pointer.charCodeAt(i); // NaN past the end
    if (c === 0x2f || i === pointer.length) {
      tokens.push(decoded + pointer.slice(start, i));
      decoded = '';
      start = i + 1;
    } else if (c === 0x7e /* ~ */) {
      const next = pointer.charCodeAt(i + 1);
      if (next !== 0x30 && next !== 0x31) {
        throw new ReferenceSyntaxError({
          input: pointer,
          offset: i,
          expected: 'a JSON Pointer with "~" only as ~0 or ~1',
        });
      }
      // Appending to a rope: V8 concatenation is O(1) here, flattened once when the token is used.
      decoded += pointer.slice(start, i) + (next === 0x30 ? '~' : '/');
      i++;
      start = i + 1;
    }
  }
  return tokens;
}

export type PointerResult = { found: true; value: unknown } | { found: false; failedAt: string };

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

const escapeToken = (token: string): string => token.replace(/~/g, '~0').replace(/\//g, '~1');

/** Evaluate a pointer against a parsed JSON value. Own properties only. */
export function evaluatePointer(document: unknown, tokens: readonly string[]): PointerResult {
  let current: unknown = document;
  // The failing prefix is spelled only on failure, so a long pointer costs one pass.
  const failedAt = (i: number): PointerResult => ({
    found: false,
    failedAt: tokens
      .slice(0, i + 1)
      .map((t) => `/${escapeToken(t)}`)
      .join(''),
  });
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return failedAt(i);
      const index = Number(token);
      if (index >= current.length) return failedAt(i);
      current = current[index];
    } else if (current !== null && typeof current === 'object') {
      if (!Object.hasOwn(current, token)) return failedAt(i);
      current = (current as Record<string, unknown>)[token];
    } else {
      return failedAt(i);
    }
  }
  return { found: true, value: current };
}
