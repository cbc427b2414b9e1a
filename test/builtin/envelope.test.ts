import { describe, expect, it } from 'vitest';
import {
  generateMasterKey,
  openValue,
  rewrapDataKey,
  SecretIntegrityError,
  sealValue,
  unwrapDataKey,
} from '../../src/encrypted-store/index.js';

const at = { namespace: 'acme', name: 'db/password', version: 3 };
const text = (b: Buffer) => b.toString('utf8');

describe('envelope encryption', () => {
  it('round-trips a value under its own data key and the master key', () => {
    const master = generateMasterKey();
    const sealed = sealValue(Buffer.from('hunter2-ü'), at, master);
    expect(sealed.keyId).toBe(master.id);
    expect(text(openValue(sealed, at, master))).toBe('hunter2-ü');
  });

  it('never writes the value or its base64 into the sealed bytes', () => {
    const master = generateMasterKey();
    const value = 'canary-value-0123456789';
    const sealed = sealValue(Buffer.from(value), at, master);
    for (const blob of [sealed.ciphertext, sealed.wrappedKey]) {
      expect(blob.includes(Buffer.from(value))).toBe(false);
      expect(blob.toString('latin1')).not.toContain(Buffer.from(value).toString('base64'));
    }
  });

  it('uses a fresh data key and IV each time: the same value seals differently', () => {
    const master = generateMasterKey();
    const a = sealValue(Buffer.from('same'), at, master);
    const b = sealValue(Buffer.from('same'), at, master);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.wrappedKey).toHaveLength(1 + 12 + 32 + 16);
  });

  it.each([
    ['namespace', { ...at, namespace: 'other' }],
    ['name', { ...at, name: 'db/other' }],
    ['version', { ...at, version: 4 }],
  ])('refuses a ciphertext read at another %s', (_field, elsewhere) => {
    const master = generateMasterKey();
    const sealed = sealValue(Buffer.from('v'), at, master);
    expect(() => openValue(sealed, elsewhere, master)).toThrow(SecretIntegrityError);
  });

  it('refuses a ciphertext with one flipped bit, naming the secret and version', () => {
    const master = generateMasterKey();
    const sealed = sealValue(Buffer.from('value'), at, master);
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[14] = (ciphertext[14] as number) ^ 1;
    expect(() => openValue({ ...sealed, ciphertext }, at, master)).toThrow(
      'stored secret "db/password" (namespace acme) version 3 failed authentication: the row was altered or belongs elsewhere',
    );
  });

  it('refuses a value ciphertext paired with another version’s data key', () => {
    const master = generateMasterKey();
    const one = sealValue(Buffer.from('one'), at, master);
    const two = sealValue(Buffer.from('two'), at, master);
    expect(() => openValue({ ...one, wrappedKey: two.wrappedKey }, at, master)).toThrow(SecretIntegrityError);
  });

  it('does not unwrap a data key with another master key', () => {
    const sealed = sealValue(Buffer.from('v'), at, generateMasterKey());
    expect(() => unwrapDataKey(sealed.wrappedKey, at, generateMasterKey())).toThrow(SecretIntegrityError);
  });

  it('rewraps a data key for a new master key without touching the value ciphertext', () => {
    const oldKey = generateMasterKey();
    const newKey = generateMasterKey();
    const sealed = sealValue(Buffer.from('kept'), at, oldKey);
    const wrappedKey = rewrapDataKey(sealed.wrappedKey, oldKey, newKey);
    expect(wrappedKey).toBeDefined();
    const rewrapped = { ciphertext: sealed.ciphertext, wrappedKey: wrappedKey as Buffer, keyId: newKey.id };
    expect(text(openValue(rewrapped, at, newKey))).toBe('kept');
    expect(() => openValue(rewrapped, at, oldKey)).toThrow(SecretIntegrityError);
  });

  it('does not rewrap a data key that does not authenticate under the old key', () => {
    const sealed = sealValue(Buffer.from('v'), at, generateMasterKey());
    expect(rewrapDataKey(sealed.wrappedKey, generateMasterKey(), generateMasterKey())).toBeUndefined();
  });

  it('rejects an unknown format byte rather than guessing', () => {
    const master = generateMasterKey();
    const sealed = sealValue(Buffer.from('v'), at, master);
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[0] = 2;
    expect(() => openValue({ ...sealed, ciphertext }, at, master)).toThrow(SecretIntegrityError);
  });
});
