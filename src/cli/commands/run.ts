/**
 * `sesame run`: start a process with secrets in its environment, and mask their values in its
 * output. Exit code and signals pass through.
 *
 * Masking of the child's stdout and stderr: see Redactor.createStream — a value split across
 * writes is masked whatever the pause between them, and if masking fails the rest of that output
 * is withheld (a notice line is written instead), never passed through.
 */
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { MASKING_FAILED, type Redactor } from '../../redact/redactor.js';
import { type CliContext, example, withCommon } from '../context.js';

interface Flags {
  config?: string;
  namespace: string;
  connection?: string;
  env: string[];
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
    const libpq: Record<string, string> = { host: 'PGHOST', port: 'PGPORT', database: 'PGDATABASE', user: 'PGUSER', password: 'PGPASSWORD', url: 'DATABASE_URL' };
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
      finished(source).then(finish, finish);
    });
    source.on('error', () => masker.end());
    source.pipe(masker).pipe(target, { end: false });
    masker.on('end', finish);
  });
}

const collect = (value: string, previous: string[]) => [...previous, value];

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function registerRun(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('run')
    .description('run a command with secrets in its environment; their values are masked in its output')
    .option('--connection <name>', "put each of the connection's fields in the environment as UPPER_SNAKE_CASE")
    .option('-e, --env <VAR=reference>', 'set VAR to a resolved reference or template (repeatable)', collect, [])
    .argument('<command...>', 'the command and its arguments, after --')
    .passThroughOptions();
  withCommon(cmd, { json: false });
  example(
    cmd,
    "sesame run --env PGPASSWORD='secret://builtin/db/password' -- psql -h db app",
    'sesame run --connection jira --namespace acme.devops -- ./sync.sh',
  );
  cmd.action(async (argv: string[], flags: Flags) => {
    const [command, ...args] = argv;
    if (!command) throw new UsageError('give the command to run after --');
    const sesame = ctx.sesame(flags.config);
    const injected: Record<string, string> = {};
    if (flags.connection) {
      const conn = await sesame.resolveConnection(flags.connection, { namespace: flags.namespace });
      Object.assign(injected, connectionEnvironment(conn.type, conn.fields));
    }
    const wanted: Record<string, string> = {};
    for (const pair of flags.env) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env ${pair.split('=')[0]}: write VAR=<reference>, e.g. --env TOKEN=secret://env/TOKEN`);
      const name = pair.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--env: "${name}" is not a valid variable name`);
      wanted[name] = pair.slice(eq + 1);
    }
    const resolved = await sesame.resolve<Record<string, unknown>>(wanted, { namespace: flags.namespace, field: 'env' });
    for (const [name, value] of Object.entries(resolved)) {
      injected[name] = typeof value === 'string' ? value : JSON.stringify(value);
    }

    const child = spawn(command, args, {
      stdio: ['inherit', 'pipe', 'pipe'],
      env: { ...ctx.env, ...injected },
    });
    const copied = Promise.all([
      maskOutput(child.stdout, ctx.stdout, sesame.redactor),
      maskOutput(child.stderr, ctx.stderr, sesame.redactor),
    ]);
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new RunCommandNotFound(`command not found: ${command}`);
      if (err.code === 'E2BIG') {
        throw new UsageError(
          `cannot start ${command}: its environment or arguments are too large for the operating system (E2BIG; Linux allows 128 KiB per variable)`,
        );
      }
      throw err;
    });
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    // Everything the child wrote (its last held-back characters included) is out before we exit.
    await copied;
    if (outcome.signal) {
      // Die the way the child died, so callers see the same signal.
      await ctx.close();
      process.kill(process.pid, outcome.signal);
      return;
    }
    ctx.exitCode = outcome.code ?? 1;
  });
}

class RunCommandNotFound extends UsageError {
  override readonly exitCode = 2 as const;
}
