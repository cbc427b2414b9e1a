/**
 * The core's reversible escape spelling, with an alphabet unlike Key Vault's (lower-case letters
 * and digits, `_` starting escapes, no character written plain by context), so what is tested
 * is the mechanism and not one provider's table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeCharacter, escapeSpelling } from '../../src/stores/core/escape-spelling.js';

const spelling = escapeSpelling({
  provider: 'Example',
  plain: /^[a-z0-9]$/,
  escape: '_',
  codes: { '/': 's', '.': 'd', _: 'u', A: 'a' },
  maxLength: 12,
  allowed: 'a-z, 0-9, / . _ and A',
});

const names = fc.string({ unit: fc.constantFrom(...'ab9/._A'.split('')), minLength: 1, maxLength: 6 });
const ids = fc.string({ unit: fc.constantFrom(...'ab9_sdux'.split('')), minLength: 0, maxLength: 10 });

describe('escapeSpelling', () => {
  it('writes plain characters as themselves and the others as escape + code', () => {
    expect(spelling.encode('ab9')).toEqual({ ok: true, id: 'ab9' });
    expect(spelling.encode('a/b.c_A')).toEqual({ ok: true, id: 'a_sb_dc_u_a' });
  });

  it('reads back what it writes, and gives different names different spellings', () => {
    fc.assert(
      fc.property(names, names, (a, b) => {
        const x = spelling.encode(a);
        const y = spelling.encode(b);
        if (!x.ok || !y.ok) return;
        expect(spelling.decode(x.id)).toBe(a);
        if (a !== b) expect(x.id).not.toBe(y.id);
      }),
    );
  });

  it('accepts a provider name only when spelling the result again gives it back', () => {
    fc.assert(
      fc.property(ids, (id) => {
        const name = spelling.decode(id);
        if (name !== undefined) expect(spelling.encode(name)).toEqual({ ok: true, id });
      }),
    );
    for (const id of ['', 'a_x', 'a_', 'B', 'a b']) expect(spelling.decode(id)).toBeUndefined();
  });

  it('refuses an empty name, a character without spelling (naming it and its position) and a name too long', () => {
    expect(spelling.encode('')).toEqual({ ok: false, reason: 'the name is empty' });
    expect(spelling.encode('ab#')).toEqual({
      ok: false,
      reason: 'character "#" at position 2 has no Example spelling (use a-z, 0-9, / . _ and A)',
    });
    expect(spelling.encode('a'.repeat(12)).ok).toBe(true);
    expect(spelling.encode('a'.repeat(11) + '/')).toEqual({
      ok: false,
      reason: 'it maps to a 13-character Example name; Example allows at most 12',
    });
  });

  it('lets plainAt write a character as itself where the adapter says it is safe', () => {
    const dashed = escapeSpelling({
      provider: 'Dashed',
      plain: /^[a-z]$/,
      escape: '--',
      codes: { '-': 'h' },
      plainAt: (c, out, next) =>
        c === '-' && /[a-z]$/.test(out) && next !== undefined && /^[a-z]$/.test(next),
      maxLength: 20,
      allowed: 'a-z and -',
    });
    expect(dashed.encode('a-b')).toEqual({ ok: true, id: 'a-b' });
    expect(dashed.encode('-a')).toEqual({ ok: true, id: '--ha' });
    expect(dashed.decode('a-b')).toBe('a-b');
    expect(dashed.decode('a--b')).toBeUndefined();
  });

  it('shows printable ASCII quoted and anything else as its code point', () => {
    expect(describeCharacter('#')).toBe('"#"');
    expect(describeCharacter(' ')).toBe('U+0020');
    expect(describeCharacter('é')).toBe('U+00E9');
    expect(describeCharacter('😀')).toBe('U+1F600');
  });
});
