/** The core's readSettingFile: relative to the config directory; a config error naming the setting and the file otherwise. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { readSettingFile } from '../../src/stores/core/setting-file.js';

describe('readSettingFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-setting-file-'));
  writeFileSync(path.join(dir, 'app.pem'), '-----BEGIN CERTIFICATE-----\n');
  mkdirSync(path.join(dir, 'folder'));
  const context = { storeName: 'kv', baseDir: dir };

  it('reads the file relative to the config directory, or by its absolute path', () => {
    expect(readSettingFile(context, 'auth.certificatePath', 'app.pem')).toBe('-----BEGIN CERTIFICATE-----\n');
    expect(readSettingFile({ storeName: 'kv' }, 'auth.certificatePath', path.join(dir, 'app.pem'))).toContain(
      'BEGIN CERTIFICATE',
    );
  });

  it('a missing file is a ConfigError naming the setting, the resolved file and the hint', () => {
    const read = () => readSettingFile(context, 'auth.certificatePath', 'missing.pem', 'a PEM file');
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(
      `config stores.kv.auth.certificatePath: file ${path.join(dir, 'missing.pem')} does not exist (a PEM file)`,
    );
    try {
      read();
    } catch (err) {
      expect((err as ConfigError).path).toBe('stores.kv.auth.certificatePath');
    }
  });

  it('says when the setting names a folder', () => {
    expect(() => readSettingFile(context, 'jwtFile', 'folder')).toThrow(
      `config stores.kv.jwtFile: file ${path.join(dir, 'folder')} is a folder, not a file`,
    );
  });
});
