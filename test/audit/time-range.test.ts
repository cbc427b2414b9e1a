/**
 * Time filters of the audit trail on SQLite without a time index on new records
 * (src/audit/time-range.ts, migration 7): `AuditLog.list({ from, to })` returns exactly the records
 * a brute-force filter over every row returns, page after page in both orders, on a fresh database
 * (times never decrease along the chain) and on one migrated from 6 with older records in any time
 * order; SQLite's plan reads the older records through the partial index and the newer ones by
 * rowid range.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/index.js';
import { applyTimeFilter, filterByTime, planTimeFilter } from '../../src/audit/time-range.js';
import { MIGRATIONS, openDatabase, type SesameDatabase } from '../../src/db/index.js';

const dirs: string[] = [];
const opened: SesameDatabase[] = [];

afterAll(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => {});
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dbFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-time-range-'));
  dirs.push(dir);
  return path.join(dir, 'sesame.db');
}

async function open(file: string, migrations = MIGRATIONS): Promise<SesameDatabase> {
  const db = await openDatabase(`sqlite:${file}`, { migrations });
  opened.push(db);
  await db.migrate();
  return db;
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Row {
  seq: number;
  at: string;
  actor: string;
}

const BASE = Date.parse('2026-03-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** Insert rows as they are (the chain's hashes do not matter to list()). */
async function insertRows(db: SesameDatabase, rows: readonly Row[]): Promise<void> {
  await db.write(async (trx) => {
    for (let i = 0; i < rows.length; i += 50) {
      const chunk = rows.slice(i, i + 50).map((r) => ({
        seq: r.seq,
        at: r.at,
        actor: r.actor,
        action: 'resolve',
        namespace: 'acme',
        target: `secret://aws/s${r.seq}`,
        outcome: 'ok',
        detail: null,
        prev_hash: 'p'.repeat(64),
        hash: 'h'.repeat(64),
      }));
      await trx.insertInto('audit_log').values(chunk).execute();
    }
  });
}

/** Rows `firstSeq`… whose times never decrease, starting at `startMs`, with ties, small and big steps and a few seq gaps. */
function orderedRows(rand: () => number, firstSeq: number, count: number, startMs: number): Row[] {
  const rows: Row[] = [];
  let seq = firstSeq;
  let ms = startMs;
  for (let i = 0; i < count; i++) {
    const r = rand();
    ms += r < 0.3 ? 0 : r < 0.6 ? 1 : r < 0.97 ? Math.floor(rand() * 2000) : Math.floor(rand() * 3_600_000);
    rows.push({ seq, at: iso(ms), actor: `a${Math.floor(rand() * 3)}` });
    // Sequence numbers do not skip in practice; the search copes with gaps all the same.
    seq += rand() < 0.02 ? 2 + Math.floor(rand() * 4) : 1;
  }
  return rows;
}

/** Candidate bounds: every stored time, a millisecond either side, before and after everything. */
function boundsOf(rows: readonly Row[]): string[] {
  const ms = rows.map((r) => Date.parse(r.at));
  const lo = Math.min(...ms);
  const hi = Math.max(...ms);
  return [...new Set([...ms, ...ms.map((m) => m - 1), ...ms.map((m) => m + 1), lo - 86_400_000, hi + 86_400_000])].map(iso);
}

interface Case {
  from?: string | undefined;
  to?: string | undefined;
  actor?: string | undefined;
}

function randomCases(rand: () => number, rows: readonly Row[], count: number): Case[] {
  const bounds = boundsOf(rows);
  const pick = () => bounds[Math.floor(rand() * bounds.length)] as string;
  const first = Date.parse(rows[0]?.at as string);
  const last = Date.parse(rows[rows.length - 1]?.at as string);
  const cases: Case[] = [
    { from: iso(first - 5000), to: iso(first - 1000) }, // before all
    { from: iso(last + 1) }, // after all
    { to: iso(first) }, // nothing before the first time
    { from: rows[10]?.at, to: rows[10]?.at }, // empty
    { from: rows[200]?.at, to: rows[100]?.at }, // inverted
    { from: rows[0]?.at }, // everything
    { from: rows[100]?.at, to: rows[200]?.at }, // exact boundaries
  ];
  for (let i = cases.length; i < count; i++) {
    const r = rand();
    const c: Case = r < 0.15 ? { from: pick() } : r < 0.3 ? { to: pick() } : { from: pick(), to: pick() };
    // Mostly from <= to; sometimes inverted.
    if (c.from !== undefined && c.to !== undefined && c.from > c.to && rand() < 0.8) [c.from, c.to] = [c.to, c.from];
    if (rand() < 0.3) c.actor = `a${Math.floor(rand() * 3)}`;
    cases.push(c);
  }
  return cases;
}

/** What list() must return, in order. */
function bruteForce(rows: readonly Row[], c: Case, order: 'asc' | 'desc'): number[] {
  const seqs = rows
    .filter((r) => (c.from === undefined || r.at >= c.from) && (c.to === undefined || r.at < c.to) && (c.actor === undefined || r.actor === c.actor))
    .map((r) => r.seq)
    .sort((a, b) => a - b);
  return order === 'asc' ? seqs : seqs.reverse();
}

/** Every page of list() for a case, in one order; checks each page against the limit. */
async function listAll(audit: AuditLog, c: Case, order: 'asc' | 'desc', limit: number): Promise<number[]> {
  const seqs: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await audit.list({ ...c, order, limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seqs.push(...page.items.map((r) => r.seq));
    if (page.cursor === undefined) return seqs;
    expect(page.items).toHaveLength(limit);
    cursor = page.cursor;
  }
  throw new Error('list() kept returning cursors');
}

/**
 * Every case through the time filter on a plain select of sequence numbers (cheap), and the first
 * `paged` cases through list(), every page in both orders.
 */
async function checkCases(db: SesameDatabase, rows: readonly Row[], cases: readonly Case[], rand: () => number, paged: number): Promise<void> {
  for (const c of cases) {
    let q = db.kysely.selectFrom('audit_log').select('seq').orderBy('seq', 'asc');
    if (c.actor !== undefined) q = q.where('actor', '=', c.actor);
    const got = (await (await filterByTime(db, q, c.from, c.to)).execute()).map((r) => Number(r.seq));
    expect(got, JSON.stringify(c)).toEqual(bruteForce(rows, c, 'asc'));
  }
  const audit = new AuditLog(db);
  for (const c of cases.slice(0, paged)) {
    for (const order of ['asc', 'desc'] as const) {
      const expected = bruteForce(rows, c, order);
      // Small pages for small results, a few pages for big ones.
      const limit = Math.min(1000, Math.max(1 + Math.floor(rand() * 40), Math.ceil(expected.length / 3)));
      const got = await listAll(audit, c, order, limit);
      expect(got, `${JSON.stringify(c)} ${order} limit ${limit}`).toEqual(expected);
    }
  }
}

/** SQLite's plan for list()'s query with the time filter (as list() builds it), one line per step. */
async function planOf(db: SesameDatabase, from: string | undefined, to: string | undefined): Promise<string[]> {
  const filter = await planTimeFilter(db, from, to);
  const q = applyTimeFilter(db.kysely.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(101), filter).compile();
  const result = await db.kysely.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]));
  return result.rows.map((r) => r.detail);
}

async function indexesOf(db: SesameDatabase): Promise<{ name: string; sql: string }[]> {
  const result = await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'index' and tbl_name = 'audit_log' and sql is not null order by name`.execute(db.kysely);
  return result.rows;
}

/** A plan step that reads audit_log without a rowid bound or an index. */
const FULL_SCAN = /^SCAN audit_log(?! USING)/;

describe('audit time ranges on SQLite (migration 7)', () => {
  it('fresh database: list({ from, to, actor }) equals a brute-force filter, every page in both orders', async () => {
    const db = await open(dbFile());
    const rand = random(17);
    const rows = orderedRows(rand, 1, 2000, BASE);
    await insertRows(db, rows);
    await checkCases(db, rows, randomCases(rand, rows, 80), rand, 12);
    const audit = new AuditLog(db);
    // Bounds in another form than the stored one are normalized as before.
    const at = rows[1000]?.at as string;
    const local = new Date(at).toISOString().replace('Z', '+00:00');
    expect((await audit.list({ from: local, to: local, limit: 1000 })).items).toEqual([]);
    expect((await audit.list({ from: local, order: 'asc', limit: 1 })).items[0]?.at).toBe(at);

    // Only rowid ranges: no full scan, no sort, and no index on the time any more.
    for (const [from, to] of [
      [rows[100]?.at, rows[1500]?.at],
      [rows[100]?.at, undefined],
      [undefined, rows[1500]?.at],
    ]) {
      const plan = await planOf(db, from, to);
      expect(plan.join('\n')).toMatch(/SEARCH audit_log USING INTEGER PRIMARY KEY \(rowid/);
      for (const step of plan) {
        expect(step).not.toMatch(FULL_SCAN);
        expect(step).not.toMatch(/TEMP B-TREE/);
      }
    }
    expect(await indexesOf(db)).toEqual([]);
  });

  it('database migrated from 6 with older records in any time order: exact, older ones through the partial index', async () => {
    const file = dbFile();
    const rand = random(4242);
    const old = await open(file, MIGRATIONS.slice(0, 6));
    // Times back and forth within two hours, with repeats.
    const legacy: Row[] = Array.from({ length: 1000 }, (_, i) => ({
      seq: i + 1,
      at: iso(BASE + (rand() < 0.1 ? 60_000 * Math.floor(rand() * 5) : Math.floor(rand() * 7_200_000))),
      actor: `a${Math.floor(rand() * 3)}`,
    }));
    await insertRows(old, legacy);
    expect((await indexesOf(old)).map((i) => i.name)).toEqual(['audit_log_by_at']);
    await old.close();
    opened.splice(opened.indexOf(old), 1);

    const db = await open(file);
    expect(await db.schemaVersion()).toBe(MIGRATIONS.length);
    expect(await db.kysely.selectFrom('audit_time_order').selectAll().execute()).toEqual([{ id: 1, monotonic_from: 1001 }]);
    expect(await indexesOf(db)).toEqual([
      { name: 'audit_log_by_at_before', sql: 'CREATE INDEX audit_log_by_at_before on audit_log (at, seq) where seq < 1001' },
    ]);
    // New records: never before the previous one (the writers' invariant), and overlapping the older ones' times.
    const lastLegacy = Date.parse(legacy[legacy.length - 1]?.at as string);
    const fresh = orderedRows(rand, 1001, 1000, lastLegacy);
    await insertRows(db, fresh);
    const all = [...legacy, ...fresh];
    await checkCases(db, all, randomCases(rand, all, 80), rand, 12);
    const audit = new AuditLog(db);

    // A range over both parts: the partial index for the older records, a rowid range for the newer.
    const both = await planTimeFilter(db, iso(BASE + 600_000), fresh[700]?.at);
    const firstAtOrAfter = (t: string) => fresh.find((r) => r.at >= t)?.seq;
    expect(both).toMatchObject({
      kind: 'ordered',
      monotonicFrom: 1001,
      legacy: true,
      range: { lo: firstAtOrAfter(iso(BASE + 600_000)), hi: firstAtOrAfter(fresh[700]?.at as string) },
    });
    // The boundary is a literal in the statement, as in the partial index (not a parameter whose value SQLite would have to check).
    const compiled = applyTimeFilter(db.kysely.selectFrom('audit_log').select('seq'), both).compile();
    expect(compiled.sql).toContain('"seq" < 1001');
    // lo, hi, from, to.
    expect(compiled.parameters).toHaveLength(4);
    const plan = await planOf(db, iso(BASE + 600_000), fresh[700]?.at);
    const text = plan.join('\n');
    expect(text).toMatch(/SEARCH audit_log USING (COVERING )?INDEX audit_log_by_at_before \(at>\? AND at<\?\)/);
    expect(text).toMatch(/SEARCH audit_log USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    for (const step of plan) expect(step).not.toMatch(FULL_SCAN);
    // After every older record: the newer ones only, by rowid range, in order (no sort).
    const laterMs = Math.max(...legacy.map((r) => Date.parse(r.at))) + 1;
    expect(await planTimeFilter(db, iso(laterMs), undefined)).toMatchObject({ kind: 'ordered', legacy: false });
    const later = await planOf(db, iso(laterMs), undefined);
    expect(later.join('\n')).toMatch(/SEARCH audit_log USING INTEGER PRIMARY KEY \(rowid>\?\)/);
    for (const step of later) {
      expect(step).not.toMatch(FULL_SCAN);
      expect(step).not.toMatch(/audit_log_by_at_before|TEMP B-TREE/);
    }

    // A record appended through the log afterwards is found by an open range.
    const appendedMs = Date.parse(fresh[fresh.length - 1]?.at as string) + 5000;
    const appender = new AuditLog(db, () => appendedMs);
    const record = await appender.append({ actor: 'a9', action: 'resolve', namespace: 'acme', target: 'secret://aws/x', outcome: 'ok' });
    await appender.close();
    const found = await audit.list({ from: iso(appendedMs), order: 'asc' });
    expect(found.items.map((r) => r.seq)).toEqual([record.seq]);
    expect((await audit.list({ from: iso(laterMs), to: iso(appendedMs), limit: 1000 })).items.map((r) => r.seq)).toEqual(
      bruteForce(all, { from: iso(laterMs), to: iso(appendedMs) }, 'desc').slice(0, 1000),
    );
  });

  it('records appended through AuditLog while the clock goes back and forth: times never decrease, ranges stay exact', async () => {
    const db = await open(dbFile());
    const rand = random(99);
    let clock = BASE;
    const audit = new AuditLog(db, () => clock);
    for (let batch = 0; batch < 30; batch++) {
      // The clock jumps back as often as forward (another process's clock, an NTP step).
      clock += Math.floor((rand() - 0.5) * 120_000);
      const at = () => (rand() < 0.2 ? iso(clock - Math.floor(rand() * 60_000)) : undefined);
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => audit.append({ actor: `a${i % 3}`, action: 'resolve', namespace: 'acme', target: `t${batch}.${i}`, outcome: 'ok', at: at() })),
      );
    }
    const stored = await db.kysely.selectFrom('audit_log').select(['seq', 'at', 'actor']).orderBy('seq').execute();
    const rows: Row[] = stored.map((r) => ({ seq: Number(r.seq), at: r.at, actor: r.actor }));
    expect(rows).toHaveLength(600);
    for (let i = 1; i < rows.length; i++) expect((rows[i] as Row).at >= (rows[i - 1] as Row).at, `record ${i + 1}`).toBe(true);
    await checkCases(db, rows, randomCases(rand, rows, 40), rand, 6);
  });

  it('migration 7 on an empty database: no time index at all, records ordered from 1, a seal column', async () => {
    const db = await open(dbFile());
    expect(await indexesOf(db)).toEqual([]);
    expect(await db.kysely.selectFrom('audit_time_order').selectAll().execute()).toEqual([{ id: 1, monotonic_from: 1 }]);
    const columns = await sql<{ name: string; type: string; notnull: number }>`select name, type, "notnull" from pragma_table_info('audit_log') where name = 'seal'`.execute(db.kysely);
    expect(columns.rows).toEqual([{ name: 'seal', type: 'TEXT', notnull: 0 }]);
    // Inserts may leave the seal out; it reads back as null.
    await insertRows(db, [{ seq: 1, at: iso(BASE), actor: 'a0' }]);
    expect(await db.kysely.selectFrom('audit_log').select('seal').execute()).toEqual([{ seal: null }]);
  });

  it('a database not migrated to 7 yet keeps filtering by time through its index', async () => {
    const db = await open(dbFile(), MIGRATIONS.slice(0, 6));
    const rows: Row[] = [3, 1, 2].map((m, i) => ({ seq: i + 1, at: iso(BASE + m * 1000), actor: 'a0' }));
    await insertRows(db, rows);
    expect(await planTimeFilter(db, iso(BASE + 1000), iso(BASE + 3000))).toEqual({ kind: 'plain', from: iso(BASE + 1000), to: iso(BASE + 3000) });
    const page = await new AuditLog(db).list({ from: iso(BASE + 1000), to: iso(BASE + 3000), order: 'asc' });
    expect(page.items.map((r) => r.seq)).toEqual([2, 3]);
  });
});
