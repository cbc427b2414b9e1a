/**
 * A master key file other users of the host can read (0644, the mode a plain `cp` or a Kubernetes
 * secret volume gives) was accepted without a word. `sesame serve` and `sesame keys status` now
 * say so once, with the chmod that fixes it; the key still works (a warning, not a refusal), and a
 * file shared with its group only (0640, which `keys rotate` keeps) is left alone.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exposureWarning } from '../../src/host-file.js';
import { runCli, serveUntilUp } from '../support/cli.js';

const ENV = { SESAME_LOG_LEVEL: 'warn' };

/** A folder with a secret stored under a generated key file (0600), and that file's path. */
async function workspace(): Promise<{ cwd: string; key: string }> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-key-mode-'));
  const set = await runCli(['secrets', 'set', 'db-password', 'key-mode-value-51c0'], { cwd, env: ENV });
  expect(set.code, set.stderr).toBe(0);
  return { cwd, key: path.join(cwd, '.sesame/master.key') };
}

/** `sesame serve` until its URL line: what it wrote on stderr by then. */
const serveStderr = async (cwd: string) => (await serveUntilUp(['--port', '0'], cwd, ENV)).stderr;

const warningLines = (stderr: string) => stderr.split('\n').filter((l) => l.includes('master key file'));

describe('a master key file open to other users', () => {
  it('sesame keys status names the file, its mode and the chmod, and still reads the key', async () => {
    const { cwd, key } = await workspace();
    const quiet = await runCli(['keys', 'status'], { cwd, env: ENV });
    expect(quiet.code).toBe(0);
    expect(warningLines(quiet.stderr)).toEqual([]);

    chmodSync(key, 0o644);
    const r = await runCli(['keys', 'status'], { cwd, env: ENV });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/active/);
    expect(warningLines(r.stderr)).toEqual([
      `warning: the master key file ${key} is readable by users outside its owner and group (mode 644): chmod o-rwx ${key} (mounted from a Kubernetes secret: set the volume's defaultMode to 0400)`,
    ]);
    // A warning, not a refusal: the value is still there.
    const get = await runCli(['secrets', 'get', 'db-password'], { cwd, env: ENV });
    expect(get.stdout).toBe('key-mode-value-51c0');
    expect(get.stderr).toBe('');
  });

  it('sesame serve says it once at start; a 0640 file (group only) is left alone', async () => {
    const { cwd, key } = await workspace();
    chmodSync(key, 0o644);
    const open = await serveStderr(cwd);
    expect(warningLines(open)).toEqual([
      `sesame: warning: the master key file ${key} is readable by users outside its owner and group (mode 644): chmod o-rwx ${key} (mounted from a Kubernetes secret: set the volume's defaultMode to 0400)`,
    ]);
    expect(open).not.toContain('key-mode-value-51c0');

    chmodSync(key, 0o640);
    const closed = await serveStderr(cwd);
    expect(warningLines(closed)).toEqual([]);
    // Nor any other warning (Fastify's FSTDEP022 for a deprecated option went out on every start).
    expect(closed).not.toMatch(/warning/i);
  });
});

describe('exposureWarning', () => {
  const file = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sesame-exposure-'));
    return path.join(dir, 'key');
  };

  it('tells readable from only writable, and counts the group only when asked', async () => {
    const f = file();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(f, 'k', { mode: 0o600 });
    expect(exposureWarning('the key', f, 0o077)).toBeUndefined();
    chmodSync(f, 0o602);
    expect(exposureWarning('the key', f, 0o007)).toBe(
      `the key ${f} is writable by users outside its owner and group (mode 602): chmod o-rwx ${f}`,
    );
    chmodSync(f, 0o640);
    expect(exposureWarning('the key', f, 0o007)).toBeUndefined();
    expect(exposureWarning('the key', f, 0o077)).toBe(
      `the key ${f} is readable by other users (mode 640): chmod go-rwx ${f}`,
    );
  });

  it('says nothing of a file that is not there (loading it reports that)', () => {
    expect(exposureWarning('the key', file(), 0o077)).toBeUndefined();
  });
});
