import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MASK, Redactor } from '../../src/redact/redactor.js';

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
      JSON.stringify({ v: value }),
    ].join(' | ');
    const out = r.redact(text);
    expect(out).not.toContain('p@ss');
    expect(out).not.toContain(Buffer.from(value).toString('base64').slice(0, 12));
    expect(out).not.toContain(encodeURIComponent(value));
    expect(out.split(MASK).length - 1).toBeGreaterThanOrEqual(5);
  });

  it('masks each line of a multi-line value such as a PEM', () => {
    const r = new Redactor();
    const pem = '-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END KEY-----';
    r.add(pem);
    const out = r.redact('log: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu end');
    expect(out).toBe(`log: ${MASK} end`);
  });

  it('does not mask values shorter than 4 characters', () => {
    const r = new Redactor();
    r.add('abc');
    expect(r.redact('abc abc')).toBe('abc abc');
    expect(r.size).toBe(0);
  });

  it('prefers the longest match so a value is masked whole, not piecewise', () => {
    const r = new Redactor();
    r.add('secret');
    r.add('secret-longer');
    expect(r.redact('x secret-longer y')).toBe(`x ${MASK} y`);
  });

  it('masks a value split across stream chunks', async () => {
    const r = new Redactor();
    r.add('hunter2-topsecret');
    const input = new PassThrough();
    const masked = input.pipe(r.createStream());
    let out = '';
    masked.on('data', (c) => {
      out += String(c);
    });
    const done = new Promise((resolve) => masked.on('end', resolve));
    input.write('start hunter2-');
    input.write('top');
    input.write('secret end\nsecond hunter2-topsecret');
    input.end();
    await done;
    expect(out).toBe(`start ${MASK} end\nsecond ${MASK}`);
  });

  it('flushes a held-back tail after a pause, masked', async () => {
    const r = new Redactor();
    r.add('abcdefgh');
    const stream = r.createStream({ flushAfterMs: 5 });
    let out = '';
    stream.on('data', (c) => {
      out += String(c);
    });
    stream.write('prompt> abc');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(out).toBe('prompt> abc');
    stream.end();
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
});
