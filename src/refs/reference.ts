/**
 * The reference grammar (PRODUCT.md):
 *
 *   secret://<store>/<name>[?version=<id>|?stage=<label>][#<key>]
 *
 * Hand-written because no URL parser keeps `#prod.jira.secret.key` literal, reports offsets, or
 * rejects what this grammar rejects; it is a single left-to-right scan.
 */
import { ReferenceSyntaxError } from '../errors.js';
import { parsePointer } from './pointer.js';

export const SCHEME = 'secret://';
const STORE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** What a malformed reference expected where its store name is missing or wrong: one wording for both. */
const STORE_NAME_RULE =
  'a store name of lowercase letters, digits, "_" and "-", starting with a letter or digit';

export interface Reference {
  store: string;
  /** Decoded name, path or ARN; may contain `/` and `:`. */
  name: string;
  version?: string | undefined;
  stage?: string | undefined;
  /**
   * Decoded fragment. A top-level JSON key taken literally, or — when it starts with `/` — an
   * RFC 6901 JSON Pointer.
   */
  key?: string | undefined;
}

/** True when `key` is a JSON Pointer rather than a literal top-level key. */
export const isPointerKey = (key: string): boolean => key.startsWith('/');

function fail(input: string, offset: number, expected: string, field?: string): never {
  throw new ReferenceSyntaxError({ input, offset, expected, field });
}

const HEX = /^[0-9A-Fa-f]{2}$/;

/** `[a-z0-9]`, and after the first character also `_` and `-`. */
function isStoreChar(code: number, first: boolean): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    (!first && (code === 0x5f || code === 0x2d))
  );
}

/** Percent-decode one component, validating every escape and the resulting UTF-8. */
function decodeComponent(input: string, start: number, end: number, field?: string): string {
  const raw = input.slice(start, end);
  if (!raw.includes('%')) return raw;
  for (let i = raw.indexOf('%'); i !== -1; i = raw.indexOf('%', i + 1)) {
    if (!HEX.test(raw.slice(i + 1, i + 3))) {
      fail(input, start + i, 'a percent-escape like %23 (two hex digits after %)', field);
    }
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    return fail(input, start + raw.indexOf('%'), 'percent-escapes that form valid UTF-8', field);
  }
}

/** Characters that may not appear raw in a name, query value or key. */
function isForbiddenRaw(code: number): boolean {
  return code <= 0x20 || code === 0x7f || code === 0x7d /* } */ || code === 0x7b /* { */;
}

function checkRaw(input: string, start: number, end: number, what: string, field?: string): void {
  for (let i = start; i < end; i++) {
    const code = input.charCodeAt(i);
    if (isForbiddenRaw(code)) {
      const ch = code === 0x20 ? 'space' : code < 0x20 || code === 0x7f ? 'control character' : input[i];
      fail(input, i, `${what} without a raw ${ch} (percent-escape it)`, field);
    }
  }
}

/**
 * Parse one reference. Throws {@link ReferenceSyntaxError} with the offset and what was expected.
 *
 * @example
 * parseReference('secret://aws/prod-jira?stage=AWSCURRENT#prod.jira.secret.key')
 * // → { store: 'aws', name: 'prod-jira', stage: 'AWSCURRENT', key: 'prod.jira.secret.key' }
 */
export function parseReference(input: string, field?: string): Reference {
  if (typeof input !== 'string') fail(String(input), 0, 'a string', field);
  if (!input.startsWith(SCHEME)) {
    let i = 0;
    while (i < SCHEME.length && input[i] === SCHEME[i]) i++;
    fail(input, i, `"${SCHEME}" at the start of the reference`, field);
  }
  const storeStart = SCHEME.length;
  const slash = input.indexOf('/', storeStart);
  const storeEnd = slash === -1 ? input.length : slash;
  const store = input.slice(storeStart, storeEnd);
  if (store.length === 0) fail(input, storeStart, STORE_NAME_RULE, field);
  if (!STORE_RE.test(store)) {
    let bad = 0;
    while (bad < store.length && isStoreChar(store.charCodeAt(bad), bad === 0)) bad++;
    if (bad === store.length) bad = -1;
    fail(
      input,
      storeStart + (bad === -1 ? 63 : bad),
      store.length > 63 && bad === -1 ? 'a store name of at most 63 characters' : STORE_NAME_RULE,
      field,
    );
  }
  if (slash === -1) fail(input, input.length, `"/" and a secret name after the store "${store}"`, field);

  const nameStart = slash + 1;
  const hash = input.indexOf('#', nameStart);
  const pathEnd = hash === -1 ? input.length : hash;
  const question = input.indexOf('?', nameStart);
  const nameEnd = question !== -1 && question < pathEnd ? question : pathEnd;
  if (nameEnd === nameStart) fail(input, nameStart, 'a secret name after the store', field);
  checkRaw(input, nameStart, nameEnd, 'a secret name', field);
  const name = decodeComponent(input, nameStart, nameEnd, field);

  const ref: Reference = { store, name };
  if (nameEnd < pathEnd) {
    // Query: exactly one of version= or stage=.
    const qStart = nameEnd + 1;
    const eq = input.indexOf('=', qStart);
    const param = eq === -1 || eq > pathEnd ? input.slice(qStart, pathEnd) : input.slice(qStart, eq);
    if (param !== 'version' && param !== 'stage')
      fail(input, qStart, '"version=<id>" or "stage=<label>" after "?"', field);
    if (eq === -1 || eq > pathEnd)
      fail(input, qStart + param.length, `"=" and a value after "${param}"`, field);
    const vStart = eq + 1;
    if (vStart === pathEnd) fail(input, vStart, `a ${param} value after "${param}="`, field);
    const amp = input.indexOf('&', vStart);
    if (amp !== -1 && amp < pathEnd) fail(input, amp, 'only one of version or stage (no "&")', field);
    const q2 = input.indexOf('?', vStart);
    if (q2 !== -1 && q2 < pathEnd) fail(input, q2, 'a single "?" (percent-escape "?" as %3F)', field);
    checkRaw(input, vStart, pathEnd, `a ${param} value`, field);
    const value = decodeComponent(input, vStart, pathEnd, field);
    if (param === 'version') ref.version = value;
    else ref.stage = value;
  }
  if (hash !== -1) {
    const kStart = hash + 1;
    if (kStart === input.length) fail(input, kStart, 'a key after "#" (or no "#")', field);
    checkRaw(input, kStart, input.length, 'a key', field);
    const key = decodeComponent(input, kStart, input.length, field);
    if (isPointerKey(key)) {
      try {
        parsePointer(key);
      } catch {
        fail(input, badTilde(input, kStart), 'a JSON Pointer with "~" only as ~0 or ~1', field);
      }
    }
    ref.key = key;
  }
  return ref;
}

/**
 * Offset of the first `~` in the raw key that is not `~0` or `~1` (a `%7E` escape counts as a
 * `~`); the start of the key when none is found.
 */
function badTilde(input: string, kStart: number): number {
  for (let i = kStart; i < input.length; i++) {
    let next: number;
    if (input.charCodeAt(i) === 0x7e) next = i + 1;
    else if (input.charCodeAt(i) === 0x25 && /^%7e$/i.test(input.slice(i, i + 3))) next = i + 3;
    else continue;
    let follower = input[next];
    if (follower === '%' && /^%3[01]$/.test(input.slice(next, next + 3))) follower = input[next + 2];
    if (follower !== '0' && follower !== '1') return i;
  }
  return kStart;
}

/** `%XX` for every ASCII code (only the reserved ones are used). */
const ESCAPED = Array.from(
  { length: 0x80 },
  (_, code) => `%${code.toString(16).toUpperCase().padStart(2, '0')}`,
);
const hexEscape = (c: string): string => ESCAPED[c.charCodeAt(0)] as string;

// What the grammar reserves in names (`%`, `#`, `?`, `{`, `}`, spaces, controls) and values (also `&`).
// biome-ignore lint/suspicious/noControlCharactersInRegex: controls are what it escapes
const RESERVED_IN_NAME = /[\u0000-\u0020\u007f{}%#?]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: controls are what it escapes
const RESERVED_IN_VALUE = /[\u0000-\u0020\u007f{}%#?&]/g;

/** One regex pass (linear); `}` `{` `%` `#` `?`, spaces and controls become `%XX`. */
function encodeName(s: string): string {
  return s.replace(RESERVED_IN_NAME, hexEscape);
}

/** Query values and keys also reserve `&`. */
function encodeValue(s: string): string {
  return s.replace(RESERVED_IN_VALUE, hexEscape);
}

/** Format a reference in canonical form; `parseReference(formatReference(r))` equals `r`. */
export function formatReference(ref: Reference): string {
  if (!STORE_RE.test(ref.store)) throw new TypeError(`invalid store name "${ref.store}"`);
  if (ref.name.length === 0) throw new TypeError('a reference needs a name');
  if (ref.version !== undefined && ref.stage !== undefined) {
    throw new TypeError('a reference pins a version or a stage, not both');
  }
  let out = `${SCHEME}${ref.store}/${encodeName(ref.name)}`;
  if (ref.version !== undefined) out += `?version=${encodeValue(ref.version)}`;
  else if (ref.stage !== undefined) out += `?stage=${encodeValue(ref.stage)}`;
  if (ref.key !== undefined) out += `#${encodeValue(ref.key)}`;
  return out;
}
