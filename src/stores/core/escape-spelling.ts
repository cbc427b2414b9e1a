/**
 * A reversible spelling of Sesame names in a provider's narrower alphabet, for providers whose
 * names cannot hold `/`, `_`, `.`… (Key Vault allows `[0-9A-Za-z-]`). Characters in the
 * provider's alphabet are written as themselves, so names other tools made read as themselves;
 * each other allowed character is written as an escape (a text such names never contain, e.g.
 * `--`) followed by one code character; anything else is refused with a reason that names the
 * character and its position.
 *
 * Reading back: wherever the escape starts, it and its code character are one token; any other
 * character is itself. A provider name is only accepted when spelling the result again gives
 * the same text, so each provider name has at most one Sesame name, and names made outside the
 * scheme are left out (undefined) instead of read under a wrong name. `decode(encode(x)) === x`
 * holds as long as `plainAt` never writes a character that, with what follows, reads as the
 * escape — the adapter's tests should check it for its own rule.
 *
 * @example
 * const spelling = escapeSpelling({
 *   provider: 'Key Vault', plain: /^[0-9A-Za-z]$/, escape: '--', codes: { '/': 's', '-': 'h' },
 *   maxLength: 127, allowed: 'letters, digits, - and /',
 * });
 * spelling.encode('prod/db'); // { ok: true, id: 'prod--sdb' }
 * spelling.decode('prod--sdb'); // 'prod/db'
 */

export interface EscapeSpellingOptions {
  /** What the provider is called in reasons (`Key Vault`). */
  provider: string;
  /** One character written as itself. */
  plain: RegExp;
  /** The text that starts an escape (`--`). */
  escape: string;
  /** The code character written after `escape`, by the character it stands for. */
  codes: Readonly<Record<string, string>>;
  /**
   * Whether a character outside `plain` may be written as itself at this point (`out` is the
   * spelling so far, `next` the name's next character): Key Vault's dash between two letters.
   */
  plainAt?(c: string, out: string, next: string | undefined): boolean;
  /** The longest provider name. */
  maxLength: number;
  /** The characters a name may use, for reasons (`letters, digits and - / _`). */
  allowed: string;
}

export type Spelled = { ok: true; id: string } | { ok: false; reason: string };

export interface EscapeSpelling {
  /** The provider spelling of a name, or why it has none. */
  encode(name: string): Spelled;
  /** The name a provider name spells, or undefined when `encode` does not make it. */
  decode(id: string): string | undefined;
}

/** A character as a reason shows it: `"#"` when printable ASCII, else its code point (`U+0020`). */
export function describeCharacter(c: string): string {
  if (/^[\x21-\x7e]$/.test(c)) return `"${c}"`;
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

export function escapeSpelling(options: EscapeSpellingOptions): EscapeSpelling {
  const { provider, plain, escape: opener, codes, plainAt, maxLength } = options;
  const originals = new Map(Object.entries(codes).map(([original, code]) => [code, original]));
  const encode = (name: string): Spelled => {
    if (name.length === 0) return { ok: false, reason: 'the name is empty' };
    const chars = [...name];
    let out = '';
    for (const [i, c] of chars.entries()) {
      const code = codes[c];
      if (plain.test(c) || plainAt?.(c, out, chars[i + 1])) out += c;
      else if (code !== undefined) out += opener + code;
      else {
        const shown = describeCharacter(c);
        const reason = `character ${shown} at position ${i} has no ${provider} spelling (use ${options.allowed})`;
        return { ok: false, reason };
      }
    }
    if (out.length > maxLength) {
      const reason = `it maps to a ${out.length}-character ${provider} name; ${provider} allows at most ${maxLength}`;
      return { ok: false, reason };
    }
    return { ok: true, id: out };
  };
  const decode = (id: string): string | undefined => {
    let out = '';
    for (let i = 0; i < id.length; i++) {
      if (!id.startsWith(opener, i)) {
        out += id[i];
        continue;
      }
      const original = originals.get(id[i + opener.length] ?? '');
      if (original === undefined) return undefined;
      out += original;
      i += opener.length;
    }
    const back = encode(out);
    return back.ok && back.id === id ? out : undefined;
  };
  return { encode, decode };
}
