/**
 * No stored value is in clear at rest: not in the SQLite file or its write-ahead log, and not in
 * any column of any PostgreSQL table; neither is its base64 or hex, nor the master key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { BuiltinBackend } from '../../src/encrypted-store/index.js';
import { openBackend, tempDir, usePostgres, writeKeyFile } from './helpers.js';

const pg = usePostgres();

const CANARIES = [
  'CANARY-plain-7f3a9c1e-correct-horse-battery-staple',
  JSON.stringify({ apiKey: 'CANARY-json-44be0d2a', 'prod.jira.secret.key': 'CANARY-jira-9921' }),
  'Пароль-CANARY-ü-中文-3b7e',
];

/** Byte patterns that would betray a value: its UTF-8, base64, base64url and hex. */
function needles(value: string | Buffer): Array<{ label: string; bytes: Buffer }> {
  const raw = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return [
    { label: 'utf8', bytes: raw },
    { label: 'base64', bytes: Buffer.from(raw.toString('base64')) },
    { label: 'base64url', bytes: Buffer.from(raw.toString('base64url')) },
    { label: 'hex', bytes: Buffer.from(raw.toString('hex')) },
  ];
}

function findLeaks(haystack: Buffer, secrets: Array<string | Buffer>): string[] {
  return secrets.flatMap((s, i) =>
    needles(s)
      .filter((n) => haystack.includes(n.bytes))
      .map((n) => `secret #${i} as ${n.label}`),
  );
}

async function writeCanaries(backend: BuiltinBackend): Promise<void> {
  const secrets = backend.secrets();
  for (const [i, value] of CANARIES.entries()) {
    await secrets.write({ namespace: '', name: `leak-check/${i}`, value, description: 'at-rest test', tags: { k: 'v' } });
    await secrets.write({ namespace: 'acme', name: `leak-check/${i}`, value: `${value}-v2` });
  }
}

describe('builtin values at rest', () => {
  it('leaves no value, base64 or hex of a value, nor the master key in the SQLite file or its WAL', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'sesame.db');
    const keyFile = writeKeyFile(dir);
    const backend = await openBackend({ database: `sqlite:${file}`, masterKey: { file: keyFile } });
    await writeCanaries(backend);
    const master = backend.keyring.primary.key;
    const secrets = [...CANARIES, ...CANARIES.map((c) => `${c}-v2`), master];

    // Before a checkpoint the new pages are in the WAL; read both files as they are.
    const wal = readFileSync(`${file}-wal`);
    const before = Buffer.concat([readFileSync(file), wal]);
    expect(wal.length).toBeGreaterThan(0);
    expect(before.includes(Buffer.from('leak-check/0'))).toBe(true);
    expect(findLeaks(before, secrets)).toEqual([]);

    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(backend.database.kysely);
    const after = readFileSync(file);
    expect(after.includes(Buffer.from('leak-check/2'))).toBe(true);
    expect(findLeaks(after, secrets)).toEqual([]);
  });

  it('leaves no value, base64 or hex of a value, nor the master key in any PostgreSQL table', async () => {
    const dir = tempDir();
    const backend = await openBackend({ database: await pg.databaseUrl(), masterKey: { file: writeKeyFile(dir) } });
    await writeCanaries(backend);
    const db = backend.database.kysely;
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
    expect(tables.rows.map((t) => t.table_name)).toContain('secret_versions');

    const cells: Buffer[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table_name)}`.execute(db);
      for (const row of rows.rows) {
        for (const cell of Object.values(row)) {
          cells.push(Buffer.isBuffer(cell) ? cell : Buffer.from(JSON.stringify(cell) ?? '', 'utf8'));
        }
      }
    }
    const dump = Buffer.concat(cells);
    expect(dump.includes(Buffer.from('leak-check/1'))).toBe(true);
    const secrets = [...CANARIES, ...CANARIES.map((c) => `${c}-v2`), backend.keyring.primary.key];
    expect(findLeaks(dump, secrets)).toEqual([]);
  });
});
