import { describe, expect, it } from 'vitest';
import { ReferenceSyntaxError, SesameError, UsageError } from '../../src/errors.js';
import * as refs from '../../src/refs/index.js';
import {
  checkDocumentLimits,
  DOCUMENT_LIMITS,
  DocumentLimitError,
  type DocumentLimitName,
} from '../../src/refs/limits.js';
import { collectReferences, compileTemplate } from '../../src/refs/template.js';

/** `{ a: { a: … { a: leaf } } }`, `depth` objects deep, built without recursion. */
function nested(depth: number, leaf: unknown = '{{ secret://env/X }}', key = 'a'): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { [key]: v };
  return v;
}

/** `[[[ … leaf … ]]]`, `depth` arrays deep. */
function nestedArrays(depth: number, leaf: unknown = 'x'): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function limitError(fn: () => unknown): DocumentLimitError {
  try {
    fn();
  } catch (err) {
    expect(err).not.toBeInstanceOf(RangeError);
    expect(err).toBeInstanceOf(DocumentLimitError);
    return err as DocumentLimitError;
  }
  throw new Error('expected a DocumentLimitError');
}

describe('DOCUMENT_LIMITS', () => {
  it('states the defaults as exported, frozen constants', () => {
    expect(DOCUMENT_LIMITS).toEqual({ maxDepth: 64, maxPlaceholders: 10_000, maxStringLength: 1_048_576, maxNodes: 100_000 });
    expect(Object.isFrozen(DOCUMENT_LIMITS)).toBe(true);
    expect(refs.DOCUMENT_LIMITS).toBe(DOCUMENT_LIMITS);
    expect(refs.checkDocumentLimits).toBe(checkDocumentLimits);
    expect(refs.DocumentLimitError).toBe(DocumentLimitError);
  });

  it('DocumentLimitError is a usage error: code document_limit, HTTP 400, exit 2', () => {
    const err = new DocumentLimitError({ limit: 'maxDepth', max: 64, field: 'fields.a' });
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toBeInstanceOf(SesameError);
    expect(err.code).toBe('document_limit');
    expect(err.status).toBe(400);
    expect(err.exitCode).toBe(2);
    expect(err.name).toBe('DocumentLimitError');
    expect(err.message).toBe(
      'document too deep at fields.a: more than 64 levels of nesting (limit maxDepth); flatten the document',
    );
  });
});

describe('deep documents', () => {
  it('a document nested 10,000 deep is refused with a limit error naming maxDepth', () => {
    for (const doc of [nested(10_000), nestedArrays(10_000)]) {
      for (const fn of [() => collectReferences(doc), () => checkDocumentLimits(doc)]) {
        const err = limitError(fn);
        expect(err.limit).toBe('maxDepth');
        expect(err.max).toBe(64);
        expect(err.message).toContain('maxDepth');
        expect(err.message).toContain('64');
      }
    }
  });

  it('a document nested 100,000 deep is refused the same way, without a RangeError', () => {
    const err = limitError(() => collectReferences(nested(100_000), 'fields'));
    expect(err.limit).toBe('maxDepth');
    expect(err.field).toBe(`fields${'.a'.repeat(64)}`);
    expect(limitError(() => checkDocumentLimits(nestedArrays(100_000))).limit).toBe('maxDepth');
  });

  it('accepts exactly maxDepth levels and refuses one more, naming the field path', () => {
    expect(collectReferences(nested(64))).toHaveLength(1);
    expect(() => checkDocumentLimits(nested(64))).not.toThrow();
    expect(() => checkDocumentLimits(nestedArrays(64))).not.toThrow();
    const err = limitError(() => collectReferences(nested(65)));
    expect(err.field).toBe(Array(64).fill('a').join('.'));
    expect(err.message).toMatch(/^document too deep at a\.a\.a.*: more than 64 levels of nesting \(limit maxDepth\); flatten the document$/);
    expect(limitError(() => checkDocumentLimits(nestedArrays(65), undefined, 'body')).field).toBe(`body${'[0]'.repeat(64)}`);
  });

  it('ends a cycle at maxDepth instead of looping', () => {
    const a: Record<string, unknown> = { x: '{{ secret://env/A }}' };
    a['self'] = a;
    expect(limitError(() => collectReferences(a)).limit).toBe('maxDepth');
  });

  it('takes overrides of a single limit', () => {
    expect(limitError(() => checkDocumentLimits(nested(4), { maxDepth: 3 })).max).toBe(3);
    expect(() => checkDocumentLimits(nested(100), { maxDepth: 100 })).not.toThrow();
    expect(collectReferences(nested(100), '', { maxDepth: 100 })).toHaveLength(1);
  });
});

describe('other limits', () => {
  const cases: Array<[DocumentLimitName, unknown, RegExp]> = [
    ['maxNodes', { list: Array(100_000).fill(1) }, /^document too large at list: more than 100000 values/],
    ['maxStringLength', { a: { b: 'x'.repeat(1_048_577) } }, /^string too long at a\.b: more than 1048576 characters/],
    ['maxStringLength', { ['k'.repeat(1_048_577)]: 1 }, /^key too long at the top level: /],
    [
      'maxPlaceholders',
      { a: Array.from({ length: 10_001 }, (_, i) => `secret://env/V${i}`) },
      /^too many secret references at a\[10000\]: more than 10000 placeholders/,
    ],
  ];

  it.each(cases)('%s: refused by collectReferences and checkDocumentLimits alike', (limit, doc, message) => {
    for (const fn of [() => collectReferences(doc), () => checkDocumentLimits(doc)]) {
      const err = limitError(fn);
      expect(err.limit).toBe(limit);
      expect(err.max).toBe(DOCUMENT_LIMITS[limit]);
      expect(err.message).toMatch(message);
      expect(err.message).toContain(`(limit ${limit})`);
    }
  });

  it('counts placeholders across strings and within one string', () => {
    const many = Array.from({ length: 6 }, (_, i) => `{{ secret://env/V${i} }}`).join(' ');
    expect(collectReferences({ a: many }, '', { maxPlaceholders: 6 })).toHaveLength(6);
    expect(limitError(() => collectReferences({ a: many, b: 'secret://env/W' }, '', { maxPlaceholders: 6 })).field).toBe('b');
    expect(limitError(() => checkDocumentLimits({ a: many, b: 'secret://env/W' }, { maxPlaceholders: 6 })).field).toBe('b');
    expect(limitError(() => compileTemplate(many, 'f', { maxPlaceholders: 5 })).message).toMatch(
      /^too many secret references at f: more than 5 placeholders/,
    );
  });

  it('does not count escaped or foreign {{ as placeholders', () => {
    const doc = { a: '\\{{ secret://env/X }} {{ vars.y }} {{ secret://env/Z }}' };
    expect(() => checkDocumentLimits(doc, { maxPlaceholders: 1 })).not.toThrow();
    expect(collectReferences(doc, '', { maxPlaceholders: 1 })).toHaveLength(1);
  });

  it('compileTemplate refuses a string over maxStringLength before scanning it', () => {
    const err = limitError(() => compileTemplate(`{{${'x'.repeat(1_048_576)}`, 'fields.big'));
    expect(err.limit).toBe('maxStringLength');
    expect(err.field).toBe('fields.big');
    expect(compileTemplate('x'.repeat(1_048_576)).count).toBe(0);
  });

  it('never puts a value in the message, and keeps long or odd paths short and on one line', () => {
    const secret = 'hunter2-very-secret';
    const key = `k\n${'y'.repeat(500)}`;
    const err = limitError(() => checkDocumentLimits({ [key]: [secret.repeat(40)] }, { maxStringLength: 600 }));
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThan(400);
    expect(err.field).toBe(`${key}[0]`);
  });

  it('still reports malformed references as ReferenceSyntaxError within the limits', () => {
    expect(() => collectReferences({ a: [{ b: '{{ secret://Bad/x }}' }] })).toThrow(ReferenceSyntaxError);
  });
});

describe('collectReferences keeps its behaviour', () => {
  it('returns references in document order with field paths', () => {
    const refsFound = collectReferences(
      {
        z: 'secret://env/Z',
        a: { list: ['x', '{{ secret://env/A1 }} and {{ secret://env/A2 }}', { deep: 'secret://env/D' }] },
        n: null,
        b: true,
      },
      'fields',
    );
    expect(refsFound.map((r) => [r.field, r.raw])).toEqual([
      ['fields.z', 'secret://env/Z'],
      ['fields.a.list[1]', 'secret://env/A1'],
      ['fields.a.list[1]', 'secret://env/A2'],
      ['fields.a.list[2].deep', 'secret://env/D'],
    ]);
    expect(collectReferences('secret://env/TOP').map((r) => r.field)).toEqual(['']);
  });
});
