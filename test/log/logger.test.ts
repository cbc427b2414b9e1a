import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Redactor } from '../../src/redact/redactor.js';
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
