/**
 * `node test/emulators/serve.mjs <name>` (docs/try-locally.md): each emulator starts with one
 * command, answers, and the settings it prints work when pasted into sesame.yaml.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../support/cli.js';

const SERVE = fileURLToPath(new URL('./serve.mjs', import.meta.url));

interface Started {
  emulator: string;
  url: string;
  store: Record<string, unknown> & { name: string };
  env: Record<string, string>;
  reference: string;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

function serve(args: string[]): { child: ChildProcessWithoutNullStreams; firstLine: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [SERVE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += String(c);
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.stderr.on('data', (c) => {
      err += String(c);
    });
    child.on('close', (code) => reject(new Error(`serve.mjs exited ${code}: ${err}`)));
  });
  // Awaited by the tests that expect a start; the others only look at the exit.
  firstLine.catch(() => undefined);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, firstLine, exit };
}

describe('test/emulators/serve.mjs', () => {
  it.each(['aws', 'vault', 'http', 'gcp', 'azure'])(
    '%s: starts with one command, and the printed store settings resolve its demo secret',
    async (name) => {
      const started = JSON.parse(await serve([name, '--json']).firstLine) as Started;
      expect(started.emulator).toBe(name);
      expect(started.url).toMatch(/^https?:\/\/127\.0\.0\.1:\d+/);
      // It answers on that address (any HTTP answer: each speaks its own protocol).
      const answer = await fetch(started.url, { method: 'GET' }).catch((e: unknown) => e as Error);
      if (answer instanceof Error) expect(started.url.startsWith('https:')).toBe(true);
      else expect(answer.status).toBeGreaterThanOrEqual(200);

      const cwd = mkdtempSync(path.join(tmpdir(), `sesame-try-${name}-`));
      writeFileSync(path.join(cwd, 'sesame.yaml'), stringify({ stores: [started.store] }));
      const r = await runCli(['resolve', started.reference], { cwd, env: started.env, timeoutMs: 60_000 });
      // Nothing on stderr but the warnings an emulator's settings earn (Azure's plain http and
      // challenge verification off), which a real vault's settings do not.
      const unexpected = r.stderr
        .split('\n')
        .filter((line) => line !== '' && !/(allowInsecureConnection|disableChallengeResourceVerification) is on/.test(line));
      expect(unexpected).toEqual([]);
      expect(r).toMatchObject({ code: 0, stdout: 'emulator-demo-password\n' });
    },
    90_000,
  );

  it('prints the settings to paste, the exports and a command to try', async () => {
    const { child, firstLine } = serve(['azure']);
    let text = '';
    child.stdout.on('data', (c) => {
      text += String(c);
    });
    expect(await firstLine).toMatch(/^azure emulator listening on https:\/\/127\.0\.0\.1:\d+/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(text).toContain('Paste into sesame.yaml:');
    expect(text).toContain('type: azure-key-vault');
    expect(text).toMatch(/export NODE_EXTRA_CA_CERTS=\S+ca\.pem/);
    expect(text).toContain("sesame resolve 'secret://azure/demo-db#password'");
  }, 60_000);

  it('exits 2 with the list of emulators for an unknown name', async () => {
    const { exit, child } = serve(['nope']);
    let err = '';
    child.stderr.on('data', (c) => {
      err += String(c);
    });
    expect(await exit).toBe(2);
    expect(err).toContain('aws|vault|azure|gcp|http');
  }, 30_000);
});
