import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromKeyVaultName, KEY_VAULT_NAME_MAX, toKeyVaultName } from '../../src/stores/azure/names.js';

const mappable = fc.string({
  unit: fc.constantFrom(...'abcXYZ019-/_.:@+='.split('')),
  minLength: 1,
  maxLength: 40,
});
const keyVaultShaped = fc.string({
  unit: fc.constantFrom(...'aZ09-suhdcpe'.split('')),
  minLength: 1,
  maxLength: 40,
});

function encode(name: string): string {
  const mapped = toKeyVaultName(name);
  if (!mapped.ok) throw new Error(mapped.reason);
  return mapped.name;
}

describe('Key Vault name mapping', () => {
  it('only produces valid Key Vault names', () => {
    fc.assert(
      fc.property(mappable, (name) => {
        const mapped = toKeyVaultName(name);
        if (mapped.ok) expect(mapped.name).toMatch(/^[0-9A-Za-z-]{1,127}$/);
        else expect(mapped.reason).toContain(String(KEY_VAULT_NAME_MAX));
      }),
    );
  });

  it('round-trips: decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(mappable, (name) => {
        expect(fromKeyVaultName(encode(name))).toBe(name);
      }),
    );
  });

  it('is injective: different names never share a Key Vault name', () => {
    fc.assert(
      fc.property(mappable, mappable, (a, b) => {
        fc.pre(a !== b);
        expect(encode(a)).not.toBe(encode(b));
      }),
    );
  });

  it('decodes a Key Vault name only when it is the encoding of what it decodes to', () => {
    fc.assert(
      fc.property(keyVaultShaped, (kvName) => {
        const name = fromKeyVaultName(kvName);
        if (name !== undefined) expect(encode(name)).toBe(kvName);
      }),
    );
  });

  it('keeps names that already look like Key Vault names unchanged', () => {
    const plain = fc
      .array(fc.string({ unit: fc.constantFrom(...'aB3z9Q'.split('')), minLength: 1, maxLength: 8 }), {
        minLength: 1,
        maxLength: 5,
      })
      .map((groups) => groups.join('-'));
    fc.assert(
      fc.property(plain, (name) => {
        expect(encode(name)).toBe(name);
      }),
    );
  });

  it('spells the documented examples', () => {
    expect(encode('prod/db_password')).toBe('prod--sdb--upassword');
    expect(encode('a-b')).toBe('a-b');
    expect(encode('-x')).toBe('--hx');
    expect(encode('x-')).toBe('x--h');
    expect(encode('a--b')).toBe('a--h-b');
    expect(encode('arn:aws:x')).toBe('arn--caws--cx');
    expect(encode('ops@acme.io')).toBe('ops--aacme--dio');
  });

  it('refuses characters without a spelling and names that are too long', () => {
    expect(toKeyVaultName('')).toEqual({ ok: false, reason: 'the name is empty' });
    const space = toKeyVaultName('a b');
    expect(space.ok).toBe(false);
    expect(space.ok ? '' : space.reason).toContain('U+0020 at position 1');
    const hash = toKeyVaultName('a#b');
    expect(hash.ok ? '' : hash.reason).toContain('"#"');
    expect(toKeyVaultName('é').ok).toBe(false);
    expect(toKeyVaultName('a'.repeat(127)).ok).toBe(true);
    expect(toKeyVaultName('a'.repeat(128)).ok).toBe(false);
    expect(toKeyVaultName('/'.repeat(43)).ok).toBe(false);
  });

  it('does not decode names other tools made outside the scheme', () => {
    for (const kvName of ['a--b', '-a', 'a-', 'a---sb', 'a--', 'bad_name', ''])
      expect(fromKeyVaultName(kvName)).toBeUndefined();
  });
});
