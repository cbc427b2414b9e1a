import { describe, expect, it } from 'vitest';
import { FormMatcher, type MatcherSnapshot } from '../../src/redact/matcher.js';
import { MASK, MASKING_FAILED, Redactor } from '../../src/redact/redactor.js';
import { MAX_ALL_FORMS_BYTES } from '../../src/redact/forms.js';
import { randomText } from '../support/random-text.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Redactor', () => {
  it('masks a value and its base64, URL-encoded and JSON-escaped forms', () => {
    const r = new Redactor();
    const value = 'p@ss w/"rd"';
    r.add(value);
    const text = [
      value,
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('base64url'),
      encodeURIComponent(value),
      encodeURIComponent(value).replaceAll('%20', '+'),
      JSON.stringify({ v: value }),
    ].join(' | ');
    const out = r.redact(text);
    expect(out).toBe(['***', '***', '***', '***', '***', '{"v":"***"}'].join(' | '));
  });

  it('masks every encoding of a value inside surrounding text', () => {
    const r = new Redactor();
    const value = 'tok+en/with-odd_chars and "quotes" \\ ü€😀';
    r.add(value);
    const forms = [
      value,
      JSON.stringify(value).slice(1, -1),
      encodeURIComponent(value),
      Buffer.from(value).toString('base64'),
      Buffer.from(value).toString('base64url'),
      Buffer.from(value).toString('base64').replace(/=+$/, ''),
    ];
    for (const form of forms) expect(r.redact(`before ${form} after`)).toBe(`before ${MASK} after`);
  });

  it('masks the base64 of a value followed by a newline (regression: `echo $TOK | base64` left ***K)', () => {
    const r = new Redactor();
    const tok = 'ghp_R2d2C3po0123456789abcdefXYZ';
    r.add(tok);
    const withNewline = b64(`${tok}\n`);
    const out = r.redact(withNewline);
    // Only the last, mixed character of the value's encoding and what encodes the newline remain.
    expect(out.startsWith(MASK)).toBe(true);
    expect(out.length - MASK.length).toBeLessThanOrEqual(4);
    expect(out).not.toContain(b64(tok).slice(-4, -1));
  });

  it('masks base64 of text containing the value at every byte alignment, 1 mixed character at each edge at most', () => {
    const r = new Redactor();
    const tok = 'sk_live_51HcS3cr3tT0k3nValue';
    r.add(tok);
    for (const before of ['', 'x', 'xy', 'xyz', 'Authorization: Bearer ']) {
      for (const after of ['', '\n', 'zz', 'zzz', ' trailing words']) {
        const encoded = b64(before + tok + after);
        const out = r.redact(encoded);
        expect(out).toContain(MASK);
        const [head, tail] = [out.slice(0, out.indexOf(MASK)), out.slice(out.indexOf(MASK) + MASK.length)];
        // What stays visible is the encoding of the surroundings plus at most one mixed character.
        expect(head.length).toBeLessThanOrEqual(Math.ceil((before.length * 8) / 6));
        expect(tail.replace(/=+$/, '').length).toBeLessThanOrEqual(Math.ceil((after.length * 8) / 6) + 1);
      }
    }
  });

  it('masks the URL encodings of other encoders: RFC 3986 strict (curl, Go, Python quote) and HTML forms (URLSearchParams)', () => {
    const r = new Redactor();
    // `!`, `*`, `'`, `(`, `)` are left as they are by encodeURIComponent only; `~` is encoded by forms only.
    const value = "pa!ss*wo'(rd) x~9";
    r.add(value);
    const strict = 'pa%21ss%2Awo%27%28rd%29%20x~9';
    const spellings = [
      strict,
      strict.replaceAll('%20', '+'), // Go url.QueryEscape, Python quote_plus
      new URLSearchParams({ v: value }).toString().slice(2), // pa%21ss*wo%27%28rd%29+x%7E9
    ];
    for (const s of spellings) expect(r.redact(`v=${s}&next=1`), s).toBe(`v=${MASK}&next=1`);
  });

  it('masks percent-encoding with lower-case hex (%2f, as .NET HttpUtility.UrlEncode and others write it) and Go url.PathEscape', () => {
    const r = new Redactor();
    const value = 'us/er:p@ss=w$rd&x+y;z,é ~';
    r.add(value);
    const lower = (s: string) => s.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
    const strict = 'us%2Fer%3Ap%40ss%3Dw%24rd%26x%2By%3Bz%2C%C3%A9%20~';
    const spellings = [
      lower(encodeURIComponent(value)), // us%2fer%3ap%40ss%3dw%24rd%26x%2by%3bz%2c%c3%a9%20~
      lower(strict).replaceAll('%20', '+'), // .NET HttpUtility.UrlEncode: lower-case hex, + for a space
      lower(new URLSearchParams({ v: value }).toString().slice(2)),
      // Go url.PathEscape keeps $ & + : = @ of a path segment and writes a space as %20.
      'us%2Fer:p@ss=w$rd&x+y%3Bz%2C%C3%A9%20~',
      lower('us%2Fer:p@ss=w$rd&x+y%3Bz%2C%C3%A9%20~'),
    ];
    for (const s of spellings) expect(r.redact(`v=${s}&next=1`), s).toBe(`v=${MASK}&next=1`);
  });

  it('masks the JSON escapes of other encoders: Python json.dumps (non-ASCII as \\uXXXX), Go (< > & as \\u003c…), .NET (upper case)', () => {
    const r = new Redactor();
    const value = 'p<ss&wörd>€9';
    r.add(value);
    const spellings = [
      'p<ss&w\\u00f6rd>\\u20ac9', // Python json.dumps (ensure_ascii)
      'p\\u003css\\u0026wörd\\u003e€9', // Go encoding/json (HTML-safe)
      'p\\u003Css\\u0026w\\u00F6rd\\u003E\\u20AC9', // .NET System.Text.Json: both, upper-case hex
    ];
    for (const s of spellings) expect(r.redact(`{"password":"${s}"}`), s).toBe(`{"password":"${MASK}"}`);
    // PHP's json_encode escapes `/` too (base64 secrets hold slashes).
    const slashed = 'k/9+ä/Zw==';
    r.add(slashed);
    expect(r.redact('{"key":"k\\/9+\\u00e4\\/Zw=="}')).toBe(`{"key":"${MASK}"}`);
    // .NET also escapes a quote, an apostrophe and a plus.
    const quoted = `say "hi"+'bye'`;
    r.add(quoted);
    expect(r.redact('"say \\u0022hi\\u0022\\u002B\\u0027bye\\u0027"')).toBe(`"${MASK}"`);
    // A character outside the BMP is two escaped UTF-16 code units in all of them.
    const emoji = 'key-😀-long';
    r.add(emoji);
    expect(r.redact('"key-\\ud83d\\ude00-long"')).toBe(`"${MASK}"`);
  });

  it('masks the hex of a token in lower and upper case (xxd -p, debug dumps)', () => {
    const r = new Redactor();
    const token = 'tok-9f2c1e77aa';
    r.add(token);
    const hex = Buffer.from(token, 'utf8').toString('hex');
    const out = r.redact(`lower ${hex} upper ${hex.toUpperCase()} end`);
    expect(out).toBe(`lower ${MASK} upper ${MASK} end`);
  });

  it('does not add hex forms for values over 4 KiB (matcher memory), and says so in MAX_HEX_BYTES', () => {
    const r = new Redactor();
    const big = randomText(5000, 7);
    r.add(big);
    const hex = Buffer.from(big, 'utf8').toString('hex');
    expect(r.redact(big)).toBe(MASK);
    expect(r.redact(hex.slice(0, 64))).toBe(hex.slice(0, 64));
  });

  it('masks a value over 4 KiB in its plain, JSON, URI and base64 spellings, and the rarer encoders only up to MAX_ALL_FORMS_BYTES (matcher memory)', () => {
    const r = new Redactor();
    const big = `${randomText(5000, 11)} "/<&>~*'`;
    r.add(big);
    const url = encodeURIComponent(big);
    const strict = url.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    for (const form of [big, JSON.stringify(big).slice(1, -1), url, strict, Buffer.from(big).toString('base64')])
      expect(r.redact(`a ${form} b`)).toBe(`a ${MASK} b`);
    // Lower-case percent hex (.NET's HttpUtility) and PHP's \/ are left for long values: documented.
    const lower = strict.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
    expect(lower).not.toBe(strict);
    expect(r.redact(lower)).toBe(lower);
    expect(MAX_ALL_FORMS_BYTES).toBe(4096);
    const small = new Redactor();
    const token = `${randomText(100, 12)} /~`;
    small.add(token);
    const smallLower = encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
    expect(small.redact(`a ${smallLower} b`)).toBe(`a ${MASK} b`);
  });

  it('masks each line of a multi-line value such as a PEM', () => {
    const r = new Redactor();
    const pem =
      '-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END KEY-----';
    r.add(pem);
    const out = r.redact('log: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu end');
    expect(out).toBe(`log: ${MASK} end`);
    expect(r.redact(JSON.stringify({ key: pem }))).toBe(`{"key":"${MASK}"}`);
  });

  it('masks a value with surrounding whitespace as a program that trims it prints it (echo $TOKEN, strip())', () => {
    const r = new Redactor();
    r.add('  padded-tok-9876 \t');
    r.add('crlf-tok-5432\r\n');
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    expect(r.redact('x padded-tok-9876 y')).toBe(`x ${MASK} y`);
    expect(r.redact(`b64 ${b64('padded-tok-9876')}`)).toBe(`b64 ${MASK}`);
    expect(r.redact('"crlf-tok-5432"')).toBe(`"${MASK}"`);
    expect(r.redact(b64('crlf-tok-5432\n'))).not.toContain(b64('crlf-tok-5432').slice(0, 8));
  });

  it('does not mask values shorter than 4 characters', () => {
    const r = new Redactor();
    r.add('abc');
    expect(r.redact('abc abc')).toBe('abc abc');
    expect(r.size).toBe(0);
  });

  it('masks a value whole when a shorter value is inside it', () => {
    const r = new Redactor();
    r.add('secret');
    r.add('secret-longer');
    expect(r.redact('x secret-longer y')).toBe(`x ${MASK} y`);
    expect(r.redact('x secret y')).toBe(`x ${MASK} y`);
  });

  it('masks the union of overlapping forms, not just the leftmost-longest match', () => {
    const r = new Redactor();
    r.add('abcdef');
    r.add('defghijk');
    r.add('xyz1');
    r.add('1234');
    // Leftmost-longest would mask `abcdef` and leave `ghijk` showing.
    expect(r.redact('<abcdefghijk>')).toBe(`<${MASK}>`);
    expect(r.redact('<xyz1234>')).toBe(`<${MASK}>`);
    // A long form starting before earlier, shorter matches swallows them.
    r.add('qrst');
    r.add('opqrstuvw');
    expect(r.redact('[opqrstuvw]')).toBe(`[${MASK}]`);
    // Adjacent (not overlapping) values stay two masks.
    expect(r.redact('abcdefxyz1')).toBe(`${MASK}${MASK}`);
  });

  it('masks multi-byte UTF-8 values and their encodings', () => {
    const r = new Redactor();
    const value = 'пароль-密码-🔑🔑';
    r.add(value);
    expect(r.redact(`a ${value} b`)).toBe(`a ${MASK} b`);
    expect(r.redact(`a ${b64(value)} b`)).toBe(`a ${MASK} b`);
    expect(r.redact(`a ${encodeURIComponent(value)} b`)).toBe(`a ${MASK} b`);
    expect(r.redact(b64(`x${value}\n`))).not.toContain(b64(value).slice(4, 12));
  });

  it('works with a 1 MB value', () => {
    const r = new Redactor();
    const big = randomText(1 << 20, 7);
    expect(r.add(big)).toBe(true);
    expect(r.add(big)).toBe(false);
    expect(r.has(big)).toBe(true);
    const out = r.redact(`start ${big} end`);
    expect(out).toBe(`start ${MASK} end`);
    expect(r.redact(b64(`x${big}\n`)).length).toBeLessThan(16);
    expect(r.redact('hello world')).toBe('hello world');
  });

  it('knows values and forms (has) and counts forms (size)', () => {
    const r = new Redactor();
    r.add('token-abcdef');
    expect(r.has('token-abcdef')).toBe(true);
    expect(r.has(b64('token-abcdef'))).toBe(true);
    expect(r.has('token-abc')).toBe(false);
    expect(r.size).toBeGreaterThan(3);
    r.clear();
    expect(r.has('token-abcdef')).toBe(false);
    expect(r.redact('token-abcdef')).toBe('token-abcdef');
  });

  it('redacts strings deep inside a value', () => {
    const r = new Redactor();
    r.add('tok-12345');
    expect(r.redactValue({ a: ['x tok-12345'], b: { c: 'tok-12345' }, n: 1 })).toEqual({
      a: [`x ${MASK}`],
      b: { c: MASK },
      n: 1,
    });
  });

  it('redacts keys, bytes (Buffer, typed arrays) and error messages inside a value: none of them passes the value through', () => {
    const r = new Redactor();
    r.add('tok-12345');
    const bytes = Buffer.from('x tok-12345');
    const out = r.redactValue({
      'tok-12345': 'k',
      body: bytes,
      view: new Uint8Array(bytes),
      raw: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
      err: new Error('refused tok-12345'),
      __proto__key: JSON.parse('{"__proto__": "tok-12345"}'),
    });
    expect(out).toEqual({
      [MASK]: 'k',
      body: `x ${MASK}`,
      view: `x ${MASK}`,
      raw: `x ${MASK}`,
      err: { name: 'Error', message: `refused ${MASK}` },
      __proto__key: JSON.parse(`{"__proto__": "${MASK}"}`),
    });
    const shown = JSON.stringify(out);
    expect(shown).not.toContain('tok-12345');
    expect(shown).not.toContain([...Buffer.from('tok-')].join(','));
  });
});

/** A matcher that fails like a bug or an out-of-memory would, with the secret in the message. */
class FailingMatcher extends FormMatcher {
  failAfter = 0;
  override snapshot(): MatcherSnapshot {
    if (this.failAfter-- <= 0) throw new Error('matcher exploded while matching hunter2-topsecret');
    return super.snapshot();
  }
}

class FailingRedactor extends Redactor {
  protected override createMatcher(): FormMatcher {
    return new FailingMatcher();
  }
  failAfter(n: number): this {
    (this.matcher as FailingMatcher).failAfter = n;
    return this;
  }
}

describe('Redactor fails closed', () => {
  it('redact() returns the notice, never the text or the error message', () => {
    const r = new FailingRedactor();
    r.add('hunter2-topsecret');
    let out = '';
    expect(() => {
      out = r.redact('the password is hunter2-topsecret');
    }).not.toThrow();
    expect(out).toBe(MASKING_FAILED);
    expect(out).not.toContain('hunter2');
    expect(r.failures).toBe(1);
  });

  it('redactValue() returns the notice in place of the value', () => {
    const r = new FailingRedactor();
    r.add('hunter2-topsecret');
    expect(r.redactValue({ a: ['hunter2-topsecret'] })).toBe(MASKING_FAILED);
  });

  it('redactValue() of a cyclic value fails closed instead of throwing', () => {
    const r = new Redactor();
    const cyclic: Record<string, unknown> = { v: 'hunter2-topsecret' };
    cyclic.self = cyclic;
    expect(r.redactValue(cyclic)).toBe(MASKING_FAILED);
  });

  it('an add that fails part-way withholds everything until clear(), rather than leave a value unmasked', () => {
    class AddFails extends FormMatcher {
      override add(form: string): void {
        if (form.startsWith('aGVs')) throw new Error('out of memory');
        super.add(form);
      }
    }
    class R extends Redactor {
      protected override createMatcher(): FormMatcher {
        return new AddFails();
      }
    }
    const r = new R();
    expect(r.add('hello-secret-value')).toBe(false);
    expect(r.redact('anything at all')).toBe(MASKING_FAILED);
    r.clear();
    expect(r.redact('anything at all')).toBe('anything at all');
  });

  it('fails closed from the first failing scan on', () => {
    const r = new FailingRedactor().failAfter(1);
    r.add('hunter2-topsecret');
    expect(r.redact('x hunter2-topsecret')).toBe(`x ${MASK}`);
    expect(r.redact('x hunter2-topsecret')).toBe(MASKING_FAILED);
  });
});
