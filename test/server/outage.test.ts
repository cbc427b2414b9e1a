/**
 * A server while its database is unreachable (src/server/outage.ts, src/tokens/index.ts): tokens
 * checked lately are admitted for the grace period and no other; audit records go to the local
 * spool and come back into the trail in order once the database answers; anything else that
 * breaks the audit refuses the request as before. Real processes and PostgreSQL:
 * test/cluster/faults.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditEvent, AuditLog } from '../../src/audit/index.js';
import { AuditSpool } from '../../src/audit/spool.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';
import { AuditRecorder } from '../../src/server/outage.js';
import { TokenService } from '../../src/tokens/index.js';

const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function database(): Promise<SesameDatabase> {
  const db = await openDatabase('sqlite::memory:');
  await db.migrate();
  opened.push(db);
  return db;
}

/** Make every query of `db` fail as an unreachable server's would, until `up()`. */
function outage(db: SesameDatabase) {
  const kysely = db.kysely as unknown as { executeQuery: (...a: unknown[]) => Promise<unknown> };
  const real = kysely.executeQuery.bind(kysely);
  let down = false;
  kysely.executeQuery = (...a: unknown[]) => (down ? Promise.reject(unreachable()) : real(...a));
  return {
    down: () => {
      down = true;
    },
    up: () => {
      down = false;
    },
  };
}

describe('tokens while the database is unreachable', () => {
  it('admits a token checked within the grace period, and no other', async () => {
    const db = await database();
    let now = Date.parse('2026-12-01T10:00:00Z');
    const tokens = new TokenService(db, () => now, { outageGraceMs: 60_000 });
    opened.push(tokens);
    const checked = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'test' });
    const never = await tokens.create({ role: 'runtime', namespace: 'acme', createdBy: 'test' });
    const revoked = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(checked.token)).toMatchObject({ id: checked.info.id });
    expect(await tokens.authenticate(revoked.token)).toMatchObject({ id: revoked.info.id });
    await tokens.revoke(revoked.info.id, 'test');
    const net = outage(db);
    net.down();

    expect(await tokens.authenticate(checked.token)).toMatchObject({ id: checked.info.id, namespace: 'acme' });
    await expect(tokens.authenticate(never.token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(tokens.authenticate(revoked.token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(tokens.authenticate(`sesame_${randomBytes(32).toString('base64url')}`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await tokens.stats()).outageAnswers).toBe(1);

    // The grace runs from the last successful check.
    now += 60_001;
    await expect(tokens.authenticate(checked.token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    net.up();
    expect(await tokens.authenticate(checked.token)).toMatchObject({ id: checked.info.id });
    net.down();
    expect(await tokens.authenticate(checked.token)).toMatchObject({ id: checked.info.id });

    // A change to that token heard on the change feed drops it; so does any other error than unreachable.
    tokens.forget(checked.info.id);
    await expect(tokens.authenticate(checked.token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('admits nothing without the database when no grace is configured (the default)', async () => {
    const db = await database();
    const tokens = new TokenService(db);
    opened.push(tokens);
    const { token } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    expect(await tokens.authenticate(token)).toHaveProperty('id');
    outage(db).down();
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('does not use the grace for errors other than an unreachable database', async () => {
    const db = await database();
    const tokens = new TokenService(db, Date.now, { outageGraceMs: 60_000 });
    opened.push(tokens);
    const { token } = await tokens.create({ role: 'runtime', createdBy: 'test' });
    await tokens.authenticate(token);
    const kysely = db.kysely as unknown as { executeQuery: () => Promise<unknown> };
    kysely.executeQuery = () => Promise.reject(Object.assign(new Error('permission denied for table api_tokens'), { code: '42501' }));
    await expect(tokens.authenticate(token)).rejects.toMatchObject({ code: '42501' });
  });
});

describe('audit records while the database is unreachable', () => {
  async function setup(options: { spool?: boolean; maxBytes?: number } = {}) {
    const db = await database();
    const audit = new AuditLog(db);
    opened.push(audit);
    const net = outage(db);
    // The audit log writes through a connection of its own: make its commits fail too.
    const realCommit = audit.commit.bind(audit);
    let auditDown = false;
    audit.commit = (event: AuditEvent) => (auditDown ? Promise.reject(unreachable()) : realCommit(event));
    const spool =
      options.spool === false
        ? undefined
        : new AuditSpool({ dir: mkdtempSync(path.join(tmpdir(), 'sesame-outage-')), recordKey: randomBytes(32), maxBytes: options.maxBytes });
    let probeUp = true;
    const recorder = new AuditRecorder({
      audit,
      database: db,
      spool,
      log: pino({ level: 'silent' }),
      now: Date.now,
      probeMs: 20,
      probe: () => (probeUp ? Promise.resolve() : Promise.reject(unreachable())),
    });
    opened.push(recorder);
    return {
      audit,
      recorder,
      spool,
      down() {
        net.down();
        auditDown = true;
        probeUp = false;
      },
      up() {
        net.up();
        auditDown = false;
        probeUp = true;
      },
    };
  }
  const event = (target: string): AuditEvent => ({ actor: 'tok_1', action: 'resolve', namespace: '', target, outcome: 'ok' });
  const targets = async (audit: AuditLog) => (await audit.list({ order: 'asc' })).items.map((r) => r.target);
  const until = async (check: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('spools while down, then puts the records into the trail in order, before the ones that follow', async () => {
    const s = await setup();
    await s.recorder.commit(event('before'));
    s.down();
    await s.recorder.commit(event('during-1'));
    expect(s.recorder.spooling).toBe(true);
    await Promise.all([s.recorder.commit(event('during-2')), s.recorder.commit(event('during-3'))]);
    expect(s.spool?.pending).toBe(3);
    s.up();
    // Still spooling until the drain: this one must come after the three.
    const after = s.recorder.commit(event('after-1'));
    await after;
    await until(() => !s.recorder.spooling);
    await s.recorder.commit(event('after-2'));
    expect(await targets(s.audit)).toEqual(['before', 'during-1', 'during-2', 'during-3', 'after-1', 'after-2']);
    expect((await s.audit.verify()).ok).toBe(true);
    expect(s.recorder.spooled).toBeGreaterThanOrEqual(3);
  });

  it('refuses the request (fails closed) when there is no spool, the spool is full, or the error is not an outage', async () => {
    const none = await setup({ spool: false });
    none.down();
    await expect(none.recorder.commit(event('x'))).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const full = await setup({ maxBytes: 300 });
    full.down();
    await full.recorder.commit(event('fits'));
    await expect(full.recorder.commit(event('does-not-fit-'.repeat(20)))).rejects.toMatchObject({ code: 'audit_unavailable', status: 503 });

    const other = await setup();
    (other.audit as unknown as { commit: () => Promise<unknown> }).commit = () => Promise.reject(new Error('disk I/O error'));
    await expect(other.recorder.commit(event('x'))).rejects.toThrow(/disk I\/O error/);
    expect(other.recorder.spooling).toBe(false);
  });
});
