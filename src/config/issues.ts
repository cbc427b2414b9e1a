/**
 * Zod issues in plain words. Zod's own messages are written for developers
 * (`Invalid input: expected string, received undefined`); a person editing `sesame.yaml` needs
 * the key path and what to write there (`stores[0].region: is required (a string)`). Messages a
 * schema sets itself (`a store name is lowercase letters…`) are kept as they are. Never repeats
 * the value that was given: it may be a credential.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

/** Zod's default messages all start like this; a schema's own message does not. */
const LIBRARY_TEXT = /^(Invalid|Too (big|small)|Unrecognized key|Expected|Required)\b/;

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
  map: 'a mapping (key: value)',
  array: 'a list',
  tuple: 'a list',
  null: 'null',
  bigint: 'a whole number',
  date: 'a date',
  literal: 'a fixed value',
};

function noun(expected: string): string {
  return NOUNS[expected] ?? expected;
}

/** What zod saw, from its message (issues carry no input unless asked, and must not: it may be a secret). */
function received(message: string): string | undefined {
  return /received (\w+)/.exec(message)?.[1];
}

function quoteAll(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function sizeWords(
  origin: string,
  bound: number | bigint,
  inclusive: boolean | undefined,
  side: 'min' | 'max',
): string {
  const n = Number(bound);
  if (origin === 'string') {
    if (side === 'min')
      return n <= 1 && inclusive !== false
        ? 'must not be empty'
        : `needs at least ${inclusive === false ? n + 1 : n} characters`;
    return `may have at most ${inclusive === false ? n - 1 : n} characters`;
  }
  if (origin === 'array' || origin === 'set') {
    if (side === 'min')
      return n <= 1 && inclusive !== false
        ? 'needs at least one item'
        : `needs at least ${inclusive === false ? n + 1 : n} items`;
    return `may have at most ${inclusive === false ? n - 1 : n} items`;
  }
  if (side === 'min')
    return inclusive === false
      ? n === 0
        ? 'must be more than 0'
        : `must be more than ${n}`
      : `must be at least ${n}`;
  return inclusive === false ? `must be less than ${n}` : `must be at most ${n}`;
}

/**
 * The issue that explains a union's failure best: the branch with the fewest problems (a
 * value that is nearly one of the alternatives is reported as that alternative's mistake).
 * When every branch only misses one key, the message names the choice instead.
 */
function unionIssue(issue: Extract<Issue, { code: 'invalid_union' }>): {
  path: PropertyKey[];
  message: string;
} {
  const branches = issue.errors.filter((b) => b.length > 0);
  const missingOne = branches.every(
    (b) =>
      b.length === 1 &&
      b[0]?.code === 'invalid_type' &&
      received(b[0].message) === 'undefined' &&
      b[0].path.length === 1,
  );
  if (branches.length > 1 && missingOne) {
    const keys = branches.map((b) => String(b[0]?.path[0]));
    return { path: [...issue.path], message: `needs one of: ${keys.join(', ')}` };
  }
  // The branch the value was meant for: the one that knows its keys, then the one with fewest problems.
  const unknown = (b: readonly Issue[]) => b.filter((i) => i.code === 'unrecognized_keys').length;
  const best = [...branches].sort((x, y) => unknown(x) - unknown(y) || x.length - y.length)[0]?.[0];
  if (!best) {
    // A discriminated union whose key (`auth.method`) matched no form: zod lists the accepted values.
    const options = (issue as { options?: unknown }).options;
    if (Array.isArray(options) && options.length > 0)
      return { path: [...issue.path], message: `must be one of ${quoteAll(options)}` };
    return { path: [...issue.path], message: 'is not any of the accepted forms' };
  }
  const inner = describeZodIssue(best);
  return { path: [...issue.path, ...inner.path], message: inner.message };
}

/**
 * One issue as `{ path, message }` in plain words: the path inside the parsed value, the message
 * saying what is expected there.
 *
 * @example
 * describeZodIssue(issue) // → { path: ['stores', 0, 'region'], message: 'is required (a string)' }
 */
export function describeZodIssue(issue: Issue): { path: PropertyKey[]; message: string } {
  const path = [...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `"${k}"`).join(', ');
      return { path, message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}` };
    }
    case 'invalid_union':
      return unionIssue(issue);
    default:
      break;
  }
  if (!LIBRARY_TEXT.test(issue.message)) return { path, message: issue.message };
  switch (issue.code) {
    case 'invalid_type': {
      const got = received(issue.message);
      if (got === 'undefined') return { path, message: `is required (${noun(issue.expected)})` };
      if (issue.expected === 'int') return { path, message: 'must be a whole number' };
      return { path, message: `must be ${noun(issue.expected)}${got ? `, not ${noun(got)}` : ''}` };
    }
    case 'invalid_value':
      return {
        path,
        message:
          issue.values.length === 1
            ? `must be ${quoteAll(issue.values)}`
            : `must be one of ${quoteAll(issue.values)}`,
      };
    case 'too_small':
      return { path, message: sizeWords(issue.origin, issue.minimum, issue.inclusive, 'min') };
    case 'too_big':
      return { path, message: sizeWords(issue.origin, issue.maximum, issue.inclusive, 'max') };
    case 'invalid_format':
      return {
        path,
        message:
          issue.format === 'regex' ? 'does not have the expected form' : `must be a valid ${issue.format}`,
      };
    case 'not_multiple_of':
      return { path, message: `must be a multiple of ${Number(issue.divisor)}` };
    case 'invalid_key':
      return { path, message: 'has a key that is not allowed here' };
    case 'invalid_element':
      return { path, message: 'has an entry that is not allowed here' };
    default:
      return { path, message: 'is not valid here' };
  }
}
