/**
 * Sealed commits (record format 3, `src/audit/hash.ts`): a keyed chain hashes each record with
 * sha256 and seals the last record of every commit with an HMAC of the chain key. Through every
 * writer (the main connection on both dialects, the inline writer and the writer thread on
 * SQLite): exactly the last record of each commit is sealed and the chain verifies; an attacker
 * with database access but no key who rewrites records in the public format 3, strips seals,
 * forges a seal or cuts the end off is caught; chains holding per-record HMACs (format 2, written
 * before) still verify and are still checked. On SQLite a record's time never goes back along the
 * chain, and the record an append returns carries the time that was stored.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditLogOptions } from '../../src/audit/index.js';
import { chainRecords, recordHash } from '../../src/audit/hash.js';
import type { BuiltinBackend } from '../../src/encrypted-store/index.js';
import { sha256Hex } from '../../src/sha256.js';
import { type Dialect, DIALECTS, openBackend, tempDir, useDatabases, writeKeyFile } from '../builtin/helpers.js';

const databases = useDatabases();

const event = (i: number) => ({ actor: `tok_${i % 3}`, action: 'resolve', namespace: 'acme', target: `secret://aws/s${i}`, outcome: 'ok' as const });

const opened = new Map<BuiltinBackend, { database: string; keyFile: string }>();

async function setup(dialect: Dialect): Promise<BuiltinBackend> {
  const database = await databases.url(dialect);
  const keyFile = writeKeyFile(tempDir());
  const backend = await openBackend({ database, masterKey: { file: keyFile } });
  opened.set(backend, { database, keyFile });
  return backend;
}

/**
 * Verify as another process would that never saw these commits and finds no checkpoint: only
 * the records and their seals can tell then.
 */
async function verifyElsewhere(backend: BuiltinBackend) {
  const where = opened.get(backend);
  if (!where) throw new Error('not a backend of this file');
  await backend.close();
  const checkpoint = backend.auditChain?.checkpointFile;
  if (checkpoint) rmSync(checkpoint, { force: true });
  const other = await openBackend({ database: where.database, masterKey: { file: where.keyFile } });
  const result = await new AuditLog(other.database).verify();
  expect(result.checkpoint).toMatchObject({ state: 'missing' });
  return result;
}

type Row = { seq: number | string; at: string; actor: string; action: string; namespace: string; target: string; outcome: string; detail: string | null; prev_hash: string; hash: string; seal?: string | null };

async function rows(backend: BuiltinBackend): Promise<Row[]> {
  return (await backend.database.kysely.selectFrom('audit_log').selectAll().orderBy('seq').execute()) as Row[];
}

/** Commits of `sizes` records each, one after the other. */
async function commits(audit: AuditLog, sizes: number[]): Promise<void> {
  let i = 0;
  for (const size of sizes) {
    await Promise.all(Array.from({ length: size }, () => audit.append(event(i++))));
  }
}

/** The format 3 hash anyone can compute (sha256, no key). */
function publicHash(row: Row, prevHash: string): string {
  return recordHash(sha256Hex, 3, Number(row.seq), row.at, row.actor, row.action, row.namespace, row.target, row.outcome, row.detail, prevHash);
}

/** What an attacker with database access only can do: edit record `from`, rehash it and every record after it in format 3. */
async function rechainPublicly(backend: BuiltinBackend, from: number, edit: (row: Row) => void): Promise<void> {
  const db = backend.database.kysely;
  let prev = '';
  for (const row of await rows(backend)) {
    const seq = Number(row.seq);
    if (seq < from) {
      prev = row.hash;
      continue;
    }
    if (seq === from) edit(row);
    const hash = publicHash(row, prev);
    await db.updateTable('audit_log').set({ target: row.target, prev_hash: prev, hash }).where('seq', '=', seq).execute();
    prev = hash;
  }
}

describe.each(DIALECTS)('sealed commits on %s', (dialect) => {
  it('seals exactly the last record of each commit, hashes records with sha256, and verifies', async () => {
    const backend = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await commits(audit, [3, 1, 5]);
    const all = await rows(backend);
    expect(all.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all.filter((r) => r.seal != null).map((r) => Number(r.seq))).toEqual([3, 4, 9]);
    let prev = '0'.repeat(64);
    for (const r of all) {
      expect(r.hash).toBe(publicHash(r, prev));
      prev = r.hash;
    }
    expect(await audit.verify()).toMatchObject({ ok: true, records: 9, head: { seq: 9 } });
  });

  it('catches records rewritten in the public format: the next seal no longer matches', async () => {
    const backend = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await commits(audit, [4, 4, 4]);
    await rechainPublicly(backend, 6, (r) => {
      r.target = 'secret://aws/innocent';
    });
    const result = await audit.verify();
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ seq: 8, reason: 'altered' });
    expect(result.firstBroken?.message).toBe("record 8 carries a seal the audit chain's key did not make");
  });

  it('catches rewritten records whose seals were stripped: the chain ends unsealed', async () => {
    const backend = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await commits(audit, [4, 4, 4]);
    await rechainPublicly(backend, 6, (r) => {
      r.target = 'secret://aws/innocent';
    });
    await sql`update audit_log set seal = null where seq >= 6`.execute(backend.database.kysely);
    // This process and the checkpoint remember record 12 as it was committed: they see it replaced.
    expect((await audit.verify()).firstBroken).toMatchObject({ seq: 12, reason: 'truncated' });
    const result = await verifyElsewhere(backend);
    expect(result.firstBroken).toMatchObject({ seq: 5, reason: 'altered' });
    expect(result.firstBroken?.message).toContain("records 5–12 are not sealed with the audit chain's key");
  });

  it('catches a forged seal, and a head whose seal was removed', async () => {
    const backend = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await commits(audit, [2, 2]);
    const db = backend.database.kysely;
    await db.updateTable('audit_log').set({ seal: randomBytes(32).toString('hex') }).where('seq', '=', 2).execute();
    expect((await audit.verify()).firstBroken).toMatchObject({ seq: 2, reason: 'altered' });

    const other = await setup(dialect);
    const log = new AuditLog(other.database);
    await commits(log, [2, 2]);
    await other.database.kysely.updateTable('audit_log').set({ seal: null }).where('seq', '=', 4).execute();
    const result = await verifyElsewhere(other);
    expect(result.firstBroken).toMatchObject({ seq: 3, reason: 'altered' });
    expect(result.firstBroken?.message).toContain("records 3–4 are not sealed");
  });

  it('catches the end of the last commit cut off, even where no checkpoint or process saw it', async () => {
    const backend = await setup(dialect);
    await commits(new AuditLog(backend.database), [3, 5]);
    await sql`delete from audit_log where seq > 6`.execute(backend.database.kysely);
    const result = await verifyElsewhere(backend);
    expect(result.ok).toBe(false);
    expect(result.firstBroken).toMatchObject({ seq: 4, reason: 'altered' });
    expect(result.firstBroken?.message).toBe(
      "records 4–6 are not sealed with the audit chain's key: records after them were cut off, or they were written or altered without the key",
    );
  });

  it('verifies a chain of per-record HMACs (format 2) followed by sealed commits, and still checks the older records', async () => {
    const backend = await setup(dialect);
    const chain = backend.auditChain;
    if (!chain) throw new Error('the backend opened no audit chain');
    const db = backend.database.kysely;
    // Records as keyed chains were written before sealed commits: an HMAC each, no seal.
    const events: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      const e = event(i);
      events.push('2026-11-30T10:00:00.000Z', e.actor, e.action, e.namespace, e.target, e.outcome, null);
    }
    const head = await db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const legacy: unknown[][] = [];
    chainRecords(recordHash, chain.mac, 2, { seq: Number(head?.seq ?? 0), hash: head?.hash ?? '0'.repeat(64) }, events, 7, (row) => legacy.push(row));
    for (const [seq, at, actor, action, namespace, target, outcome, detail, prev_hash, hash] of legacy as [number, string, string, string, string, string, string, null, string, string][]) {
      await db.insertInto('audit_log').values({ seq, at, actor, action, namespace, target, outcome, detail, prev_hash, hash }).execute();
    }
    const audit = new AuditLog(backend.database);
    await commits(audit, [3]);
    const all = await rows(backend);
    expect(all.filter((r) => r.seal != null)).toHaveLength(1);
    expect(await audit.verify()).toMatchObject({ ok: true, records: all.length });

    const first = Number((legacy[1] as unknown[])[0]);
    await db.updateTable('audit_log').set({ target: 'secret://aws/other' }).where('seq', '=', first).execute();
    expect((await audit.verify()).firstBroken).toMatchObject({ seq: first, reason: 'altered' });
  });

  it(`keeps times ${dialect === 'sqlite' ? 'from going back along the chain' : 'as given (PostgreSQL has its time index)'}, and returns the time it stored`, async () => {
    const backend = await setup(dialect);
    let ms = Date.parse('2026-12-01T12:00:00.000Z');
    const audit = new AuditLog(backend.database, () => ms);
    const first = await audit.append(event(1));
    ms -= 60_000; // the clock went back a minute
    const second = await audit.append(event(2));
    const stored = await db(backend).selectFrom('audit_log').select(['seq', 'at']).where('seq', '=', second.seq).executeTakeFirstOrThrow();
    if (dialect === 'sqlite') {
      expect(second.at).toBe(first.at);
    } else {
      expect(second.at).toBe('2026-12-01T11:59:00.000Z');
    }
    expect(stored.at).toBe(second.at);
    expect(await audit.verify()).toMatchObject({ ok: true });
  });
});

const db = (backend: BuiltinBackend) => backend.database.kysely;

describe.each<[string, AuditLogOptions]>([
  ['the inline writer', { writer: 'inline' }],
  ['the writer thread', { writer: 'thread' }],
])('sealed commits through %s (SQLite)', (_name, options) => {
  it('seals the last record of each commit, verifies, and keeps times from going back', async () => {
    const backend = await setup('sqlite');
    let ms = Date.parse('2026-12-01T12:00:00.000Z');
    const audit = new AuditLog(backend.database, () => ms, options);
    try {
      await commits(audit, [5]);
      ms -= 3_600_000; // an hour back
      const late = await Promise.all([audit.append(event(10)), audit.append(event(11))]);
      await commits(audit, [1]);
      const all = await rows(backend);
      expect(all).toHaveLength(8);
      const sealed = all.filter((r) => r.seal != null).map((r) => Number(r.seq));
      expect(sealed).toContain(8);
      expect(sealed).not.toContain(1);
      for (let i = 1; i < all.length; i++) expect((all[i] as Row).at >= (all[i - 1] as Row).at).toBe(true);
      for (const record of late) expect(record.at).toBe('2026-12-01T12:00:00.000Z');
      expect(await audit.verify()).toMatchObject({ ok: true, records: 8 });
    } finally {
      await audit.close();
    }
  });
});
