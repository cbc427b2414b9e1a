/**
 * A value the store refuses for its size was learnt by masking first (about a hundred times its
 * size in memory, seconds of work: a 5 MB file took 2.7 s and 700 MB before the builtin's 64 KiB
 * limit said no). `secrets set` and `secrets import` now ask the store's limit (StoreClient
 * checkValue) before masking learns anything, and import writes nothing if one value is refused.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCliContext } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';
import { processRedactor } from '../../src/redact/redactor.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** `sesame <args>` in this process: exit code and error output. */
async function sesame(cwd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const stdout = Object.assign(new PassThrough(), { isTTY: false });
  const stderr = Object.assign(new PassThrough(), { isTTY: false });
  let err = '';
  stderr.on('data', (c) => {
    err += String(c);
  });
  stdout.resume();
  const stdin = Object.assign(Readable.from([]), { isTTY: true });
  const ctx = createCliContext({ stdout, stderr, stdin, cwd, env: { SESAME_LOG_LEVEL: 'warn' } });
  const code = await main(['node', 'sesame', ...args], ctx);
  return { code, stderr: err };
}

/** From now on, the lengths of the values masking is asked to learn. */
function learnt(): () => number[] {
  const spy = vi.spyOn(processRedactor, 'add');
  return () => spy.mock.calls.map((c) => String(c[0]).length);
}

describe('a value above the store limit', () => {
  it('secrets set: refused with the limit before masking learns it', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-precheck-'));
    const big = 'b'.repeat(200 * 1024);
    writeFileSync(path.join(cwd, 'big.txt'), big);
    const lengths = learnt();
    const r = await sesame(cwd, ['secrets', 'set', 'big', '--from-file', 'big.txt']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the value of "big" is 204800 bytes, above this store\'s limit of 65536 bytes');
    expect(lengths()).not.toContain(big.length);
  });

  it('secrets import: one value too large refuses the import before anything is learnt or written', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-precheck-'));
    const big = 'c'.repeat(100 * 1024);
    writeFileSync(path.join(cwd, 'app.env'), `SMALL=small-precheck-value\nBIG=${big}\n`);
    const lengths = learnt();
    const r = await sesame(cwd, ['secrets', 'import', 'app.env']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the value of "BIG" is 102400 bytes');
    expect(lengths()).not.toContain(big.length);
    expect((await sesame(cwd, ['secrets', 'get', 'SMALL'])).code).not.toBe(0);
  });

  it('a value within the limit is learnt, then written', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-precheck-'));
    const lengths = learnt();
    const r = await sesame(cwd, ['secrets', 'set', 'small', 'small-precheck-ok']);
    expect(r.code, r.stderr).toBe(0);
    expect(lengths()).toContain('small-precheck-ok'.length);
  });
});
