/**
 * The placeholder scanner shared by `compileTemplate` and `checkDocumentLimits`.
 *
 * Every step is a plain character scan that only moves forward: `indexOf` calls start at the
 * cursor, and the cursor passes each `{{` once, so a string of length n costs O(n) however many
 * `{{`, `\{{` or unclosed `{{ secret:` it holds. (A global regex `exec` from `lastIndex` would
 * scan to the end of the string for every `{{` that does not open a placeholder: quadratic.)
 */
import type { DialectSet } from './dialects/index.js';
import { OP_SCHEME } from './dialects/parsers.js';
import { SCHEME } from './reference.js';

const SPACE = 0x20;
const TAB = 0x09;
const OPENER = 'secret:';

/** True when the `{{` at `open` is followed by optional spaces/tabs and `secret:`. */
export function opensPlaceholder(input: string, open: number): boolean {
  let i = open + 2;
  for (let c = input.charCodeAt(i); c === SPACE || c === TAB; c = input.charCodeAt(++i));
  return input.startsWith(OPENER, i);
}

/** True when `input[i]` is a space or a tab. */
export const isBlank = (input: string, i: number): boolean => {
  const c = input.charCodeAt(i);
  return c === SPACE || c === TAB;
};

/**
 * Number of reference slots `compileTemplate` would find in `input`, without parsing them
 * (an unclosed placeholder counts as one; compiling it fails). Linear in the length. With
 * dialects, their placeholders count too, and embedded vals expressions are counted over the
 * whole string (an upper bound: one inside a placeholder counts twice).
 */
export function countPlaceholders(input: string, dialects?: DialectSet): number {
  if (!input.includes('{{')) {
    if (input.startsWith(SCHEME)) return 1;
    if (dialects === undefined) return 0;
    if (dialects.op && input.startsWith(OP_SCHEME)) return 1;
  }
  let count = 0;
  let cursor = 0;
  for (;;) {
    const open = input.indexOf('{{', cursor);
    if (open === -1) break;
    if ((open > 0 && input.charCodeAt(open - 1) === 0x5c) /* \ */ || !opens(input, open, dialects)) {
      cursor = open + 2;
      continue;
    }
    count++;
    const close = input.indexOf('}}', open + 2);
    if (close === -1) break;
    cursor = close + 2;
  }
  if (dialects?.vals) {
    for (let m = dialects.findVals(input, 0); m !== undefined; m = dialects.findVals(input, m.next)) count++;
  }
  return count;
}

function opens(input: string, open: number, dialects: DialectSet | undefined): boolean {
  if (opensPlaceholder(input, open)) return true;
  if (dialects === undefined) return false;
  let i = open + 2;
  while (isBlank(input, i)) i++;
  return dialects.openerAt(input, i) !== undefined;
}
