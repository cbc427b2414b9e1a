/**
 * What every CLI command gets: the streams, and a lazily loaded Sesame for the command's
 * `--config`. Commands register themselves with `register(program, ctx)`.
 */
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import type { AuditEvent } from '../audit/index.js';
import type { SesameDatabase } from '../db/index.js';
import { UsageError } from '../errors.js';
import { HostFileError, readHostFile } from '../host-file.js';
import { isNamespace, NAMESPACE_RULE } from '../namespaces.js';
import type { Sesame } from '../sesame.js';
import { painter } from './colour.js';

export interface CliContext {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  cwd: string;
  env: NodeJS.ProcessEnv;
  /**
   * Load the library (its stores, config loading and database code) before `sesame()` is first
   * called. `main()` does it before any command but `run` and `completion`; `run` does it when it
   * has something to resolve, so a plain `sesame run -- cmd` starts as fast as the bin can.
   */
  ready(): Promise<void>;
  /** Load (once) the Sesame for a command's `--config` (after `ready()`). */
  sesame(configFile?: string): Sesame;
  /** Exit code a command sets without failing (e.g. a store check that found problems). */
  exitCode: number;
  /** Called at exit: closes what was opened. */
  close(): Promise<void>;
}

export function createCliContext(
  overrides: Partial<Pick<CliContext, 'stdout' | 'stderr' | 'stdin' | 'cwd' | 'env'>> = {},
): CliContext {
  let loaded: { file: string | undefined; sesame: Sesame } | undefined;
  let library: typeof import('../sesame.js') | undefined;
  const cwd = overrides.cwd ?? process.cwd();
  return {
    stdout: overrides.stdout ?? process.stdout,
    stderr: overrides.stderr ?? process.stderr,
    stdin: overrides.stdin ?? process.stdin,
    cwd,
    env: overrides.env ?? process.env,
    exitCode: 0,
    async ready() {
      library ??= await import('../sesame.js');
    },
    sesame(configFile) {
      if (loaded && loaded.file === configFile) return loaded.sesame;
      if (library === undefined) throw new Error('the CLI used the library before loading it (ctx.ready())');
      loaded = { file: configFile, sesame: library.loadSesame({ configFile, cwd }) };
      return loaded.sesame;
    },
    async close() {
      await loaded?.sesame.close();
      loaded = undefined;
    },
  };
}

/**
 * Options every data command shares. `checkNamespace: false` leaves the check of `--namespace`
 * to the command (`run`, whose arguments are also read without commander, checks it itself).
 */
export function withCommon(
  cmd: Command,
  { json = true, namespace = true, checkNamespace = true } = {},
): Command {
  cmd.addOption(
    cmd.createOption(
      '-c, --config <file>',
      'config file (default: ./sesame.yaml, else the embedded default)',
    ),
  );
  // The default's description is what help shows: once, and in words ("" would mean nothing to a reader).
  if (namespace)
    cmd.addOption(
      cmd
        .createOption('-n, --namespace <ns>', 'namespace to act in')
        .default('', 'the root namespace')
        .argParser(checkNamespace ? namespaceOption : (value: string) => value),
    );
  if (json) cmd.addOption(cmd.createOption('--json', 'print JSON'));
  return cmd;
}

const EXAMPLES = new WeakMap<Command, string[]>();

/** The example command lines `example()` gave `cmd` (none when it gave none). */
export function examplesOf(cmd: Command): readonly string[] {
  return EXAMPLES.get(cmd) ?? [];
}

/**
 * The value of `--namespace`, checked where it is typed: a malformed one (`Acme`, `a..b`) would
 * otherwise act in the root namespace through inheritance, without a word.
 */
export function namespaceOption(value: string): string {
  if (!isNamespace(value)) throw new UsageError(`--namespace ${JSON.stringify(value)}: ${NAMESPACE_RULE}`);
  return value;
}

export function example(cmd: Command, ...lines: string[]): Command {
  EXAMPLES.set(cmd, [...examplesOf(cmd), ...lines]);
  return cmd.addHelpText(
    'after',
    `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`,
  );
}

export function writeJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Print rows as an aligned table (no values, only what the caller passes). */
export function writeTable(ctx: CliContext, headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  ctx.stdout.write(`${painter(ctx.stdout, ctx.env)('bold', line(headers))}\n`);
  for (const r of rows) ctx.stdout.write(`${line(r)}\n`);
}

/**
 * The usage error for a file that could not be read: what was read (`--from-file x`, `the file
 * x`, as the user named it), why in words, and what to do — not a bare errno.
 */
export function unreadable(what: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const why =
    code === 'ENOENT'
      ? 'there is no such file: check the path'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied: let the user that runs sesame read it'
        : code === 'EISDIR'
          ? 'it is a directory: give a file'
          : err instanceof HostFileError
            ? `it ${err.reason}`
            : `${code ?? 'unreadable'}: check the path and its permissions`;
  return new UsageError(`cannot read ${what}: ${why}`);
}

/**
 * The most the CLI reads from a file or stdin given as a value (or a file of values): 64 MiB, the
 * largest value any store takes (the builtin's `maxValueSize` ceiling). More is refused as soon
 * as it is seen, so a wrong file (an image, /dev/zero, a log piped in) neither fills the memory
 * nor keeps the machine busy before the store's own limit is even asked.
 */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const tooLarge = (what: string) =>
  new UsageError(
    `${what} is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB, more than any store takes: nothing was written (check that it is the file you meant)`,
  );

export async function readStdin(ctx: CliContext): Promise<string> {
  if (ctx.stdin.isTTY)
    throw new UsageError('no value given: pass it as an argument, with --from-file, or on stdin');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += bytes.length;
    if (size > MAX_INPUT_BYTES) {
      // Stop reading: what is still coming is not wanted.
      ctx.stdin.destroy?.();
      throw tooLarge('stdin');
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A file named on the command line (`--from-file`, `secrets import`) as text, at most
 * {@link MAX_INPUT_BYTES}: a regular file is measured before it is read; a pipe or a device is
 * read until the bound. `what` names it in messages as the user gave it (`--from-file x`).
 */
export function readFileBounded(file: string, what: string): string {
  try {
    return readHostFile(file, { maxBytes: MAX_INPUT_BYTES, streams: true });
  } catch (err) {
    if (err instanceof HostFileError && err.code === 'EFBIG') throw tooLarge(what);
    throw unreadable(what, err);
  }
}

/**
 * The actor of changes made from this command line, in the audit trail: `cli:` and the name of
 * the operating system user running it (`cli` when the system cannot say). It is what the
 * process claims, not an authenticated identity: whoever runs the CLI holds the master key.
 */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/**
 * Run a local change and record it in the audit trail of the config's database, as
 * {@link cliActor}. A change to Sesame's own database (builtin secrets) commits its `ok` record
 * in its own transaction (`withAuditEvent`); a change elsewhere (another store) is recorded
 * after it, and a failure is recorded as `error`. The database is opened first, so a change is
 * not made when it could not be recorded — except where there is no trail at all (no master
 * key for Sesame's database: a config that only uses other stores), which is said on stderr.
 *
 * @example
 * await auditedLocally(ctx, flags.config, { action: 'secret.write', namespace: '', target: 'secret://builtin/x' }, () => client.write(…));
 */
export async function auditedLocally<T>(
  ctx: CliContext,
  config: string | undefined,
  event: Omit<AuditEvent, 'actor' | 'outcome' | 'detail'>,
  work: () => Promise<T>,
): Promise<T> {
  const [{ withAuditEvent }, { AuditLog }] = await Promise.all([
    import('../audit/ambient.js'),
    import('../audit/index.js'),
  ]);
  await ctx.ready();
  let database: SesameDatabase | undefined;
  try {
    database = (await ctx.sesame(config).builtinBackend()).database;
  } catch (err) {
    // No master key for Sesame's database (a config that only uses other stores and never
    // made one): there is no audit trail to record into. A builtin store change fails on its own.
    if ((err as { code?: unknown }).code !== 'master_key') throw err;
    ctx.stderr.write(
      `sesame: note: this change is not recorded in the audit trail: ${(err as Error).message}\n`,
    );
  }
  const actor = cliActor();
  const ok: AuditEvent = { ...event, actor, outcome: 'ok' };
  let result: { value: T; recorded: boolean };
  try {
    result = await withAuditEvent(ok, work);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const detail = typeof code === 'string' && !code.startsWith('ERR_') ? code : 'error';
    if (database)
      await new AuditLog(database)
        .append({ ...event, actor, outcome: 'error', detail })
        .catch(() => undefined);
    throw err;
  }
  if (!result.recorded && database) await new AuditLog(database).append(ok);
  return result.value;
}
