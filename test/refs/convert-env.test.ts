/**
 * `refs convert` of `.env` files (src/refs/dialects/convert-env.ts): values are read as
 * `sesame run --env-file` reads them (Node's util.parseEnv: an unquoted value ends at `#`, double
 * quotes expand `\n`), references in them found by the resolver's compileTemplate, comments left
 * alone, and a converted value written so that parseEnv reads it back as converted.
 */
import { parseEnv } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertFile, formatOfFile } from '../../src/refs/dialects/convert.js';
import { convertEnv } from '../../src/refs/dialects/convert-env.js';
import { type DialectStore, DialectSet, dialectsSchema } from '../../src/refs/dialects/index.js';
import { compileTemplate } from '../../src/refs/template.js';

const STORES: DialectStore[] = [
  { name: 'vault', namespace: '', type: 'vault', settings: { mount: 'secret' } },
  { name: 'builtin', namespace: '', type: 'builtin', settings: {} },
  { name: 'op', namespace: '', type: 'builtin', settings: {} },
];
const ALL = new DialectSet(
  dialectsSchema.parse({ kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } }),
  STORES,
);
const env = (text: string) => convertEnv(text, ALL, 'app.env');
const read = (text: string) => ({ ...(parseEnv(text) as Record<string, string>) });
/** The dialect references `sesame run --env-file` finds in a file's values. */
const runSees = (text: string): string[] =>
  Object.values(read(text)).flatMap((v) =>
    compileTemplate(v, undefined, undefined, ALL).parts.flatMap((p) =>
      typeof p !== 'string' && p.dialect !== undefined ? [p.raw] : [],
    ),
  );

/** The secret:// references in a file's values, read as run reads them, dialects off. */
const secretReferences = (text: string): string[] =>
  Object.values(read(text)).flatMap((v) =>
    compileTemplate(v).parts.flatMap((p) => (typeof p !== 'string' ? [p.raw] : [])),
  );

describe('refs convert of .env files', () => {
  it('.env, .env.local and *.env are read as .env files; YAML, JSON and others are not', () => {
    expect(['.env', 'deploy/.env.local', 'app.env'].map(formatOfFile)).toEqual(['env', 'env', 'env']);
    expect(['a.yaml', 'a.yml', 'a.json', 'run.sh'].map(formatOfFile)).toEqual([
      'yaml',
      'yaml',
      'json',
      'text',
    ]);
  });

  it('an unquoted value that now holds # is quoted: parseEnv would cut secret://op/item#field at the #', () => {
    const r = env('DB_PASSWORD=op://Prod/db/password\n');
    expect(r.text).toBe("DB_PASSWORD='secret://op/Prod/db#password'\n");
    expect(read(r.text)).toEqual({ DB_PASSWORD: 'secret://op/Prod/db#password' });
  });

  it('an unquoted # starts a comment for sesame run, so it does for convert: the reference is read up to it', () => {
    const text = 'A=ref+vault://secret/data/a#/b\n';
    expect(read(text)).toEqual({ A: 'ref+vault://secret/data/a' });
    const r = env(text);
    expect(r.conversions.map((c) => c.reference)).toEqual(['secret://vault/a']);
    expect(read(r.text)).toEqual({ A: 'secret://vault/a' });
  });

  it('comments holding look-alike references are left alone, quoting styles and line ends kept', () => {
    const text = [
      '# X=op://Prod/old/password',
      'PLAIN=1 # ref+vault://secret/x',
      `export A="line1\\n{{ secret('K') }}"   # double quotes expand \\n`,
      `B='{{ secret("K") }}'`,
      'C=`{{ $secrets.vault.t }}`',
      '',
    ].join('\r\n');
    const r = env(text);
    expect(r.text).toBe(
      text
        .replace("{{ secret('K') }}", '{{ secret://builtin/K }}')
        .replace('{{ secret("K") }}', '{{ secret://builtin/K }}')
        .replace('{{ $secrets.vault.t }}', '{{ secret://vault/t }}'),
    );
    expect(r.conversions.map((c) => c.line)).toEqual([3, 4, 5]);
    expect(read(r.text)).toEqual({
      PLAIN: '1',
      A: 'line1\n{{ secret://builtin/K }}',
      B: '{{ secret://builtin/K }}',
      C: '{{ secret://vault/t }}',
    });
  });

  it('an indented # is a variable for parseEnv, not a comment: refused by line, saying why', () => {
    const text = 'A=1\n  # Y="{{ secret(\'OLD\') }}"\n';
    expect(read(text)).toHaveProperty('# Y');
    expect(() => env(text)).toThrow(
      /^app\.env:2: sesame run --env-file reads this line as a variable whose name is not valid \(for Node's parseEnv only a # first on its line starts a comment/,
    );
    // A stray line without = runs into the next name; it is not echoed (it may be anything).
    expect(() => env('sk_live_stray\nA="{{ secret(\'K\') }}"\n')).toThrow(
      /^app\.env:2: sesame run --env-file reads this line/,
    );
    expect(() => env('sk_live_stray\nA="{{ secret(\'K\') }}"\n')).not.toThrow(/sk_live/);
  });

  it('a malformed reference names the line and dialect', () => {
    expect(() => env("A=1\nB=\"{{ secret('X', namespace='y') }}\"\n")).toThrow(
      /^app\.env:2: malformed kestra reference: expected no namespace= argument/,
    );
  });

  it('convertFile sends a .env file here (run --env-file reads it), other text to the text converter', () => {
    expect(convertFile('A=op://V/i/f\n', ALL, '.env').text).toBe("A='secret://op/V/i#f'\n");
    expect(convertFile('A=op://V/i/f\n', ALL, 'notes.txt').text).toBe('A=secret://op/V/i#f\n');
  });

  it('whatever the quoting, convert finds the references sesame run --env-file finds, and run reads the result as converted', () => {
    const value = fc
      .array(
        fc.constantFrom(
          "{{ secret('K') }}",
          '{{ secret("Q") }}',
          'ref+vault://secret/data/a#/b',
          ' ref+vault://secret/x+',
          'op://V/i/f',
          '{{ $secrets.vault.t }}',
          ' # ',
          '#',
          '\\n',
          "'",
          '"',
          '`',
          ' ',
          'a',
          '=',
        ),
        { maxLength: 6 },
      )
      .map((p) => p.join(''));
    const line = fc.tuple(
      fc.constantFrom('', 'export ', '  '),
      fc.constantFrom('A', 'B', 'C'),
      fc.constantFrom('', "'", '"', '`'),
      value,
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), fc.boolean(), (lines, crlf) => {
        const text = lines.map(([p, n, q, v]) => `${p}${n}=${q}${v}${q}`).join(crlf ? '\r\n' : '\n');
        let before: string[];
        try {
          before = runSees(text);
        } catch {
          return; // malformed for run too
        }
        let r: ReturnType<typeof env>;
        try {
          r = env(text);
        } catch (err) {
          // Refused by line, never written wrongly: a value no quoting can hold, a quote left open
          // (parseEnv's reading differs), or a reference after a backslash.
          expect(String(err)).toMatch(/app\.env:\d+: /);
          return;
        }
        // Every reference run reads was converted (an entry a later one of its name hides is converted too).
        const converted = r.conversions.map((c) => c.reference);
        for (const ref of before) converted.splice(converted.indexOf(ref) >>> 0, 1);
        expect(r.conversions.length - converted.length).toBe(before.length);
        expect(runSees(r.text)).toEqual([]);
        expect(secretReferences(r.text)).toEqual(before);
        expect(Object.keys(read(r.text))).toEqual(Object.keys(read(text)));
      }),
      { numRuns: 1500 },
    );
  });
});
