/** The `sesame` command line. `main()` returns the exit code: 0 ok, 1 the job failed, 2 bad usage or input. */
import { Command, CommanderError } from 'commander';
import { SesameError } from '../errors.js';
import { processRedactor } from '../redact/redactor.js';
import { registerAudit } from './commands/audit.js';
import { registerCache } from './commands/cache.js';
import { registerConnections } from './commands/connections.js';
import { registerKeys } from './commands/keys.js';
import { registerResolve } from './commands/resolve.js';
import { registerRun } from './commands/run.js';
import { registerSecrets } from './commands/secrets.js';
import { registerServe } from './commands/serve.js';
import { registerStores } from './commands/stores.js';
import { registerTokens } from './commands/tokens.js';
import { type CliContext, createCliContext } from './context.js';

export const VERSION = '0.1.0';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('sesame')
    .description('Sesame: resolve secret references against the secret managers you already run')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage and an example)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(`sesame: ${s.replace(/^error: /, '')}`),
    });
  registerResolve(program, ctx);
  registerConnections(program, ctx);
  registerStores(program, ctx);
  registerRun(program, ctx);
  registerCache(program, ctx);
  registerSecrets(program, ctx);
  registerKeys(program, ctx);
  registerServe(program, ctx);
  registerTokens(program, ctx);
  registerAudit(program, ctx);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

/** One line on stderr that says what went wrong and what to do; never a secret value. */
function reportError(ctx: CliContext, err: unknown): 1 | 2 {
  if (err instanceof SesameError) {
    ctx.stderr.write(`sesame: ${processRedactor.redact(err.message)}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  ctx.stderr.write(`sesame: unexpected error: ${processRedactor.redact(message.split('\n')[0] ?? '')}\n`);
  if (process.env.SESAME_DEBUG && err instanceof Error) ctx.stderr.write(`${processRedactor.redact(err.stack ?? '')}\n`);
  return 1;
}

export async function main(argv: string[], ctx: CliContext = createCliContext()): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(ctx, err);
  } finally {
    await ctx.close().catch(() => {});
  }
}
