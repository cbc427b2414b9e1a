/**
 * A rotation rewrites the master key file. When the configured path is a symlink (a key kept on
 * a mounted volume, a secret mounted by the orchestrator) the new key must land in the file the
 * link points to, and the file keeps the mode the operator gave it.
 */
import { chmodSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatKeyFile, generateMasterKey, parseKeyFile } from '../../src/encrypted-store/index.js';
import { replaceKeyFile } from '../../src/encrypted-store/master-key.js';
import { tempDir } from './helpers.js';

describe('replaceKeyFile (key rotation writing the key file)', () => {
  it('writes through a symlinked key file to its target, leaving the link in place', () => {
    const dir = tempDir();
    const vault = path.join(dir, 'volume');
    mkdirSync(vault, { mode: 0o700 });
    const target = path.join(vault, 'master.key');
    const old = generateMasterKey();
    writeFileSync(target, formatKeyFile([old]), { mode: 0o600 });
    const link = path.join(dir, 'master.key');
    symlinkSync(target, link);

    const fresh = generateMasterKey();
    replaceKeyFile(link, [fresh, old]);

    // Before: the link was replaced by a regular file and the volume kept only the old key,
    // so the next mount or redeploy brought back a key that cannot open the rewrapped rows.
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(parseKeyFile(readFileSync(target, 'utf8'), target).map((k) => k.id)).toEqual([fresh.id, old.id]);
  });

  it("keeps the key file's mode (a group-readable 0640 stays 0640)", () => {
    const dir = tempDir();
    const file = path.join(dir, 'master.key');
    const old = generateMasterKey();
    writeFileSync(file, formatKeyFile([old]));
    chmodSync(file, 0o640);
    replaceKeyFile(file, [generateMasterKey(), old]);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('never widens a key file beyond its owner and group', () => {
    const dir = tempDir();
    const file = path.join(dir, 'master.key');
    const old = generateMasterKey();
    writeFileSync(file, formatKeyFile([old]));
    chmodSync(file, 0o666);
    replaceKeyFile(file, [generateMasterKey(), old]);
    expect(statSync(file).mode & 0o007).toBe(0);
  });
});
