/**
 * `sesame scan --fix` and `sesame refs convert --write` rewrite a file in place (rewriteWithBackup).
 * A file that is a symlink must be rewritten where it lives: replacing the link left the target,
 * with the credential in clear, untouched while scan said the value was moved. The file keeps its
 * mode (a script stays executable, a group-readable config stays group-readable).
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rewriteWithBackup } from '../../src/cli/commands/refs.js';

const CLEAR = 'TOKEN=ghp_Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6\n';
const REF = 'TOKEN={{ secret://builtin/deploy-token }}\n';

describe('rewriteWithBackup', () => {
  it('rewrites the target of a symlinked file and keeps the link', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-rewrite-'));
    mkdirSync(path.join(dir, 'dotfiles'));
    const target = path.join(dir, 'dotfiles', 'deploy.env');
    writeFileSync(target, CLEAR);
    const link = path.join(dir, '.env');
    symlinkSync(target, link);

    rewriteWithBackup(link, REF);

    expect(readFileSync(target, 'utf8')).toBe(REF);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it("keeps the file's mode: an executable script stays executable", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-rewrite-'));
    const file = path.join(dir, 'deploy.sh');
    writeFileSync(file, CLEAR);
    chmodSync(file, 0o750);
    rewriteWithBackup(file, REF);
    expect(statSync(file).mode & 0o777).toBe(0o750);
    expect(readFileSync(file, 'utf8')).toBe(REF);
    expect(readFileSync(`${file}.bak`, 'utf8')).toBe(CLEAR);
  });
});
