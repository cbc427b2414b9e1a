/**
 * Browser tests of the admin UI: a real `sesame serve` (built in dist/, SQLite in a fresh
 * directory) driven by Debian's Chromium through playwright-core.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/sesame.js');
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export interface Sesame {
  url: string;
  dir: string;
  adminToken: string;
  /** `sesame <args>` next to the server (same database), its stdout. */
  cli(...args: string[]): Promise<string>;
  /** A call to the API with a bearer token. */
  call(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export async function startSesame(): Promise<Sesame> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sesame-web-'));
  const adminToken = `admin-${'x'.repeat(8)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const env = { ...process.env, SESAME_LOG_LEVEL: 'warn' };
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    cwd: dir,
    env: { ...env, SESAME_ADMIN_TOKEN: adminToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /sesame: serving (http:\/\/[0-9.:]+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`sesame serve exited (${code}):\n${out}`)));
    setTimeout(() => reject(new Error(`sesame serve did not start:\n${out}`)), 30_000).unref();
  });
  const run = promisify(execFile);
  return {
    url,
    dir,
    adminToken,
    async cli(...args) {
      const { stdout } = await run(process.execPath, [BIN, ...args], { cwd: dir, env });
      return stdout;
    },
    async call(method, p, token, body) {
      const res = await fetch(`${url}${p}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed };
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** axe-core's serious and critical violations on the page (evaluated: the CSP refuses inline scripts). */
export async function axeViolations(
  page: Page,
): Promise<Array<{ id: string; impact: string; nodes: string[] }>> {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  await page.evaluate(readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8'));
  const result = (await page.evaluate(
    'axe.run(document, { resultTypes: ["violations"] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3) })))',
  )) as Array<{ id: string; impact: string; nodes: string[] }>;
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function signInWith(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
