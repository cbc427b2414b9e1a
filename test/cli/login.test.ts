/**
 * `sesame login` / `logout` / `profiles` and the commands that use a profile with `--server`,
 * against `sesame serve` on 127.0.0.1 (the repository's bin, dist/ built).
 */
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runner, type Serving, serve, tempDir } from './first-use-helpers.js';

let server: Serving;
const serverDir = tempDir('sesame-login-server-');

beforeAll(async () => {
  server = await serve({ cwd: serverDir });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const mode = (file: string) => statSync(file).mode & 0o777;

/** A token made next to the server, in its database (printed once on stdout). */
async function token(args: string[]): Promise<string> {
  const r = await runner()(['tokens', 'create', ...args], { cwd: serverDir });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('sesame login', () => {
  it('checks the token with the server and keeps URL and token in a 0600 file in $XDG_CONFIG_HOME/sesame', async () => {
    const sesame = runner({ cwd: tempDir() });
    const r = await sesame(['login', '--server', `${server.url}/`, '--token-stdin'], { input: `${server.adminToken}\n` });
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(sesame.env.XDG_CONFIG_HOME ?? '', 'sesame', 'profiles.json');
    expect(r.stdout).toBe(
      `logged in to ${server.url} as ${/as (tok_\w+)/.exec(r.stdout)?.[1]} (admin, all namespaces); saved as profile default in ${file}\n` +
        'use it with --server, e.g. sesame secrets list --server\n',
    );
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.profiles.default).toMatchObject({ server: server.url, token: server.adminToken, role: 'admin', namespace: '' });
    expect(`${r.stdout}${r.stderr}`).not.toContain(server.adminToken);

    const listed = await sesame(['profiles']);
    expect(listed.stdout).toMatch(new RegExp(`^PROFILE +SERVER +TOKEN +ROLE +NAMESPACE\\ndefault +${server.url} +tok_\\w+ +admin +\\(all\\)\\n$`));
    expect(listed.stdout).not.toContain(server.adminToken);
  }, 120_000);

  it('takes the token from SESAME_TOKEN, keeps profiles side by side, and uses ~/.config/sesame without XDG_CONFIG_HOME', async () => {
    const home = tempDir('sesame-home-');
    const sesame = runner({ env: { HOME: home, XDG_CONFIG_HOME: '' } });
    const runtime = await token(['--role', 'runtime', '--namespace', 'acme']);
    expect((await sesame(['login', '--server', server.url, '--profile', 'ci'], { env: { SESAME_TOKEN: runtime } })).code).toBe(0);
    expect((await sesame(['login', '--server', server.url], { input: server.adminToken, env: { SESAME_TOKEN: '' } })).code).toBe(2);
    expect((await sesame(['login', '--server', server.url, '--token-stdin'], { input: server.adminToken })).code).toBe(0);
    const file = path.join(home, '.config', 'sesame', 'profiles.json');
    expect(mode(file)).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.profiles.ci).toMatchObject({ token: runtime, role: 'runtime', namespace: 'acme' });
    expect(saved.profiles.default).toMatchObject({ token: server.adminToken, role: 'admin' });
  }, 120_000);

  it('refuses a token the server does not know (exit 1) or none at all (exit 2), and saves nothing', async () => {
    const sesame = runner();
    const unknown = await sesame(['login', '--server', server.url, '--token-stdin'], { input: 'sesame_not-a-real-token' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('sesame: server: this token is not known: check it, or ask an admin for a new one (sesame tokens create)\n');
    const none = await sesame(['login', '--server', server.url]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no token: pipe it with --token-stdin, set SESAME_TOKEN, or run sesame login on a terminal');
    const empty = await sesame(['login', '--server', server.url, '--token-stdin']);
    expect(empty.code).toBe(2);
    expect(existsSync(path.join(sesame.env.XDG_CONFIG_HOME ?? '', 'sesame', 'profiles.json'))).toBe(false);
    expect((await sesame(['login', '--server', server.url, '--profile', 'Bad Name'], { env: { SESAME_TOKEN: server.adminToken } })).code).toBe(2);
  }, 120_000);
});

describe('commands with a login profile', () => {
  it('runs every secrets subcommand on the server with --server alone, --profile NAME or SESAME_PROFILE', async () => {
    const cwd = tempDir();
    const sesame = runner({ cwd });
    const ops = await token(['--role', 'admin', '--reveal', '--name', 'ops']);
    expect((await sesame(['login', '--server', server.url, '--profile', 'ops', '--token-stdin'], { input: ops })).code).toBe(0);
    expect((await sesame(['login', '--server', server.url, '--token-stdin'], { input: server.adminToken })).code).toBe(0);

    const set = await sesame(['secrets', 'set', 'login/db', '--profile', 'ops', '--namespace', 'acme'], { input: 'profile-value-1\n' });
    expect(set).toMatchObject({ code: 0, stdout: 'wrote login/db version 1 in namespace acme (store builtin)\n' });
    const set2 = await sesame(['secrets', 'set', 'login/db', '-n', 'acme', '--server'], { input: 'profile-value-2', env: { SESAME_PROFILE: 'ops' } });
    expect(set2.stdout).toBe('wrote login/db version 2 in namespace acme (store builtin)\n');
    // The default profile's admin token has no reveal: the server says so.
    const denied = await sesame(['secrets', 'get', 'login/db', '-n', 'acme', '--server']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('needs a token with the reveal permission');
    expect(await sesame(['secrets', 'get', 'login/db', '-n', 'acme', '--profile', 'ops'])).toMatchObject({ code: 0, stdout: 'profile-value-2' });
    expect(await sesame(['secrets', 'get', 'login/db', '-n', 'acme', '--version', '1', '--profile', 'ops'])).toMatchObject({
      stdout: 'profile-value-1',
    });
    // --server URL takes the token of the profile saved for that URL.
    const list = await sesame(['secrets', 'list', '--json', '-n', 'acme', '--server', server.url]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).items).toMatchObject([{ name: 'login/db', namespace: 'acme', version: '2' }]);
    const versions = await sesame(['secrets', 'versions', 'login/db', '-n', 'acme', '--json', '--server']);
    expect(JSON.parse(versions.stdout).versions.map((v: { version: string }) => v.version)).toEqual(['2', '1']);
    const del = await sesame(['secrets', 'delete', 'login/db', '-n', 'acme', '--server']);
    expect(del.stdout).toMatch(/^deleted login\/db in namespace acme; restore it until \S+ with: sesame secrets restore login\/db --namespace acme\n$/);
    expect((await sesame(['secrets', 'get', 'login/db', '-n', 'acme', '--profile', 'ops'])).code).toBe(1);
    expect(await sesame(['secrets', 'restore', 'login/db', '-n', 'acme', '--server'])).toMatchObject({
      code: 0,
      stdout: 'restored login/db in namespace acme\n',
    });
    expect((await sesame(['secrets', 'get', 'login/db', '-n', 'acme', '--profile', 'ops'])).stdout).toBe('profile-value-2');
    expect((await sesame(['secrets', 'delete', 'login/db', '--recovery-window', '1d', '--server'])).code).toBe(2);
    // Other commands that talk to a server take the profile too.
    expect(await sesame(['resolve', 'secret://builtin/login/db', '-n', 'acme', '--profile', 'ops'])).toMatchObject({
      code: 0,
      stdout: 'profile-value-2\n',
    });
    // Nothing of this happened in the working folder.
    expect(existsSync(path.join(cwd, '.sesame'))).toBe(false);
  }, 120_000);

  it('makes a missing token or profile a usage error (exit 2) that says to log in', async () => {
    const sesame = runner({ cwd: tempDir() });
    const noToken = await sesame(['secrets', 'list', '--server', server.url]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe(
      `sesame: the server needs a token: run sesame login --server ${server.url}, or set SESAME_TOKEN (an admin creates one with sesame tokens create)\n`,
    );
    const noProfile = await sesame(['secrets', 'list', '--server']);
    expect(noProfile.code).toBe(2);
    expect(noProfile.stderr).toContain('no login profile "default": run sesame login --server URL, or give --server URL');
    const named = await sesame(['tokens', 'list', '--profile', 'staging']);
    expect(named.code).toBe(2);
    expect(named.stderr).toContain('no login profile "staging": run sesame login --server URL --profile staging');
    const notUrl = await sesame(['secrets', 'list', '--server', 'acme']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('put --server last (or use --profile NAME)');
  }, 120_000);

  it('warns when other users can read the profiles file, and logout forgets a profile', async () => {
    const sesame = runner({ cwd: tempDir() });
    expect((await sesame(['login', '--server', server.url, '--token-stdin'], { input: server.adminToken })).code).toBe(0);
    const file = path.join(sesame.env.XDG_CONFIG_HOME ?? '', 'sesame', 'profiles.json');
    chmodSync(file, 0o644);
    const warned = await sesame(['tokens', 'list', '--server']);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toBe(`sesame: warning: the profiles file ${file} holds tokens and other users can read it: run chmod 600 ${file}\n`);
    // SESAME_SERVER in the environment yields to an explicit --profile.
    expect((await sesame(['tokens', 'list', '--profile', 'default'], { env: { SESAME_SERVER: 'http://127.0.0.1:1' } })).code).toBe(0);
    const out = await sesame(['logout']);
    expect(out).toMatchObject({ code: 0, stdout: 'forgot profile default (the token stays valid until it expires or is revoked)\n' });
    // Rewritten 0600 by logout.
    expect(mode(file)).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ profiles: {} });
    expect((await sesame(['logout'])).code).toBe(2);
    expect((await sesame(['tokens', 'list', '--server'])).code).toBe(2);
  }, 120_000);
});
