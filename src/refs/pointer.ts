/**
 * RFC 6901 JSON Pointer. Small enough to write by hand; the libraries for it either mutate,
 * allow prototype walking, or do not distinguish "absent" from "undefined".
 */

/** Split a pointer into reference tokens; throws on a stray `~`. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new SyntaxError('a JSON Pointer starts with "/"');
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new SyntaxError('"~" must be followed by 0 or 1');
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

export type PointerResult = { found: true; value: unknown } | { found: false; failedAt: string };

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** Evaluate a pointer against a parsed JSON value. Own properties only. */
export function evaluatePointer(document: unknown, tokens: readonly string[]): PointerResult {
  let current: unknown = document;
  let path = '';
  for (const token of tokens) {
    path += `/${token.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return { found: false, failedAt: path };
      const index = Number(token);
      if (index >= current.length) return { found: false, failedAt: path };
      current = current[index];
    } else if (current !== null && typeof current === 'object') {
      if (!Object.hasOwn(current, token)) return { found: false, failedAt: path };
      current = (current as Record<string, unknown>)[token];
    } else {
      return { found: false, failedAt: path };
    }
  }
  return { found: true, value: current };
}
