/**
 * A throwaway PostgreSQL cluster for tests.
 *
 * `startPostgres()` runs initdb and pg_ctl from the PostgreSQL server binaries (as the
 * `postgres` user when the tests run as root, which PostgreSQL requires) on a free port, in a
 * fresh temporary directory, and returns its URL. When `SESAME_TEST_PG_URL` is set, that server
 * is used instead and nothing is started. Missing binaries are a failure, never a skip: install
 * them (`apt-get install -y postgresql`) or set `SESAME_TEST_PG_URL`.
 *
 * @example
 * let pg: PostgresHandle;
 * beforeAll(async () => { pg = await startPostgres(); });
 * afterAll(() => pg.stop());
 * const url = await pg.createDatabase(); // an empty database of its own
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresHandle {
  /** `postgresql://postgres@127.0.0.1:PORT/postgres` (or `SESAME_TEST_PG_URL`). */
  url: string;
  /** Create an empty database on the server and return its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stop the cluster and remove its files (does nothing for `SESAME_TEST_PG_URL`). */
  stop(): Promise<void>;
  /**
   * Stop the server (fast shutdown: clients are disconnected) and keep its files, to start it
   * again on the same port with `resume()` (fault tests). Not for `SESAME_TEST_PG_URL`.
   */
  halt(): Promise<void>;
  resume(): Promise<void>;
}

/** Clusters still running, stopped if the test process exits without calling `stop()`. */
const running = new Map<string, () => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const stop of running.values()) stop();
  });
}

function findBinDir(): string {
  const fromEnv = process.env['SESAME_PG_BIN'];
  if (fromEnv) {
    if (existsSync(path.join(fromEnv, 'initdb'))) return fromEnv;
    throw new Error(`SESAME_PG_BIN=${fromEnv} has no initdb`);
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return path.join(root, versions[0], 'bin');
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    'PostgreSQL server binaries not found (looked for initdb in /usr/lib/postgresql/*/bin and on PATH): ' +
      'install them (apt-get install -y postgresql) or set SESAME_TEST_PG_URL to a server the tests may use',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function createDatabaseOn(url: string, prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(url, name);
}

export async function startPostgres(): Promise<PostgresHandle> {
  const external = process.env['SESAME_TEST_PG_URL'];
  if (external) {
    return {
      url: external,
      createDatabase: (prefix = 'sesame_test') => createDatabaseOn(external, prefix),
      stop: async () => {},
      halt: () => Promise.reject(new Error('halt() needs a throwaway cluster: unset SESAME_TEST_PG_URL')),
      resume: () => Promise.reject(new Error('resume() needs a throwaway cluster: unset SESAME_TEST_PG_URL')),
    };
  }

  const bin = findBinDir();
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: run its tools as the postgres user then.
  const command = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args])
      : run(path.join(bin, tool), args);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-pg-'));
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'sock');
  mkdirSync(sockets);
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error('running as root but there is no "postgres" user to run PostgreSQL as (apt-get install -y postgresql creates it)');
    }
    chownSync(dir, uid, gid);
    chownSync(sockets, uid, gid);
  }

  const stopSync = () => {
    if (existsSync(path.join(data, 'postmaster.pid'))) {
      const args = [path.join(bin, 'pg_ctl'), '-D', data, 'stop', '-m', 'immediate', '-w'];
      if (asRoot) spawnSync('runuser', ['-u', 'postgres', '--', ...args]);
      else spawnSync(args[0] as string, args.slice(1));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  running.set(dir, stopSync);
  installExitHook();

  try {
    // Speed over durability: a test cluster is thrown away.
    await command('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions']);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const options = [
        `-p ${port}`,
        `-k ${sockets}`,
        '-c listen_addresses=127.0.0.1',
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
      ].join(' ');
      try {
        await command('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', 'start']);
      } catch (err) {
        // Another process may have taken the port between the probe and the start.
        lastError = err;
        continue;
      }
      const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
      return {
        url,
        createDatabase: (prefix = 'sesame_test') => createDatabaseOn(url, prefix),
        stop: async () => {
          running.delete(dir);
          stopSync();
        },
        halt: async () => {
          await command('pg_ctl', ['-D', data, 'stop', '-m', 'fast', '-w']);
        },
        resume: async () => {
          await command('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'server.log'), '-w', 'start']);
        },
      };
    }
    const log = existsSync(path.join(dir, 'server.log')) ? readFileSync(path.join(dir, 'server.log'), 'utf8') : '';
    throw new Error(`PostgreSQL did not start: ${String(lastError)}\n${log.slice(-2000)}`);
  } catch (err) {
    running.delete(dir);
    stopSync();
    throw err;
  }
}
