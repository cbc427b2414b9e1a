/** The core's settingFile/readSettingFile: relative to the config directory; a config error naming the setting and the file otherwise. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { readSettingFile, settingFile } from '../../src/stores/core/setting-file.js';

describe('settingFile and readSettingFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-setting-file-'));
  writeFileSync(path.join(dir, 'app.pem'), '-----BEGIN CERTIFICATE-----\n');
  mkdirSync(path.join(dir, 'folder'));
  const context = { storeName: 'kv', baseDir: dir };

  it('resolves the file relative to the config directory, or takes its absolute path', () => {
    expect(settingFile(context, 'auth.certificatePath', 'app.pem')).toBe(path.join(dir, 'app.pem'));
    expect(readSettingFile(context, 'auth.certificatePath', 'app.pem')).toBe('-----BEGIN CERTIFICATE-----\n');
    expect(readSettingFile({ storeName: 'kv' }, 'auth.certificatePath', path.join(dir, 'app.pem'))).toContain(
      'BEGIN CERTIFICATE',
    );
  });

  it('a missing file is a ConfigError naming the setting, the resolved file and the hint', () => {
    const missing = `config stores.kv.auth.certificatePath: file ${path.join(dir, 'missing.pem')} does not exist (a PEM file)`;
    for (const check of [settingFile, readSettingFile]) {
      const run = () => check(context, 'auth.certificatePath', 'missing.pem', 'a PEM file');
      expect(run).toThrow(ConfigError);
      expect(run).toThrow(missing);
      expect(() => run()).toThrow(expect.objectContaining({ path: 'stores.kv.auth.certificatePath' }));
    }
  });

  it('says when the setting names a folder', () => {
    const folder = `config stores.kv.jwtFile: file ${path.join(dir, 'folder')} is a folder, not a file`;
    expect(() => settingFile(context, 'jwtFile', 'folder')).toThrow(folder);
    expect(() => readSettingFile(context, 'jwtFile', 'folder')).toThrow(folder);
  });

  it('refuses a named pipe or a device at once (reading one would block the whole process), and a file over 1 MiB', () => {
    execFileSync('mkfifo', [path.join(dir, 'token.pipe')]);
    const pipe = `config stores.kv.jwtFile: file ${path.join(dir, 'token.pipe')} is a named pipe, not a regular file`;
    expect(() => settingFile(context, 'jwtFile', 'token.pipe')).toThrow(pipe);
    expect(() => readSettingFile(context, 'jwtFile', 'token.pipe')).toThrow(pipe);
    expect(() => readSettingFile(context, 'jwtFile', '/dev/zero')).toThrow(
      'config stores.kv.jwtFile: file /dev/zero is a device, not a regular file',
    );
    writeFileSync(path.join(dir, 'huge.pem'), Buffer.alloc(1024 * 1024 + 1, 65));
    expect(() => readSettingFile(context, 'auth.certificatePath', 'huge.pem')).toThrow(
      `config stores.kv.auth.certificatePath: file ${path.join(dir, 'huge.pem')} is 1048577 bytes, more than the 1 MiB a certificate, key or token file may hold`,
    );
  });
});
