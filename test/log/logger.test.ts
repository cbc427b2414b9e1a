import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, LOG_LINE_WITHHELD } from '../../src/log.js';
import { FormMatcher, type MatcherSnapshot } from '../../src/redact/matcher.js';
import { MASKING_FAILED, Redactor } from '../../src/redact/redactor.js';
import { createSesame } from '../../src/sesame.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, destination };
}

describe('logger', () => {
  it('masks every value the redactor knows, wherever it appears in a line', () => {
    const redactor = new Redactor();
    redactor.add('hunter2-secret');
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', redactor, destination });
    log.info({ detail: 'pw=hunter2-secret', nested: { v: ['hunter2-secret'] } }, 'connecting with hunter2-secret');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('hunter2-secret');
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: 'connecting with ***', detail: 'pw=***', nested: { v: ['***'] } });
  });

  it('censors credential-named fields even before their values are known', () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', redactor: new Redactor(), destination });
    log.info({ password: 'not-yet-known-1', token: 'not-yet-known-2', req: { headers: { authorization: 'Bearer x' } } }, 'x');
    expect(lines.join('')).not.toMatch(/not-yet-known|Bearer x/);
  });
});

/** A redactor whose matcher fails on chosen calls, with the secret in the error message. */
class FlakyRedactor extends Redactor {
  fail = true;
  protected override createMatcher(): FormMatcher {
    const self = () => this;
    return new (class extends FormMatcher {
      override snapshot(): MatcherSnapshot {
        if (self().fail) throw new Error('matcher failed on hunter2-secret');
        return super.snapshot();
      }
    })();
  }
}

describe('logger when masking fails', () => {
  it('writes a valid JSON notice line at the same level instead of the line, and keeps logging', () => {
    const redactor = new FlakyRedactor();
    redactor.add('hunter2-secret');
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', redactor, destination });
    log.warn({ detail: 'hunter2-secret' }, 'connecting with hunter2-secret');
    redactor.fail = false;
    log.info('next line hunter2-secret');
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toContain('hunter2');
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: LOG_LINE_WITHHELD, maskingFailed: true });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 30, msg: 'next line ***' });
  });

  it('survives a redactor subclass that throws from redact() itself', () => {
    class Throwing extends Redactor {
      override redact(): string {
        throw new Error('hunter2-secret');
      }
    }
    const { lines, destination } = capture();
    const log = createLogger({ level: 'info', redactor: new Throwing(), destination });
    expect(() => log.error('x hunter2-secret')).not.toThrow();
    expect(lines.join('')).not.toContain('hunter2');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: LOG_LINE_WITHHELD });
    expect(lines[0]).not.toContain(MASKING_FAILED);
  });
});

describe('resolved values stay in memory', () => {
  it('writes nothing under the working directory when resolving from env and file stores', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-mem-'));
    process.env.SESAME_T_MEMORY_ONLY = 'memory-only-value-77';
    const sesame = createSesame({}, { baseDir: dir, redactor: new Redactor() });
    expect(await sesame.resolve('secret://env/SESAME_T_MEMORY_ONLY')).toBe('memory-only-value-77');
    await sesame.close();
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : [path.join(d, f)]));
    expect(walk(dir)).toEqual([]);
  });
});
