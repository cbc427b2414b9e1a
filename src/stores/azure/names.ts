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
 * not followed by another `-`). A plain `-` is never followed by another `-`, so no token is a
 * prefix of another and `decode(encode(x)) === x`. Decoding is only accepted when re-encoding
 * gives back the same text (see {@link escapeSpelling}), so names made by other tools that are
 * not in this form (`a--b`, `-a`) are not addressable and are left out of listings. Other
 * characters (spaces, `#`, non-ASCII…) are refused: there is no readable spelling for them and
 * no Key Vault user would guess one.
 *
 * Key Vault compares names case-insensitively; the mapping keeps case, so `Db` and `db` name the
 * same Key Vault secret — as they do for anyone using the vault directly.
 */
import { escapeSpelling } from '../core/index.js';

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

const ALNUM = /^[0-9A-Za-z]$/;
export const KEY_VAULT_NAME_MAX = 127;

export const keyVaultSpelling = escapeSpelling({
  provider: 'Key Vault',
  plain: ALNUM,
  escape: '--',
  codes: ESCAPES,
  // A plain dash needs a letter or digit on both sides in the output.
  plainAt: (c, out, next) =>
    c === '-' && out.length > 0 && !out.endsWith('-') && next !== undefined && ALNUM.test(next),
  maxLength: KEY_VAULT_NAME_MAX,
  allowed: 'letters, digits and - / _ . : @ + =',
});

/** Map a Sesame name (prefix already applied) to a Key Vault secret name. */
export function toKeyVaultName(name: string): { ok: true; name: string } | { ok: false; reason: string } {
  const spelled = keyVaultSpelling.encode(name);
  return spelled.ok ? { ok: true, name: spelled.id } : spelled;
}

/** The Sesame name a Key Vault secret name spells, or `undefined` when it is not one {@link toKeyVaultName} makes. */
export const fromKeyVaultName = keyVaultSpelling.decode;
