/**
 * `sesame secrets import` / `export` with .env and JSON files: round trips, references by
 * default and values only with --reveal, empty values refused, and the same through a server.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envKeyOf, formatEnvValue, parseSecretsFile } from '../../src/cli/commands/secrets.js';
import { runner, type Serving, serve, tempDir } from './first-use-helpers.js';

const sesame = runner();

describe('formatEnvValue', () => {
  it('writes every value so that Node reads back exactly it, or says it cannot', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
        const written = formatEnvValue(value);
        if (written !== undefined) expect(parseEnv(`K=${written}`)['K']).toBe(value);
        // It says it cannot only when no quote is free, or for a carriage return (Node's parser
        // reads CR LF as a line end, in quotes too).
        else if (!value.includes('\r')) expect(['\'', '`', '"'].filter((q) => !value.includes(q))).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('holds a whole file of entries apart, whatever the values', () => {
    const entry = fc.tuple(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 30 }));
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: ([k]) => k, maxLength: 6 }), (entries) => {
        const lines = entries.flatMap(([k, v]) => {
          const written = formatEnvValue(v);
          return written === undefined ? [] : [`${k}=${written}`];
        });
        const expected = Object.fromEntries(entries.filter(([, v]) => formatEnvValue(v) !== undefined));
        expect(parseEnv(lines.join('\n'))).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes plain values bare, and quotes only what needs it', () => {
    expect(formatEnvValue('secret://builtin/db/password')).toBe('secret://builtin/db/password');
    expect(formatEnvValue('two words')).toBe("'two words'");
    expect(formatEnvValue("it's\nmulti # line")).toBe("`it's\nmulti # line`");
    expect(formatEnvValue('\'"`')).toBeUndefined();
  });

  it('makes a .env key of a secret name', () => {
    expect(envKeyOf('db/password')).toBe('db_password');
    expect(envKeyOf('DB_PASSWORD')).toBe('DB_PASSWORD');
    expect(envKeyOf('9lives')).toBe('_9lives');
  });
});

describe('parseSecretsFile', () => {
  it('takes JSON strings as they are, numbers and booleans as text, objects as JSON text, and refuses null', () => {
    expect(parseSecretsFile('{"a":"x","n":5,"b":true,"o":{"k":"v"}}', 'json', 'f.json')).toEqual([
      ['a', 'x'],
      ['n', '5'],
      ['b', 'true'],
      ['o', '{"k":"v"}'],
    ]);
    expect(() => parseSecretsFile('{"a":null}', 'json', 'f.json')).toThrow('f.json: "a" is null');
    expect(() => parseSecretsFile('[1]', 'json', 'f.json')).toThrow('must hold one JSON object');
    expect(() => parseSecretsFile('{', 'json', 'f.json')).toThrow('f.json is not JSON');
  });
});

const ENV_FILE = [
  '# app settings',
  'export DB_PASSWORD=db-pass-0001',
  "API_TOKEN='tok with spaces # and hash'",
  'CERT="-----BEGIN-----',
  'abc',
  '-----END-----"',
  '',
].join('\n');

const VALUES = ['db-pass-0001', 'tok with spaces # and hash', '-----BEGIN-----\nabc\n-----END-----'];

describe('secrets import and export', () => {
  it('round-trips a .env file: import, export --reveal, parse equal; without --reveal only references', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, '.env'), ENV_FILE);
    const imported = await sesame(['secrets', 'import', '.env', '--namespace', 'acme'], { cwd });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toBe('imported 3 secrets from .env into namespace acme (store builtin)\n');

    const revealed = await sesame(['secrets', 'export', '--reveal', '--namespace', 'acme'], { cwd });
    expect(revealed.code, revealed.stderr).toBe(0);
    expect(parseEnv(revealed.stdout)).toEqual(parseEnv(ENV_FILE));
    expect(revealed.stdout.split('\n')[0]).toContain('secret VALUES');

    const references = await sesame(['secrets', 'export', '--namespace', 'acme'], { cwd });
    expect(references.code, references.stderr).toBe(0);
    for (const value of VALUES) {
      expect(references.stdout).not.toContain(value);
      expect(references.stderr).not.toContain(value);
    }
    for (const value of ['db-pass', 'tok with', 'BEGIN']) expect(references.stdout).not.toContain(value);
    expect(parseEnv(references.stdout)).toEqual({
      API_TOKEN: 'secret://builtin/API_TOKEN',
      CERT: 'secret://builtin/CERT',
      DB_PASSWORD: 'secret://builtin/DB_PASSWORD',
    });
    expect(references.stderr).toBe('sesame: exported 3 secret references from namespace acme (store builtin)\n');
    // The references resolve from the namespace they were exported from.
    expect(await sesame(['resolve', 'secret://builtin/CERT', '-n', 'acme'], { cwd })).toMatchObject({ stdout: `${VALUES[2]}\n` });
  }, 120_000);

  it('round-trips JSON with names that are not variable names, and writes --output 0600, not over a file without --force', async () => {
    const cwd = tempDir();
    const doc = { 'db/password': 'json-pass-0002', 'jira/token': 'quote\'s "and" `all`', 'app/config': { port: 5432 } };
    writeFileSync(path.join(cwd, 'in.json'), JSON.stringify(doc));
    expect((await sesame(['secrets', 'import', 'in.json', '--prefix', 'team/'], { cwd })).code).toBe(0);

    const out = await sesame(['secrets', 'export', '--reveal', '--prefix', 'team/', '-o', 'backup.json'], { cwd });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe('');
    const file = path.join(cwd, 'backup.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      'team/app/config': '{"port":5432}',
      'team/db/password': 'json-pass-0002',
      'team/jira/token': 'quote\'s "and" `all`',
    });
    const again = await sesame(['secrets', 'export', '--reveal', '-o', 'backup.json'], { cwd });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('backup.json exists: nothing was written (pass --force to replace it)');
    // A value .env cannot hold is an error naming the secret, not a mangled file.
    const env = await sesame(['secrets', 'export', '--reveal', '--format', 'env', '--prefix', 'team/jira'], { cwd });
    expect(env.code).toBe(2);
    expect(env.stdout).toBe('');
    expect(env.stderr).toBe(
      'sesame: the value of team/jira/token cannot be written in a .env file that reads back the same (it holds every kind of quote, or a carriage return): nothing was written (use --format json)\n',
    );

    const refs = await sesame(['secrets', 'export', '--json'], { cwd });
    expect(JSON.parse(refs.stdout)).toEqual({
      'team/app/config': 'secret://builtin/team/app/config',
      'team/db/password': 'secret://builtin/team/db/password',
      'team/jira/token': 'secret://builtin/team/jira/token',
    });
    expect(refs.stdout).not.toContain('json-pass-0002');
  }, 120_000);

  it('refuses a file with empty values unless --skip-empty, writing nothing', async () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, '.env'), 'A=value-a-1\nB=\nC=""\n');
    const refused = await sesame(['secrets', 'import', '.env'], { cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'sesame: .env: B, C have empty values: nothing was written (give values, remove them, or pass --skip-empty; Sesame does not store empty values)\n',
    );
    const none = await sesame(['secrets', 'list', '--json'], { cwd });
    expect(JSON.parse(none.stdout).items).toEqual([]);
    const skipped = await sesame(['secrets', 'import', '.env', '--skip-empty'], { cwd });
    expect(skipped).toMatchObject({ code: 0, stdout: 'imported 1 secret from .env into the root namespace (store builtin); skipped 2 empty (B, C)\n' });
    expect((await sesame(['secrets', 'import', '-', '--format', 'json'], { cwd, input: '{}' })).code).toBe(2);
  }, 120_000);
});

describe('secrets import and export through a server', () => {
  let server: Serving;
  const serverDir = tempDir('sesame-files-server-');
  beforeAll(async () => {
    server = await serve({ cwd: serverDir });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('imports with the token, exports references, and needs reveal for values', async () => {
    const cwd = tempDir();
    const env = { SESAME_TOKEN: server.adminToken };
    writeFileSync(path.join(cwd, 'in.env'), 'REMOTE_ONE=remote-one-0003\nREMOTE_TWO=remote-two-0004\n');
    const imported = await sesame(['secrets', 'import', 'in.env', '--server', server.url, '-n', 'acme'], { cwd, env });
    expect(imported).toMatchObject({ code: 0, stdout: 'imported 2 secrets from in.env into namespace acme (store builtin)\n' });
    const refs = await sesame(['secrets', 'export', '--server', server.url, '-n', 'acme'], { cwd, env });
    expect(parseEnv(refs.stdout)).toEqual({ REMOTE_ONE: 'secret://builtin/REMOTE_ONE', REMOTE_TWO: 'secret://builtin/REMOTE_TWO' });
    const values = await sesame(['secrets', 'export', '--reveal', '--server', server.url, '-n', 'acme'], { cwd, env });
    expect(values.code).toBe(1);
    expect(values.stderr).toContain('needs a token with the reveal permission');
    for (const r of [imported, refs, values]) expect(`${r.stdout}${r.stderr}`).not.toMatch(/remote-(one|two)-000/);
    // In the server's database, not here.
    const local = await sesame(['secrets', 'list', '--json'], { cwd });
    expect(JSON.parse(local.stdout).items).toEqual([]);
  }, 120_000);
});
