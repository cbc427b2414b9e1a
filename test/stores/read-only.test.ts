/**
 * `readOnly: true` on any store: the core refuses writes, deletes and restores (exit 2, 403)
 * with a message naming the setting, whatever the adapter, and reads go on as before.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReadOnlyStoreError } from '../../src/errors.js';
import { createSesame } from '../../src/sesame.js';
import { runCli } from '../support/cli.js';

describe('readOnly: true', () => {
  it('refuses writes, deletes and restores through the store\'s client, and keeps reads', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-ro-'));
    const writable = createSesame({ database: 'sqlite:./s.db', log: { level: 'silent' } }, { baseDir: dir });
    await (await writable.store('builtin').client()).write?.('db/password', 'read-only-value-0001', { namespace: '' });
    await writable.close();

    const sesame = createSesame(
      { database: 'sqlite:./s.db', log: { level: 'silent' }, stores: [{ name: 'ro', type: 'builtin', readOnly: true }] },
      { baseDir: dir },
    );
    try {
      expect(await sesame.resolve('secret://ro/db/password')).toBe('read-only-value-0001');
      const client = await sesame.store('ro').client();
      for (const attempt of [
        () => client.write?.('db/password', 'other-value-0002', { namespace: '' }),
        () => client.delete?.('db/password', { namespace: '' }),
        () => client.restore?.('db/password', { namespace: '' }),
      ]) {
        const err = (await Promise.resolve(attempt()).catch((e: unknown) => e)) as ReadOnlyStoreError;
        expect(err).toBeInstanceOf(ReadOnlyStoreError);
        expect(err.exitCode).toBe(2);
        expect(err.status).toBe(403);
        expect(err.message).toContain('[ro] the store is read-only (readOnly: true in its settings)');
      }
      // The same database through the implicit, writable store: nothing changed.
      expect(await sesame.resolve('secret://builtin/db/password')).toBe('read-only-value-0001');
    } finally {
      await sesame.close();
    }
  });

  it('makes sesame secrets set exit 2 with a message that names the setting', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-ro-cli-'));
    writeFileSync(
      path.join(dir, 'sesame.yaml'),
      'database: sqlite:./s.db\nmasterKey: { env: SESAME_MASTER_KEY }\nstores:\n  - name: ro\n    type: builtin\n    readOnly: true\n',
    );
    const env = { SESAME_MASTER_KEY: randomBytes(32).toString('base64') };
    const r = await runCli(['secrets', 'set', 'app/token', '--store', 'ro'], { cwd: dir, env, input: 'cli-read-only-value-0003' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('the store is read-only (readOnly: true in its settings)');
    expect(r.stderr).not.toContain('cli-read-only-value-0003');
  });

  it('is a boolean: anything else is a config error naming the path', () => {
    expect(() => createSesame({ stores: [{ name: 'ro', type: 'builtin', readOnly: 'yes' as unknown as boolean }] })).toThrow(/stores\[0\]\.readOnly/);
  });
});
