/**
 * `refs convert` of YAML and JSON documents (src/refs/dialects/convert-document.ts): it reads the
 * scalars a YAML parser reads — every quoting style, escapes, block scalars, flow collections,
 * multi-line plain scalars — finds references in them the way the resolver does (compileTemplate),
 * leaves comments and keys alone, and writes back only the scalars it changed, each in a spelling
 * that parses to the converted value; every other byte stays as it was.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { UsageError } from '../../src/errors.js';
import { convertDocument } from '../../src/refs/dialects/convert-document.js';
import { type DialectStore, DialectSet, dialectsSchema } from '../../src/refs/dialects/index.js';
import { collectReferences } from '../../src/refs/template.js';

const STORES: DialectStore[] = [
  { name: 'aws', namespace: '', type: 'aws-secrets-manager', settings: { region: 'us-east-1' } },
  { name: 'vault', namespace: '', type: 'vault', settings: { mount: 'secret' } },
  { name: 'builtin', namespace: '', type: 'builtin', settings: {} },
  { name: 'op', namespace: '', type: 'builtin', settings: {} },
];
const ALL = new DialectSet(
  dialectsSchema.parse({ workato: { store: 'aws' }, kestra: {}, n8n: {}, vals: {}, op: { store: 'op' } }),
  STORES,
);
const yaml = (text: string) => convertDocument(text, ALL, { file: 'flow.yaml', format: 'yaml' });
const json = (text: string) => convertDocument(text, ALL, { file: 'conn.json', format: 'json' });

/** The canonical references the resolver finds in a parsed document, dialects read. */
const resolverSees = (doc: unknown): string[] => collectReferences(doc, '', undefined, ALL).map((s) => s.raw);

describe('refs convert of YAML: every scalar spelling the parser reads', () => {
  it('a kestra reference in a double-quoted string with escaped quotes is converted (it resolved, convert missed it)', () => {
    const r = yaml('password: "{{ secret(\\"DB_PASSWORD\\") }}"\n');
    expect(r.text).toBe('password: "{{ secret://builtin/DB_PASSWORD }}"\n');
    expect(r.conversions).toEqual([
      { line: 1, dialect: 'kestra', reference: 'secret://builtin/DB_PASSWORD' },
    ]);
  });

  it.each([
    ['\\u0022', 'a: "{{ secret(\\u0022A\\u0022) }}"\n'],
    ['\\x22', 'a: "{{ secret(\\x22A\\x22) }}"\n'],
    ['\\U00000022', 'a: "{{ secret(\\U00000022A\\U00000022) }}"\n'],
    ["'' doubling", "a: '{{ secret(''A'') }}'\n"],
  ])('quotes spelled %s are read as the parser reads them', (_name, text) => {
    expect(['{{ secret("A") }}', "{{ secret('A') }}"]).toContain(parse(text).a);
    const r = yaml(text);
    expect(parse(r.text)).toEqual({ a: '{{ secret://builtin/A }}' });
    expect(r.text.startsWith(text[3] === '"' ? 'a: "' : "a: '")).toBe(true);
  });

  it('keeps the quoting style and the rest of the string: backslashes, tabs and doubled quotes', () => {
    expect(yaml('p: "C:\\\\dir\\t{{ secret(\\"X\\") }}"\n').text).toBe(
      'p: "C:\\\\dir\\t{{ secret://builtin/X }}"\n',
    );
    expect(yaml("p: 'it''s {{ secret(''X'') }}'\n").text).toBe("p: 'it''s {{ secret://builtin/X }}'\n");
    expect(yaml('p: ref+vault://secret/data/db#/password\n').text).toBe('p: secret://vault/db#/password\n');
  });

  it('a \\{{ escape stays literal, and a vals reference after it is replaced where it is written', () => {
    const r = yaml("a: '\\{{ secret(''E'') }} then ref+vault://secret/data/a#/b'\n");
    expect(r.text).toBe("a: '\\{{ secret(''E'') }} then {{ secret://vault/a#/b }}'\n");
  });

  it('a vals reference right after a backslash is refused: a backslash before {{ would make the placeholder literal', () => {
    expect(() => yaml('ok: 1\na: x\\ref+vault://secret/data/a#/b\n')).toThrow(
      /^flow\.yaml:2: the vals reference after a backslash cannot become \{\{ secret:\/\/vault\/a#\/b \}\} .*put another character between them/,
    );
  });

  it('a literal block scalar is edited line by line, its indentation, header and other lines kept', () => {
    const text =
      "script: |+\n     echo start\n     export PW={{ secret('PW') }} # not a comment\n\n     done\n\nnext: 1\n";
    const r = yaml(text);
    expect(r.text).toBe(text.replace("{{ secret('PW') }}", '{{ secret://builtin/PW }}'));
    expect(r.conversions).toEqual([{ line: 3, dialect: 'kestra', reference: 'secret://builtin/PW' }]);
  });

  it('a folded block scalar keeps its folding; a reference folded across lines is joined onto one', () => {
    const text = "msg: >-\n  token {{ secret('A') }} and {{ secret('B')\n  }} end\n  more\n";
    expect(parse(text)).toEqual({ msg: "token {{ secret('A') }} and {{ secret('B') }} end more" });
    const r = yaml(text);
    expect(r.text).toBe(
      'msg: >-\n  token {{ secret://builtin/A }} and {{ secret://builtin/B }} end\n  more\n',
    );
    expect(r.conversions.map((c) => c.line)).toEqual([2, 2]);
  });

  it('flow sequences and maps: quoted and plain items, a plain that cannot hold braces is quoted', () => {
    const text =
      "list: [ \"{{ secret('A') }}\", ref+vault://secret/x#/k, 'x' ]\nmap: {a: op://Prod/db/password, b: x ref+vault://secret/y+}\n";
    const r = yaml(text);
    expect(r.text).toBe(
      'list: [ "{{ secret://builtin/A }}", secret://vault/x#/k, \'x\' ]\nmap: {a: secret://op/Prod/db#password, b: "x {{ secret://vault/y }}"}\n',
    );
  });

  it('a multi-line plain scalar is read folded, as the parser does', () => {
    const text = 'note: first line\n  ref+vault://secret/data/a#/b\n  last # comment\nz: 1\n';
    expect(parse(text)).toEqual({ note: 'first line ref+vault://secret/data/a#/b last', z: 1 });
    const r = yaml(text);
    expect(r.text).toBe('note: first line {{ secret://vault/a#/b }} last # comment\nz: 1\n');
    expect(r.conversions.map((c) => c.line)).toEqual([2]);
    expect(parse(r.text)).toEqual({ note: 'first line {{ secret://vault/a#/b }} last', z: 1 });
  });

  it('a reference on a later line of a multi-line quoted string is reported on its own line', () => {
    const text =
      "a: \"first {{ secret('A') }}\n  second {{ secret(\\\"B\\\") }}\"\nb: 'x\n\n  {{ secret(''C'') }}'\n";
    expect(parse(text)).toEqual({
      a: 'first {{ secret(\'A\') }} second {{ secret("B") }}',
      b: "x\n{{ secret('C') }}",
    });
    const r = yaml(text);
    expect(r.conversions.map((c) => `${c.line} ${c.reference}`)).toEqual([
      '1 secret://builtin/A',
      '2 secret://builtin/B',
      '5 secret://builtin/C',
    ]);
    expect(parse(r.text)).toEqual({
      a: 'first {{ secret://builtin/A }} second {{ secret://builtin/B }}',
      b: 'x\n{{ secret://builtin/C }}',
    });
  });

  it('comments holding look-alike references are left alone', () => {
    const text = [
      '# token: "{{ secret(\'OLD\') }}"',
      'a: 1 # ref+vault://secret/old#/x',
      '# op://Prod/db/password',
      "b: |  # {{ secret('HEADER') }}",
      '  text',
      '',
    ].join('\n');
    const r = yaml(text);
    expect(r.text).toBe(text);
    expect(r.conversions).toEqual([]);
  });

  it('keys are not references (the resolver reads values only): a look-alike key stays, its value is converted', () => {
    const text =
      '"{{ secret(\'K\') }}": "{{ secret(\'V\') }}"\nref+vault://secret/a#/b: op://Prod/db/password\n';
    const r = yaml(text);
    expect(r.text).toBe(
      '"{{ secret(\'K\') }}": "{{ secret://builtin/V }}"\nref+vault://secret/a#/b: secret://op/Prod/db#password\n',
    );
  });

  it('an anchored value is converted once and every alias follows it', () => {
    const text = 'base: &pw "{{ secret(\'PW\') }}"\nother: *pw\nlist: [*pw]\n';
    const r = yaml(text);
    expect(r.text).toBe('base: &pw "{{ secret://builtin/PW }}"\nother: *pw\nlist: [*pw]\n');
    expect(r.conversions).toHaveLength(1);
    expect(parse(r.text)).toEqual({
      base: '{{ secret://builtin/PW }}',
      other: '{{ secret://builtin/PW }}',
      list: ['{{ secret://builtin/PW }}'],
    });
  });

  it('non-strings and tagged values stay: numbers, booleans, null, !!binary', () => {
    const text = 'n: 12\nb: true\nz: ~\nbin: !!binary aGVsbG8=\ns: !!str ref+vault://secret/x\n';
    expect(yaml(text).text).toBe('n: 12\nb: true\nz: ~\nbin: !!binary aGVsbG8=\ns: !!str secret://vault/x\n');
  });

  it('loss-free: comments, odd indentation and CRLF line ends are unchanged except the converted references', () => {
    const text = [
      '# flow ⚙ exported   ',
      'id:    nightly   # trailing blanks and comments',
      'tasks:',
      '     -   id: a',
      '         password: "{{ secret(\\"DB_PASSWORD\\") }}"   # escaped quotes',
      "         other:  '{{ secret(''API'') }}'",
      '         script: |',
      "                 echo {{ secret('S') }}",
      '                 echo done',
      '         folded: >',
      "           a {{ secret('F') }}",
      '           b',
      '     -   {k:   "v",   url: ref+vault://secret/data/db#/password}',
      '',
      '# end',
      '',
    ].join('\r\n');
    const r = yaml(text);
    const expected = text
      .replace('"{{ secret(\\"DB_PASSWORD\\") }}"', '"{{ secret://builtin/DB_PASSWORD }}"')
      .replace("'{{ secret(''API'') }}'", "'{{ secret://builtin/API }}'")
      .replace("echo {{ secret('S') }}", 'echo {{ secret://builtin/S }}')
      .replace("a {{ secret('F') }}", 'a {{ secret://builtin/F }}')
      .replace('ref+vault://secret/data/db#/password', 'secret://vault/db#/password');
    expect(r.text).toBe(expected);
    expect(r.text.split('\r\n').length).toBe(text.split('\r\n').length);
    expect(r.text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(r.conversions.map((c) => c.line)).toEqual([5, 6, 8, 11, 13]);
  });

  it('several documents in one file are each converted', () => {
    const text = "a: \"{{ secret('A') }}\"\n---\nb: '{{ secret(''B'') }}'\n";
    const r = yaml(text);
    expect(r.text).toBe('a: "{{ secret://builtin/A }}"\n---\nb: \'{{ secret://builtin/B }}\'\n');
    expect(parseAllDocuments(r.text).map((d) => d.toJS())).toEqual([
      { a: '{{ secret://builtin/A }}' },
      { b: '{{ secret://builtin/B }}' },
    ]);
  });

  it('a malformed reference names the file and its line; malformed YAML names the line and says to fix it', () => {
    expect(() => yaml('ok: x\nt: "{{ secret(\\"X\\", namespace=\'y\') }}"\n')).toThrow(
      /^flow\.yaml:2: malformed kestra reference: expected no namespace= argument/,
    );
    const bad = (() => {
      try {
        yaml('a: "unclosed\nb: [\n');
      } catch (err) {
        return err;
      }
    })();
    expect(bad).toBeInstanceOf(UsageError);
    expect((bad as Error).message).toMatch(/^flow\.yaml:\d+: not valid YAML: .*fix it, then convert again$/);
  });

  it('every reference the resolver finds in the parsed document is the one convert reports, and none is left', () => {
    const text = [
      'a: "{{ secret(\\"A\\") }}"',
      "b: '{{ secret(''B'') }}'",
      'c: |',
      "  x {{ secret('C') }}",
      'd: [ref+vault://secret/d#/k]',
      'e: pre op://V/i/f',
      '',
    ].join('\n');
    const r = yaml(text);
    expect(r.conversions.map((c) => c.reference)).toEqual(resolverSees(parse(text)));
    expect(
      collectReferences(parse(r.text), '', undefined, ALL).filter((s) => s.dialect !== undefined),
    ).toEqual([]);
  });
});

describe('refs convert of JSON', () => {
  it('reads JSON escapes as JSON.parse does and writes valid JSON, the layout kept', () => {
    const text =
      '{\n    "a": "{{ secret(\\"A\\") }}",\n    "b": "\\u0022x\\u0022 ref+vault://secret/x#/y",  "n": 1,\n    "k": ["op://V/i/f"]\n}\n';
    const r = json(text);
    expect(r.text).toBe(
      '{\n    "a": "{{ secret://builtin/A }}",\n    "b": "\\"x\\" {{ secret://vault/x#/y }}",  "n": 1,\n    "k": ["secret://op/V/i#f"]\n}\n',
    );
    expect(JSON.parse(r.text)).toEqual({
      a: '{{ secret://builtin/A }}',
      b: '"x" {{ secret://vault/x#/y }}',
      n: 1,
      k: ['secret://op/V/i#f'],
    });
  });

  it('keys stay, and invalid JSON is refused with its line', () => {
    expect(json('{"{{ secret(\'K\') }}": "x"}').text).toBe('{"{{ secret(\'K\') }}": "x"}');
    expect(() => json('{"a": "x",\n}\n')).toThrow(
      /^conn\.json:2: not valid JSON: .*fix it, then convert again$/,
    );
  });
});

describe('properties', () => {
  const pieces = fc.constantFrom(
    "{{ secret('K') }}",
    '{{ secret("Q") }}',
    'ref+vault://secret/data/a#/b',
    ' ref+awssecrets://x+',
    'op://V/i/f',
    '{{ $secrets.vault.t }}',
    "\\{{ secret('E') }}",
    '{{ vars.x }}',
    ' # ',
    ': ',
    "'",
    '"',
    '\\',
    '\n',
    '\t',
    ' ',
    'a',
    '#',
    ',',
    '[',
    '}',
  );
  const styles = ['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'] as const;

  it('whatever the spelling, convert finds the references the resolver finds, and the result resolves to the same references', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(pieces, { maxLength: 8 }).map((p) => p.join('')),
          { minLength: 1, maxLength: 4 },
        ),
        fc.constantFrom(...styles),
        fc.boolean(),
        fc.boolean(),
        (values, style, flow, crlf) => {
          const doc = { list: values, map: Object.fromEntries(values.map((v, i) => [`k${i}`, v])) };
          const lf = stringify(doc, {
            defaultStringType: style,
            defaultKeyType: 'PLAIN',
            collectionStyle: flow ? 'flow' : 'block',
          });
          const text = crlf ? lf.replace(/\n/g, '\r\n') : lf;
          let before: string[];
          try {
            before = resolverSees(parse(text));
          } catch {
            return;
          }
          let r: ReturnType<typeof yaml>;
          try {
            r = yaml(text);
          } catch (err) {
            // A vals reference right after a backslash has no placeholder spelling: refused, by line.
            expect(String(err)).toMatch(/flow\.yaml:\d+: the vals reference after a backslash cannot become/);
            expect(text).toContain('\\ref+');
            return;
          }
          expect(r.conversions.map((c) => c.reference)).toEqual(before);
          const after = collectReferences(parse(r.text), '', undefined, ALL);
          expect(after.filter((s) => s.dialect !== undefined)).toEqual([]);
          expect(after.map((s) => s.raw)).toEqual(before);
          // Outside the converted scalars nothing moved: same line ends, same number of lines or fewer
          // (a reference folded across lines is joined).
          if (crlf) expect(r.text.replace(/\r\n/g, '')).not.toContain('\n');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('JSON: convert finds what JSON.parse and the resolver find, writes JSON, and keeps every byte outside changed strings', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(pieces, { maxLength: 8 }).map((p) => p.join('')),
          { minLength: 1, maxLength: 4 },
        ),
        fc.constantFrom(0, 2, '\t'),
        (values, indent) => {
          const text = `${JSON.stringify({ list: values, n: 1, map: Object.fromEntries(values.map((v, i) => [`k${i}`, v])) }, null, indent)}\n`;
          let before: string[];
          try {
            before = resolverSees(JSON.parse(text));
          } catch {
            return;
          }
          let r: ReturnType<typeof json>;
          try {
            r = json(text);
          } catch (err) {
            expect(String(err)).toMatch(/conn\.json:\d+: the vals reference after a backslash cannot become/);
            return;
          }
          expect(r.conversions.map((c) => c.reference)).toEqual(before);
          const after = collectReferences(JSON.parse(r.text), '', undefined, ALL);
          expect(after.filter((s) => s.dialect !== undefined)).toEqual([]);
          expect(after.map((s) => s.raw)).toEqual(before);
          // Outside the strings nothing moved: the same punctuation and layout, in order.
          const outside = (t: string) => t.replace(/"(?:[^"\\]|\\.)*"/g, '""');
          expect(outside(r.text)).toBe(outside(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});
