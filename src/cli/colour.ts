/**
 * Colour for people at a terminal, through node:util `styleText` (no dependency). Off when the
 * stream is not a terminal (piped, redirected, captured by a test), when `NO_COLOR` is set to
 * anything non-empty (no-color.org), or when `TERM=dumb`; `FORCE_COLOR` (non-empty, not `0`)
 * turns it on where it would be off. `styleText` can check a stream itself, but only one
 * (stdout by default) and not FORCE_COLOR the same way on every Node 20 release: the decision is
 * made here, for the stream written to, and `styleText` is told not to make it again.
 */
import { styleText } from 'node:util';

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

/** Whether text written to `stream` may carry colour, given the process environment `env`. */
export function colourEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0') return true;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['TERM'] === 'dumb') return false;
  return stream.isTTY === true;
}

/** A styler for one stream: `paint('red', 'FAIL')` is coloured on a terminal, plain elsewhere. */
export type Paint = (style: Style, text: string) => string;

export function painter(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint {
  if (!colourEnabled(stream, env)) return (_style, text) => text;
  return (style, text) => styleText(style, text, { validateStream: false });
}
