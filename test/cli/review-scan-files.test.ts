/**
 * `sesame scan` walks the paths it is given. A symlink back to a parent folder (a loop, common in
 * checked-out trees) made it walk the same files again and again until the system refused the
 * path (ELOOP), and the scan stopped with "cannot read …: check the path".
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder } from '../../src/scan/files.js';

describe('filesUnder', () => {
  it('lists each folder once through a symlink loop', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sesame-scan-loop-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'app', '.env'), 'TOKEN=x\n');
    symlinkSync('..', path.join(dir, 'app', 'up'));
    const { files } = filesUnder([dir]);
    expect(files).toEqual([path.join(dir, 'app', '.env')]);
  });
});
