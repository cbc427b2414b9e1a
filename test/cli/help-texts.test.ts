/**
 * Help texts and messages a new user reads: each default once, descriptions that match what a
 * command has, one-line errors in plain words, config problems only for what a command uses.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createCliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/main.js';
import { runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-help-'));

function sink(): Writable {
  return new Writable({
    write(_chunk, _enc, done) {
      done();
    },
  });
}

async function everyCommand(): Promise<Array<{ name: string; cmd: Command }>> {
  const ctx = createCliContext({ stdout: sink(), stderr: sink(), env: {} });
  const program = await buildProgram(ctx, []);
  const out: Array<{ name: string; cmd: Command }> = [];
  const walk = (cmd: Command, name: string) => {
    out.push({ name, cmd });
    for (const sub of cmd.commands) walk(sub, `${name} ${sub.name()}`.trim());
  };
  walk(program, '');
  return out;
}

describe('help', () => {
  it('prints each default once, in every command', async () => {
    const commands = await everyCommand();
    expect(commands.length).toBeGreaterThan(20);
    for (const { name, cmd } of commands) {
      const help = cmd.helpInformation();
      for (const line of help.split('\n')) {
        expect((line.match(/default:/g) ?? []).length, `sesame ${name}: ${line}`).toBeLessThanOrEqual(1);
      }
      expect(help, `sesame ${name}`).not.toContain('(default: "")');
      expect(help, `sesame ${name}`).not.toContain('(default: [])');
    }
  });

  it('--namespace says its default in words', async () => {
    const r = await runCli(['resolve', '--help'], { cwd: dir() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-n, --namespace <ns>\s+namespace to act in \(default: the root namespace\)\n/);
  });

  it('cache says what it has, and cache refresh shows --namespace', async () => {
    const cache = await runCli(['cache', '--help'], { cwd: dir() });
    expect(cache.stdout).not.toContain('inspect');
    expect(cache.stdout).toContain('refresh');
    const refresh = await runCli(['cache', 'refresh', '--help'], { cwd: dir() });
    expect(refresh.stdout).toContain('-n, --namespace <ns>');
    expect(refresh.stdout).toMatch(/Examples?:/);
  });

  it('every command this page covers shows an example', async () => {
    const mine = [
      'resolve',
      'run',
      'connections list',
      'connections resolve',
      'connections test',
      'cache refresh',
      'completion',
    ];
    const commands = new Map((await everyCommand()).map((c) => [c.name, c.cmd]));
    for (const name of mine) {
      const cmd = commands.get(name);
      expect(cmd, name).toBeDefined();
      let text = '';
      cmd?.configureOutput({ writeOut: (s) => (text += s) });
      cmd?.outputHelp();
      expect(text, name).toMatch(/\nExamples?:\n {2}\$ .*sesame /);
    }
  });

  it('--help shows an example on every command: sesame itself, each group and each subcommand', async () => {
    const names = (await everyCommand()).map((c) => c.name).filter((n) => !n.endsWith('help'));
    expect(names).toEqual(
      expect.arrayContaining([
        '',
        'secrets',
        'stores',
        'connections',
        'cache',
        'keys',
        'tokens',
        'audit',
        'refs',
      ]),
    );
    for (const name of names) {
      const r = await runCli([...name.split(' ').filter(Boolean), '--help'], { cwd: dir() });
      expect(r.code, `sesame ${name} --help`).toBe(0);
      expect(r.stdout, `sesame ${name} --help`).toMatch(/\nExamples?:\n {2}\$ .*sesame /);
    }
  }, 120_000);

  it("a group's examples are its subcommands' own, one per subcommand", async () => {
    const r = await runCli(['stores', '--help'], { cwd: dir() });
    const examples = r.stdout
      .slice(r.stdout.indexOf('Examples:'))
      .split('\n')
      .filter((l) => l.startsWith('  $ '));
    expect(examples.map((l) => l.split(/\s+/).slice(2, 5).join(' '))).toEqual([
      'sesame stores list',
      'sesame stores test',
    ]);
  });
});

describe('messages', () => {
  it('--config of a missing file: "config file", once', async () => {
    const r = await runCli(['resolve', 'secret://env/HOME', '--config', 'nope.yaml'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sesame: config file nope\.yaml does not exist/);
    expect(r.stderr).not.toContain('config config');
  });

  it('a config that does not validate: the key path and what is expected, not library text', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores:\n  - type: env\n');
    const r = await runCli(['stores', 'list'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('sesame: config stores[0].name: is required (a string)\n');
    const conn = dir();
    writeFileSync(
      path.join(conn, 'sesame.yaml'),
      'connections:\n  - name: p\n    type: postgres\n    fields: { host: db }\n',
    );
    const c = await runCli(['connections', 'list'], { cwd: conn });
    expect(c.code).toBe(2);
    expect(c.stderr).not.toMatch(/Invalid input|received undefined|expected string/);
    expect(c.stderr).toContain('user: is required (a string)');
  });

  it('an unset ${env:X} in a store nobody uses does not stop other commands', async () => {
    const cwd = dir();
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      'stores:\n  - name: aws\n    type: aws-secrets-manager\n    region: ${env:SESAME_T_UNSET_REGION}\n',
    );
    const ok = await runCli(['resolve', 'secret://env/HOME'], { cwd, env: { HOME: '/home/someone' } });
    expect(ok.stderr).toBe('');
    expect(ok).toMatchObject({ code: 0, stdout: '/home/someone\n' });
    const used = await runCli(['resolve', 'secret://aws/anything'], { cwd });
    expect(used.code).toBe(2);
    expect(used.stderr).toContain('stores[0].region: environment variable SESAME_T_UNSET_REGION is not set');
  });

  it('resolve --file ends its output with a newline', async () => {
    const cwd = dir();
    writeFileSync(path.join(cwd, 'doc.yaml'), 'a: "{{ secret://env/WHO }}"\nb: 2\n');
    const r = await runCli(['resolve', '--file', 'doc.yaml'], { cwd, env: { WHO: 'me' } });
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(JSON.parse(r.stdout)).toEqual({ a: 'me', b: 2 });
  });

  it('--server without a token is a usage error (exit 2) in every command that talks to a server', async () => {
    const cwd = dir();
    const server = 'http://127.0.0.1:9';
    for (const args of [
      ['resolve', 'secret://env/HOME', '--server', server],
      ['connections', 'list', '--server', server],
      ['cache', 'refresh', '--all', '--server', server],
    ]) {
      const r = await runCli(args, { cwd, env: { SESAME_CONFIG_HOME: cwd, XDG_CONFIG_HOME: cwd } });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('SESAME_TOKEN');
    }
  });

  it('no colour when piped, even for an error', async () => {
    const r = await runCli(['resolve'], { cwd: dir() });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('\u001b[');
  });
});
