/**
 * `sesame run` masks the tokens `sesame login` keeps in the profiles file: every profile's, since
 * one `cat` of the file shows them all, on the start-up path without the library and with it.
 * A profiles file that is there but cannot be read or parsed stops the run (it may hold tokens
 * Sesame cannot mask). The real bin (`npm run build`).
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const dir = (name: string) => mkdtempSync(path.join(tmpdir(), `sesame-run-profiles-${name}-`));

const TOKENS = {
  default: 'sst_defaultProfileToken_9f8e7d6c5b4a',
  staging: 'sst_stagingProfileToken_1a2b3c4d5e6f',
};

/** A config home with a profiles file as `sesame login` writes it (two profiles). */
function configHome(): string {
  const home = dir('xdg');
  mkdirSync(path.join(home, 'sesame'), { mode: 0o700 });
  const profiles = {
    default: { server: 'http://127.0.0.1:1', token: TOKENS.default, tokenId: 'tok_1', role: 'operator' },
    staging: { server: 'http://127.0.0.1:2', token: TOKENS.staging, tokenId: 'tok_2', role: 'operator' },
  };
  writeFileSync(path.join(home, 'sesame', 'profiles.json'), `${JSON.stringify({ profiles }, null, 2)}\n`, {
    mode: 0o600,
  });
  return home;
}

/** Any 8-character window of a profile token in `out`. */
function leaks(out: string): string[] {
  const found: string[] = [];
  for (const token of Object.values(TOKENS))
    for (let i = 0; i + 8 <= token.length; i++) if (out.includes(token.slice(i, i + 8))) found.push(token.slice(i, i + 8));
  return found;
}

const PRINT_TOKENS =
  'cat "$XDG_CONFIG_HOME/sesame/profiles.json"; cat "$XDG_CONFIG_HOME/sesame/profiles.json" >&2; ' +
  `printf '%s\\n' "${TOKENS.staging}" | base64; echo done`;

describe('sesame run masks the tokens of the login profiles file', () => {
  it('with nothing to resolve (the start-up path without the library): every profile, on stdout and stderr', async () => {
    const xdg = configHome();
    const r = await runCli(['run', '--', 'sh', '-c', PRINT_TOKENS], { cwd: dir('cwd'), env: { XDG_CONFIG_HOME: xdg } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"token": "***"');
    expect(r.stdout).toContain('"server": "http://127.0.0.1:2"');
    expect(r.stdout).toMatch(/done\n$/);
    expect(leaks(r.stdout + r.stderr)).toEqual([]);
  });

  it('with something to resolve (main(), with a config)', async () => {
    const xdg = configHome();
    const cwd = dir('cwd');
    writeFileSync(path.join(cwd, 'sesame.yaml'), 'stores: []\n');
    const r = await runCli(['run', '--env', 'T=secret://env/V', '--', 'sh', '-c', `echo "$T"; ${PRINT_TOKENS}`], {
      cwd,
      env: { XDG_CONFIG_HOME: xdg, V: 'resolved-value-1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\*\*\*\n/);
    expect(leaks(r.stdout + r.stderr)).toEqual([]);
  });

  it('the file under ~/.config/sesame when XDG_CONFIG_HOME is not set', async () => {
    const home = dir('home');
    mkdirSync(path.join(home, '.config'));
    const xdg = configHome();
    const { renameSync } = await import('node:fs');
    renameSync(path.join(xdg, 'sesame'), path.join(home, '.config', 'sesame'));
    const r = await runCli(['run', '--', 'sh', '-c', 'cat "$HOME/.config/sesame/profiles.json"'], {
      cwd: dir('cwd'),
      env: { HOME: home },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"token": "***"');
    expect(leaks(r.stdout + r.stderr)).toEqual([]);
  });
});

describe('sesame run with a profiles file it cannot read', () => {
  it('a profiles file that is not a file: nothing runs, and the error names the file and what to do', async () => {
    const xdg = dir('xdg');
    mkdirSync(path.join(xdg, 'sesame', 'profiles.json'), { recursive: true });
    const cwd = dir('cwd');
    const r = await runCli(['run', '--', 'sh', '-c', 'echo ran > ran.txt; echo ran'], { cwd, env: { XDG_CONFIG_HOME: xdg } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(existsSync(path.join(cwd, 'ran.txt'))).toBe(false);
    const file = path.join(xdg, 'sesame', 'profiles.json');
    expect(r.stderr).toBe(
      `sesame: cannot read the profiles file ${file} (it is a directory), so the login tokens it may hold could not be masked in the command's output: nothing was run; ` +
        `let the user that runs sesame read it, or remove it (sesame login writes it again)\n`,
    );
  });

  it('a profiles file that is not JSON: nothing runs, and no byte of it is repeated', async () => {
    const xdg = dir('xdg');
    mkdirSync(path.join(xdg, 'sesame'));
    const file = path.join(xdg, 'sesame', 'profiles.json');
    writeFileSync(file, `{ "profiles": { "default": { "token": ${TOKENS.default} } } }`, { mode: 0o600 });
    const cwd = dir('cwd');
    const r = await runCli(['run', '--', 'sh', '-c', 'echo ran > ran.txt'], { cwd, env: { XDG_CONFIG_HOME: xdg } });
    expect(r.code).toBe(2);
    expect(existsSync(path.join(cwd, 'ran.txt'))).toBe(false);
    expect(r.stderr).toBe(
      `sesame: the profiles file ${file} is not JSON, so the login tokens it may hold could not be masked in the command's output: nothing was run; ` +
        'fix it, or delete it and run sesame login again\n',
    );
    expect(leaks(r.stdout + r.stderr)).toEqual([]);
  });
});
