/**
 * `sesame keys rotate` with the key file on a read-only mount (a Kubernetes secret volume, a
 * read-only bind mount): writing the key file fails with EROFS. It said "unexpected error: Error:
 * EROFS: read-only file system, open '…/.master.key.….tmp'", and when the operator had put the
 * new key first in the file themselves, the rotation rewrapped everything and then failed the same
 * way at its last step, every time it was run again, with nothing saying how to finish. The
 * failure is injected where the file is written (`replaceKeyFile`), as the mount would make it.
 */
import { describe, expect, it, vi } from 'vitest';

const readOnly = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/encrypted-store/master-key.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/encrypted-store/master-key.js')>();
  return {
    ...original,
    replaceKeyFile: (file: string, keys: Parameters<typeof original.replaceKeyFile>[1]) => {
      if (readOnly.on) {
        throw Object.assign(new Error(`EROFS: read-only file system, open '${file}.tmp'`), { code: 'EROFS', errno: -30, syscall: 'open' });
      }
      return original.replaceKeyFile(file, keys);
    },
  };
});

import { readFileSync } from 'node:fs';
import { generateMasterKey, MasterKeyError, parseKeyFile } from '../../src/encrypted-store/index.js';
import { replaceKeyFile } from '../../src/encrypted-store/master-key.js';
import { openBackend, tempDir, writeKeyFile } from './helpers.js';

const ROOT = [''];
const keysIn = (file: string) => parseKeyFile(readFileSync(file, 'utf8'), file).map((k) => k.id);

describe('key rotation with a read-only key file', () => {
  it('refuses to make a key it cannot store, saying how such a file is rotated; changes nothing', async () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir);
    const backend = await openBackend({ database: `sqlite:${dir}/sesame.db`, masterKey: { file: keyFile } });
    await backend.secrets().write({ namespace: '', name: 'app/a', value: 'ro-value-a' });
    const before = await backend.masterKeys();
    readOnly.on = true;
    try {
      const err = (await backend.rotateMasterKey().catch((e: unknown) => e)) as MasterKeyError;
      expect(err).toBeInstanceOf(MasterKeyError);
      expect(err.message).toMatch(/^cannot write the new master key into .*master\.key: it is on a read-only file system; nothing was changed$/);
      expect(err.fix).toMatch(/put a new key \(openssl rand -base64 32\) on a line above the current one.*sesame keys rotate --keep-old-keys/);
    } finally {
      readOnly.on = false;
    }
    expect(await backend.masterKeys()).toEqual(before);
    expect((await backend.secrets().read({ name: 'app/a', namespaces: ROOT })).value).toBe('ro-value-a');
  });

  it('with the new key put first by the operator: fails at the end saying to finish with --keep-old-keys, which finishes it', async () => {
    const dir = tempDir();
    const oldKey = generateMasterKey();
    const keyFile = writeKeyFile(dir, [oldKey]);
    const backend = await openBackend({ database: `sqlite:${dir}/sesame.db`, masterKey: { file: keyFile } });
    await backend.secrets().write({ namespace: '', name: 'app/a', value: 'ro-value-a' });
    // Whoever owns the mount puts the new key first.
    const newKey = generateMasterKey();
    replaceKeyFile(keyFile, [newKey, oldKey]);
    readOnly.on = true;
    try {
      const err = (await backend.rotateMasterKey().catch((e: unknown) => e)) as MasterKeyError;
      expect(err).toBeInstanceOf(MasterKeyError);
      expect(err.message).toMatch(/^cannot remove the old master keys from .*master\.key: it is on a read-only file system$/);
      expect(err.fix).toMatch(/run sesame keys rotate --keep-old-keys to finish.*then remove the old key lines/);
      // Reads keep working meanwhile.
      expect((await backend.secrets().read({ name: 'app/a', namespaces: ROOT })).value).toBe('ro-value-a');
      const done = await backend.rotateMasterKey({ keepOldKeys: true });
      expect(done).toMatchObject({ keyId: newKey.id, retired: [oldKey.id] });
    } finally {
      readOnly.on = false;
    }
    expect(keysIn(keyFile)).toEqual([newKey.id, oldKey.id]);
    const states = (await backend.masterKeys()).map((k) => [k.id, k.state]);
    expect(states).toEqual(expect.arrayContaining([[oldKey.id, 'retired'], [newKey.id, 'active']]));
  });
});
