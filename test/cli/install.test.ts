/**
 * The package as a user gets it: `npm pack`, `npm install -g` of the tarball into a temporary
 * prefix, then `sesame` by name from folders that have nothing to do with the repository —
 * init, secrets set, resolve, serve, login and secrets --server.
 *
 * Keeping it near a minute: the pack skips `prepare` (dist/ is built before CLI tests run, as
 * for every test here), the install prefers npm's cache to the registry (`--prefer-offline`) and
 * skips install scripts, and better-sqlite3's native binding — which its install script would
 * compile from source for ~90 s, as no prebuilt binary can be downloaded here — is copied from
 * the repository's own node_modules when the installed version is the same one (else the
 * installed package is rebuilt, slowly, rather than tested with a binding of another version).
 * Nothing of the repository is on the installed sesame's module path: a file missing from the
 * tarball fails here.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runner, serve, tempDir } from './first-use-helpers.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the packed package', () => {
  it('installs with npm install -g and works from any folder: init, secrets set, resolve, serve, login, secrets --server', async () => {
    // Arrange: pack, then install the tarball globally into a prefix of its own.
    const work = tempDir('sesame-install-');
    const packed = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = new Set(info?.files.map((f) => f.path));
    for (const needed of [
      'bin/sesame.js',
      'dist/cli/main.js',
      'dist/cli/commands/init.js',
      'dist/db/migrations/index.js',
      'dist/db/migrations/0001-builtin-secrets.js',
      'dist/web/index.html',
      'dist/index.d.ts',
      'LICENSE',
      'README.md',
      'package.json',
    ]) {
      expect(files, `${needed} in the tarball`).toContain(needed);
    }
    expect([...files].filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; license: string };
    expect(manifest.name).toBe('sesame-secrets');
    expect(readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');

    const prefix = path.join(work, 'prefix');
    const tarball = path.join(work, info?.filename ?? '');
    await exec('npm', ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: work,
      maxBuffer: 16 * 1024 * 1024,
    });
    const installed = path.join(prefix, 'lib', 'node_modules', 'sesame-secrets');
    const sqlite = path.join(installed, 'node_modules', 'better-sqlite3');
    const version = (dir: string) => (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const ours = path.join(ROOT, 'node_modules', 'better-sqlite3');
    if (version(sqlite) === version(ours)) {
      mkdirSync(path.join(sqlite, 'build', 'Release'), { recursive: true });
      copyFileSync(path.join(ours, 'build', 'Release', 'better_sqlite3.node'), path.join(sqlite, 'build', 'Release', 'better_sqlite3.node'));
    } else {
      await exec('npm', ['rebuild', 'better-sqlite3'], { cwd: installed, maxBuffer: 16 * 1024 * 1024 });
    }
    expect(existsSync(path.join(prefix, 'bin', 'sesame'))).toBe(true);

    // `sesame` by name, from PATH: the prefix's bin and node, nothing of the repository.
    const PATH = [path.join(prefix, 'bin'), path.dirname(process.execPath), '/usr/bin', '/bin'].join(path.delimiter);
    const project = tempDir('sesame-anywhere-');
    const sesame = runner({ command: ['sesame'], env: { PATH }, cwd: project });

    // Act + assert: a new folder made ready, a secret stored and resolved.
    expect(await sesame(['--version'])).toMatchObject({ code: 0, stdout: `${version(path.join(ROOT))}\n` });
    const init = await sesame(['init']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain('created sesame.yaml');
    expect(statSync(path.join(project, '.sesame', 'master.key')).mode & 0o777).toBe(0o600);
    const set = await sesame(['secrets', 'set', 'db/password'], { input: 'installed-pw-3141\n' });
    expect(set).toMatchObject({ code: 0, stdout: 'wrote db/password version 1 in the root namespace (store builtin)\n' });
    expect(await sesame(['resolve', 'secret://builtin/db/password'])).toMatchObject({ code: 0, stdout: 'installed-pw-3141\n' });

    // A server started from the installed package, in yet another folder; login from a third.
    const serverDir = tempDir('sesame-server-');
    const server = await serve({ command: ['sesame'], cwd: serverDir, env: { PATH } });
    try {
      const ui = await fetch(`${server.url}/`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain('<!doctype html>');
      const elsewhere = tempDir('sesame-client-');
      const login = await sesame(['login', '--server', server.url, '--token-stdin'], { cwd: elsewhere, input: `${server.adminToken}\n` });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+ as tok_\w+ \(admin, all namespaces\)/);
      const profileFile = path.join(sesame.env.XDG_CONFIG_HOME ?? '', 'sesame', 'profiles.json');
      expect(statSync(profileFile).mode & 0o777).toBe(0o600);

      const remoteSet = await sesame(['secrets', 'set', 'app/key', '--server'], { cwd: elsewhere, input: 'remote-value-2718' });
      expect(remoteSet).toMatchObject({ code: 0, stdout: 'wrote app/key version 1 in the root namespace (store builtin)\n' });
      const list = await sesame(['secrets', 'list', '--json', '--server'], { cwd: elsewhere });
      expect(JSON.parse(list.stdout).items.map((i: { name: string }) => i.name)).toEqual(['app/key']);
      // Written on the server, not in this folder or the first one.
      expect(existsSync(path.join(elsewhere, '.sesame'))).toBe(false);
      const local = await sesame(['secrets', 'list', '--json'], { cwd: project });
      expect(JSON.parse(local.stdout).items.map((i: { name: string }) => i.name)).toEqual(['db/password']);
      for (const r of [login, remoteSet, list]) expect(`${r.stdout}${r.stderr}`).not.toContain(server.adminToken);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 240_000);
});
