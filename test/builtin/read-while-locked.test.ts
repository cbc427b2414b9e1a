/**
 * Opening the database took its write lock every time, to find that no migration was due: while
 * another process held a write transaction (a long write, a backup, an sqlite3 shell), every
 * command waited the busy timeout (15 s) and failed, `sesame secrets get` and `sesame run`
 * included, and a server could not start. An up-to-date database is now recognised by a read.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { builtinClient, openBackend, tempDir, writeKeyFile } from './helpers.js';

describe('a database another process holds the write lock of', () => {
  it('is opened and read at once (a write still waits for the lock: review-busy-database.test.ts)', async () => {
    const dir = tempDir();
    const options = { database: `sqlite:${path.join(dir, 'sesame.db')}`, masterKey: { file: writeKeyFile(dir) } };
    const first = await builtinClient(options);
    await first.client.write?.('app/x', 'locked-read-1', { namespace: '' });
    const hold = new Database(path.join(dir, 'sesame.db'));
    hold.exec('begin immediate');
    try {
      // Another process starting now: it opens (no migration due) and reads.
      expect((await openBackend(options)).keyring.primary).toBeDefined();
      const second = await builtinClient(options);
      try {
        expect((await second.client.get({ name: 'app/x', namespaces: [''] })).value).toBe('locked-read-1');
      } finally {
        await second.close();
      }
    } finally {
      hold.exec('rollback');
      hold.close();
      await first.close();
    }
  }, 40_000);

  it('sesame secrets get prints the value while another process holds the write lock', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-locked-'));
    const env = { SESAME_LOG_LEVEL: 'warn' };
    expect((await runCli(['secrets', 'set', 'db/password', 'locked-read-2'], { cwd, env })).code).toBe(0);
    const hold = new Database(path.join(cwd, '.sesame', 'sesame.db'));
    hold.exec('begin immediate');
    try {
      const got = await runCli(['secrets', 'get', 'db/password'], { cwd, env, timeoutMs: 30_000 });
      expect(got.stderr).toBe('');
      expect(got.stdout).toBe('locked-read-2');
    } finally {
      hold.exec('rollback');
      hold.close();
    }
  }, 40_000);
});
