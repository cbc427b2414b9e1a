/** The core's readCaFile: relative to the config directory, a config error naming the path otherwise. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { readCaFile } from '../../src/stores/core/index.js';

describe('readCaFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-ca-'));
  writeFileSync(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');

  it('reads the file relative to the config directory, and nothing without caFile', () => {
    expect(readCaFile('ca.pem', { baseDir: dir }, 'hint')?.toString()).toBe('-----BEGIN CERTIFICATE-----\n');
    expect(readCaFile(path.join(dir, 'ca.pem'), {}, 'hint')?.length).toBeGreaterThan(0);
    expect(readCaFile(undefined, { baseDir: dir }, 'hint')).toBeUndefined();
  });

  it('a missing file is a ConfigError with the resolved path, the errno and the hint', () => {
    const read = () => readCaFile('missing.pem', { baseDir: dir }, 'caFile is the PEM file of the CA');
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(
      `config cannot read caFile ${path.join(dir, 'missing.pem')} (ENOENT) (caFile is the PEM file of the CA)`,
    );
  });
});
