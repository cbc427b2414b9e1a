/**
 * `sesame run` with its stdout and stderr going to the same place (`2>&1`, one log file, one
 * terminal): a value the command writes half to stdout and half to stderr reassembles there, so
 * both are masked as one stream. When they go to different places each is masked alone (a split
 * value is a documented limit). The real bin (`npm run build`) and a real child.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';

const VALUE = 'split-value-7f3e9a1c4b2d8e6f';
const FIRST = VALUE.slice(0, 14);
const SECOND = VALUE.slice(14);
const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-merged-'));
const env = { PATH: process.env.PATH ?? '', HOME: dir(), V: VALUE };

/**
 * Half of the value on stdout, a pause, the other half on stderr, then a line on each (the pauses
 * keep the order: what two pipes deliver at the same instant may be read in either order).
 */
const SPLIT = `printf %s "${FIRST}"; sleep 0.2; echo "${SECOND}" >&2; echo out-done; sleep 0.2; echo err-done >&2`;

/** Any 6-character window of the value in `out`. */
function leaks(out: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 6 <= VALUE.length; i++)
    if (out.includes(VALUE.slice(i, i + 6))) found.push(VALUE.slice(i, i + 6));
  return found;
}

function runInto(
  stdout: number | 'pipe',
  stderr: number | 'pipe',
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--env', 'T=secret://env/V', '--', 'sh', '-c', SPLIT],
      {
        cwd: dir(),
        env,
        stdio: ['ignore', stdout, stderr],
      },
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (c) => {
      out += String(c);
    });
    child.stderr?.on('data', (c) => {
      err += String(c);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('sesame run with stdout and stderr going to the same place', () => {
  it('one log file for both: a value split between them is masked', async () => {
    const log = path.join(dir(), 'step.log');
    const fd = openSync(log, 'w');
    try {
      const r = await runInto(fd, fd);
      expect(r.code).toBe(0);
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(log, 'utf8');
    expect(leaks(text)).toEqual([]);
    expect(text).toBe('***\nout-done\nerr-done\n');
  });

  it('2>&1 into one pipe (a CI step piped to tee): a value split between them is masked', () => {
    const script = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} run --env T=secret://env/V -- sh -c '${SPLIT}' 2>&1 | cat`;
    const r = spawnSync('sh', ['-c', script], { cwd: dir(), env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(leaks(r.stdout)).toEqual([]);
    expect(r.stdout).toBe('***\nout-done\nerr-done\n');
  });
});

describe('sesame run with stdout and stderr going to different places', () => {
  it('each is masked alone: whole values are masked on each, and each keeps its own output', async () => {
    const r = await runInto('pipe', 'pipe');
    expect(r.code).toBe(0);
    // The documented limit: each half alone is not the value, so each stream shows its half.
    expect(r.out).toBe(`${FIRST}out-done\n`);
    expect(r.err).toBe(`${SECOND}\nerr-done\n`);
    const whole = spawnSync(
      process.execPath,
      [BIN, 'run', '--env', 'T=secret://env/V', '--', 'sh', '-c', 'echo "$T"; echo "$T" >&2'],
      {
        cwd: dir(),
        env,
        encoding: 'utf8',
      },
    );
    expect(whole.stdout).toBe('***\n');
    expect(whole.stderr).toBe('***\n');
  });
});
