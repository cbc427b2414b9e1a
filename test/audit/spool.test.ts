/**
 * The local audit spool a server writes to while PostgreSQL is unreachable (src/audit/spool.ts):
 * durable, ordered, bounded, tamper evident, drained exactly once (resumably), and left-over
 * files of stopped processes drained by the next one. The end-to-end behaviour (3 servers,
 * PostgreSQL stopped) is in test/cluster/faults.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { AuditSpool, AuditSpoolFullError } from '../../src/audit/spool.js';

const key = randomBytes(32);
const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-spool-'));
const event = (i: number, outcome: AuditEvent['outcome'] = 'ok'): AuditEvent => ({
  actor: 'tok_runtime',
  action: 'resolve',
  namespace: 'acme',
  target: `secret://builtin/s${i}`,
  outcome,
  ...(outcome === 'ok' ? {} : { detail: 'store_unavailable' }),
});
const AT = '2026-12-01T10:00:00.000Z';

/** A trail that records what it is given, and can be made to fail. */
function trail() {
  const committed: AuditEvent[] = [];
  let failAfter = Number.POSITIVE_INFINITY;
  return {
    committed,
    failAfter(n: number) {
      failAfter = n;
    },
    commit: async (events: AuditEvent[]) => {
      if (committed.length + events.length > failAfter) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      committed.push(...events);
    },
  };
}

describe('audit spool', () => {
  it('writes records durably (0600, one line each) and drains them into the trail in order, keeping their times', async () => {
    const d = dir();
    const spool = new AuditSpool({ dir: d, recordKey: key, pid: 4242 });
    spool.append([event(1), event(2, 'error')], AT);
    spool.append([{ ...event(3), at: '2026-12-01T10:00:05.000Z' }], AT);
    expect(spool.pending).toBe(3);
    expect(statSync(spool.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(spool.file, 'utf8').trim().split('\n')).toHaveLength(3);

    const t = trail();
    const result = await spool.drain(t.commit);
    expect(result).toEqual({ committed: 3, rejected: [] });
    expect(t.committed.map((e) => e.target)).toEqual(['secret://builtin/s1', 'secret://builtin/s2', 'secret://builtin/s3']);
    expect(t.committed.map((e) => e.at)).toEqual([AT, AT, '2026-12-01T10:00:05.000Z']);
    expect(t.committed[1]).toMatchObject({ outcome: 'error', detail: 'store_unavailable' });
    expect(spool.pending).toBe(0);
    expect(readdirSync(d)).toEqual([]);
    // A second drain has nothing to do; a new record starts a new file.
    expect((await spool.drain(t.commit)).committed).toBe(0);
    spool.append([event(4)], AT);
    expect((await spool.drain(t.commit)).committed).toBe(1);
    expect(t.committed).toHaveLength(4);
  });

  it('refuses records past its bound instead of dropping them or growing without end', () => {
    const spool = new AuditSpool({ dir: dir(), recordKey: key, maxBytes: 600 });
    spool.append([event(1)], AT);
    let refused: unknown;
    try {
      for (let i = 2; i < 100; i++) spool.append([event(i)], AT);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(AuditSpoolFullError);
    expect((refused as AuditSpoolFullError).status).toBe(503);
    expect((refused as Error).message).toMatch(/server\.auditSpool\.maxBytes/);
    expect(spool.bytes()).toBeLessThanOrEqual(600);
  });

  it('resumes an interrupted drain where it stopped: no record committed twice, none lost', async () => {
    const spool = new AuditSpool({ dir: dir(), recordKey: key });
    // More than one drain batch (500), so the drain commits in several transactions.
    for (let i = 0; i < 1200; i += 100) spool.append(Array.from({ length: 100 }, (_, j) => event(i + j)), AT);
    const t = trail();
    t.failAfter(500);
    await expect(spool.drain(t.commit)).rejects.toThrow(/ECONNREFUSED/);
    expect(t.committed).toHaveLength(500);
    expect(spool.pending).toBe(700);
    t.failAfter(Number.POSITIVE_INFINITY);
    expect((await spool.drain(t.commit)).committed).toBe(700);
    expect(t.committed.map((e) => e.target)).toEqual(Array.from({ length: 1200 }, (_, i) => `secret://builtin/s${i}`));
  });

  it('drains what was spooled while a drain ran', async () => {
    const spool = new AuditSpool({ dir: dir(), recordKey: key });
    spool.append([event(1)], AT);
    const committed: string[] = [];
    let once = true;
    await spool.drain(async (events) => {
      committed.push(...events.map((e) => e.target));
      if (once) {
        once = false;
        spool.append([event(2)], AT);
      }
    });
    expect(committed).toEqual(['secret://builtin/s1', 'secret://builtin/s2']);
    expect(spool.pending).toBe(0);
  });

  it.each([
    ['a line altered', (lines: string[]) => lines.map((l, i) => (i === 1 ? l.replace('s2', 's9') : l))],
    ['a line removed', (lines: string[]) => lines.filter((_, i) => i !== 1)],
    ['two lines swapped', (lines: string[]) => [lines[0], lines[2], lines[1], lines[3]] as string[]],
    ['a line forged without the key', (lines: string[]) => [...lines, JSON.stringify({ ...JSON.parse(lines[3] as string), s: 5, mac: 'ab'.repeat(32) })]],
    ['garbage', (lines: string[]) => [...lines.slice(0, 2), 'not json']],
  ])('sets a file aside and says so in the trail when it does not verify: %s', async (_label, tamper) => {
    const d = dir();
    // A process of this host that is gone left this file.
    const gone = new AuditSpool({ dir: d, recordKey: key, pid: 111, alive: () => false });
    gone.append([event(1), event(2), event(3), event(4)], AT);
    gone.close();
    const lines = readFileSync(gone.file, 'utf8').trim().split('\n');
    writeFileSync(gone.file, `${tamper(lines).join('\n')}\n`);

    const spool = new AuditSpool({ dir: d, recordKey: key, pid: 222, alive: (pid) => pid === 222 });
    const t = trail();
    const result = await spool.drain(t.commit);
    expect(result.rejected).toEqual([gone.file]);
    expect(t.committed).toEqual([
      { actor: 'system', action: 'audit.spool', namespace: '', target: path.basename(gone.file), outcome: 'error', detail: 'spool_altered' },
    ]);
    expect(existsSync(`${gone.file}.rejected`)).toBe(true);
    expect(existsSync(gone.file)).toBe(false);
  });

  it('does not accept a file written with another key (no master key, no records)', async () => {
    const d = dir();
    const other = new AuditSpool({ dir: d, recordKey: randomBytes(32), pid: 333, alive: () => false });
    other.append([event(1)], AT);
    other.close();
    const t = trail();
    const result = await new AuditSpool({ dir: d, recordKey: key, pid: 444, alive: (pid) => pid === 444 }).drain(t.commit);
    expect(result.rejected).toHaveLength(1);
    expect(t.committed.map((e) => e.action)).toEqual(['audit.spool']);
  });

  it('drains files of stopped processes of this host, leaves running ones and other hosts alone', async () => {
    const d = dir();
    const stopped = new AuditSpool({ dir: d, recordKey: key, host: 'node-a', pid: 10, alive: () => true });
    stopped.append([event(1)], AT);
    stopped.close();
    const running = new AuditSpool({ dir: d, recordKey: key, host: 'node-a', pid: 11, alive: () => true });
    running.append([event(2)], AT);
    const elsewhere = new AuditSpool({ dir: d, recordKey: key, host: 'node-b', pid: 12, alive: () => false });
    elsewhere.append([event(3)], AT);
    elsewhere.close();

    const me = new AuditSpool({ dir: d, recordKey: key, host: 'node-a', pid: 13, alive: (pid) => pid !== 10 });
    expect(me.waitingFiles()).toEqual([stopped.file]);
    const t = trail();
    expect((await me.drain(t.commit)).committed).toBe(1);
    expect(t.committed.map((e) => e.target)).toEqual(['secret://builtin/s1']);
    expect(existsSync(running.file)).toBe(true);
    expect(existsSync(elsewhere.file)).toBe(true);
  });

  it('sets aside the file of an earlier process with the same pid (a restarted container) and drains it', async () => {
    const d = dir();
    const before = new AuditSpool({ dir: d, recordKey: key, host: 'pod', pid: 1 });
    before.append([event(1), event(2)], AT);
    before.close();
    const after = new AuditSpool({ dir: d, recordKey: key, host: 'pod', pid: 1, alive: () => true });
    expect(after.waitingFiles()).toHaveLength(1);
    after.append([event(3)], AT);
    const t = trail();
    expect((await after.drain(t.commit)).committed).toBe(3);
    expect(t.committed.map((e) => e.target)).toEqual(['secret://builtin/s1', 'secret://builtin/s2', 'secret://builtin/s3']);
    expect(readdirSync(d)).toEqual([]);
  });
});
