/**
 * Finding literal credentials in documents (connection configs, `.env`, JSON, YAML): known key
 * formats anywhere, and high-entropy values in fields named like a credential. A finding says
 * where and what kind, and keeps where the value is so `--fix` can move it; it is never printed.
 *
 * Line-based on purpose: every format here fits on one line except PEM private keys, which are
 * found by their BEGIN/END lines. One pass per line with anchored regexes (no backtracking
 * blow-up: every pattern is a character class run with fixed delimiters).
 */

export type FindingKind =
  | 'aws-access-key-id'
  | 'private-key'
  | 'github-token'
  | 'slack-token'
  | 'jwt'
  | 'high-entropy-value';

export interface Finding {
  /** 1-based line of the value (of the BEGIN line for a private key). */
  line: number;
  /** 1-based column where the value starts. */
  column: number;
  kind: FindingKind;
  /** The field (key) the value is in, when the line names one. */
  field: string | undefined;
  /** Offsets of the value in the text: `[start, end)`. Never printed. */
  start: number;
  end: number;
  /** The value spans the whole field value (after quotes): replaceable by a bare reference. */
  whole: boolean;
  /** How the value is written: as is, JSON-escaped inside a JSON string, or a YAML block scalar. */
  encoding: 'plain' | 'json-string' | 'yaml-block';
  /** Where a fix starts replacing, when not at `start` (a YAML block scalar: its `|` indicator). */
  replaceStart?: number | undefined;
}

const KNOWN: ReadonlyArray<{ kind: FindingKind; re: RegExp }> = [
  { kind: 'aws-access-key-id', re: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g },
  { kind: 'github-token', re: /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b/g },
  { kind: 'github-token', re: /\bgithub_pat_[A-Za-z0-9_]{82}\b/g },
  { kind: 'slack-token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,200}/g },
  { kind: 'jwt', re: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}/g },
];

/** Field names that hold credentials: password, passwd, pwd, token, secret, key, credential(s), auth. */
const CREDENTIAL_FIELD = /(pass(word|wd)?|pwd|token|secret|key|credential|auth)/i;
/** Field names that look like one but hold identifiers. */
const NOT_CREDENTIAL_FIELD = /(key_?id|keyname|key_?name|token_?url|token_?type|auth_?url|auth_?method|secret_?name|_?ref$|path$|file$|^keys?$)/i;

/** `key: value`, `key = value`, `"key": "value"`, `KEY=value`, `- key: value`. */
const FIELD_LINE = /^(\s*(?:-\s+)?(?:export\s+)?)(["']?)([A-Za-z0-9_.\-]{1,128})\2\s*([:=])\s*/;

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A value that is obviously not a literal credential: a reference, a placeholder, a template. */
function isPlaceholder(v: string): boolean {
  return (
    /secret:\/\/|\{\{|\$\{|\$\(|%\(|^<.*>$|^ref\+|^op:\/\//.test(v) ||
    /^(true|false|null|yes|no|none|changeme|password|secret|example|xxx+|\*+|-?\d+(\.\d+)?)$/i.test(v)
  );
}

/** High entropy for its length: long enough, several character classes, ≥ 3 bits per character. */
export function looksRandom(v: string): boolean {
  if (v.length < 12 || v.length > 4096 || /\s/.test(v)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(v)).length;
  return classes >= 2 && entropy(v) >= 3.0;
}

interface FieldValue {
  field: string;
  start: number;
  end: number;
  quoted: boolean;
  json: boolean;
}

/** The field and the value's span on one line, if the line is `field: value` / `field=value`. */
function fieldValue(line: string): FieldValue | undefined {
  const m = FIELD_LINE.exec(line);
  if (!m) return undefined;
  const field = m[3] as string;
  let start = m[0].length;
  let end = line.length;
  const q = line[start];
  const json = m[2] === '"' && m[4] === ':';
  if (q === '"' || q === "'") {
    let close = start + 1;
    while (close < line.length && line[close] !== q) close += line[close] === '\\' && q === '"' ? 2 : 1;
    if (close >= line.length) return undefined;
    return { field, start: start + 1, end: close, quoted: true, json };
  }
  // Unquoted: up to a comment or the end, trailing blanks and a JSON comma dropped.
  const hash = line.indexOf(' #', start);
  if (hash !== -1) end = hash;
  while (end > start && /[\s,]/.test(line[end - 1] as string)) end--;
  if (end === start) return undefined;
  if (line[start] === '|' || line[start] === '>' || line[start] === '{' || line[start] === '[') return undefined;
  return { field, start, end, quoted: false, json };
}

/** `"key": "value"` pairs anywhere on a line (inline JSON objects). */
const JSON_PAIR = /"([A-Za-z0-9_.\-]{1,128})"\s*:\s*"((?:[^"\\]|\\.)*)"/g;

/** The field/value pairs of a line: the line's own `key: value`, and inline JSON pairs. */
function pairsOf(line: string): FieldValue[] {
  const pairs: FieldValue[] = [];
  const own = fieldValue(line);
  if (own) pairs.push(own);
  JSON_PAIR.lastIndex = 0;
  for (let m = JSON_PAIR.exec(line); m !== null; m = JSON_PAIR.exec(line)) {
    const end = m.index + m[0].length - 1;
    const start = end - (m[2] as string).length;
    if (!pairs.some((p) => p.start === start)) pairs.push({ field: m[1] as string, start, end, quoted: true, json: true });
  }
  return pairs;
}

/** Every finding in a text, in order. */
export function detectSecrets(text: string): Finding[] {
  const findings: Finding[] = [];
  const lines = text.split('\n');
  let offset = 0;
  let inPem = false;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    const lineStart = offset;
    offset += (lines[i] as string).length + 1;
    const pairs = pairsOf(line);
    const pairAt = (s: number, e: number) => pairs.find((p) => s >= p.start && e <= p.end);
    const taken: Array<[number, number]> = [];

    const begin = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/.exec(line);
    if (begin && !inPem) {
      findings.push(pemFinding(text, lines, i, lineStart, begin.index, pairAt(begin.index, begin.index + begin[0].length)));
      if (!line.includes('-----END', begin.index)) inPem = true;
      continue;
    }
    if (inPem) {
      if (/-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/.test(line)) inPem = false;
      continue;
    }
    for (const { kind, re } of KNOWN) {
      re.lastIndex = 0;
      for (let m = re.exec(line); m !== null; m = re.exec(line)) {
        const s = m.index;
        const e = s + m[0].length;
        if (taken.some(([a, b]) => s < b && e > a)) continue;
        taken.push([s, e]);
        const fv = pairAt(s, e);
        findings.push({
          line: i + 1,
          column: s + 1,
          kind,
          field: fv?.field,
          start: lineStart + s,
          end: lineStart + e,
          whole: fv !== undefined && fv.start === s && fv.end === e,
          encoding: fv?.json && fv.quoted ? 'json-string' : 'plain',
        });
      }
    }
    for (const fv of pairs) {
      if (taken.some(([a, b]) => fv.start < b && fv.end > a)) continue;
      if (!CREDENTIAL_FIELD.test(fv.field) || NOT_CREDENTIAL_FIELD.test(fv.field)) continue;
      const value = line.slice(fv.start, fv.end);
      if (isPlaceholder(value) || !looksRandom(value)) continue;
      findings.push({
        line: i + 1,
        column: fv.start + 1,
        kind: 'high-entropy-value',
        field: fv.field,
        start: lineStart + fv.start,
        end: lineStart + fv.end,
        whole: true,
        encoding: fv.json && fv.quoted ? 'json-string' : 'plain',
      });
    }
  }
  return findings.sort((a, b) => a.start - b.start);
}

/**
 * A PEM private key: on one line (JSON with `\n` escapes), or as a block of lines. A YAML block
 * scalar (`key: |`) is replaced as a whole; other multi-line blocks are reported with their lines.
 */
function pemFinding(text: string, lines: string[], i: number, lineStart: number, at: number, fv: FieldValue | undefined): Finding {
  const line = lines[i] as string;
  if (line.includes('-----END', at)) {
    const endMatch = /-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(\\n|\n)?/.exec(line.slice(at));
    const e = at + (endMatch ? endMatch.index + endMatch[0].length : line.length);
    const whole = fv !== undefined && fv.start === at && fv.end === e;
    return {
      line: i + 1,
      column: at + 1,
      kind: 'private-key',
      field: fv?.field,
      start: lineStart + at,
      end: lineStart + e,
      whole,
      encoding: fv?.json && fv.quoted ? 'json-string' : 'plain',
    };
  }
  // Multi-line: is the previous line `field: |` (a YAML block scalar holding the key)?
  let endLine = i;
  while (endLine < lines.length && !/-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/.test(lines[endLine] as string)) endLine++;
  const blockEnd = lineStart + lines.slice(i, Math.min(endLine + 1, lines.length)).join('\n').length;
  const headerLine = i > 0 ? (lines[i - 1] as string) : '';
  const header = /^(\s*(?:-\s+)?)(["']?)([A-Za-z0-9_.\-]{1,128})\2\s*:\s*[|>][-+]?\s*$/.exec(headerLine);
  if (header) {
    const indicator = headerLine.search(/[|>][-+]?\s*$/);
    return {
      replaceStart: lineStart - headerLine.length - 1 + indicator,
      line: i + 1,
      column: at + 1,
      kind: 'private-key',
      field: header[3],
      start: lineStart,
      end: Math.min(blockEnd, text.length),
      whole: true,
      encoding: 'yaml-block',
    };
  }
  return {
    line: i + 1,
    column: at + 1,
    kind: 'private-key',
    field: fv?.field,
    start: lineStart + at,
    end: Math.min(blockEnd, text.length),
    whole: false,
    encoding: 'plain',
  };
}
