/**
 * `{{- secret://… -}}` (the whitespace-trim markers of Pebble, Jinja and Go templates) with no
 * dialect declared was left as literal text: the field's value became the template itself, a
 * password of "{{- secret://vault/db#password -}}", without a word. With dialects declared it was
 * refused (fac7492); now it is refused whatever is declared.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceSyntaxError } from '../../src/errors.js';
import { compileTemplate } from '../../src/refs/template.js';

function refused(input: string): ReferenceSyntaxError {
  try {
    compileTemplate(input, 'fields.password');
  } catch (err) {
    if (err instanceof ReferenceSyntaxError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('trim markers before a native reference, no dialect declared', () => {
  it('is refused at the "-", naming the field and the placeholder to write', () => {
    const err = refused('{{- secret://vault/db#password -}}');
    expect(err.offset).toBe(2);
    expect(err.message).toContain('fields.password');
    expect(err.message).toContain('write {{ secret://vault/db#password }}');
    expect(refused('postgres://app:{{-secret://vault/db#pw}}@db/app').offset).toBe(17);
    expect(refused('x {{-\tsecret://a/b }} y').offset).toBe(4);
  });

  it('leaves other trimmed expressions, and an escaped one, as they are', () => {
    for (const text of ['{{- .Values.x -}}', "{{- secret('X') -}}", '\\{{- secret://a/b }}', '{{-}}']) {
      const t = compileTemplate(text, 'f');
      expect(t.count).toBe(0);
      expect(t.parts.join('')).toBe(text.replace('\\{{', '{{'));
    }
  });
});
