/**
 * Pebble (Kestra), Jinja and Go templates write `{{-` and `-}}` to trim whitespace. A Kestra user
 * pasting `{{- secret('DB_PASSWORD') -}}` got the template text itself as the value, silently:
 * the `-` hid the opener, so the placeholder was taken for someone else's expression and left
 * literal. It must be refused, at the `-`, saying what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceSyntaxError } from '../../src/errors.js';
import { type DialectStore, DialectSet, dialectsSchema } from '../../src/refs/dialects/index.js';
import { compileTemplate } from '../../src/refs/template.js';

const STORES: DialectStore[] = [
  { name: 'vault', namespace: '', type: 'vault', settings: { mount: 'secret', prefix: '' } },
  { name: 'builtin', namespace: '', type: 'builtin', settings: {} },
];
const SET = new DialectSet(dialectsSchema.parse({ kestra: {}, n8n: {} }), STORES);

const refused = (input: string, set?: DialectSet): ReferenceSyntaxError => {
  try {
    compileTemplate(input, 'env.DB_PASSWORD', undefined, set);
  } catch (err) {
    expect(err).toBeInstanceOf(ReferenceSyntaxError);
    return err as ReferenceSyntaxError;
  }
  throw new Error(`compiled ${JSON.stringify(input)} without an error`);
};

describe('whitespace-trim markers on a reference placeholder', () => {
  it("kestra {{- secret('X') -}} is refused at the '-', naming the field and what to write", () => {
    const err = refused("{{- secret('DB_PASSWORD') -}}", SET);
    expect(err.message).toContain('env.DB_PASSWORD');
    expect(err.message).toContain('offset 2');
    expect(err.message).toMatch(/without "-"/);
    expect(err.message).toContain("{{ secret('DB_PASSWORD') }}");
  });

  it('inside a longer string, and for n8n and native references (with dialects declared) too', () => {
    expect(refused("postgres://app:{{- secret('PW') }}@db/app", SET).message).toContain('offset 17');
    expect(refused('{{-$secrets.vault.pw}}', SET).message).toContain('offset 2');
    expect(refused('{{- secret://builtin/PW -}}', SET).message).toContain('{{ secret://builtin/PW }}');
  });

  it('a trimmed expression that is not a reference still passes through untouched', () => {
    for (const s of ['{{- vars.x -}}', '{{- $json.name }}', '\\{{- secret://builtin/PW }}']) {
      const t = compileTemplate(s, 'f', undefined, SET);
      expect(t.count).toBe(0);
      expect(t.parts.join('')).toBe(s.replace('\\{{', '{{'));
    }
  });

  it('an undeclared dialect behind "{{-" stays literal', () => {
    const t = compileTemplate("{{- secret('X') -}}", 'f');
    expect(t.count).toBe(0);
    expect(t.parts).toEqual(["{{- secret('X') -}}"]);
  });

  it('the plain forms still resolve', () => {
    expect(compileTemplate("{{ secret('PW') }}", 'f', undefined, SET).whole?.ref).toMatchObject({ name: 'PW' });
  });
});
