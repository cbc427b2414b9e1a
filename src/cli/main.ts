/** The `sesame` command line. `main()` returns the exit code: 0 ok, 1 the job failed, 2 bad usage or input. */
import type { Command } from 'commander';
import { describeUnexpected, SesameError, unexpectedStack } from '../errors.js';
import { processRedactor } from '../redact/redactor.js';
import { painter } from './colour.js';
import { readRunArguments } from './commands/run-args.js';
import { type CliContext, createCliContext, example, examplesOf } from './context.js';

export const VERSION = '0.1.0';

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Every command, loaded on demand: `sesame run` does not load the server, the database driver
 * or the cloud SDKs, which keeps a step's start-up short.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  resolve: async () => (await import('./commands/resolve.js')).registerResolve,
  connections: async () => (await import('./commands/connections.js')).registerConnections,
  stores: async () => (await import('./commands/stores.js')).registerStores,
  run: async () => (await import('./commands/run.js')).registerRun,
  cache: async () => (await import('./commands/cache.js')).registerCache,
  secrets: async () => (await import('./commands/secrets.js')).registerSecrets,
  keys: async () => (await import('./commands/keys.js')).registerKeys,
  serve: async () => (await import('./commands/serve.js')).registerServe,
  tokens: async () => (await import('./commands/tokens.js')).registerTokens,
  audit: async () => (await import('./commands/audit.js')).registerAudit,
  refs: async () => (await import('./commands/refs.js')).registerRefs,
  migrate: async () => (await import('./commands/migrate.js')).registerMigrate,
  scan: async () => (await import('./commands/scan.js')).registerScan,
  init: async () => (await import('./commands/init.js')).registerInit,
  login: async () => (await import('./commands/login.js')).registerLogin,
  logout: async () => (await import('./commands/login.js')).registerLogout,
  profiles: async () => (await import('./commands/login.js')).registerProfiles,
  completion: async () => (await import('./commands/completion.js')).registerCompletion,
};

/**
 * The program with the command `argv` names (all commands when it names none, e.g. `--help`).
 */
export async function buildProgram(ctx: CliContext, argv: readonly string[] = []): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command('sesame')
    .description('Sesame: resolve secret references against the secret managers you already run')
    .version(VERSION)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(`sesame: ${s.replace(/^error: /, '')}`),
    });
  const first = argv[2];
  const named = first !== undefined ? COMMANDS[first] : undefined;
  const loaders = named ? [named] : first === '--version' || first === '-V' ? [] : Object.values(COMMANDS);
  for (const load of loaders) (await load())(program, ctx);
  // Every command but these loads the library first; `run` loads it when it has something to resolve.
  if (!(first !== undefined && ['run', 'completion', '--version', '-V', '--help', '-h'].includes(first)))
    await ctx.ready();
  example(program, ...PROGRAM_EXAMPLES);
  const paint = painter(ctx.stderr, ctx.env);
  const walk = (cmd: Command) => {
    cmd.exitOverride();
    // A usage error is one line, like every other error: what is wrong, then where to read more.
    cmd.configureOutput({
      outputError: (s, write) =>
        write(
          `${paint('red', 'sesame:')} ${usageLine(s)} (see ${commandPath(cmd)} --help for usage and an example)\n`,
        ),
    });
    for (const sub of cmd.commands) walk(sub);
    // A group's help shows its subcommands' own first examples, so it cannot drift from theirs.
    const subExamples = cmd.commands.flatMap((sub) => examplesOf(sub).slice(0, 1));
    if (cmd !== program && examplesOf(cmd).length === 0 && subExamples.length > 0)
      example(cmd, ...subExamples);
  };
  walk(program);
  return program;
}

/** What `sesame --help` shows as examples: a first session. */
const PROGRAM_EXAMPLES = [
  'sesame init',
  'sesame secrets set db/password',
  'sesame resolve secret://builtin/db/password',
  'sesame run --env DB_PASSWORD=secret://builtin/db/password -- ./job.sh',
];

/** `sesame secrets get`: the words a user types to reach `cmd`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** commander's message on one line: without its `error: `, with its suggestion kept, no option value. */
function usageLine(message: string): string {
  return (
    message
      .replace(/^error: /, '')
      // An unknown `--option=value` is named without its value: it may be a secret (`--token=…`).
      .replace(/'(-{1,2}[^'=\s]+)=[^']*'/g, "'$1=…'")
      // Something that does not look like an option name is a value starting with "-" (a
      // generated password, "$DB_PASSWORD" in a CI script): not shown.
      .replace(
        /unknown option '(-[^']*)'/g,
        (named, option: string) =>
          /^(--[a-z][a-z0-9]*(-[a-z0-9]+)*(=…)?|-[A-Za-z])$/.test(option)
            ? named
            : 'unknown option (not shown: a value that starts with "-"? put -- before it)',
      )
      .trim()
      .replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
      .replace(/\s*\n\s*/g, ' ')
  );
}

/** One line on stderr that says what went wrong and what to do; never a secret value. */
function reportError(ctx: CliContext, err: unknown): 1 | 2 {
  const prefix = painter(ctx.stderr, ctx.env)('red', 'sesame:');
  if (err instanceof SesameError) {
    ctx.stderr.write(`${prefix} ${processRedactor.redact(withFix(err))}\n`);
    return err.exitCode;
  }
  // Not one of ours: its message may quote its input (a value, cut or escaped past masking).
  ctx.stderr.write(`${prefix} unexpected error: ${processRedactor.redact(describeUnexpected(err))}\n`);
  if (process.env.SESAME_DEBUG && err instanceof Error)
    ctx.stderr.write(`${processRedactor.redact(unexpectedStack(err))}\n`);
  return 1;
}

/**
 * The error's message and, when the raiser knew it, what to do about it (`fix`, which `stores
 * test` shows too): once, on the message's (first) line. Some messages already end with their fix.
 */
function withFix(err: SesameError): string {
  const fix = err.fix?.replace(/\s*\n\s*/g, ' ').trim();
  if (!fix || err.message.includes(fix)) return err.message;
  const [first = '', ...rest] = err.message.split('\n');
  return [`${first.replace(/[.;:]$/, '')}; ${fix}`, ...rest].join('\n');
}

/** commander's own exit (help shown, version, usage error), whose message commander already wrote. */
function isCommanderExit(err: unknown): err is Error & { code: string; exitCode: number } {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    code.startsWith('commander.') &&
    typeof (err as { exitCode?: unknown }).exitCode === 'number'
  );
}

export async function main(argv: string[], ctx: CliContext = createCliContext()): Promise<number> {
  try {
    // `sesame run`, paid on every workflow step, starts without commander when its arguments
    // are the usual ones (see run-args.ts); help and usage errors still go through commander.
    const run = argv[2] === 'run' ? readRunArguments(argv.slice(3)) : undefined;
    if (run) {
      const { runCommand } = await import('./commands/run.js');
      await runCommand(ctx, run.command, run.flags);
      return ctx.exitCode;
    }
    const program = await buildProgram(ctx, argv);
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (err) {
    if (isCommanderExit(err)) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(ctx, err);
  } finally {
    await ctx.close().catch(() => {});
  }
}
