/**
 * `sesame secrets …` and `sesame keys …` run in-process against a config with a builtin store
 * on SQLite. The commands are added to the real program here when `src/cli/main.ts` does not
 * register them (yet), and errors are reported the way `main()` reports them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerKeys } from '../../src/cli/commands/keys.js';
import { registerSecrets } from '../../src/cli/commands/secrets.js';
import { createCliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';
import { SesameError } from '../../src/errors.js';
import { parseKeyFile } from '../../src/encrypted-store/index.js';
import { cliActor } from '../../src/cli/context.js';
import { tempDir, writeKeyFile } from './helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function workspace(): { cwd: string; keyFile: string } {
  const cwd = tempDir();
  const keyFile = writeKeyFile(cwd);
  writeFileSync(
    path.join(cwd, 'sesame.yaml'),
    [
      'database: sqlite:./data/sesame.db',
      'masterKey: { file: ./master.key }',
      'namespaces:',
      '  acme.secure: { isolated: true }',
      '',
    ].join('\n'),
  );
  return { cwd, keyFile };
}

async function sesame(cwd: string, args: string[], options: { input?: string; tty?: boolean } = {}): Promise<Run> {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty ?? false });
  const stderr = Object.assign(new PassThrough(), { isTTY: options.tty ?? false });
  let out = '';
  let err = '';
  stdout.on('data', (c) => {
    out += String(c);
  });
  stderr.on('data', (c) => {
    err += String(c);
  });
  const stdin = Object.assign(Readable.from(options.input === undefined ? [] : [Buffer.from(options.input)]), {
    isTTY: options.input === undefined,
  });
  const ctx = createCliContext({ stdout, stderr, stdin, cwd, env: {} });
  const program = await buildProgram(ctx);
  for (const [name, register] of [
    ['secrets', registerSecrets],
    ['keys', registerKeys],
  ] as const) {
    if (!program.commands.some((c) => c.name() === name)) register(program, ctx);
  }
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  let code: number;
  try {
    await program.parseAsync(['node', 'sesame', ...args]);
    code = ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof SesameError) {
      stderr.write(`sesame: ${e.message}\n`);
      code = e.exitCode;
    } else throw e;
  } finally {
    await ctx.close();
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { code, stdout: out, stderr: err };
}

describe('sesame secrets', () => {
  it('sets from an argument, stdin and a file, and gets the value back exactly', async () => {
    const { cwd } = workspace();
    expect(await sesame(cwd, ['secrets', 'set', 'db/password', 'from-argument'])).toMatchObject({
      code: 0,
      stdout: 'wrote db/password version 1 in the root namespace (store builtin)\n',
    });
    const piped = await sesame(cwd, ['secrets', 'set', 'db/password'], { input: 'from-stdin\n' });
    expect(piped.stdout).toContain('version 2');
    writeFileSync(path.join(cwd, 'key.pem'), '-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    await sesame(cwd, ['secrets', 'set', 'tls/key', '--from-file', 'key.pem']);

    expect(await sesame(cwd, ['secrets', 'get', 'db/password'])).toMatchObject({ code: 0, stdout: 'from-stdin' });
    expect((await sesame(cwd, ['secrets', 'get', 'db/password', '--version', '1'])).stdout).toBe('from-argument');
    expect((await sesame(cwd, ['secrets', 'get', 'db/password'], { tty: true })).stdout).toBe('from-stdin\n');
    expect((await sesame(cwd, ['secrets', 'get', 'tls/key'])).stdout).toBe('-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    expect(JSON.parse((await sesame(cwd, ['secrets', 'get', 'db/password', '--json'])).stdout)).toEqual({
      store: 'builtin',
      name: 'db/password',
      namespace: '',
      version: '2',
      value: 'from-stdin',
    });
  });

  it('asks for a value when none is given on a terminal, and refuses two sources', async () => {
    const { cwd } = workspace();
    const none = await sesame(cwd, ['secrets', 'set', 'x']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('sesame: no value given: pass it as an argument, with --from-file, or on stdin\n');
    const both = await sesame(cwd, ['secrets', 'set', 'x', 'v', '--from-file', 'f']);
    expect(both.code).toBe(2);
  });

  it('lists names, tags and versions by namespace and prefix, never values', async () => {
    const { cwd } = workspace();
    await sesame(cwd, ['secrets', 'set', 'jira/token', 'root-token-value']);
    await sesame(cwd, ['secrets', 'set', 'jira/token', 'acme-token-value', '-n', 'acme', '--tag', 'team=devops']);
    await sesame(cwd, ['secrets', 'set', 'other', 'other-value', '-n', 'acme']);
    const table = await sesame(cwd, ['secrets', 'list', '--namespace', 'acme.devops', '--prefix', 'jira/']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+NAMESPACE\s+VERSION\s+UPDATED\s+TAGS\s+STATE$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^jira\/token\s+acme\s+1\s+\S+\s+team=devops$/);
    expect(table.stdout).not.toContain('token-value');

    const json = JSON.parse((await sesame(cwd, ['secrets', 'list', '-n', 'acme', '--json'])).stdout);
    expect(json.items.map((i: { name: string }) => i.name)).toEqual(['jira/token', 'other']);
    expect(JSON.stringify(json)).not.toContain('-value');
    const paged = await sesame(cwd, ['secrets', 'list', '-n', 'acme', '--limit', '1']);
    expect(paged.stdout.trim().split('\n')).toHaveLength(2);
    expect(paged.stderr).toMatch(/^more: sesame secrets list --limit 1 --cursor \S+\n$/);
    // The isolated namespace does not see the root's secrets.
    const isolated = await sesame(cwd, ['secrets', 'get', 'jira/token', '-n', 'acme.secure']);
    expect(isolated.code).toBe(1);
    expect(isolated.stderr).toBe('sesame: [builtin] no secret "jira/token" in namespace acme.secure\n');
  });

  it('deletes, restores and shows versions', async () => {
    const { cwd } = workspace();
    await sesame(cwd, ['secrets', 'set', 'app/key', 'one']);
    await sesame(cwd, ['secrets', 'set', 'app/key', 'two']);
    const versions = await sesame(cwd, ['secrets', 'versions', 'app/key']);
    expect(versions.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['VERSION', '2', '1']);

    const deleted = await sesame(cwd, ['secrets', 'delete', 'app/key']);
    expect(deleted.stdout).toMatch(/^deleted app\/key in the root namespace; restore it until \S+ with: sesame secrets restore app\/key\n$/);
    const missing = await sesame(cwd, ['secrets', 'get', 'app/key']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no secret "app/key"');
    expect((await sesame(cwd, ['secrets', 'list', '--deleted'])).stdout).toContain('deleted, restorable until');

    expect((await sesame(cwd, ['secrets', 'restore', 'app/key'])).stdout).toBe('restored app/key in the root namespace\n');
    expect((await sesame(cwd, ['secrets', 'get', 'app/key'])).stdout).toBe('two');
    expect((await sesame(cwd, ['secrets', 'delete', 'app/key', '--force'])).stdout).toBe(
      'deleted app/key in the root namespace for good\n',
    );
    expect((await sesame(cwd, ['secrets', 'restore', 'app/key'])).code).toBe(1);
  });

  it('exits 2 with the rule for a bad name, a bad tag or a value too large', async () => {
    const { cwd } = workspace();
    const bad = await sesame(cwd, ['secrets', 'set', 'a/../b', 'v']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('has a ".." segment');
    expect((await sesame(cwd, ['secrets', 'set', 'x', 'v', '--tag', 'novalue'])).stderr).toContain('is not KEY=VALUE');
    const big = await sesame(cwd, ['secrets', 'set', 'big'], { input: 'x'.repeat(70_000) });
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('above this store\'s limit of 65536 bytes: raise maxValueSize');
    expect(big.stderr).not.toContain('xxxxxxxx');
  });

  it('refuses to write to a store that cannot', async () => {
    const { cwd } = workspace();
    const r = await sesame(cwd, ['secrets', 'set', 'X', 'v', '--store', 'env']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('store env cannot write secrets');
  });
});

describe('sesame keys', () => {
  it('rotates the master key with a one-line summary, and secrets stay readable', async () => {
    const { cwd, keyFile } = workspace();
    for (let i = 0; i < 5; i++) await sesame(cwd, ['secrets', 'set', `s/${i}`, `value-${i}`]);
    const oldId = parseKeyFile(readFileSync(keyFile, 'utf8'), keyFile)[0]?.id;

    const r = await sesame(cwd, ['keys', 'rotate', '--batch-size', '2']);
    expect(r.code).toBe(0);
    const newId = parseKeyFile(readFileSync(keyFile, 'utf8'), keyFile)[0]?.id;
    expect(newId).not.toBe(oldId);
    expect(r.stdout).toBe(
      `rotated to master key ${newId}: rewrapped 5 data keys, retired ${oldId}; ${keyFile} now holds the new key only (back it up)\n`,
    );
    expect(r.stderr).toBe('');
    expect((await sesame(cwd, ['secrets', 'get', 's/3'])).stdout).toBe('value-3');

    const status = JSON.parse((await sesame(cwd, ['keys', 'status', '--json'])).stdout);
    expect(status.map((k: { id: string; state: string }) => [k.id, k.state])).toEqual([
      [oldId, 'retired'],
      [newId, 'active'],
    ]);
  });

  it('shows progress on a terminal', async () => {
    const { cwd } = workspace();
    for (let i = 0; i < 3; i++) await sesame(cwd, ['secrets', 'set', `s/${i}`, 'v']);
    const r = await sesame(cwd, ['keys', 'rotate', '--batch-size', '1'], { tty: true });
    // The progress bar of a terminal (src/cli/spinner.ts): it reaches 3/3, then erases its line.
    const plain = r.stderr.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(plain).toMatch(/rewrapping data keys [█░]+ 3\/3 100%/);
    expect(plain.endsWith(`${String.fromCharCode(27)}[K`)).toBe(true);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('local changes in the audit trail', () => {
  it('records every local write, delete, restore, token change and rotation as cli:<user>, and the chain verifies after the rotation', async () => {
    const { cwd } = workspace();
    const actor = cliActor();
    expect(actor).toMatch(/^cli(:.+)?$/);
    expect((await sesame(cwd, ['secrets', 'set', 'db/password', 'v1'])).code).toBe(0);
    expect((await sesame(cwd, ['secrets', 'set', 'db/password', 'v2', '-n', 'acme'])).code).toBe(0);
    expect((await sesame(cwd, ['secrets', 'delete', 'db/password', '-n', 'acme'])).code).toBe(0);
    expect((await sesame(cwd, ['secrets', 'restore', 'db/password', '-n', 'acme'])).code).toBe(0);
    expect((await sesame(cwd, ['secrets', 'delete', 'db/password', '--force'])).code).toBe(0);
    // A failed change is recorded as one.
    expect((await sesame(cwd, ['secrets', 'set', 'db/password', 'v3', '-n', 'acme', '--expected-version', '7'])).code).not.toBe(0);
    const token = JSON.parse((await sesame(cwd, ['tokens', 'create', '--role', 'runtime', '--json'])).stdout);
    expect((await sesame(cwd, ['tokens', 'revoke', token.id])).code).toBe(0);
    expect((await sesame(cwd, ['keys', 'rotate'])).code).toBe(0);

    const listed = await sesame(cwd, ['audit', 'list', '--json', '--limit', '100']);
    const records = (JSON.parse(listed.stdout) as Array<{ actor: string; action: string; namespace: string; target: string; outcome: string }>).reverse();
    expect(records.map((r) => [r.actor, r.action, r.namespace, r.target, r.outcome])).toEqual([
      [actor, 'secret.write', '', 'secret://builtin/db/password', 'ok'],
      [actor, 'secret.write', 'acme', 'secret://builtin/db/password', 'ok'],
      [actor, 'secret.delete', 'acme', 'secret://builtin/db/password', 'ok'],
      [actor, 'secret.restore', 'acme', 'secret://builtin/db/password', 'ok'],
      [actor, 'secret.delete', '', 'secret://builtin/db/password', 'ok'],
      [actor, 'secret.write', 'acme', 'secret://builtin/db/password', 'error'],
      [actor, 'token.create', '', 'role:runtime', 'ok'],
      [actor, 'token.revoke', '', token.id, 'ok'],
      [actor, 'key.rotate', '', expect.stringMatching(/^master-key:[0-9a-f]{16}$/), 'ok'],
    ]);
    const verify = await sesame(cwd, ['audit', 'verify', '--json']);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      ok: true,
      records: 9,
      keyedFrom: 1,
      checkpoint: { state: 'matched', seq: 9, file: path.join(cwd, 'audit.head') },
    });
  });
});

describe('sesame stores test builtin', () => {
  it('shows the host its own user where the database and the master key live (the API does not: test/security/builtin-store-test-paths)', async () => {
    const { cwd, keyFile } = workspace();
    const r = await sesame(cwd, ['stores', 'test', 'builtin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sqlite:${path.join(cwd, 'data', 'sesame.db')}, schema version`);
    expect(r.stdout).toContain(`from file ${keyFile}`);
    const json = await sesame(cwd, ['stores', 'test', 'builtin', '--json']);
    expect(json.stdout).toContain(keyFile);
  });
});
