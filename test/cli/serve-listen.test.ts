/**
 * `sesame serve` when it cannot listen: one line that says what to do (not "unexpected error:
 * listen EADDRINUSE"), and a first start that failed does not use up the admin token that a
 * first start shows once.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, serveUntilUp } from '../support/cli.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'sesame-serve-listen-'));

describe('sesame serve cannot listen', () => {
  let busy: Server;
  let port = 0;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it('a port in use: one line naming the address and --port, exit 1; the next start still shows the first admin token', async () => {
    const cwd = dir();
    const r = await runCli(['serve', '--port', String(port)], { cwd, env: { SESAME_LOG_LEVEL: 'warn' } });
    expect(r.code).toBe(1);
    const errors = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('sesame: ') && !l.startsWith('sesame: created master key'));
    expect(errors).toEqual([
      `sesame: 127.0.0.1:${port} is already in use (another sesame serve?): stop what listens there, or choose another port with --port (0 picks a free one)`,
    ]);
    expect(r.stdout).toBe('');
    const next = await serveUntilUp(['--port', '0'], cwd);
    expect(next.stdout).toMatch(
      /sesame: first start: admin token \(shown once[^\n]*\n\S+\nsesame: serving http:\/\/127\.0\.0\.1:\d+ /,
    );
  }, 60_000);

  it('a host that is not an address of this machine is bad input, exit 2', async () => {
    const r = await runCli(['serve', '--host', '203.0.113.7', '--port', '0'], {
      cwd: dir(),
      env: { SESAME_LOG_LEVEL: 'warn' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'sesame: --host 203.0.113.7 is not an address of this machine: use 127.0.0.1, 0.0.0.0 (every interface) or one of its addresses\n',
    );
    expect(r.stderr).not.toContain('unexpected error');
  }, 30_000);
});
