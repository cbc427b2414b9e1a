import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** No lone surrogates: such strings cannot be percent-encoded as UTF-8 at all. */
const wellFormed = (s: string) => !/\p{Cs}/u.test(s);
import { ReferenceSyntaxError } from '../../src/errors.js';
import { evaluatePointer, parsePointer } from '../../src/refs/pointer.js';
import { formatReference, parseReference, type Reference } from '../../src/refs/reference.js';

function syntaxError(input: string): ReferenceSyntaxError {
  try {
    parseReference(input, 'fields.token');
  } catch (err) {
    expect(err).toBeInstanceOf(ReferenceSyntaxError);
    return err as ReferenceSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseReference', () => {
  it('parses store, name, stage and a literal dotted key', () => {
    expect(
      parseReference('secret://aws/prod-jira-credentials?stage=AWSCURRENT#prod.jira.secret.key'),
    ).toEqual({
      store: 'aws',
      name: 'prod-jira-credentials',
      stage: 'AWSCURRENT',
      key: 'prod.jira.secret.key',
    });
  });

  it('keeps slashes and colons in names (paths and ARNs)', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf';
    expect(parseReference(`secret://aws/${arn}`)).toEqual({ store: 'aws', name: arn });
    expect(parseReference('secret://vault/db/app#password')).toEqual({
      store: 'vault',
      name: 'db/app',
      key: 'password',
    });
  });

  it('pins a version', () => {
    expect(parseReference('secret://vault/db/app?version=3#password')).toEqual({
      store: 'vault',
      name: 'db/app',
      version: '3',
      key: 'password',
    });
  });

  it('takes a fragment starting with / as a JSON Pointer, kept as written', () => {
    expect(parseReference('secret://env/FOO#/a/b/0').key).toBe('/a/b/0');
  });

  it('decodes percent-escapes in names, values and keys', () => {
    expect(parseReference('secret://files/a%23b%3Fc%25d%7De%20f#k%20ey')).toEqual({
      store: 'files',
      name: 'a#b?c%d}e f',
      key: 'k ey',
    });
  });

  it('accepts store names with digits, dashes and underscores up to 63 characters', () => {
    const store = `a${'b'.repeat(62)}`;
    expect(parseReference(`secret://${store}/x`).store).toBe(store);
    expect(parseReference('secret://my_store-2/x').store).toBe('my_store-2');
  });

  it.each([
    ['secret://', 9, 'a store name'],
    ['secret:/aws/x', 8, '"secret://"'],
    ['http://aws/x', 0, '"secret://"'],
    ['secret://AWS/x', 9, 'store name'],
    ['secret://-aws/x', 9, 'store name'],
    ['secret://aws', 12, '"/" and a secret name'],
    ['secret://aws/', 13, 'a secret name'],
    ['secret://aws/?version=1', 13, 'a secret name'],
    ['secret://aws/x?', 15, '"version=<id>" or "stage=<label>"'],
    ['secret://aws/x?foo=1', 15, '"version=<id>" or "stage=<label>"'],
    ['secret://aws/x?version', 22, '"="'],
    ['secret://aws/x?version=', 23, 'a version value'],
    ['secret://aws/x?version=1&stage=A', 24, 'only one of version or stage'],
    ['secret://aws/x#', 15, 'a key after "#"'],
    ['secret://aws/a b', 14, 'raw space'],
    ['secret://aws/a}b', 14, 'raw }'],
    ['secret://aws/a%2', 14, 'percent-escape'],
    ['secret://aws/a%zz', 14, 'percent-escape'],
    ['secret://aws/a%ff', 14, 'valid UTF-8'],
    ['secret://aws/a#/x~2', 17, 'JSON Pointer'],
  ])('rejects %j at offset %i, expecting %s', (input, offset, expected) => {
    const err = syntaxError(input);
    expect(err.offset).toBe(offset);
    expect(err.expected).toContain(expected);
    expect(err.field).toBe('fields.token');
    expect(err.message).toContain('fields.token');
    expect(err.message).toContain(`offset ${offset}`);
    expect(err.exitCode).toBe(2);
  });

  it('says the store-name rule in the same words whether the name is missing or malformed', () => {
    const rule = 'a store name of lowercase letters, digits, "_" and "-", starting with a letter or digit';
    for (const input of ['secret://', 'secret:///x', 'secret://AWS/x', 'secret://-aws/x', 'secret://a.b/x'])
      expect(syntaxError(input).expected, input).toBe(rule);
  });

  it('rejects a store name longer than 63 characters', () => {
    expect(syntaxError(`secret://${'a'.repeat(64)}/x`).expected).toContain('63');
  });
});

describe('formatReference', () => {
  it('writes the canonical form, escaping what the grammar reserves', () => {
    expect(formatReference({ store: 'f', name: 'a#b c', stage: 'AWS PENDING', key: 'x}y' })).toBe(
      'secret://f/a%23b%20c?stage=AWS%20PENDING#x%7Dy',
    );
  });

  it('refuses a reference with both version and stage', () => {
    expect(() => formatReference({ store: 'a', name: 'b', version: '1', stage: 'S' })).toThrow(/not both/);
  });
});

const storeArb = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/);
const textArb = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).filter(wellFormed);
const pointerArb = fc
  .array(fc.string({ maxLength: 8 }).filter(wellFormed), { minLength: 1, maxLength: 4 })
  .map((tokens) => `/${tokens.map((t) => t.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);
const referenceArb: fc.Arbitrary<Reference> = fc
  .record(
    {
      store: storeArb,
      name: textArb,
      pin: fc.option(fc.tuple(fc.constantFrom('version', 'stage'), textArb), { nil: undefined }),
      key: fc.option(
        fc.oneof(
          textArb.filter((k) => !k.startsWith('/')),
          pointerArb,
        ),
        { nil: undefined },
      ),
    },
    { requiredKeys: ['store', 'name'] },
  )
  .map(({ store, name, pin, key }) => {
    const ref: Reference = { store, name };
    if (pin) ref[pin[0] as 'version' | 'stage'] = pin[1];
    if (key !== undefined) ref.key = key;
    return ref;
  });

describe('reference grammar properties', () => {
  it('parse(format(r)) equals r', () => {
    fc.assert(
      fc.property(referenceArb, (ref) => {
        expect(parseReference(formatReference(ref))).toEqual(ref);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but ReferenceSyntaxError on arbitrary strings', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.string().map((s) => `secret://${s}`),
        ),
        (input) => {
          try {
            parseReference(input);
          } catch (err) {
            expect(err).toBeInstanceOf(ReferenceSyntaxError);
            const { offset } = err as ReferenceSyntaxError;
            expect(offset).toBeGreaterThanOrEqual(0);
            expect(offset).toBeLessThanOrEqual(input.length);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('JSON Pointer (RFC 6901)', () => {
  const doc = { foo: ['bar', 'baz'], '': 0, 'a/b': 1, 'm~n': 8, nested: { 'x.y': { z: true } } };

  it.each([
    ['', doc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/m~0n', 8],
    ['/nested/x.y/z', true],
  ])('evaluates %j', (pointer, expected) => {
    expect(evaluatePointer(doc, parsePointer(pointer))).toEqual({ found: true, value: expected });
  });

  it.each(['/foo/2', '/foo/01', '/foo/-', '/missing', '/nested/x.y/z/deeper', '/constructor', '/__proto__'])(
    'reports %j as not found',
    (pointer) => {
      expect(evaluatePointer(doc, parsePointer(pointer)).found).toBe(false);
    },
  );

  it('rejects a stray ~ with a typed error at its offset', () => {
    for (const [pointer, offset] of [
      ['/a~2', 2],
      ['/a~', 2],
      ['/~1/b~0c/~x', 9],
      ['a', 0],
    ] as const) {
      let caught: unknown;
      try {
        parsePointer(pointer);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ReferenceSyntaxError);
      expect((caught as ReferenceSyntaxError).offset).toBe(offset);
    }
  });

  it('decodes ~1 before ~0 as RFC 6901 requires', () => {
    expect(parsePointer('/~01/a~1b/~0~1/')).toEqual(['~1', 'a/b', '~/', '']);
    expect(parsePointer('/')).toEqual(['']);
  });

  it('spells the failing prefix with tokens escaped', () => {
    expect(evaluatePointer({ 'a/b': { c: 1 } }, parsePointer('/a~1b/x~0y/z'))).toEqual({
      found: false,
      failedAt: '/a~1b/x~0y',
    });
  });
});
