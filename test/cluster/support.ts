/**
 * Real `sesame serve` processes for the distributed-mode tests (run `npx tsc -p
 * tsconfig.build.json` first: they run dist/ through bin/sesame.js). 127.0.0.1 only; every
 * process started here is killed by `killAll()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/db/index.js';
import { BIN } from '../support/cli.js';
import type { PostgresHandle } from '../support/postgres.js';

export interface Node {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running: ChildProcess[] = [];

export function killAll(): void {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export function startNode(options: {
  cwd: string;
  config: string;
  env: Record<string, string>;
}): Promise<Node> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--config', options.config], {
      cwd: options.cwd,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        SESAME_LOG_LEVEL: 'warn',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    let output = '';
    let stopping = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // A node that dies on its own takes its reason with it (the test then sees ECONNREFUSED):
    // its output goes to the test's stderr, so a run that failed once can be read afterwards.
    child.on('exit', (code, signal) => {
      if (stopping || signal === 'SIGKILL') return;
      process.stderr.write(`\n[cluster] sesame serve ${child.pid} exited by itself (code ${code}, signal ${signal}); its output:\n${output.slice(-8000)}\n`);
    });
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 45_000);
    const onData = (c: Buffer) => {
      output += String(c);
      const url = /serving (http:\/\/[^\s]+)/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          url,
          child,
          output: () => output,
          async stop(signal = 'SIGTERM') {
            if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
            stopping = true;
            child.kill(signal);
            return exited;
          },
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
}

export async function api(url: string, method: string, p: string, token?: string, body?: unknown) {
  const send = () =>
    fetch(`${url}/api/v1${p}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  // A kept-alive socket the server closed as the request went out resets it (seen once in CI):
  // sent again once on a new socket. A node that died refuses the second one, which fails.
  const response = await send().catch((err: unknown) => {
    if ((err as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET') throw err;
    return send();
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Poll `check` every 50 ms until it is true; the time it took in ms (throws after `limitMs`). */
export async function within(limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `pid` as a process of a PostgreSQL server on this host, for tests that stop one with SIGSTOP.
 * Throws when it is not one (a server named by SESAME_TEST_PG_URL runs elsewhere: its backend
 * ids are not this host's processes, and signalling them could hit anything).
 */
export function localPostgresProcess(pid: number): number {
  let command = '';
  try {
    command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // No such process here.
  }
  if (command !== 'postgres') {
    throw new Error(
      `process ${pid} is not a PostgreSQL server process on this host: this test stops one, so it needs the throwaway cluster (unset SESAME_TEST_PG_URL)`,
    );
  }
  return pid;
}

/**
 * A new database `name` on `postgres`, migrated and empty (no master key, no token yet: what the
 * replicas of a first rollout meet), and a folder whose sesame.yaml names it as `database` (the
 * URL itself unless given, e.g. `${env:SESAME_DATABASE_URL}`) with the master key from
 * SESAME_MASTER_KEY.
 */
export async function emptyMigratedDatabase(
  postgres: PostgresHandle,
  name: string,
  database?: string,
): Promise<{ url: string; cwd: string; config: string }> {
  const url = await postgres.createDatabase(name);
  const migrated = await openDatabase(url);
  await migrated.migrate();
  await migrated.close();
  const cwd = mkdtempSync(path.join(tmpdir(), `${name.replace(/_/g, '-')}-`));
  const config = path.join(cwd, 'sesame.yaml');
  writeFileSync(config, `database: ${database ?? url}\nmasterKey: { env: SESAME_MASTER_KEY }\n`);
  return { url, cwd, config };
}
