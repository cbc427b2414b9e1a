/** Run the real `sesame` bin (compiled by `npm run build`) as a user would. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/sesame.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** The environment a test's processes get: PATH (this Node first, for #! lines) and HOME, and `env`. */
function processEnv(env: Record<string, string> | undefined): Record<string, string> {
  return {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME ?? '/tmp',
    ...env,
  };
}

/** Run `file` with `argv` to its end: its exit, output and error output. */
export function runProcess(file: string, argv: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: options.cwd, env: processEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += String(c);
    });
    child.stderr.on('data', (c) => {
      stderr += String(c);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A command that stops reading early (or never reads) closes its stdin: not a failure here.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export function runCli(
  args: string[],
  options: RunOptions & {
    /** Run the bin itself, through its #! line, as the installed `sesame` command runs (default: node bin/sesame.js). */
    asCommand?: boolean;
  } = {},
): Promise<CliResult> {
  return options.asCommand ? runProcess(BIN, args, options) : runProcess(process.execPath, [BIN, ...args], options);
}

/** A bash command line (process substitution and all), as a user types it. */
export function runShell(line: string, options: RunOptions = {}): Promise<CliResult> {
  return runProcess('bash', ['-c', line], { timeoutMs: 30_000, ...options });
}

/** Start `sesame serve <args>`, wait for its URL line, stop it: everything it printed by then. */
export function serveUntilUp(
  args: string[],
  cwd: string,
  env: Record<string, string> = { SESAME_LOG_LEVEL: 'warn' },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd, env: processEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c) => {
      stdout += String(c);
      if (stdout.includes('sesame: serving ')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c) => {
      stderr += String(c);
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      if (!stdout.includes('sesame: serving ')) reject(new Error(`sesame serve did not start:\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}
