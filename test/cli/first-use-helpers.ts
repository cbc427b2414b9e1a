/**
 * Helpers of the first-use CLI tests (install, init, login, secrets input and files): a
 * `sesame` to run by path or by name with a private config directory, and `sesame serve` on
 * 127.0.0.1 with a random port, stopped by its pid after the file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { BIN, type CliResult } from '../support/cli.js';

export const tempDir = (prefix = 'sesame-first-use-') => mkdtempSync(path.join(tmpdir(), prefix));

export interface Runner {
  /** Run `sesame` with these args in `cwd`; `env` adds to the runner's environment. */
  (args: string[], options?: { cwd?: string; input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** The environment every run gets (PATH, HOME, XDG_CONFIG_HOME…). */
  env: Record<string, string>;
}

/**
 * A runner for `command` (default: node on the repository's bin) whose user config directory is
 * its own (XDG_CONFIG_HOME in a fresh folder), so profiles never touch the real home.
 */
export function runner(options: { command?: string[]; env?: Record<string, string>; cwd?: string } = {}): Runner {
  const command = options.command ?? [process.execPath, BIN];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: tempDir('sesame-home-'),
    XDG_CONFIG_HOME: tempDir('sesame-xdg-'),
    ...options.env,
  };
  const run = ((args, runOptions = {}) =>
    new Promise<CliResult>((resolve, reject) => {
      const [file, ...pre] = command as [string, ...string[]];
      const child = spawn(file, [...pre, ...args], {
        cwd: runOptions.cwd ?? options.cwd,
        env: { ...env, ...runOptions.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => {
        stdout += String(c);
      });
      child.stderr.on('data', (c) => {
        stderr += String(c);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), runOptions.timeoutMs ?? 30_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      child.stdin.end(runOptions.input ?? '');
    })) as Runner;
  run.env = env;
  return run;
}

export interface Serving {
  url: string;
  /** The first-start admin token `sesame serve` printed. */
  adminToken: string;
  output(): string;
  stop(): Promise<number | null>;
}

const started: ChildProcess[] = [];

afterAll(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

/** `sesame serve --host 127.0.0.1 --port 0` in `cwd`; resolves once it printed its URL. */
export function serve(options: { command?: string[]; cwd: string; env?: Record<string, string> }): Promise<Serving> {
  const [file, ...pre] = (options.command ?? [process.execPath, BIN]) as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...pre, 'serve', '--host', '127.0.0.1', '--port', '0'], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: options.cwd, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(child);
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`sesame serve did not start:\n${out}`)), 45_000);
    child.stderr.on('data', (c) => {
      out += String(c);
    });
    child.stdout.on('data', (c) => {
      out += String(c);
      const url = /serving (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const adminToken = /^(sesame_\S+)$/m.exec(out)?.[1];
      if (url && adminToken) {
        clearTimeout(timer);
        resolve({
          url,
          adminToken,
          output: () => out,
          async stop() {
            if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sesame serve exited with ${code}:\n${out}`));
    });
  });
}
