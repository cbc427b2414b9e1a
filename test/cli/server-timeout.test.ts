/**
 * `--server` against a server that accepts the request and never answers (a hung node, a proxy
 * that black-holes): the CLI gives up after SESAME_SERVER_TIMEOUT (2 minutes by default) and
 * says the server was reached but did not answer, instead of waiting five minutes and calling it
 * unreachable.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

let silent: Server;
let url: string;
const sockets = new Set<Socket>();
beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.resume();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  silent.close();
});

describe('sesame … --server with a server that never answers', () => {
  it('gives up after SESAME_SERVER_TIMEOUT and says what happened and what to do', async () => {
    const started = Date.now();
    const result = await runCli(['resolve', 'secret://env/X', '--server', url], {
      env: { SESAME_TOKEN: 'tok-timeout-test-1', SESAME_SERVER_TIMEOUT: '1s' },
      timeoutMs: 20_000,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `sesame: the server at ${url} accepted the request but did not answer within 1s: check that sesame serve is healthy there (its logs, GET /readyz), or set SESAME_SERVER_TIMEOUT to wait longer (e.g. 5m)\n`,
    );
    expect(result.stderr).not.toContain('tok-timeout-test-1');
  }, 30_000);

  it('sesame login waits the same time at most', async () => {
    const result = await runCli(['login', '--server', url], {
      env: { SESAME_TOKEN: 'tok-timeout-test-1', SESAME_SERVER_TIMEOUT: '1s', HOME: mkdtempSync(path.join(tmpdir(), 'sesame-home-')) },
      timeoutMs: 20_000,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the server at ${url} accepted the request but did not answer within 1s`);
    expect(result.stderr).not.toContain('tok-timeout-test-1');
  }, 30_000);

  it('waits a SESAME_SERVER_TIMEOUT longer than 24.8 days instead of giving up at once', async () => {
    // Node fires a timer past 2^31-1 ms after 1 ms: 30d used to say "did not answer within 30d" at once.
    const result = await runCli(['resolve', 'secret://env/X', '--server', url], {
      env: { SESAME_TOKEN: 'tok-timeout-test-1', SESAME_SERVER_TIMEOUT: '30d' },
      timeoutMs: 1500,
    });
    expect(result.signal).toBe('SIGKILL');
    expect(result.stderr).toBe('');
  });

  it('refuses a SESAME_SERVER_TIMEOUT that is not a duration, saying what to write', async () => {
    const result = await runCli(['resolve', 'secret://env/X', '--server', url], {
      env: { SESAME_TOKEN: 'tok-timeout-test-1', SESAME_SERVER_TIMEOUT: 'soon' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'sesame: SESAME_SERVER_TIMEOUT="soon" is not a duration: write a number with a unit, e.g. 30s or 5m\n',
    );
  });
});
