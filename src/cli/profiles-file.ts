/**
 * Where the login profiles file is, and the tokens in it, read without zod or the CLI's other
 * modules: `sesame run` masks those tokens in its command's output, on its start-up path too
 * (src/cli/run-fast.ts), and a command that `cat`s the file shows every profile at once. The
 * file's format and its checks are src/cli/profiles.ts's.
 */
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { readOptionalFile } from './read-optional.js';

/** Where profiles are kept for this environment. */
export function profilesFile(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CONFIG_HOME'];
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'sesame', 'profiles.json');
  if (process.platform === 'win32' && env['APPDATA'])
    return path.join(env['APPDATA'], 'sesame', 'profiles.json');
  const home = env['HOME'] || os.homedir();
  return path.join(home, '.config', 'sesame', 'profiles.json');
}

/** Every string under a `token` key, at any depth (a hand-edited file is masked all the same). */
function tokensIn(value: unknown, found: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) tokensIn(item, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === 'token' && typeof item === 'string') {
        const token = item.trim();
        if (token !== '') found.push(token);
      } else tokensIn(item, found);
    }
  }
}

/**
 * The token of every profile in the profiles file (none when there is no such file). Fails
 * closed: a file that is there but cannot be read, or is not JSON, may hold tokens that could not
 * be masked, so it throws a usage error (exit 2) and the caller starts nothing.
 */
export function profileTokens(env: NodeJS.ProcessEnv): string[] {
  const file = profilesFile(env);
  const text = readOptionalFile(
    file,
    (why) =>
      new UsageError(
        `cannot read the profiles file ${file} (${why}), so the login tokens it may hold could not be masked in the command's output: nothing was run`,
        { fix: 'let the user that runs sesame read it, or remove it (sesame login writes it again)' },
      ),
  );
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message may quote the text: only the file is named.
    throw new UsageError(
      `the profiles file ${file} is not JSON, so the login tokens it may hold could not be masked in the command's output: nothing was run`,
      { fix: 'fix it, or delete it and run sesame login again' },
    );
  }
  const found: string[] = [];
  tokensIn(parsed, found);
  return [...new Set(found)];
}
