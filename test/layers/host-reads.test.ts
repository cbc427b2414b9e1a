/**
 * Files of the host are read through src/host-file.ts (bounded, pipes and devices refused unless
 * the caller reads streams): `readFileSync` on a path an operator names stopped the process on a
 * named pipe and filled its memory from /dev/zero (a `${file:}` in the config, `--env-file`,
 * `--from-file`, the master key and agent token files). What may still read a path directly is
 * listed here, each with why.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const ALLOWED: Record<string, string> = {
  'server/plugins/web.ts': "the admin UI's index.html, from Sesame's own build",
  'audit/spool.ts': "spool files in Sesame's own 0700 folder, written by Sesame",
  'audit/chain.ts': "the audit head checkpoint Sesame writes next to the key file or database",
  'cli/commands/scan.ts': 'files its walk listed as regular files of at most 1 MiB',
  'stores/file/index.ts': 'a file store reads through a handle opened without blocking and checked (kind, maxSize)',
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? sources(full) : /\.ts$/.test(entry) ? [full] : [];
  });
}

describe('reads of host files', () => {
  it('go through src/host-file.ts, except the listed reads of files Sesame owns', () => {
    const direct: string[] = [];
    for (const file of sources(SRC)) {
      const rel = path.relative(SRC, file).split(path.sep).join('/');
      if (rel === 'host-file.ts') continue;
      const text = readFileSync(file, 'utf8');
      if (/\breadFileSync\(|\breadFile\(/.test(text) && !(rel in ALLOWED)) direct.push(rel);
    }
    expect(direct).toEqual([]);
  });

  it('each allowed exception still reads directly (a stale entry is removed)', () => {
    for (const rel of Object.keys(ALLOWED)) {
      expect(readFileSync(path.join(SRC, rel), 'utf8'), rel).toMatch(/\breadFileSync\(|\breadFile\(/);
    }
  });
});
