/**
 * The start of `sesame run` when there is nothing to resolve: no `--env`, `--env-file` or
 * `--connection`, no `--config` and no config file to read. `bin/sesame.js` loads this module,
 * bundled on its own as CommonJS (`dist/bundle/run-fast.cjs`), before anything else: it needs
 * neither the CLI's commands nor Node's ES module loader, so the command starts about as soon as
 * Node itself has. Everything else, `run` with something to resolve included, goes to `main()`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findDefaultConfigFile } from '../config/files.js';
import { readRunArguments } from './commands/run-args.js';
import { EMBEDDED_MASTER_KEY_FILE, runChild, TOKEN_VARIABLES } from './commands/run-child.js';
import { profilesFile } from './profiles-file.js';

/** The command's exit code, or undefined when `main()` must take `argv`. */
export function runWithoutLibrary(
  argv: readonly string[],
  cwd: string = process.cwd(),
): Promise<number> | undefined {
  if (argv[2] !== 'run') return undefined;
  const run = readRunArguments(argv.slice(3));
  if (run === undefined) return undefined;
  const { flags, command } = run;
  if (
    flags.env !== undefined ||
    flags.envFile !== undefined ||
    flags.connection !== undefined ||
    flags.prefix !== undefined ||
    flags.overwrite !== undefined ||
    flags.config !== undefined ||
    findDefaultConfigFile(cwd) !== undefined ||
    // Sesame's own tokens (in variables and in the login profiles file) and the embedded
    // default's master key are masked in the command's output, which needs the redactor.
    TOKEN_VARIABLES.some((name) => process.env[name]) ||
    existsSync(profilesFile(process.env)) ||
    existsSync(path.resolve(cwd, EMBEDDED_MASTER_KEY_FILE))
  ) {
    return undefined;
  }
  const [name, ...args] = command as [string, ...string[]];
  return runChild(
    { stdout: process.stdout, stderr: process.stderr, close: async () => {} },
    name,
    args,
    process.env,
  );
}
