/**
 * `sesame run`: start a process with secrets in its environment, and mask their values in its
 * output. Exit code and signals pass through.
 *
 * Masking of the child's stdout and stderr: see Redactor.createStream — a value split across
 * writes is masked whatever the pause between them, and if masking fails the rest of that output
 * is withheld (a notice line is written instead), never passed through.
 */
import { fstatSync, statSync } from 'node:fs';
import path from 'node:path';
import { finished, PassThrough, type Readable, type Writable } from 'node:stream';
import { parseEnv } from 'node:util';
import type { Command } from 'commander';
import { findDefaultConfigFile } from '../../config/files.js';
import { MasterKeyError } from '../../encrypted-store/errors.js';
import { UsageError } from '../../errors.js';
import { MASKING_FAILED, Redactor } from '../../redact/redactor.js';
import type { Sesame } from '../../sesame.js';
import { type CliContext, example, namespaceOption, readFileBounded, withCommon } from '../context.js';
import { documentText } from '../../host-file.js';
import { profileTokens } from '../profiles-file.js';
import { readOptionalFile } from '../read-optional.js';
import type { RunFlags } from './run-args.js';
import {
  EMBEDDED_MASTER_KEY_FILE,
  masterKeyForms,
  type OutputCopier,
  ownCredentials,
  runChild,
} from './run-child.js';

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from './run-child.js';

/** Whether `file` is a named pipe or a socket (`<(…)` is /dev/fd/N, a pipe). */
function isPipe(file: string): boolean {
  try {
    const stat = statSync(file);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * Read a `.env` file (`NAME=value` lines, `#` comments, quotes, `export ` prefixes: Node's
 * `util.parseEnv`). Values may be references or templates; they are resolved like `--env`.
 */
export function readEnvFile(ctx: CliContext, name: string): Record<string, string> {
  const file = path.resolve(ctx.cwd, name);
  const text = readFileBounded(file, `--env-file ${name}`);
  if (text === '' && isPipe(file)) {
    // Started as `node bin/sesame.js` (not the sesame command, which passes `--`): Node.js 20
    // read this --env-file when it started, draining the pipe. Running without its variables
    // would pass for success.
    throw new UsageError(
      `--env-file ${name} is a pipe and arrived empty: Node.js 20 reads every --env-file of its command line before Sesame starts, which drains a pipe; start Sesame as the sesame command or with node -- bin/sesame.js, or give a regular file`,
    );
  }
  const parsed = parseEnv(documentText(text)) as Record<string, string>;
  for (const variable of Object.keys(parsed)) {
    if (!VARIABLE_NAME.test(variable))
      throw new UsageError(`--env-file ${name}: "${variable}" is not a valid variable name`);
  }
  return parsed;
}

/**
 * Which of a connection's variables go into the child's environment: by default none that the
 * environment already has (`USER`, `HOME`, `PATH` are not a connection's to change) and none
 * given explicitly with `--env` or `--env-file`; with `overwrite`, the environment's are replaced.
 * Returns the variables to set and the names kept as they were (names only: never a value).
 */
export function mergeConnectionEnvironment(
  fromConnection: Record<string, string>,
  inherited: NodeJS.ProcessEnv,
  explicit: Readonly<Record<string, string>>,
  overwrite: boolean,
): { set: Record<string, string>; kept: string[] } {
  const set: Record<string, string> = {};
  const kept: string[] = [];
  for (const [name, value] of Object.entries(fromConnection)) {
    if (name in explicit || (!overwrite && inherited[name] !== undefined)) kept.push(name);
    else set[name] = value;
  }
  return { set, kept };
}

/** `baseUrl` → `BASE_URL`, `api-key` → `API_KEY`. */
export function envName(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

/**
 * A connection's fields as environment variables: each field as UPPER_SNAKE_CASE, nested objects
 * flattened with `_` (`auth.token` → `AUTH_TOKEN`); a postgres connection also gets libpq's
 * `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD` (or `DATABASE_URL`) so `psql` just works.
 */
export function connectionEnvironment(type: string, fields: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  const put = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) put(prefix ? `${prefix}_${envName(k)}` : envName(k), v);
    } else if (value !== undefined) {
      env[prefix] = typeof value === 'string' ? value : JSON.stringify(value);
    }
  };
  put('', fields);
  if (type === 'postgres') {
    const libpq: Record<string, string> = {
      host: 'PGHOST',
      port: 'PGPORT',
      database: 'PGDATABASE',
      user: 'PGUSER',
      password: 'PGPASSWORD',
      url: 'DATABASE_URL',
    };
    for (const [field, variable] of Object.entries(libpq)) {
      const v = fields[field];
      if (v !== undefined && v !== null) env[variable] = String(v);
    }
  }
  return env;
}

/**
 * Copy `source` into `target` (not ending it) through a masking stream. Resolves once everything
 * was written. If the masking stream fails anyway (it is built not to), the notice is written and
 * the rest of `source` is read and dropped, so the child never blocks on a full pipe.
 */
export function maskOutput(source: Readable, target: Writable, redactor: Redactor): Promise<void> {
  const masker = redactor.createStream();
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    masker.on('error', () => {
      source.unpipe(masker);
      masker.unpipe(target);
      target.write(`\n${MASKING_FAILED}\n`);
      source.on('data', () => {});
      source.resume();
      finished(source, finish);
    });
    source.on('error', () => masker.end());
    source.pipe(masker).pipe(target, { end: false });
    masker.on('end', finish);
  });
}

/**
 * What to mask of the master key file `file` ({@link masterKeyForms}), or nothing when there is
 * no such file (no key a command could print). A file that is there but cannot be read fails
 * closed: the command is not started, since its output could print a key Sesame cannot mask.
 */
function keyFileForms(
  file: string,
  fix = 'point masterKey.file at the key file, or let the user that runs sesame read it',
): string[] {
  const text = readOptionalFile(
    file,
    (why) =>
      new MasterKeyError(
        `cannot read master key file ${file} (${why}), so its keys could not be masked in the command's output: nothing was run`,
        { fix },
      ),
  );
  if (text === undefined) return [];
  return masterKeyForms(text);
}

/**
 * The credential settings (those each store type declares) of every store of the config, used by
 * this run or not, as the config holds them: written in it or read through `${env:…}` and
 * `${file:…}` — a step that dumps `env` would otherwise print the `VAULT_TOKEN` a store reads. A
 * credential that is a reference (`{{ secret://… }}`) is not resolved for this: its value is in no
 * variable, and resolving it would reach a store this run does not need.
 */
function storeCredentials(
  sesame: Sesame,
  credentialValues: (settings: unknown, paths: readonly string[]) => string[],
  holdsReference: (value: string) => boolean,
): string[] {
  return sesame.config.stores
    .filter((store) => store.unavailable === undefined && sesame.registry.has(store.type))
    .flatMap((store) =>
      credentialValues(store.settings, sesame.registry.get(store.type).secretSettings ?? []),
    )
    .filter((value) => !holdsReference(value));
}

// No default value: commander would print "(default: [])" in help.
const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Copy several sources into `target` (not ending it) through one masking stream, each chunk
 * whole and in the order it was read, so a value whose pieces come from different sources is
 * masked as it will read in `target`. Fails closed as {@link maskOutput}.
 */
export function maskMergedOutput(
  sources: readonly Readable[],
  target: Writable,
  redactor: Redactor,
): Promise<void> {
  const merged = new PassThrough();
  let open = sources.length;
  for (const source of sources) {
    source.on('data', (chunk: Buffer) => {
      // One pipe's backlog must not grow without bound while the masker waits for the target.
      if (!merged.write(chunk)) {
        source.pause();
        merged.once('drain', () => source.resume());
      }
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (--open === 0) merged.end();
    };
    source.on('end', end).on('error', end);
  }
  if (open === 0) merged.end();
  return maskOutput(merged, target, redactor);
}

/**
 * Whether our stdout and stderr write to the same place: one terminal, one file (`> log 2>&1`),
 * one pipe (`2>&1 | tee`). There the command's two outputs read as one text, so they are masked
 * as one; elsewhere (or when it cannot be told) each is masked alone.
 */
function sameDestination(io: Pick<CliContext, 'stdout' | 'stderr'>): boolean {
  if (io.stdout === io.stderr) return true;
  if (io.stdout !== process.stdout || io.stderr !== process.stderr) return false;
  try {
    const out = fstatSync(1);
    const err = fstatSync(2);
    return out.dev === err.dev && out.ino === err.ino && out.rdev === err.rdev;
  } catch {
    return false;
  }
}

/**
 * The masking copier of a redactor: nothing to mask, nothing to copy (the command writes
 * directly). When our stdout and stderr are the same place, both go through one masking stream
 * into stdout (the same place), so a value the command writes half to each is masked too.
 */
function maskingWith(
  redactor: Redactor,
  io: Pick<CliContext, 'stdout' | 'stderr'>,
): OutputCopier | undefined {
  if (redactor.size === 0) return undefined;
  if (sameDestination(io)) return (stdout, stderr) => maskMergedOutput([stdout, stderr], io.stdout, redactor);
  return async (stdout, stderr) => {
    await Promise.all([maskOutput(stdout, io.stdout, redactor), maskOutput(stderr, io.stderr, redactor)]);
  };
}

/**
 * The error for an `--env` argument that is not VAR=…: it repeats the argument only when it is a
 * variable name, since an argument without "=" may be the value itself (`--env "$TOKEN"`).
 */
/**
 * No environment variable can carry a NUL byte (C strings end there). Node's spawn would refuse
 * it with an error quoting the value, so the variable is named here instead, and nothing runs.
 */
function refuseNulBytes(variables: Record<string, string>): void {
  const names = Object.entries(variables)
    .filter(([, value]) => value.includes('\0'))
    .map(([name]) => name);
  if (names.length === 0) return;
  throw new UsageError(
    `the value of ${names.join(', ')} holds a NUL byte, which an environment variable cannot carry: nothing was run ` +
      '(store the value base64-encoded and decode it in the command, or have the command read it with sesame resolve)',
  );
}

function malformedEnv(pair: string): UsageError {
  const hint = 'e.g. --env TOKEN=secret://env/TOKEN';
  if (pair.startsWith('='))
    return new UsageError(`--env =…: the variable name is missing before "=", ${hint}`);
  if (VARIABLE_NAME.test(pair))
    return new UsageError(`--env ${pair} needs =<reference-or-template>, ${hint}`);
  return new UsageError(`--env needs VAR=<reference-or-template> (this argument has no "="), ${hint}`);
}

export function registerRun(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('run')
    .description('run a command with secrets in its environment; their values are masked in its output')
    .option(
      '--connection <name>',
      "put each of the connection's fields in the environment as UPPER_SNAKE_CASE",
    )
    .option(
      '--prefix <PREFIX>',
      "with --connection: put PREFIX before each of the connection's variable names, e.g. WAREHOUSE_",
    )
    .option(
      '--overwrite',
      'with --connection: replace variables the environment already has (default: keep them, and say so)',
    )
    .option('-e, --env <VAR=reference>', 'set VAR to a resolved reference or template (repeatable)', collect)
    .option(
      '--env-file <file>',
      'set the variables of a .env file; values may be references or templates (repeatable)',
      collect,
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .passThroughOptions();
  withCommon(cmd, { json: false, checkNamespace: false });
  example(
    cmd,
    "sesame run --env PGPASSWORD='secret://builtin/db/password' -- psql -h db app",
    'sesame run --env-file .env -- ./deploy.sh     # .env: API_TOKEN=secret://aws/prod-api#token',
    'sesame run --connection warehouse --prefix WAREHOUSE_ --namespace acme.devops -- ./sync.sh',
  );
  cmd.action((argv: string[], flags: RunFlags) => runCommand(ctx, argv, flags));
}

/**
 * What `sesame run` does once its arguments are read (by commander, or by `readRunArguments`
 * in `main()`): resolve the variables, start the command with them, mask their values in its
 * output, and set its exit code.
 */
export async function runCommand(ctx: CliContext, argv: readonly string[], flags: RunFlags): Promise<void> {
  const [command, ...args] = argv;
  if (!command) throw new UsageError('give the command to run after --');
  if (flags.prefix !== undefined && !flags.connection)
    throw new UsageError('--prefix goes with --connection NAME');
  if (flags.overwrite && !flags.connection) throw new UsageError('--overwrite goes with --connection NAME');
  if (flags.prefix !== undefined && !VARIABLE_NAME.test(flags.prefix)) {
    throw new UsageError(
      `--prefix "${flags.prefix}": a prefix is letters, digits and "_", not starting with a digit, e.g. WAREHOUSE_`,
    );
  }
  // Explicit variables: the .env files in order, then --env (the last one given wins).
  const explicit: Record<string, string> = {};
  for (const file of flags.envFile ?? []) Object.assign(explicit, readEnvFile(ctx, file));
  for (const pair of flags.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw malformedEnv(pair);
    const name = pair.slice(0, eq);
    if (!VARIABLE_NAME.test(name)) throw new UsageError(`--env: "${name}" is not a valid variable name`);
    explicit[name] = pair.slice(eq + 1);
  }
  if (flags.namespace !== undefined) namespaceOption(flags.namespace);
  // Every login profile's token, masked like the tokens of variables: one `cat` of the profiles
  // file shows them all. Read before anything is resolved, since an unreadable file stops the run.
  const loginTokens = profileTokens(ctx.env);
  // Nothing to resolve and no config to read (a config is read, and its errors said, whenever
  // there is one): the command runs with output masking but without loading the library.
  if (
    Object.keys(explicit).length === 0 &&
    !flags.connection &&
    flags.config === undefined &&
    findDefaultConfigFile(ctx.cwd) === undefined
  ) {
    const own = new Redactor();
    // No config: the embedded default's key file, if there is one yet.
    const embeddedKey = keyFileForms(
      path.resolve(ctx.cwd, EMBEDDED_MASTER_KEY_FILE),
      `let the user that runs sesame read ${EMBEDDED_MASTER_KEY_FILE}, the key file Sesame uses without a config file`,
    );
    for (const credential of [...ownCredentials(ctx.env), ...loginTokens, ...embeddedKey])
      own.add(credential);
    ctx.exitCode = await runChild(ctx, command, args, ctx.env, maskingWith(own, ctx));
    return;
  }
  const [{ dialectsOf }, { collectReferences }, { credentialValues }] = await Promise.all([
    import('../../refs/dialects/index.js'),
    import('../../refs/template.js'),
    import('../../stores/core/credentials.js'),
    ctx.ready(),
  ]);
  // Only values that hold references are resolved; a .env file's plain values pass as written.
  const wanted: Record<string, string> = {};
  const injected: Record<string, string> = {};
  const dialects = dialectsOf(ctx.sesame(flags.config).config);
  for (const [name, value] of Object.entries(explicit)) {
    if (collectReferences(value, `env.${name}`, undefined, dialects).length > 0) wanted[name] = value;
    else injected[name] = value;
  }
  const sesame = ctx.sesame(flags.config);
  if (flags.connection) {
    const conn = await sesame.resolveConnection(flags.connection, { namespace: flags.namespace });
    const variables: Record<string, string> = {};
    for (const [name, value] of Object.entries(connectionEnvironment(conn.type, conn.fields))) {
      variables[`${flags.prefix ?? ''}${name}`] = value;
    }
    const { set, kept } = mergeConnectionEnvironment(variables, ctx.env, explicit, flags.overwrite ?? false);
    Object.assign(injected, set);
    if (kept.length > 0) {
      ctx.stderr.write(
        `sesame: kept ${kept.join(', ')} as already set; connection ${flags.connection} did not replace ${kept.length === 1 ? 'it' : 'them'} ` +
          '(use --prefix to set them under other names, or --overwrite)\n',
      );
    }
  }
  const resolved = await sesame.resolve<Record<string, unknown>>(wanted, {
    namespace: flags.namespace,
    field: 'env',
  });
  for (const [name, value] of Object.entries(resolved)) {
    injected[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  refuseNulBytes(injected);
  // Masked like the values: the master key opens every builtin secret, and an `env` dump or a
  // `cat` of the key file in a CI step would print it. Read after resolving, which may have
  // created the embedded default's key file.
  const { masterKey, baseDir } = sesame.config;
  const own = [
    ...ownCredentials(ctx.env, 'env' in masterKey ? masterKey.env : undefined),
    ...loginTokens,
    ...('file' in masterKey ? keyFileForms(path.resolve(baseDir, masterKey.file)) : []),
    ...storeCredentials(sesame, credentialValues, (value) => {
      try {
        return collectReferences(value, 'store', undefined, dialects).length > 0;
      } catch {
        return false; // not a reference that parses: masked as written
      }
    }),
  ];
  for (const credential of own) sesame.redactor.add(credential);

  ctx.exitCode = await runChild(
    ctx,
    command,
    args,
    { ...ctx.env, ...injected },
    maskingWith(sesame.redactor, ctx),
  );
}
