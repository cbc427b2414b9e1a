/**
 * `sesame run` masks the master key in the command's output whatever form the config gives it
 * (`masterKey: { file }`, `{ env }`, or the embedded default `.sesame/master.key` with no config),
 * in the spellings a command could print it (the key file's lines, base64 without padding,
 * base64url, hex, the raw bytes), and refuses to run when the key file cannot be read. The real
 * bin (`npm run build`).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EMBEDDED_MASTER_KEY_FILE,
  masterKeyForms,
  ownCredentials,
} from '../../src/cli/commands/run-child.js';
import { loadConfig } from '../../src/config/load.js';
import { formatKeyFile, generateMasterKey, type MasterKey } from '../../src/encrypted-store/master-key.js';
import { defaultStoreTypes } from '../../src/stores/default-types.js';
import { BIN } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-run-key-'));

/** Every spelling of a key this file checks the output for. */
function spellings(key: Buffer): string[] {
  const b64 = key.toString('base64');
  const hex = key.toString('hex');
  return [b64, b64.replace(/=+$/, ''), key.toString('base64url'), hex, hex.toUpperCase()];
}

/** Any 8-character window of any spelling of `key` found in `out`, and whether the raw bytes are in it. */
function leaks(key: Buffer, out: Buffer): string[] {
  const text = out.toString('latin1');
  const found: string[] = [];
  for (const s of spellings(key)) {
    for (let i = 0; i + 8 <= s.length; i++)
      if (text.includes(s.slice(i, i + 8))) found.push(s.slice(i, i + 8));
  }
  // Raw bytes: any 8 consecutive bytes of the key.
  for (let i = 0; i + 8 <= key.length; i++) if (out.includes(key.subarray(i, i + 8))) found.push(`raw@${i}`);
  return found;
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** The bin, capturing output as bytes (the command prints raw key bytes too). */
function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}

/**
 * A shell script printing every key of `file` in each spelling, to stdout and to stderr, each
 * spelling on a line of its own and the raw bytes between markers.
 */
function printKeys(file: string): string {
  const each = [
    `cat ${file}`,
    `cat ${file} >&2`,
    `grep -v '^#' ${file} | while read -r k; do`,
    '  printf "nopad=%s\\n" "${k%%=*}"',
    `  printf "url=%s\\n" "$(printf %s "$k" | tr '+/' '-_' | tr -d '=')"`,
    '  printf "hex=%s\\n" "$(printf %s "$k" | base64 -d | od -An -v -tx1 | tr -d " \\n")"',
    '  printf "HEX=%s\\n" "$(printf %s "$k" | base64 -d | od -An -v -tx1 | tr -d " \\n" | tr a-f A-F)" >&2',
    '  printf "raw=["; printf %s "$k" | base64 -d; printf "]\\n"',
    'done',
  ];
  return each.join('\n');
}

function keyFile(dirName: string, keys: MasterKey[]): string {
  writeFileSync(path.join(dirName, 'master.key'), formatKeyFile(keys), { mode: 0o600 });
  return path.join(dirName, 'master.key');
}

describe('sesame run masks the master key of a key file', () => {
  it('masterKey: { file } — every key of the file, in every spelling, on stdout and stderr', async () => {
    const cwd = dir();
    mkdirSync(path.join(cwd, 'keys'));
    // Two keys: the newest and an older one kept during a rotation; both open builtin secrets.
    const keys = [generateMasterKey(), generateMasterKey()];
    keyFile(path.join(cwd, 'keys'), keys);
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'masterKey: { file: ./keys/master.key }\nstores: []\n');
    const r = await run(['run', '--', 'sh', '-c', printKeys('keys/master.key')], cwd);
    expect(r.stderr.toString()).toContain('# Sesame master key file');
    expect(r.code, r.stderr.toString()).toBe(0);
    const out = Buffer.concat([r.stdout, r.stderr]);
    // The command did print each spelling (masked): a line per key and spelling.
    expect(r.stdout.toString().match(/^(nopad|url|hex)=\*\*\*$/gm)).toHaveLength(6);
    expect(r.stderr.toString().match(/^HEX=\*\*\*$/gm)).toHaveLength(2);
    // Raw bytes come out mangled by UTF-8 decoding anyway; masked, nothing of them is left.
    expect(r.stdout.toString().match(/^raw=\[\*\*\*\]$/gm)).toHaveLength(2);
    for (const k of keys) expect(leaks(k.key, out)).toEqual([]);
  });

  it('a relative key file path is the config file’s folder’s, as the builtin store reads it', async () => {
    const cwd = dir();
    const conf = path.join(cwd, 'conf');
    mkdirSync(conf);
    const [key] = [generateMasterKey()];
    keyFile(conf, [key as MasterKey]);
    writeFileSync(path.join(conf, 'sesame.yaml'), 'masterKey: { file: master.key }\nstores: []\n');
    const r = await run(
      ['run', '--config', 'conf/sesame.yaml', '--', 'sh', '-c', 'cat conf/master.key'],
      cwd,
    );
    expect(r.code, r.stderr.toString()).toBe(0);
    expect(leaks((key as MasterKey).key, r.stdout)).toEqual([]);
  });

  it('with no config: the embedded default .sesame/master.key, when it exists, on the path without the library too', async () => {
    const cwd = dir();
    mkdirSync(path.join(cwd, '.sesame'));
    const key = generateMasterKey();
    keyFile(path.join(cwd, '.sesame'), [key]);
    // Nothing to resolve: the command would otherwise start without masking (run-fast.ts).
    const bare = await run(['run', '--', 'sh', '-c', printKeys('.sesame/master.key')], cwd);
    expect(bare.code, bare.stderr.toString()).toBe(0);
    expect(leaks(key.key, Buffer.concat([bare.stdout, bare.stderr]))).toEqual([]);
    // With something to resolve (main(), the embedded config).
    const resolved = await run(
      ['run', '--env', 'T=secret://env/V', '--', 'sh', '-c', 'echo "$T"; cat .sesame/master.key'],
      cwd,
      { V: 'value-to-mask-1' },
    );
    expect(resolved.code, resolved.stderr.toString()).toBe(0);
    expect(resolved.stdout.toString()).toContain('***\n');
    expect(leaks(key.key, resolved.stdout)).toEqual([]);
  });

  it('the embedded default names the same file the config loader uses', () => {
    const config = loadConfig({ cwd: dir(), env: {}, registry: defaultStoreTypes() });
    expect(config.masterKey).toEqual({ file: `./${EMBEDDED_MASTER_KEY_FILE}` });
  });

  it('a key file that does not exist holds nothing to mask: the command runs', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'masterKey: { file: ./nowhere/master.key }\nstores: []\n');
    const r = await run(['run', '--', 'sh', '-c', 'echo ran'], cwd);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout.toString()).toBe('ran\n');
  });

  it('a key file that cannot be read: nothing runs, and the error says which file and what to do', async () => {
    const cwd = dir();
    // A directory where the key file should be: unreadable as a file, for root too.
    mkdirSync(path.join(cwd, 'master.key'));
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'masterKey: { file: ./master.key }\nstores: []\n');
    const r = await run(['run', '--', 'sh', '-c', 'echo ran > ran.txt; echo ran'], cwd);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(existsSync(path.join(cwd, 'ran.txt'))).toBe(false);
    expect(r.stderr.toString()).toBe(
      `sesame: cannot read master key file ${path.join(cwd, 'master.key')} (it is a directory), so its keys could not be masked in the command's output: nothing was run; point masterKey.file at the key file, or let the user that runs sesame read it\n`,
    );
  });
});

describe('sesame run with an unreadable embedded key file', () => {
  it('no config, .sesame/master.key not a file: nothing runs, and the fix names that file', async () => {
    const cwd = dir();
    mkdirSync(path.join(cwd, '.sesame', 'master.key'), { recursive: true });
    const r = await run(['run', '--', 'sh', '-c', 'echo ran > ran.txt'], cwd);
    expect(r.code).toBe(2);
    expect(existsSync(path.join(cwd, 'ran.txt'))).toBe(false);
    expect(r.stderr.toString()).toBe(
      `sesame: cannot read master key file ${path.join(cwd, '.sesame', 'master.key')} (it is a directory), so its keys could not be masked in the command's output: nothing was run; let the user that runs sesame read .sesame/master.key, the key file Sesame uses without a config file\n`,
    );
  });
});

describe('sesame run masks the master key of a variable', () => {
  it('masterKey: { env } — each key of the variable in every spelling, not only as written', async () => {
    const cwd = dir();
    const keys = [generateMasterKey(), generateMasterKey()];
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'masterKey: { env: APP_MASTER_KEY }\nstores: []\n');
    const value = keys.map((k) => k.key.toString('base64')).join(',');
    writeFileSync(path.join(cwd, 'keys.txt'), formatKeyFile(keys));
    const r = await run(['run', '--', 'sh', '-c', `env; ${printKeys('keys.txt')}`], cwd, {
      APP_MASTER_KEY: value,
    });
    expect(r.code, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toContain('APP_MASTER_KEY=***');
    const out = Buffer.concat([r.stdout, r.stderr]);
    for (const k of keys) expect(leaks(k.key, out)).toEqual([]);
  });
});

describe('masterKeyForms', () => {
  it("gives each key of a key file's text and its spellings, never a comment", () => {
    const keys = [generateMasterKey(), generateMasterKey()];
    const forms = masterKeyForms(formatKeyFile(keys));
    for (const k of keys) for (const s of spellings(k.key)) expect(forms).toContain(s);
    expect(forms.some((f) => f.startsWith('#'))).toBe(false);
  });

  it('keeps a line that is not a key as written (masked all the same), with no spelling derived from it', () => {
    const odd = `not-a-key-${randomBytes(4).toString('hex')}`;
    expect(masterKeyForms(`# comment\n  ${odd}  \n`)).toEqual([odd]);
  });

  it('ownCredentials gives the spellings of every key of the master key variable', () => {
    const keys = [generateMasterKey(), generateMasterKey()];
    const value = keys.map((k) => k.key.toString('base64')).join(' ');
    const got = ownCredentials({ K: value }, 'K');
    expect(got).toContain(value);
    for (const k of keys) for (const s of spellings(k.key)) expect(got).toContain(s);
  });
});
