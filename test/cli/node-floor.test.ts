/**
 * Sesame runs on every Node the package's `engines` admits (`>=20`), not only on the newest 20.x.
 *
 * Node 20.19 was the first 20.x to load an ES module with `require()`. A CommonJS dependency that
 * requires an ESM-only package (cookie 2, content-disposition 3 — both declare Node >= 22) works
 * on this machine's Node and crashes `sesame` on 20.0–20.18 before it prints anything. Two checks:
 * the lockfile's runtime packages all admit the lowest Node `engines` names, and the real CLI and
 * server run with `--no-experimental-require-module`, which is how 20.0–20.18 load modules.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { serve } from './first-use-helpers.js';

const root = path.resolve(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean; engines?: { node?: string } | string[] }>;
};
/** How Node 20.0–20.18 load modules: `require()` of an ES module throws ERR_REQUIRE_ESM. */
const OLD_NODE20 = { NODE_OPTIONS: '--no-experimental-require-module' };

describe('the lowest Node that engines admits', () => {
  const floor = semver.minVersion(manifest.engines.node)?.version ?? '';

  it('every runtime dependency in the lockfile admits it', () => {
    expect(floor).toMatch(/^20\./);
    const refused = Object.entries(lock.packages)
      .filter(([where, p]) => where !== '' && !p.dev)
      .flatMap(([where, p]) => {
        const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
        return range && !semver.satisfies(floor, range) ? [`${where}@${p.version} wants node ${range}`] : [];
      });
    expect(refused).toEqual([]);
  });

  it('the CLI starts without require(esm)', async () => {
    const r = await runCli(['--help'], { env: OLD_NODE20 });
    expect(r.stderr).not.toMatch(/ERR_REQUIRE_ESM|unexpected error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: sesame');
  }, 30_000);

  it('the server serves the admin UI and opens a session without require(esm)', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-node-floor-'));
    const up = await serve({ cwd, env: { SESAME_LOG_LEVEL: 'warn', ...OLD_NODE20 } });
    try {
      const page = await fetch(`${up.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root">');
      const signIn = await fetch(`${up.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: up.adminToken }),
      });
      expect(signIn.status).toBe(200);
      const cookie = signIn.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^sesame_session=[^;]+;.*HttpOnly/);
      const me = await fetch(`${up.url}/api/v1/session`, { headers: { cookie: cookie.split(';')[0] ?? '' } });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { principal: { role: string } }).principal.role).toBe('admin');
      expect(up.output()).not.toMatch(/ERR_REQUIRE_ESM/);
    } finally {
      await up.stop();
    }
  }, 60_000);
});
