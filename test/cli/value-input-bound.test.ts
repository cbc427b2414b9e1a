/**
 * A value given as a file or on stdin was read whole, then learnt by masking (about a hundred
 * times its size in memory), and only then measured against the store's limit: a 70 MB file
 * given to `sesame secrets set --from-file` by mistake took a minute and 7.5 GB before "above
 * this store's limit of 65536 bytes", and `--from-file /dev/zero` grew until the machine ran out.
 * The CLI now reads at most 64 MiB (the largest value any store takes) and refuses more at once.
 */
import { closeSync, mkdtempSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES } from '../../src/cli/context.js';
import { runCli } from '../support/cli.js';

const ENV = { SESAME_LOG_LEVEL: 'warn' };
const MiB = 1024 * 1024;

function workspace(): string {
  return mkdtempSync(path.join(tmpdir(), 'sesame-input-bound-'));
}

/** A sparse file of `bytes` (no disk used). */
function sparse(dir: string, bytes: number): string {
  const file = path.join(dir, 'wrong-file.bin');
  const fd = openSync(file, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return file;
}

describe('a value larger than any store takes', () => {
  it('--from-file: a file of 65 MiB is refused before it is read, nothing written', async () => {
    const cwd = workspace();
    const file = sparse(cwd, MAX_INPUT_BYTES + 1);
    const r = await runCli(['secrets', 'set', 'big', '--from-file', file], { cwd, env: ENV });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `sesame: --from-file ${file} is larger than 64 MiB, more than any store takes: nothing was written (check that it is the file you meant)\n`,
    );
    const listed = await runCli(['secrets', 'list', '--json'], { cwd, env: ENV });
    expect(JSON.parse(listed.stdout)).toEqual({ items: [] });
  });

  it('--from-file /dev/zero (no end) is read up to the bound, then refused', async () => {
    const cwd = workspace();
    const r = await runCli(['secrets', 'set', 'big', '--from-file', '/dev/zero'], { cwd, env: ENV, timeoutMs: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--from-file /dev/zero is larger than 64 MiB');
  });

  it('stdin past 64 MiB is refused, and so is sesame secrets import of such a file', async () => {
    const cwd = workspace();
    const piped = await runCli(['secrets', 'set', 'big'], { cwd, env: ENV, input: 'a'.repeat(MAX_INPUT_BYTES + MiB), timeoutMs: 60_000 });
    expect(piped.code).toBe(2);
    expect(piped.stderr).toContain('sesame: stdin is larger than 64 MiB, more than any store takes: nothing was written');
    const file = sparse(cwd, MAX_INPUT_BYTES + 1);
    const imported = await runCli(['secrets', 'import', file], { cwd, env: ENV });
    expect(imported.code).toBe(2);
    expect(imported.stderr).toContain(`the file ${file} is larger than 64 MiB`);
  });

  it('a value up to the bound is still read whole (a 200 KiB file reaches the store, which refuses it by its own limit)', async () => {
    const cwd = workspace();
    const file = path.join(cwd, 'cert-bundle.pem');
    writeFileSync(file, 'c'.repeat(200 * 1024));
    const r = await runCli(['secrets', 'set', 'bundle', '--from-file', file], { cwd, env: ENV });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is 204800 bytes, above this store\'s limit of 65536 bytes');
  });
});
