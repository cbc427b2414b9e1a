/**
 * Secrets from a person: an empty value is refused from every source (exit 2, nothing
 * written), and on a terminal `secrets set` asks twice with the input hidden. The terminal is a
 * real pseudo-terminal: util-linux `script` (Debian's essential bsdutils) runs the bin on one
 * and relays this test's keys.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { runner, tempDir } from './first-use-helpers.js';

const sesame = runner();

/** A project whose builtin store already has a key and one secret (so "nothing written" shows). */
async function project(): Promise<string> {
  const cwd = tempDir();
  expect((await sesame(['secrets', 'set', 'other', 'other-value-1'], { cwd })).code).toBe(0);
  return cwd;
}

async function names(cwd: string): Promise<string[]> {
  const r = await sesame(['secrets', 'list', '--json', '--deleted'], { cwd });
  return JSON.parse(r.stdout).items.map((i: { name: string }) => i.name);
}

describe('secrets set refuses an empty value', () => {
  it('from stdin, a lone newline, an empty file and an empty argument: exit 2, saying how to give one, nothing written', async () => {
    const cwd = await project();
    writeFileSync(path.join(cwd, 'empty.txt'), '');
    const stdin = await sesame(['secrets', 'set', 'db/password'], { cwd, input: '' });
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toBe(
      'sesame: stdin is empty: nothing was written (Sesame does not store empty values; pipe the value in, ' +
        'e.g. printf %s "$VALUE" | sesame secrets set db/password, or use --from-file FILE)\n',
    );
    expect((await sesame(['secrets', 'set', 'db/password'], { cwd, input: '\n' })).code).toBe(2);
    const file = await sesame(['secrets', 'set', 'db/password', '--from-file', 'empty.txt'], { cwd });
    expect(file.code).toBe(2);
    expect(file.stderr).toContain('--from-file empty.txt is empty: nothing was written');
    const argument = await sesame(['secrets', 'set', 'db/password', ''], { cwd });
    expect(argument.code).toBe(2);
    expect(argument.stderr).toContain('the value argument is empty');
    expect(await names(cwd)).toEqual(['other']);
  }, 120_000);
});

/**
 * Run `sesame args` on a pseudo-terminal and answer each prompt, in order, once it shows.
 * Returns everything the terminal showed (the pty echoes what is typed unless the program
 * turned echo off).
 */
function onTerminal(
  cwd: string,
  args: string[],
  answers: string[],
): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      cwd,
      env: { ...sesame.env, TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    let answered = 0;
    let seenPrompts = 0;
    child.stdout.on('data', (c) => {
      screen += String(c);
      const prompts = (screen.match(/\(input hidden\): |again, to confirm: /g) ?? []).length;
      while (seenPrompts < prompts) {
        seenPrompts += 1;
        const answer = answers[answered++];
        // Typed after the prompt showed, as a person would: raw mode is on by then.
        if (answer !== undefined) setTimeout(() => child.stdin.write(answer), 50);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, screen });
    });
  });
}

describe('secrets set on a terminal', () => {
  it('asks twice with the input hidden and writes the value once both match', async () => {
    const cwd = await project();
    const r = await onTerminal(
      cwd,
      ['secrets', 'set', 'tty/token'],
      ['typed-secret-4669\r', 'typed-secret-4669\r'],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain('value for tty/token (input hidden): ');
    expect(r.screen).toContain('again, to confirm: ');
    expect(r.screen).toContain('wrote tty/token version 1 in the root namespace (store builtin)');
    expect(r.screen).not.toContain('typed-secret');
    expect(await sesame(['resolve', 'secret://builtin/tty/token'], { cwd })).toMatchObject({
      code: 0,
      stdout: 'typed-secret-4669\n',
    });
  }, 120_000);

  it('writes nothing when the two entries differ, or the first is empty', async () => {
    const cwd = await project();
    const differ = await onTerminal(
      cwd,
      ['secrets', 'set', 'tty/token'],
      ['first-entry-1\r', 'second-entry-2\r'],
    );
    expect(differ.code).toBe(2);
    expect(differ.screen).toContain(
      'sesame: the two entries differ: nothing was written (run the command again)',
    );
    expect(differ.screen).not.toContain('entry-');
    const empty = await onTerminal(cwd, ['secrets', 'set', 'tty/token'], ['\r']);
    expect(empty.code).toBe(2);
    expect(empty.screen).toContain('sesame: no value entered: nothing was written');
    expect(await names(cwd)).toEqual(['other']);
  }, 120_000);
});

describe('secrets import on a terminal', () => {
  it('counts the writes on a spinner line, then prints one summary', async () => {
    const cwd = await project();
    writeFileSync(path.join(cwd, '.env'), 'ONE=tty-import-1\nTWO=tty-import-2\n');
    const r = await onTerminal(cwd, ['secrets', 'import', '.env'], []);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/importing [0-2]\/2/);
    expect(r.screen).toContain('imported 2 secrets from .env into the root namespace (store builtin)');
    expect(r.screen).not.toContain('tty-import-');
  }, 120_000);
});

describe('login on a terminal', () => {
  it('asks for the token with the input hidden', async () => {
    // No server listens on port 1: the token is read (hidden), then the check fails to connect.
    const r = await onTerminal(
      tempDir(),
      ['login', '--server', 'http://127.0.0.1:1'],
      ['sesame_typed-token-7\r'],
    );
    expect(r.code).toBe(1);
    expect(r.screen).toContain('token for http://127.0.0.1:1 (input hidden): ');
    expect(r.screen).toContain('sesame: cannot reach the server at http://127.0.0.1:1');
    expect(r.screen).not.toContain('typed-token');
  }, 120_000);
});

describe('an empty secret name', () => {
  it('is bad input (exit 2, one line) for set, delete and restore, as for get: not an unexpected error', async () => {
    const cwd = await project();
    for (const args of [
      ['secrets', 'set', '', 'some-value-7'],
      ['secrets', 'delete', ''],
      ['secrets', 'restore', ''],
      ['secrets', 'get', ''],
    ]) {
      const r = await sesame(args, { cwd });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(
        /^sesame: [^\n]*secret name "" is empty: write names like "db\/password"[^\n]*\n$/,
      );
      expect(r.stderr).not.toContain('some-value-7');
    }
    expect(await names(cwd)).toEqual(['other']);
  });
});
