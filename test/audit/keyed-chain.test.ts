/**
 * The keyed audit chain (src/audit/chain.ts), on SQLite and PostgreSQL: records are HMACs with a
 * key sealed by the master key, so an attacker with database access who recomputes the chain
 * with sha256 is caught at the first record they touched; records cut off the end are caught
 * against the checkpoint kept outside the database; the key survives master key rotation;
 * records written before the chain was keyed still verify; a change and its record commit
 * together.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { AuditKeyRequiredError, AuditLog, hashRecord, withAuditEvent } from '../../src/audit/index.js';
import type { BuiltinBackend } from '../../src/encrypted-store/index.js';
import { openDatabase } from '../../src/db/index.js';
import { type Dialect, DIALECTS, openBackend, tempDir, useDatabases, writeKeyFile } from '../builtin/helpers.js';

const databases = useDatabases();

const event = (i: number) => ({ actor: `tok_${i % 3}`, action: 'resolve', namespace: 'acme', target: `secret://aws/s${i}`, outcome: 'ok' as const });

/** A backend on a fresh database of the dialect, with its key file (and checkpoint) in a directory of its own. */
async function setup(dialect: Dialect): Promise<{ backend: BuiltinBackend; database: string; keyFile: string; dir: string }> {
  const dir = tempDir();
  const keyFile = writeKeyFile(dir);
  const database = await databases.url(dialect);
  const backend = await openBackend({ database, masterKey: { file: keyFile } });
  return { backend, database, keyFile, dir };
}

async function appendMany(audit: AuditLog, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => audit.append(event(i))));
}

/** What an attacker with database access only can do: rewrite records `from`… with the (public) sha256 format. */
async function rechainWithSha256(backend: BuiltinBackend, from: number, edit: (row: Record<string, unknown>) => void): Promise<void> {
  const db = backend.database.kysely;
  const rows = await db.selectFrom('audit_log').selectAll().where('seq', '>=', from).orderBy('seq').execute();
  const before = await db.selectFrom('audit_log').select('hash').where('seq', '=', from - 1).executeTakeFirst();
  let prev = before?.hash as string;
  for (const row of rows) {
    const r = row as unknown as Record<string, unknown>;
    if (Number(row.seq) === from) edit(r);
    const record = {
      seq: Number(row.seq),
      at: row.at,
      actor: r['actor'] as string,
      action: row.action,
      namespace: row.namespace,
      target: row.target,
      outcome: row.outcome as 'ok',
      detail: row.detail ?? undefined,
      prevHash: prev,
    };
    const hash = hashRecord(record);
    await db.updateTable('audit_log').set({ actor: record.actor, prev_hash: prev, hash }).where('seq', '=', row.seq).execute();
    prev = hash;
  }
}

describe.each(DIALECTS)('keyed audit chain on %s', (dialect) => {
  it('catches a record rewritten and the chain recomputed with sha256 at that record', async () => {
    const { backend } = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 210);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 210, keyedFrom: 1 });
    await rechainWithSha256(backend, 200, (row) => {
      row['actor'] = 'someone-innocent';
    });
    expect((await audit.verify()).firstBroken).toEqual({
      seq: 200,
      reason: 'altered',
      message: 'record 200 was altered: its hash does not match its content',
    });
  });

  it('catches the newest records deleted, against the checkpoint kept outside the database', async () => {
    const { backend, database, keyFile, dir } = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 100);
    await audit.close();
    await backend.close();
    const checkpoint = JSON.parse(readFileSync(path.join(dir, 'audit.head'), 'utf8'));
    expect(checkpoint).toMatchObject({ seq: 100, chain: expect.any(String), mac: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // Another process, later: the database was trimmed in between.
    const later = await openBackend({ database, masterKey: { file: keyFile } });
    await sql`delete from audit_log where seq > 92`.execute(later.database.kysely);
    const verify = new AuditLog(later.database);
    const result = await verify.verify();
    expect(result).toMatchObject({ ok: false, records: 92, head: { seq: 92 }, checkpoint: { state: 'matched', seq: 100 } });
    expect(result.firstBroken).toMatchObject({ seq: 100, reason: 'truncated' });
    expect(result.firstBroken?.message).toContain('records were cut off the end');
    expect(result.firstBroken?.message).toContain('record 100 committed, the database ends at record 92');

    // Writing on does not hide it: the checkpoint is not advanced past records that changed.
    await appendMany(verify, 20);
    await later.auditChain?.flush();
    expect(JSON.parse(readFileSync(path.join(dir, 'audit.head'), 'utf8')).seq).toBe(100);
    expect(later.auditChain?.problem).toContain('records were cut off');
    const rewritten = await verify.verify();
    expect(rewritten.firstBroken).toMatchObject({ seq: 100, reason: 'truncated' });
    expect(rewritten.firstBroken?.message).toContain('others written in their place');
  });

  it('catches the newest records deleted while the process that committed them runs', async () => {
    const { backend } = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 30);
    // Not checkpointed yet (within the second): this process remembers what it committed.
    await sql`delete from audit_log where seq > 22`.execute(backend.database.kysely);
    const result = await audit.verify();
    expect(result.firstBroken).toMatchObject({ seq: 30, reason: 'truncated' });
    expect(result.firstBroken?.message).toContain('this process saw record 30 committed');
  });

  it('refuses a checkpoint that was edited', async () => {
    const { backend, dir } = await setup(dialect);
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 12);
    await backend.auditChain?.flush();
    const file = path.join(dir, 'audit.head');
    const checkpoint = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...checkpoint, seq: 5 }));
    const result = await audit.verify();
    expect(result.firstBroken).toMatchObject({ reason: 'checkpoint' });
    expect(result.firstBroken?.message).toBe(`the checkpoint ${file} does not authenticate: it was altered`);
  });

  it('keeps the chain verifiable across a master key rotation', async () => {
    const { backend, database, keyFile } = await setup(dialect);
    await backend.secrets().write({ namespace: '', name: 'a', value: 'one' });
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 10);
    const before = await backend.database.kysely.selectFrom('audit_chain').selectAll().executeTakeFirstOrThrow();
    const rotated = await backend.rotateMasterKey({ actor: 'cli:tester' });
    const after = await backend.database.kysely.selectFrom('audit_chain').selectAll().executeTakeFirstOrThrow();
    // Resealed with the new key; the chain (and so every record) keeps its key.
    expect(after.master_key_id).toBe(rotated.keyId);
    expect(after.master_key_id).not.toBe(before.master_key_id);
    expect(after.chain_id).toBe(before.chain_id);
    await appendMany(audit, 5);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 16 });
    const [rotation] = (await audit.list({ action: 'key.rotate' })).items;
    expect(rotation).toMatchObject({ actor: 'cli:tester', target: `master-key:${rotated.keyId}`, outcome: 'ok' });
    await audit.close();
    await backend.close();

    // A process holding only the new key opens and verifies the whole chain.
    const reopened = await openBackend({ database, masterKey: { file: keyFile } });
    expect(await new AuditLog(reopened.database).verify()).toMatchObject({ ok: true, records: 16, checkpoint: { state: 'matched', seq: 16 } });
  });

  it('still verifies the sha256 records written before the chain was keyed, and only those', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir);
    const url = await databases.url(dialect);
    // An older Sesame: the records of a database that has no audit key yet.
    const bare = await openDatabase(url);
    await bare.migrate();
    const legacy = new AuditLog(bare);
    for (let i = 0; i < 5; i++) await legacy.append(event(i));
    await bare.close();

    const backend = await openBackend({ database: url, masterKey: { file: keyFile } });
    const audit = new AuditLog(backend.database);
    await appendMany(audit, 5);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 10, keyedFrom: 6 });
    // A legacy record edited and rehashed with sha256 breaks the link after it; a keyed one
    // rehashed the same way is caught as altered.
    await rechainWithSha256(backend, 3, (row) => {
      row['actor'] = 'x';
    });
    expect((await audit.verify()).firstBroken).toMatchObject({ seq: 6, reason: 'altered' });
    await backend.close();

    // Moving the boundary (to pass forged records off as old ones) makes the key unreadable.
    const db = await openDatabase(url);
    await db.kysely.updateTable('audit_chain').set({ keyed_from: 11 }).execute();
    await db.close();
    await expect(openBackend({ database: url, masterKey: { file: keyFile } })).rejects.toThrow(
      /the audit chain key in .* does not authenticate under master key/,
    );
  });

  it('refuses to extend a keyed chain without its key', async () => {
    const { backend, database } = await setup(dialect);
    await new AuditLog(backend.database).append(event(1));
    await backend.close();
    const db = await openDatabase(database);
    try {
      const keyless = new AuditLog(db);
      await expect(keyless.append(event(2))).rejects.toBeInstanceOf(AuditKeyRequiredError);
      await expect(keyless.verify()).rejects.toBeInstanceOf(AuditKeyRequiredError);
    } finally {
      await db.close();
    }
  });

  it('commits a builtin change and its record together, or neither', async () => {
    const { backend } = await setup(dialect);
    const secrets = backend.secrets();
    const audit = new AuditLog(backend.database);
    const ok = { actor: 'tok_w', action: 'secret.write', namespace: '', target: 'secret://builtin/a', outcome: 'ok' as const };
    const written = await withAuditEvent(ok, () => secrets.write({ namespace: '', name: 'a', value: 'v1' }));
    expect(written).toMatchObject({ recorded: true, value: { version: 1 } });
    // A failed write (stale check-and-set) leaves no record: the caller records the failure.
    const failed = withAuditEvent(ok, () => secrets.write({ namespace: '', name: 'a', value: 'v2', expectedVersion: 0 }));
    await expect(failed).rejects.toThrow(/is at version 1/);
    // An event for another action or namespace is not taken.
    expect(await withAuditEvent({ ...ok, namespace: 'other' }, () => secrets.write({ namespace: '', name: 'a', value: 'v3' }))).toMatchObject({ recorded: false });
    await secrets.delete('', 'a', { audit: { ...ok, action: 'secret.delete' } });
    await secrets.restore('', 'a', { audit: { ...ok, action: 'secret.restore' } });
    const records = (await audit.list({ order: 'asc' })).items.map((r) => r.action);
    expect(records).toEqual(['secret.write', 'secret.delete', 'secret.restore']);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 3 });

    // A record that cannot be inserted rolls the change back.
    if (dialect === 'sqlite') {
      await sql`create trigger refuse_audit before insert on audit_log begin select raise(abort, 'audit refused'); end`.execute(backend.database.kysely);
    } else {
      await sql`create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit refused'; end $$`.execute(backend.database.kysely);
      await sql`create trigger refuse_audit before insert on audit_log for each row execute function refuse_audit()`.execute(backend.database.kysely);
    }
    await expect(secrets.write({ namespace: '', name: 'a', value: 'v4' }, { audit: ok })).rejects.toThrow(/audit refused/);
    expect((await secrets.versions('a', [''])).versions.map((v) => v.version)).toEqual([2, 1]);
  });
});
