import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceSyntaxError } from '../../src/errors.js';
import { collectReferences, compileTemplate } from '../../src/refs/template.js';

describe('compileTemplate', () => {
  it('finds any number of placeholders, with or without spaces inside the braces', () => {
    const t = compileTemplate('postgres://{{secret://vault/db/app#user}}:{{  secret://vault/db/app#password  }}@db:5432/app');
    expect(t.count).toBe(2);
    expect(t.whole).toBeUndefined();
    expect(t.parts.map((p) => (typeof p === 'string' ? p : p.ref.key))).toEqual([
      'postgres://',
      'user',
      ':',
      'password',
      '@db:5432/app',
    ]);
  });

  it('treats a string that is exactly one placeholder as a whole value', () => {
    const t = compileTemplate('{{ secret://aws/jira#token }}');
    expect(t.whole?.ref).toEqual({ store: 'aws', name: 'jira', key: 'token' });
  });

  it('treats a bare reference string as a whole value', () => {
    expect(compileTemplate('secret://env/FOO').whole?.ref).toEqual({ store: 'env', name: 'FOO' });
  });

  it('keeps \\{{ as a literal {{', () => {
    const t = compileTemplate('a \\{{ secret://env/X }} b');
    expect(t.count).toBe(0);
    expect(t.parts).toEqual(['a {{ secret://env/X }} b']);
  });

  it("leaves a workflow engine's own {{ expressions }} alone", () => {
    const t = compileTemplate('Hello {{ user.name }}, {{ secret://env/GREETING }}');
    expect(t.count).toBe(1);
    expect(t.parts[0]).toBe('Hello {{ user.name }}, ');
  });

  it('names the field and the offset within the string when a placeholder is malformed', () => {
    const input = 'x{{ secret://Bad/name }}';
    try {
      compileTemplate(input, 'fields.url');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ReferenceSyntaxError);
      const e = err as ReferenceSyntaxError;
      expect(e.field).toBe('fields.url');
      expect(e.offset).toBe(input.indexOf('Bad'));
    }
  });

  it('reports an unclosed placeholder', () => {
    expect(() => compileTemplate('{{ secret://env/X', 'f')).toThrow(/"}}"/);
  });

  it('never throws anything but ReferenceSyntaxError', () => {
    const piece = fc.constantFrom('{{', '}}', '\\{{', ' ', 'secret://', 'env/', 'X', '#', '?version=', '%', 'a');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }).map((a) => a.join('')), (input) => {
        try {
          compileTemplate(input);
        } catch (err) {
          expect(err).toBeInstanceOf(ReferenceSyntaxError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('collectReferences', () => {
  it('walks objects and arrays and names each field', () => {
    const refs = collectReferences({
      baseUrl: 'https://jira.example.com',
      auth: { token: '{{ secret://aws/jira#token }}' },
      hosts: ['a', 'secret://env/HOST'],
      port: 5432,
    });
    expect(refs.map((r) => [r.field, r.raw])).toEqual([
      ['auth.token', 'secret://aws/jira#token'],
      ['hosts[1]', 'secret://env/HOST'],
    ]);
  });
});
