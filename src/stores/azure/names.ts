/**
 * Sesame names ↔ Key Vault secret names.
 *
 * Key Vault allows only `[0-9A-Za-z-]`, 1 to 127 characters. Sesame names are paths such as
 * `prod/db_password` or `arn:…`. The mapping keeps every name that already looks like a Key
 * Vault name (letters and digits in dash-separated groups: `prod-jira-token`) unchanged, so
 * secrets created by other tools read as themselves, and spells the other characters with an
 * escape that such names never contain: two dashes and a code letter ({@link ESCAPES}; the table
 * users read is in docs/stores.md). A `-` stays plain only between two letters or digits (and
 * not after another plain `-`); anywhere else it is `--h`.
 *
 * Examples: `prod/db_password` → `prod--sdb--upassword`; `a-b` → `a-b`; `-x` → `--hx`.
 *
 * Why it is injective and reversible: read left to right, a Key Vault name splits into tokens
 * in exactly one way — a letter or digit; `--` followed by one code letter; or a lone `-` (one
 * not followed by another `-`). No token is a prefix of another, so decoding is unique and
 * `decode(encode(x)) === x`. Decoding is only accepted when re-encoding gives back the same
 * text (`encode(decode(k)) === k`), so each Key Vault name has at most one Sesame name: names
 * made by other tools that are not in this form (`a--b`, `-a`) are not addressable and are left
 * out of listings. Other characters (spaces, `#`, non-ASCII…) are refused: there is no readable
 * spelling for them and no Key Vault user would guess one.
 *
 * Key Vault compares names case-insensitively; the mapping keeps case, so `Db` and `db` name the
 * same Key Vault secret — as they do for anyone using the vault directly.
 */

/** Code letters after `--`. */
const ESCAPES: Readonly<Record<string, string>> = {
  '/': 's',
  _: 'u',
  '.': 'd',
  ':': 'c',
  '@': 'a',
  '+': 'p',
  '=': 'e',
  '-': 'h',
};
const UNESCAPES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ESCAPES).map(([k, v]) => [v, k]),
);

const ALNUM = /^[0-9A-Za-z]$/;
export const KEY_VAULT_NAME_MAX = 127;
const KEY_VAULT_NAME = /^[0-9A-Za-z-]{1,127}$/;

/** The characters a Sesame name may use in a Key Vault store, for messages. */
export const MAPPABLE_CHARACTERS = 'letters, digits and - / _ . : @ + =';

export type NameMappingResult = { ok: true; name: string } | { ok: false; reason: string };

/** Map a Sesame name (prefix already applied) to a Key Vault secret name. */
export function toKeyVaultName(name: string): NameMappingResult {
  if (name.length === 0) return { ok: false, reason: 'the name is empty' };
  const chars = [...name];
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (ALNUM.test(c)) {
      out += c;
      continue;
    }
    if (c === '-') {
      const next = chars[i + 1];
      // A plain dash needs a letter or digit on both sides in the output.
      const plain = out.length > 0 && !out.endsWith('-') && next !== undefined && ALNUM.test(next);
      out += plain ? '-' : '--h';
      continue;
    }
    const code = ESCAPES[c];
    if (code === undefined) {
      const shown = /^[\x21-\x7e]$/.test(c)
        ? `"${c}"`
        : `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
      return {
        ok: false,
        reason: `character ${shown} at position ${i} has no Key Vault spelling (use ${MAPPABLE_CHARACTERS})`,
      };
    }
    out += `--${code}`;
  }
  if (out.length > KEY_VAULT_NAME_MAX) {
    return {
      ok: false,
      reason: `it maps to a ${out.length}-character Key Vault name; Key Vault allows at most ${KEY_VAULT_NAME_MAX}`,
    };
  }
  return { ok: true, name: out };
}

/**
 * Map a Key Vault secret name back to the Sesame name, or `undefined` when the name is not one
 * {@link toKeyVaultName} produces.
 */
export function fromKeyVaultName(kvName: string): string | undefined {
  if (!KEY_VAULT_NAME.test(kvName)) return undefined;
  let out = '';
  for (let i = 0; i < kvName.length; i++) {
    const c = kvName[i] as string;
    if (c !== '-') {
      out += c;
    } else if (kvName[i + 1] === '-') {
      const original = UNESCAPES[kvName[i + 2] ?? ''];
      if (original === undefined) return undefined;
      out += original;
      i += 2;
    } else {
      out += '-';
    }
  }
  const back = toKeyVaultName(out);
  return back.ok && back.name === kvName ? out : undefined;
}
