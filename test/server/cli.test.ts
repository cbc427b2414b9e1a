/**
 * `sesame serve`, `sesame tokens`, `sesame audit` and `--server` through the real bin (run
 * `npm run build` first), as an operator would use them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-serve-'));

interface Serving {
  url: string;
  /** The first-start admin token, when printed. */
  adminToken: string | undefined;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

const running: ChildProcess[] = [];

afterAll(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function serve(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Serving> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stdout}\n${stderr}`)), 15_000);
    child.stderr.on('data', (c) => {
      stderr += String(c);
    });
    child.stdout.on('data', (c) => {
      stdout += String(c);
      // The URL line comes last, after the first-start token when there is one.
      const url = /(?:serving|agent on) (http:\/\/[^\s]+)/.exec(stdout)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          url,
          adminToken: /^(sesame_\S+)$/m.exec(stdout)?.[1],
          child,
          stdout: () => stdout,
          stderr: () => stderr,
          async stop(signal = 'SIGTERM') {
            child.kill(signal);
            const code = await exited;
            return { code, stdout, stderr };
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stdout}\n${stderr}`));
    });
  });
}

async function api(url: string, method: string, p: string, token?: string, body?: unknown) {
  const response = await fetch(`${url}/api/v1${p}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe('sesame serve', () => {
  it('prints its URL and, on the first start only, an admin token', async () => {
    const cwd = dir();
    const first = await serve([], { cwd });
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.adminToken).toMatch(/^sesame_[A-Za-z0-9_-]{43}$/);
    const admin = first.adminToken as string;
    expect((await api(first.url, 'GET', '/tokens', admin)).body.items).toMatchObject([{ role: 'admin', namespace: '', createdBy: 'bootstrap' }]);
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/sesame: stopped\n$/);
    // The log never holds the token.
    expect(stopped.stderr).not.toContain(admin);

    const second = await serve([], { cwd });
    expect(second.stdout()).not.toContain('first start');
    expect(second.adminToken).toBeUndefined();
    expect((await api(second.url, 'GET', '/tokens', admin)).status).toBe(200);
    expect((await second.stop('SIGINT')).code).toBe(0);
  });

  it('takes SESAME_ADMIN_TOKEN as the admin token and keeps it from env stores', async () => {
    const cwd = dir();
    const preset = `preset-admin-token-${'x'.repeat(32)}`;
    const s = await serve([], { cwd, env: { SESAME_ADMIN_TOKEN: preset } });
    expect(s.adminToken).toBeUndefined();
    const runtime = await api(s.url, 'POST', '/tokens', preset, { role: 'runtime' });
    expect(runtime.status).toBe(201);
    const leak = await api(s.url, 'POST', '/resolve', runtime.body.token, { reference: 'secret://env/SESAME_ADMIN_TOKEN' });
    // Refused as Sesame's own (test/security/env-own-config.test.ts), whether set or not.
    expect(leak.status).toBe(403);
    expect(JSON.stringify(leak.body)).not.toContain(preset);
    expect(leak.body.error.message).toContain("SESAME_ADMIN_TOKEN is Sesame's own configuration");
    await s.stop();
  });

  it('refuses a short SESAME_ADMIN_TOKEN with a clear message', async () => {
    const r = await runCli(['serve', '--port', '0'], { cwd: dir(), env: { SESAME_ADMIN_TOKEN: 'short' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SESAME_ADMIN_TOKEN must be at least 32 characters');
    // Refused before the server listens: no moment where a misconfigured server takes connections.
    expect(r.stderr).not.toContain('Server listening');
  });

  it('lets a request in flight finish on SIGTERM, then exits 0', async () => {
    const cwd = dir();
    let release: () => void = () => {};
    const slow: Server = createServer((_req, res) => {
      release = () => res.end('slow-store-value-42');
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    const port = (slow.address() as { port: number }).port;
    try {
      writeFileSync(
        path.join(cwd, 'sesame.yaml'),
        `masterKey: { env: SESAME_MASTER_KEY }\nstores:\n  - name: slow\n    type: http\n    url: http://127.0.0.1:${port}/{name}\n    timeout: 20s\n`,
      );
      const env = { SESAME_MASTER_KEY: randomBytes(32).toString('base64') };
      const s = await serve([], { cwd, env });
      const admin = s.adminToken as string;
      const runtime = (await api(s.url, 'POST', '/tokens', admin, { role: 'runtime' })).body.token;
      const inFlight = api(s.url, 'POST', '/resolve', runtime, { reference: 'secret://slow/x' });
      await new Promise((r) => setTimeout(r, 300));
      const stopping = s.stop('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      // Closing: no new connection is accepted while the request in flight is still served.
      await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
      release();
      const answer = await inFlight;
      expect(answer).toMatchObject({ status: 200, body: { value: 'slow-store-value-42' } });
      const { code, stdout } = await stopping;
      expect(code).toBe(0);
      expect(stdout).toContain('sesame: stopped');
      // The answered request's record was committed before the answer, and shutdown left the
      // database whole: the chain verifies and the record is there, read by another process.
      const verify = await runCli(['audit', 'verify'], { cwd, env });
      expect(verify.stderr).toBe('');
      expect(verify.code).toBe(0);
      const listed = await runCli(['audit', 'list', '--action', 'resolve', '--json'], { cwd, env });
      expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ action: 'resolve', target: 'secret://slow/x', outcome: 'ok' })]);
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('refuses --agent with another host and --namespace without --agent', async () => {
    const agentHost = await runCli(['serve', '--agent', '--host', '0.0.0.0'], { cwd: dir() });
    expect(agentHost.code).toBe(2);
    expect(agentHost.stderr).toBe('sesame: the agent listens on 127.0.0.1 only: drop --host, or run sesame serve without --agent\n');
    const ns = await runCli(['serve', '--namespace', 'acme'], { cwd: dir() });
    expect(ns.code).toBe(2);
  });
});

describe('the agent through the bin', () => {
  it('generates a 0600 token file and serves resolve to holders of it only', async () => {
    const cwd = dir();
    const s = await serve(['--agent', '--agent-token-file', 'agent.token'], { cwd, env: { AGENT_SECRET: 'agent-served-value' } });
    const file = path.join(cwd, 'agent.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await runCli(['resolve', 'secret://env/AGENT_SECRET', '--server', s.url], {
      cwd,
      env: { SESAME_AGENT_TOKEN_FILE: 'agent.token' },
    });
    expect(r).toMatchObject({ code: 0, stdout: 'agent-served-value\n' });
    const without = await runCli(['resolve', 'secret://env/AGENT_SECRET', '--server', s.url], { cwd });
    // No token at all is a usage error, said before any request.
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('the server needs a token');
    expect((await s.stop()).code).toBe(0);
  });
});

describe('commands against a server', () => {
  let s: Serving;
  let cwd: string;
  let admin: string;

  afterAll(async () => {
    await s?.stop();
  });

  it('creates, lists and revokes tokens locally and through the server', async () => {
    cwd = dir();
    s = await serve([], { cwd, env: { CLI_SECRET: 'cli-secret-value' } });
    admin = s.adminToken as string;
    const local = await runCli(['tokens', 'create', '--role', 'runtime', '--namespace', 'acme', '--expires', '1d'], { cwd });
    expect(local.code).toBe(0);
    const runtime = local.stdout.trim();
    expect(runtime).toMatch(/^sesame_\S+$/);
    expect(local.stderr).toMatch(/^sesame: created token tok_\w+ \(runtime, namespace acme, expires \S+\); it is shown once\n$/);
    expect((await api(s.url, 'POST', '/refresh', runtime, { namespace: 'acme' })).status).toBe(200);

    const remote = await runCli(['tokens', 'create', '--role', 'auditor', '--server', s.url, '--json'], { cwd, env: { SESAME_TOKEN: admin } });
    expect(remote.stderr).toBe('');
    expect(remote.code).toBe(0);
    const auditor = JSON.parse(remote.stdout);
    expect(auditor).toMatchObject({ role: 'auditor', namespace: '', token: expect.stringMatching(/^sesame_/) });

    const list = await runCli(['tokens', 'list', '--json', '--server', s.url], { cwd, env: { SESAME_TOKEN: admin } });
    expect(JSON.parse(list.stdout).map((t: { role: string }) => t.role).sort()).toEqual(['admin', 'auditor', 'runtime']);
    expect(list.stdout).not.toContain(runtime);

    const id = JSON.parse((await runCli(['tokens', 'list', '--json', '--namespace', 'acme'], { cwd })).stdout)[0].id;
    const revoked = await runCli(['tokens', 'revoke', id], { cwd });
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked token ${id} (runtime, namespace acme, expires ${JSON.parse(list.stdout).find((t: { id: string }) => t.id === id)?.expiresAt})\n` });
    // The server refuses it on its next request: the revocation came from another process.
    expect((await api(s.url, 'POST', '/refresh', runtime, { namespace: 'acme' })).status).toBe(401);

    const denied = await runCli(['tokens', 'list', '--server', s.url], { cwd, env: { SESAME_TOKEN: auditor.token } });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toBe('sesame: server: GET /api/v1/tokens needs an admin token; this token has role auditor\n');
  });

  it('resolves, refreshes and lists connections with --server and SESAME_TOKEN', async () => {
    const runtime = (await api(s.url, 'POST', '/tokens', admin, { role: 'runtime' })).body.token;
    const operator = (await api(s.url, 'POST', '/tokens', admin, { role: 'operator' })).body.token;
    expect((await api(s.url, 'POST', '/connections', operator, { name: 'app', fields: { password: '{{ secret://env/CLI_SECRET }}' } })).status).toBe(201);
    const env = { SESAME_TOKEN: runtime };
    expect(await runCli(['resolve', 'secret://env/CLI_SECRET', '--server', s.url], { cwd, env })).toMatchObject({ code: 0, stdout: 'cli-secret-value\n' });
    expect(await runCli(['resolve', 'pw={{ secret://env/CLI_SECRET }}', '--server', s.url], { cwd, env })).toMatchObject({ code: 0, stdout: 'pw=cli-secret-value\n' });
    const conn = await runCli(['connections', 'resolve', 'app', '--server', s.url], { cwd, env });
    expect(JSON.parse(conn.stdout)).toEqual({ password: 'cli-secret-value' });
    const refresh = await runCli(['cache', 'refresh', '--connection', 'app', '--server', s.url], { cwd, env });
    expect(refresh).toMatchObject({ code: 0, stdout: 'refreshed: dropped 1 cached value on the server\n' });
    const list = await runCli(['connections', 'list', '--json', '--server', s.url], { cwd, env: { SESAME_TOKEN: operator } });
    expect(JSON.parse(list.stdout)).toEqual([{ name: 'app', namespace: '', type: 'generic', references: ['secret://env/CLI_SECRET'], fields: { password: '{{ secret://env/CLI_SECRET }}' } }]);
    const missing = await runCli(['resolve', 'secret://env/NOT_THERE_X', '--server', s.url], { cwd, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('sesame: server: secret://env/NOT_THERE_X: [env] environment variable NOT_THERE_X is not set\n');
    const badUrl = await runCli(['resolve', 'secret://env/X', '--server', 'ftp://x'], { cwd, env });
    expect(badUrl.code).toBe(2);
    const down = await runCli(['resolve', 'secret://env/X', '--server', 'http://127.0.0.1:1'], { cwd, env });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the server at http://127.0.0.1:1');
  });

  it('verifies the audit chain, and names the row an edit broke (locally and through the server)', async () => {
    const auditor = (await api(s.url, 'POST', '/tokens', admin, { role: 'auditor' })).body.token;
    const ok = await runCli(['audit', 'verify'], { cwd });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^audit trail verified: \d+ records, head #\d+ [0-9a-f]{64}\n$/);
    const sqlite = new BetterSqlite3(path.join(cwd, '.sesame', 'sesame.db'));
    try {
      sqlite.prepare("update audit_log set namespace = 'tampered' where seq = 3").run();
    } finally {
      sqlite.close();
    }
    const broken = await runCli(['audit', 'verify'], { cwd });
    expect(broken).toMatchObject({
      code: 1,
      stdout: 'audit trail BROKEN at record 3: record 3 was altered: its hash does not match its content\n',
    });
    const viaServer = await runCli(['audit', 'verify', '--json', '--server', s.url], { cwd, env: { SESAME_TOKEN: auditor } });
    expect(viaServer.code).toBe(1);
    expect(JSON.parse(viaServer.stdout).firstBroken).toEqual({ seq: 3, reason: 'altered', message: 'record 3 was altered: its hash does not match its content' });
    const listed = await runCli(['audit', 'list', '--namespace', 'tampered', '--json'], { cwd });
    expect(JSON.parse(listed.stdout).map((r: { seq: number }) => r.seq)).toEqual([3]);
  });
});
