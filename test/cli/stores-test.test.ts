/**
 * PRODUCT.md: "Long work (…, tests of many stores) shows progress on a terminal and ends with a
 * one-line summary". `sesame stores test --all` (or several names) is that test of many stores.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.js';

function project(): string {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-stores-test-'));
  mkdirSync(path.join(cwd, 'secrets'));
  writeFileSync(
    path.join(cwd, 'sesame.yaml'),
    [
      'stores:',
      '  - name: files',
      '    type: file',
      '    root: ./secrets',
      '  - name: gone',
      '    namespace: acme',
      '    type: file',
      '    root: ./not-there',
    ].join('\n'),
  );
  return cwd;
}

const env = { SESAME_T_VAR: 'x' };

describe('sesame stores test, many stores', () => {
  it('--all tests every store, says which have problems and ends with a one-line summary (exit 1)', async () => {
    const cwd = project();
    const r = await runCli(['stores', 'test', '--all'], { cwd, env });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('store files (root namespace): ready');
    expect(r.stdout).toContain('store gone (acme): has problems');
    expect(r.stdout).toMatch(/\n {2}FAIL [^\n]+\n {7}fix: create or mount /);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('tested 4 stores: 3 ready, 1 with problems (acme/gone): see fix lines above');
    // Piped: no progress, only the note of the master key the builtin store's first use made.
    expect(r.stderr).toMatch(/^sesame: created master key \w+ in [^\n]+\n$/);
  });

  it('several names test those, each in the namespace it was found in; all ready is exit 0', async () => {
    const cwd = project();
    const r = await runCli(['stores', 'test', 'files', 'env'], { cwd, env });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('tested 2 stores: 2 ready');
  });

  it('--json gives every report and the overall outcome', async () => {
    const cwd = project();
    const r = await runCli(['stores', 'test', '--all', '--json'], { cwd, env });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      stores: Array<{ store: string; namespace: string; ok: boolean; steps: unknown[] }>;
    };
    expect(out.ok).toBe(false);
    expect(out.stores.map((s) => [s.store, s.namespace, s.ok])).toEqual(
      expect.arrayContaining([
        ['files', '', true],
        ['gone', 'acme', false],
        ['env', '', true],
      ]),
    );
    const one = JSON.parse((await runCli(['stores', 'test', 'files', '--json'], { cwd, env })).stdout);
    expect(one).toMatchObject({ store: 'files', ok: true });
  });

  it('bad usage is exit 2: no store and no --all, names with --all, --sample with many', async () => {
    const cwd = project();
    for (const args of [
      ['stores', 'test'],
      ['stores', 'test', 'files', '--all'],
      ['stores', 'test', '--all', '--sample', 'x'],
      ['stores', 'test', 'nope', 'files'],
    ]) {
      const r = await runCli(args, { cwd, env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it('draws progress on a terminal only', async () => {
    const cwd = project();
    const command = [process.execPath, BIN, 'stores', 'test', '--all'].map((a) => `'${a}'`).join(' ');
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm', NO_COLOR: '1' },
      timeout: 60_000,
    });
    expect(tty.stdout).toMatch(/\rtesting stores [█░]+ \d\/4/);
    const piped = await runCli(['stores', 'test', '--all'], { cwd, env });
    expect(piped.stderr).not.toContain('\r');
    expect(piped.stderr).not.toContain('testing stores');
  }, 60_000);
});
