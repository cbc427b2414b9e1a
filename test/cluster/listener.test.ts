/**
 * The change listener on its own, over one SQLite file opened twice (two node ids): catch-up by
 * sequence, and what it does when it could not read the feed for longer than rows are kept
 * (they may have been pruned before it read them: it cannot know which changes it missed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChangeRow, publishChanges, pruneChanges } from '../../src/cluster/changes.js';
import { ChangeListener } from '../../src/cluster/listener.js';
import { openDatabase, type SesameDatabase } from '../../src/db/index.js';

const RETENTION = 60_000;

describe('ChangeListener', () => {
  let dir: string;
  let writer: SesameDatabase;
  let reader: SesameDatabase;
  let listener: ChangeListener;
  let applied: ChangeRow[];
  /** What `start()` applied. */
  let startApplied: ChangeRow[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sesame-listener-'));
    writer = await openDatabase(`sqlite:${path.join(dir, 'sesame.db')}`);
    await writer.migrate();
    reader = await openDatabase(`sqlite:${path.join(dir, 'sesame.db')}`);
    applied = [];
    listener = new ChangeListener({
      database: reader,
      apply: async (rows) => {
        applied.push(...rows);
      },
      pollMs: 3_600_000,
      retentionMs: RETENTION,
    });
    await listener.start();
    startApplied = applied;
    applied = [];
  });

  afterEach(async () => {
    vi.useRealTimers();
    await listener.close();
    await reader.close();
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings what was loaded before it started up to its position: one reload of everything at start', async () => {
    expect(startApplied.map((r) => r.kind)).toEqual(expect.arrayContaining(['store', 'refresh', 'token', 'key']));
    // The rows below its position are not read: the reload covered them.
    await listener.wake();
    expect(applied).toEqual([]);
  });

  it("applies the other node's rows in sequence order, each once", async () => {
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'a' }]);
    await publishChanges(writer, [{ kind: 'store', namespace: 'acme', target: 'vault' }]);
    await listener.wake();
    await listener.wake();
    expect(applied.map((r) => [r.kind, r.target])).toEqual([
      ['secret', 'a'],
      ['store', 'vault'],
    ]);
  });

  it('after a gap in reading longer than the feed keeps rows, reloads everything instead of trusting the rows left', async () => {
    await listener.wake();
    // Changes written while this node could not read, then pruned by another node.
    await publishChanges(writer, [{ kind: 'token', namespace: '', target: 'tok_revoked' }]);
    vi.useFakeTimers({ now: Date.now() + 2 * RETENTION, toFake: ['Date'] });
    await pruneChanges(writer, new Date(Date.now() - RETENTION).toISOString());
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'after' }]);
    await listener.wake();
    const kinds = applied.map((r) => r.kind);
    // Everything a missed row could have changed: the stored config, every cached value, every
    // cached token, the master keys.
    expect(kinds).toEqual(expect.arrayContaining(['store', 'refresh', 'token', 'key']));
    expect(applied.find((r) => r.kind === 'refresh')?.target).toBe(JSON.stringify({ all: true }));
    expect(applied.find((r) => r.kind === 'token')?.target).toBe('');
    expect(applied.some((r) => r.target === 'after')).toBe(true);
    // Once: the next read is an ordinary one.
    applied = [];
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'later' }]);
    await listener.wake();
    expect(applied.map((r) => r.target)).toEqual(['later']);
  });

  it('reloads everything when the feed went back in time (a restored backup), then reads the rows written after', async () => {
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'a' }]);
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'b' }]);
    await listener.wake();
    applied = [];
    // The database as a backup taken before those two rows holds it: rows and counter back.
    await writer.kysely.deleteFrom('changes').execute();
    await sql`update sqlite_sequence set seq = 0 where name = 'changes'`.execute(writer.kysely);
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'after-restore' }]);
    await listener.wake();
    // The row written after the restore reused a sequence number read before: the reload covers it.
    expect(applied.map((r) => r.kind)).toEqual(expect.arrayContaining(['store', 'refresh', 'token', 'key']));
    applied = [];
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'later' }]);
    await listener.wake();
    expect(applied.map((r) => r.target)).toEqual(['later']);
  });

  it('does not take a feed whose rows were all pruned for one that went back', async () => {
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'a' }]);
    await listener.wake();
    applied = [];
    await pruneChanges(writer, new Date(Date.now() + 60_000).toISOString());
    await listener.wake();
    expect(applied).toEqual([]);
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'next' }]);
    await listener.wake();
    expect(applied.map((r) => r.target)).toEqual(['next']);
  });

  it('does not reload everything after a short gap', async () => {
    await listener.wake();
    vi.useFakeTimers({ now: Date.now() + RETENTION / 4, toFake: ['Date'] });
    await publishChanges(writer, [{ kind: 'secret', namespace: '', target: 'soon' }]);
    await listener.wake();
    expect(applied.map((r) => r.kind)).toEqual(['secret']);
  });
});
