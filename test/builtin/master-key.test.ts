import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatKeyFile,
  generateMasterKey,
  keyIdOf,
  loadMasterKey,
  MasterKeyError,
  MasterKeyring,
} from '../../src/encrypted-store/index.js';
import { DIALECTS, openBackend, tempDir, useDatabases, writeKeyFile } from './helpers.js';

describe('loadMasterKey', () => {
  it('generates the embedded key file on first use: mode 0600 in a 0700 directory, one notice line', () => {
    const dir = path.join(tempDir(), '.sesame');
    const notices: string[] = [];
    const loaded = loadMasterKey({ file: './.sesame/master.key' }, {
      baseDir: path.dirname(dir),
      generate: true,
      notice: (line) => notices.push(line),
    });
    const file = path.join(dir, 'master.key');
    expect(loaded.created).toBe(true);
    expect(loaded.keys).toHaveLength(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(file);
    expect(notices[0]).toContain(loaded.keys[0]?.id);
    expect(notices[0]).not.toContain('\n');
    expect(notices[0]).not.toContain(loaded.keys[0]?.key.toString('base64'));

    const again = loadMasterKey({ file: file }, { generate: true, notice: (line) => notices.push(line) });
    expect(again.created).toBe(false);
    expect(again.keys[0]?.id).toBe(loaded.keys[0]?.id);
    expect(notices).toHaveLength(1);
  });

  it('does not generate a key unless asked: a missing file is an error saying what to do', () => {
    const file = path.join(tempDir(), 'absent.key');
    expect(() => loadMasterKey({ file })).toThrow(`master key file ${file} does not exist: restore it from your backup`);
    expect(existsSync(file)).toBe(false);
  });

  it('reads a base64 key from an environment variable', () => {
    const key = generateMasterKey();
    const loaded = loadMasterKey({ env: 'SESAME_TEST_KEY' }, { env: { SESAME_TEST_KEY: key.key.toString('base64') } });
    expect(loaded.keys.map((k) => k.id)).toEqual([key.id]);
    expect(loaded.where).toBe('environment variable SESAME_TEST_KEY');
  });

  it('reads several keys, newest first, from a comma-separated variable', () => {
    const [a, b] = [generateMasterKey(), generateMasterKey()];
    const env = { K: `${a.key.toString('base64')}, ${b.key.toString('base64')}` };
    expect(loadMasterKey({ env: 'K' }, { env }).keys.map((k) => k.id)).toEqual([a.id, b.id]);
  });

  it('rejects a key of the wrong length with the length it got, never the key', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    let message = '';
    try {
      loadMasterKey({ env: 'K' }, { env: { K: short } });
    } catch (err) {
      expect(err).toBeInstanceOf(MasterKeyError);
      message = (err as Error).message;
    }
    expect(message).toContain('environment variable K is not a master key: expected base64 of exactly 32 bytes, got 16 bytes');
    expect(message).not.toContain(short);
  });

  it('rejects text that is not base64 and an unset variable', () => {
    expect(() => loadMasterKey({ env: 'K' }, { env: { K: 'not-base64!' } })).toThrow('got text that is not base64');
    expect(() => loadMasterKey({ env: 'K' }, { env: {} })).toThrow('environment variable K is not set');
  });

  it('names the line of a bad key in a key file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'master.key');
    writeFileSync(file, `# comment\n${generateMasterKey().key.toString('base64')}\n${Buffer.alloc(31).toString('base64')}\n`);
    expect(() => loadMasterKey({ file })).toThrow(`master key file ${file} line 3 is not a master key`);
  });

  it('derives a stable 16-hex key id from the key', () => {
    const key = generateMasterKey();
    expect(key.id).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(Buffer.from(key.key))).toBe(key.id);
    expect(generateMasterKey().id).not.toBe(key.id);
  });
});

describe('MasterKeyring', () => {
  it('keeps keys that vanished from the source on reload, so in-flight reads still decrypt', () => {
    const dir = tempDir();
    const [oldKey, newKey] = [generateMasterKey(), generateMasterKey()];
    const file = writeKeyFile(dir, [oldKey]);
    const ring = new MasterKeyring({ file }, loadMasterKey({ file }));
    writeFileSync(file, formatKeyFile([newKey]));
    ring.reload();
    expect(ring.primary.id).toBe(newKey.id);
    expect(ring.get(oldKey.id)).toBeDefined();
  });
});

describe('master key against the database', () => {
  it('refuses a wrong master key, naming the expected and provided key ids, and changes nothing', async () => {
    const dir = tempDir();
    const database = `sqlite:${path.join(dir, 'sesame.db')}`;
    const right = generateMasterKey();
    const wrong = generateMasterKey();
    const rightFile = writeKeyFile(dir, [right], 'right.key');
    const wrongFile = writeKeyFile(dir, [wrong], 'wrong.key');
    const first = await openBackend({ database, masterKey: { file: rightFile } });
    await first.secrets().write({ namespace: '', name: 'kept', value: 'kept-value' });
    await first.close();
    const wrongBefore = readFileSync(wrongFile, 'utf8');

    const err = await openBackend({ database, masterKey: { file: wrongFile }, embedded: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterKeyError);
    expect((err as Error).message).toBe(
      `wrong master key: sqlite:${path.join(dir, 'sesame.db')} is encrypted with master key ${right.id}, but file ${wrongFile} holds ${wrong.id}: point masterKey at the right key (nothing was changed)`,
    );
    expect(readFileSync(wrongFile, 'utf8')).toBe(wrongBefore);

    const again = await openBackend({ database, masterKey: { file: rightFile } });
    expect((await again.secrets().read({ name: 'kept', namespaces: [''] })).value).toBe('kept-value');
    expect((await again.masterKeys()).map((k) => k.id)).toEqual([right.id]);
  });

  it('does not replace a missing key file of a used database, even in the embedded default', async () => {
    const dir = tempDir();
    const database = `sqlite:${path.join(dir, 'sesame.db')}`;
    const file = path.join(dir, 'master.key');
    const first = await openBackend({ database, masterKey: { file }, embedded: true });
    const id = first.keyring.primary.id;
    await first.secrets().write({ namespace: '', name: 'x', value: 'y' });
    await first.close();
    unlinkSync(file);

    const err = await openBackend({ database, masterKey: { file }, embedded: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterKeyError);
    expect((err as Error).message).toContain(`master key file ${file} does not exist`);
    expect((err as Error).message).toContain(`expects master key ${id}`);
    expect(existsSync(file)).toBe(false);
  });

  it('generates the key for a new embedded database and prints the notice only that once', async () => {
    const dir = tempDir();
    const database = `sqlite:${path.join(dir, '.sesame', 'sesame.db')}`;
    const masterKey = { file: './.sesame/master.key' };
    const notices: string[] = [];
    const notice = (line: string) => notices.push(line);
    const first = await openBackend({ database, masterKey, baseDir: dir, embedded: true, notice });
    await first.close();
    const second = await openBackend({ database, masterKey, baseDir: dir, embedded: true, notice });
    expect(notices).toHaveLength(1);
    expect(second.keyring.primary.id).toBe(first.keyring.primary.id);
    expect(statSync(path.join(dir, '.sesame', 'sesame.db')).mode & 0o777).toBe(0o600);
  });
});

describe('first start of several processes at once', () => {
  const dbs = useDatabases();
  it.each(DIALECTS)('makes one key active and opens every backend (%s)', async (dialect) => {
    // Nodes of a cluster starting together on an empty database, with the same key file.
    const database = await dbs.url(dialect);
    const file = writeKeyFile(tempDir());
    const backends = await Promise.all(Array.from({ length: 4 }, () => openBackend({ database, masterKey: { file } })));
    const active = await backends[0]?.masterKeys();
    expect(active?.filter((k) => k.state === 'active')).toHaveLength(1);
    for (const b of backends) expect((await b.masterKeys()).map((k) => k.id)).toEqual(active?.map((k) => k.id));
  });
});

