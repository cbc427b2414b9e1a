/**
 * Durability across processes, through the built code in a child process: a write that
 * returned survives kill -9, and two processes writing one name at once lose nothing.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/index.js';
import { openBackend, tempDir, useDatabases, writeKeyFile } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, 'fixtures', 'writer.mjs');
const built = path.resolve(here, '../../dist/encrypted-store/index.js');
const databases = useDatabases();

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** The child runs dist/: fail clearly when it is missing or older than the sources it comes from. */
function requireBuild(): void {
  if (!existsSync(built)) {
    throw new Error(`${built} is missing: these tests run the built code in a child process; run npm run build first (npm test does)`);
  }
  const root = path.resolve(here, '../..');
  for (const dir of ['src/encrypted-store', 'src/db', 'src/audit']) {
    for (const file of readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const source = path.join(root, dir, file);
      const output = path.join(root, 'dist', dir.slice('src/'.length), file.replace(/\.ts$/, '.js'));
      if (!existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs) {
        throw new Error(`${output} is older than ${source}: run npm run build first (npm test does)`);
      }
    }
  }
}

/** Start the writer script; `lines` collects every complete stdout line. */
function startWriter(args: string[]): { child: Child; lines: string[]; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, stderr: () => err, exited };
}

async function until(check: () => boolean, what: string, stderr: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; child stderr: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('durability of builtin writes', () => {
  it('keeps every write that returned when the writing process is killed with SIGKILL', async () => {
    requireBuild();
    const dir = tempDir();
    const database = `sqlite:${path.join(dir, 'sesame.db')}`;
    const keyFile = writeKeyFile(dir);
    // Create the schema first so the child only writes.
    await (await openBackend({ database, masterKey: { file: keyFile } })).close();

    const writer = startWriter(['loop', database, keyFile, 'kill']);
    await until(() => writer.lines.length > 150, '150 acknowledged writes', writer.stderr);
    writer.child.kill('SIGKILL');
    expect(await writer.exited).toBeNull();

    const acknowledged = writer.lines.filter((l) => l !== 'ready').map((l) => {
      const [i, name, version] = l.split(' ');
      return { i: Number(i), name: name as string, version: Number(version) };
    });
    expect(acknowledged.length).toBeGreaterThanOrEqual(150);

    const sqlite = new Database(path.join(dir, 'sesame.db'));
    expect(sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
    sqlite.close();
    const reopened = await openBackend({ database, masterKey: { file: keyFile } });
    const results = await reopened.secrets().readMany(
      acknowledged.map((a) => ({ name: a.name, version: a.version, namespaces: [''] })),
    );
    const lost = results.flatMap((r, n) => {
      const expected = `kill-value-${acknowledged[n]?.i}`;
      return r instanceof Error || r.value !== expected ? [`${acknowledged[n]?.name} v${acknowledged[n]?.version}`] : [];
    });
    expect(lost).toEqual([]);
  });

  it('commits every version with its audit record, across kill -9 rounds, and the chain verifies', async () => {
    requireBuild();
    const dir = tempDir();
    const file = path.join(dir, 'sesame.db');
    const database = `sqlite:${file}`;
    const keyFile = writeKeyFile(dir);
    await (await openBackend({ database, masterKey: { file: keyFile } })).close();

    let acknowledged = 0;
    for (let round = 0; round < 5; round++) {
      const writer = startWriter(['audited', database, keyFile, `r${round}`]);
      const target = 20 + round * 7;
      await until(() => writer.lines.length > target, `${target} acknowledged writes`, writer.stderr);
      writer.child.kill('SIGKILL');
      expect(await writer.exited).toBeNull();
      acknowledged += writer.lines.filter((l) => l !== 'ready').length;
    }

    const sqlite = new Database(file, { readonly: true });
    const count = (text: string) => (sqlite.prepare(text).get() as { n: number }).n;
    const versions = count('select count(*) as n from secret_versions');
    const writes = count("select count(*) as n from audit_log where action = 'secret.write'");
    const resolves = count("select count(*) as n from audit_log where action = 'resolve'");
    // Every version whose write was cut short by the kill is either committed with its record or absent with it.
    const unrecorded = sqlite
      .prepare(
        `select v.name, v.version from secret_versions v where not exists (select 1 from audit_log a where a.action = 'secret.write'
           and a.target = 'secret://builtin/' || v.name)`,
      )
      .all();
    sqlite.close();
    expect(versions).toBeGreaterThanOrEqual(acknowledged);
    expect(writes).toBe(versions);
    expect(unrecorded).toEqual([]);
    expect(resolves).toBeGreaterThan(0);

    const reopened = await openBackend({ database, masterKey: { file: keyFile } });
    const result = await new AuditLog(reopened.database).verify();
    expect(result).toMatchObject({ ok: true, records: writes + resolves, keyedFrom: 1 });
  }, 120_000);

  for (const dialect of ['sqlite', 'postgres'] as const) {
    it(`keeps both versions when two processes write one name at once (${dialect})`, async () => {
      requireBuild();
      const dir = tempDir();
      const database = await databases.url(dialect);
      const keyFile = writeKeyFile(dir);
      await (await openBackend({ database, masterKey: { file: keyFile } })).close();

      const count = 25;
      const writers = ['a', 'b'].map((tag) => startWriter(['race', database, keyFile, 'contended', String(count), tag]));
      for (const w of writers) await until(() => w.lines.includes('ready'), 'the writer to start', w.stderr);
      for (const w of writers) w.child.stdin.write('go\n');
      const codes = await Promise.all(writers.map((w) => w.exited));
      expect(codes, writers.map((w) => w.stderr()).join('\n')).toEqual([0, 0]);

      const acknowledged = writers.flatMap((w) =>
        w.lines.filter((l) => l !== 'ready').map((l) => {
          const [version, value] = l.split(' ');
          return { version: Number(version), value: value as string };
        }),
      );
      expect(acknowledged).toHaveLength(2 * count);
      // Every version number was handed out once, 1..2N, and each holds what its writer wrote.
      expect(acknowledged.map((a) => a.version).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 2 * count }, (_, i) => i + 1),
      );
      const reader = await openBackend({ database, masterKey: { file: keyFile } });
      const stored = await reader.secrets().readMany(
        acknowledged.map((a) => ({ name: 'contended', version: a.version, namespaces: [''] })),
      );
      expect(stored.map((s) => (s as { value: string }).value)).toEqual(acknowledged.map((a) => a.value));
    });
  }

  for (const dialect of ['sqlite', 'postgres'] as const) {
    // SQLite: one process shares one connection per file, so this races two backends over it.
    it(`keeps every version when two backends of one process write one name at once (${dialect})`, async () => {
      const dir = tempDir();
      const database = await databases.url(dialect);
      const keyFile = writeKeyFile(dir);
      const one = await openBackend({ database, masterKey: { file: keyFile } });
      const two = await openBackend({ database, masterKey: { file: keyFile } });
      const writes = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? one : two).secrets().write({ namespace: '', name: 'same', value: `value-${i}` }),
      );
      const results = await Promise.all(writes);
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const read = await one.secrets().readMany(results.map((r) => ({ name: 'same', version: r.version, namespaces: [''] })));
      expect(read.map((r) => (r as { value: string }).value)).toEqual(results.map((_, i) => `value-${i}`));
    });
  }
});
