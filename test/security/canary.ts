/**
 * Canary secrets and the scanner of the leak scan (test/security/leak-scan.test.ts).
 *
 * A canary is a random value nobody else could write; the scanner looks for it in everything
 * Sesame wrote — plain, base64 (at every byte alignment, so a canary inside a larger encoded
 * text is found too), base64url, hex (either case, also with the spaces and line breaks `od`
 * puts between bytes), URL-encoded and JSON-escaped. A report names where a canary leaked, the
 * canary's label, the encoding and the offset: never the canary itself.
 */
import { randomBytes } from 'node:crypto';

export type Channel =
  | 'cli-stdout'
  | 'cli-stderr'
  | 'logs'
  | 'http-body'
  | 'http-headers'
  | 'metrics'
  | 'audit'
  | 'db-files'
  | 'library';

export const CHANNELS: readonly Channel[] = [
  'cli-stdout',
  'cli-stderr',
  'logs',
  'http-body',
  'http-headers',
  'metrics',
  'audit',
  'db-files',
  'library',
];

export interface Output {
  channel: Channel;
  /** Which path wrote it, e.g. `cli: resolve secret://env/X#nokey (stderr)`. */
  where: string;
  text: string;
}

export interface Canary {
  /** A label for reports, e.g. `short`, `pem`: never the value. */
  label: string;
  /** The value as Sesame sees it (stored, sent, configured). */
  value: string;
  /** The secret parts to look for (a JSON secret's inner value, a PEM's body lines, slices of a long value). */
  cores: string[];
}

export interface Leak {
  where: string;
  channel: Channel;
  canary: string;
  encoding: string;
  offset: number;
}

/** `CANARY-` and 24 random hex characters. */
export function randomCanary(): string {
  return `CANARY-${randomBytes(12).toString('hex')}`;
}

export interface Canaries {
  /** A plain value (env and builtin secret). */
  short: Canary;
  /** A multi-line PEM-like value whose body lines are random (one embeds a canary). */
  pem: Canary;
  /** A JSON secret: `{"user":…,"password":<canary>,…}`; the password is the secret part. */
  json: Canary;
  /** 30,000 characters: the size that once made the redactor throw its whole pattern. */
  long: Canary;
  /** A connection's literal token (config file and API). */
  connLiteral: Canary;
  /** A connection token held in the env store and referenced by a connection. */
  connRef: Canary;
  /** A store credential setting (vault token) given through the API. */
  storeCredential: Canary;
  /** Only ever inside a malformed JSON request body. */
  badBody: Canary;
  /** Only ever inside a request body over the size limit. */
  bigBody: Canary;
  /** A bogus bearer token (never valid). */
  bearer: Canary;
}

function plain(label: string, value: string): Canary {
  return { label, value, cores: [value] };
}

export function makeCanaries(): Canaries {
  const pemLines = Array.from({ length: 6 }, () => randomBytes(48).toString('base64'));
  const embedded = randomCanary();
  pemLines[2] = embedded + (pemLines[2] as string).slice(embedded.length);
  // The first line always holds "+" and "/", so its URL-encoded form differs from its plain one
  // (random base64 has neither in about 1 line of 8, and the self-check plants it URL-encoded).
  pemLines[0] = `+/${(pemLines[0] as string).slice(2)}`;
  const pem = `-----BEGIN PRIVATE KEY-----\n${pemLines.join('\n')}\n-----END PRIVATE KEY-----\n`;

  const password = randomCanary();
  const json = JSON.stringify({ user: 'svc-leak-scan', password, nested: { port: 5432, list: ['a', 'b'] } });

  const head = randomCanary();
  let long = head;
  while (long.length < 30_000) long += randomBytes(512).toString('hex');
  long = long.slice(0, 30_000);
  // Its start (where a truncated message would show it), middle slices and end.
  const slice = (at: number) => long.slice(at, at + 48);
  const longCores = [slice(0), slice(7_000), slice(15_000), slice(22_000), long.slice(-48)];

  return {
    short: plain('short', randomCanary()),
    pem: { label: 'pem', value: pem, cores: pemLines },
    json: { label: 'json', value: json, cores: [password] },
    long: { label: 'long', value: long, cores: longCores },
    connLiteral: plain('connection-literal', randomCanary()),
    connRef: plain('connection-ref', randomCanary()),
    storeCredential: plain('store-credential', randomCanary()),
    badBody: plain('malformed-body', randomCanary()),
    bigBody: plain('oversized-body', randomCanary()),
    bearer: plain('bearer', randomCanary()),
  };
}

interface Needle {
  canary: string;
  encoding: string;
  text: string;
  /** Search the lowercased text (hex). */
  caseless: boolean;
}

/**
 * The stable part of base64(prefix + core) for each of the 3 byte alignments: characters that
 * depend on the core's bytes only, so they appear whatever surrounds the core.
 */
function base64Needles(core: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const bytes = Buffer.concat([Buffer.alloc(shift), core]);
    const encoded = bytes.toString('base64');
    const complete = Math.floor(bytes.length / 3) * 4;
    const start = shift === 0 ? 0 : 4;
    const needle = encoded.slice(start, complete);
    if (needle.length >= 16) out.push(needle);
  }
  return out;
}

export function needlesOf(canaries: readonly Canary[]): Needle[] {
  const needles: Needle[] = [];
  const seen = new Set<string>();
  const add = (canary: string, encoding: string, text: string, caseless = false) => {
    const key = `${caseless ? 'i' : 's'}\u0000${text}`;
    if (text.length < 12 || seen.has(key)) return;
    seen.add(key);
    needles.push({ canary, encoding, text: caseless ? text.toLowerCase() : text, caseless });
  };
  for (const c of canaries) {
    for (const [i, core] of c.cores.entries()) {
      const label = c.cores.length > 1 ? `${c.label}[${i}]` : c.label;
      const bytes = Buffer.from(core, 'utf8');
      add(label, 'plain', core);
      add(label, 'url-encoded', encodeURIComponent(core));
      add(label, 'json-escaped', JSON.stringify(core).slice(1, -1));
      add(label, 'hex', bytes.toString('hex'), true);
      for (const [shift, b64] of base64Needles(bytes).entries()) {
        add(label, `base64 (alignment ${shift})`, b64);
        add(label, `base64url (alignment ${shift})`, b64.replace(/\+/g, '-').replace(/\//g, '_'));
      }
    }
  }
  return needles;
}

/** Every place a canary appears in the outputs. */
export function scan(outputs: readonly Output[], canaries: readonly Canary[]): Leak[] {
  const needles = needlesOf(canaries);
  const leaks: Leak[] = [];
  for (const out of outputs) {
    const variants: Array<{ suffix: string; text: string }> = [{ suffix: '', text: out.text }];
    // `base64` wraps lines, `od` spaces bytes: look across whitespace too.
    if (/\s/.test(out.text)) variants.push({ suffix: ', whitespace removed', text: out.text.replace(/\s+/g, '') });
    for (const variant of variants) {
      const lower = variant.text.toLowerCase();
      for (const n of needles) {
        const offset = (n.caseless ? lower : variant.text).indexOf(n.text);
        if (offset === -1) continue;
        // One report per (where, canary, encoding).
        if (leaks.some((l) => l.where === out.where && l.canary === n.canary && l.encoding.startsWith(n.encoding))) continue;
        leaks.push({ where: out.where, channel: out.channel, canary: n.canary, encoding: `${n.encoding}${variant.suffix}`, offset });
      }
    }
  }
  return leaks;
}

/** One line per leak, without the canary's value. */
export function describeLeaks(leaks: readonly Leak[]): string {
  return leaks.map((l) => `  ${l.where}: canary "${l.canary}" as ${l.encoding} at offset ${l.offset}`).join('\n');
}

/** Replace every canary form in a text by `<canary:label>` (for harness error messages). */
export function scrub(text: string, canaries: readonly Canary[]): string {
  let out = text.replace(/CANARY-[0-9a-f]+/g, '<canary>');
  for (const n of needlesOf(canaries)) {
    if (n.caseless) continue;
    out = out.split(n.text).join(`<canary:${n.canary}>`);
  }
  // What is left of an encoded value (base64, hex, a regular expression of them): not shown.
  out = out.replace(/[A-Za-z0-9+/=_%\\|-]{40,}/g, '<encoded text>');
  return out.length > 300 ? `${out.slice(0, 300)}…` : out;
}
