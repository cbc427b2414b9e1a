/**
 * Starting `sesame run`'s command and waiting for it: its environment, signals forwarded to it,
 * its exit code passed through (127/126 as a shell's for a command that cannot be started). Used
 * by `run` itself and by the start-up path that runs a command with nothing to resolve
 * (`src/cli/run-fast.ts`), so it imports nothing but Node and `src/redact/bytes.ts` (which imports
 * nothing).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { textOfBytes } from '../../redact/bytes.js';

/** Exit codes a shell uses for a command it cannot run (POSIX 2.8.2), which `op run` and `doppler run` keep. */
export const EXIT_NOT_FOUND = 127;
export const EXIT_NOT_EXECUTABLE = 126;
/** Bad usage, as every `sesame` command. */
const EXIT_USAGE = 2;

import { TOKEN_VARIABLES } from '../../config/own-configuration.js';

export { TOKEN_VARIABLES };

/**
 * The key file Sesame uses when there is no config file (the embedded default of
 * `src/config/schema.ts`, relative to the working directory). Named here because the start-up path
 * without the library must not load the config code to know it.
 */
export const EMBEDDED_MASTER_KEY_FILE = '.sesame/master.key';

const BASE64_KEY = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_BYTES = 32;

/**
 * The spellings of one master key a command could print: as written, and for the base64 of a
 * 32-byte key also without its padding, as base64url, as hex in both cases (`base64 -d | xxd -p`)
 * and as its raw bytes the way `sesame run` reads output (src/redact/bytes.ts). The
 * redactor adds its own forms of each (src/redact/forms.ts); base64 of the base64 text is one of
 * them, hex of the key's bytes is not, since the text is not the bytes.
 */
function keySpellings(written: string): string[] {
  if (!BASE64_KEY.test(written)) return [written];
  const bytes = Buffer.from(written, 'base64');
  if (bytes.length !== KEY_BYTES) return [written];
  const hex = bytes.toString('hex');
  return [
    written,
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    hex,
    hex.toUpperCase(),
    textOfBytes(bytes),
  ];
}

/**
 * What to mask of a key file's text: each line that is not blank or a `#` comment (the keys,
 * newest first, as `src/encrypted-store/master-key.ts` reads them), with the spellings of each
 * key. A line that is not a key is masked as written all the same: the file is the key's place.
 */
export function masterKeyForms(text: string): string[] {
  const forms = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    for (const form of keySpellings(line)) forms.add(form);
  }
  return [...forms];
}

/**
 * Sesame's own credentials in an environment: the tokens, and the master key(s) of the variable
 * the config reads it from (several keys are separated by spaces or commas), each key in the
 * spellings of {@link masterKeyForms}. The command keeps them in its environment (a `sesame` it
 * runs may need them), but they are masked in its output.
 */
export function ownCredentials(env: NodeJS.ProcessEnv, masterKeyVariable?: string): string[] {
  const tokens = TOKEN_VARIABLES.flatMap((name) => {
    const value = env[name]?.trim();
    return value ? [value, ...value.split(/[\s,]+/).filter((part) => part !== '')] : [];
  });
  const keys = masterKeyVariable ? env[masterKeyVariable]?.trim() : undefined;
  if (!keys) return tokens;
  const parts = keys.split(/[\s,]+/).filter((part) => part !== '');
  return [...tokens, keys, ...new Set(parts.flatMap(keySpellings))];
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export interface ChildIo {
  stdout: Writable;
  stderr: Writable;
  /** Called before this process ends itself with the signal that ended the command. */
  close(): Promise<void>;
}

/**
 * Copies the command's stdout and stderr to ours, masking what must be masked; resolves once all
 * of both was written.
 */
export type OutputCopier = (stdout: Readable, stderr: Readable) => Promise<void>;

/**
 * Run `command` with `env` and return its exit code. Without `copy`, the command writes to this
 * process's own stdout and stderr when `io` holds them (a terminal stays a terminal for it), or
 * through pipes into `io`'s streams otherwise.
 */
export async function runChild(
  io: ChildIo,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  copy?: OutputCopier,
): Promise<number> {
  const direct = copy === undefined && io.stdout === process.stdout && io.stderr === process.stderr;
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: direct ? 'inherit' : ['inherit', 'pipe', 'pipe'], env });
  } catch (err) {
    // Node throws some exec failures (E2BIG among them) at once instead of emitting 'error'.
    return startFailed(io, command, args, env, err as NodeJS.ErrnoException);
  }
  const through = (source: Readable, target: Writable) =>
    new Promise<void>((resolve) => {
      source.on('end', resolve).on('error', () => resolve());
      source.pipe(target, { end: false });
    });
  const copied = direct
    ? Promise.resolve()
    : copy
      ? copy(child.stdout as Readable, child.stderr as Readable)
      : Promise.all([
          through(child.stdout as Readable, io.stdout),
          through(child.stderr as Readable, io.stderr),
        ]);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const outcome = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    failed?: NodeJS.ErrnoException;
  }>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => resolve({ code: null, signal: null, failed: err }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  // Everything the command wrote (its last held-back characters included) is out before we exit.
  await copied;
  if (outcome.failed) return startFailed(io, command, args, env, outcome.failed);
  if (outcome.signal) {
    // Die the way the command died, so callers see the same signal. Node ignores some signals
    // (SIGPIPE): then exit as a shell reports a death by signal, 128 + its number.
    await io.close();
    process.kill(process.pid, outcome.signal);
    return 128 + (constants.signals[outcome.signal] ?? 0);
  }
  return outcome.code ?? 1;
}

/** Linux's limit on one `NAME=value` string of an exec'd environment, its NUL included (MAX_ARG_STRLEN). */
const LINUX_MAX_ARG_STRLEN = 131_072;

/** What to say, and the exit code, when the command could not be started. */
function startFailed(
  io: ChildIo,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  failed: NodeJS.ErrnoException,
): number {
  const code = failed.code;
  // As a shell does: 127 when there is no such command, 126 when it cannot be executed.
  if (code === 'ENOENT') {
    io.stderr.write(`sesame: command not found: ${command} (check its name and PATH)\n`);
    return EXIT_NOT_FOUND;
  }
  if (code === 'EACCES' || code === 'EISDIR' || code === 'ENOEXEC' || code === 'EPERM') {
    io.stderr.write(
      `sesame: cannot execute ${command}: ${code === 'EACCES' ? 'permission denied (is it executable? chmod +x)' : 'not an executable file'}\n`,
    );
    return EXIT_NOT_EXECUTABLE;
  }
  if (code === 'E2BIG') {
    io.stderr.write(`sesame: cannot start ${command}: ${tooBig(args, env)}\n`);
    return EXIT_USAGE;
  }
  throw failed;
}

/**
 * Why the operating system refused the command's environment and arguments (E2BIG), by name and
 * size, never value: a variable past Linux's limit for one string, or the total.
 */
function tooBig(args: readonly string[], env: NodeJS.ProcessEnv): string {
  const instead =
    'a value this large cannot go through the environment: give the command a file to read, or pipe it in (`sesame resolve <reference> | command`)';
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  const large = Object.entries(env)
    .filter(([name, value]) => value !== undefined && bytes(`${name}=${value}`) + 1 > LINUX_MAX_ARG_STRLEN)
    .map(([name, value]) => ({ name, size: bytes(value!) }))
    .sort((a, b) => b.size - a.size);
  if (process.platform === 'linux' && large.length > 0) {
    const named = large.map((v) => `${v.name} is ${v.size.toLocaleString('en-US')} bytes`).join(', ');
    return `${named}, more than Linux takes for one environment variable (${LINUX_MAX_ARG_STRLEN.toLocaleString('en-US')} bytes, name included): ${instead}`;
  }
  let total = 0;
  for (const [name, value] of Object.entries(env)) if (value !== undefined) total += bytes(`${name}=${value}`) + 1;
  for (const a of args) total += bytes(a) + 1;
  return `its environment and arguments (${total.toLocaleString('en-US')} bytes) are more than the operating system takes (E2BIG; see \`getconf ARG_MAX\`): ${instead}`;
}
