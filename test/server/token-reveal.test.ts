/**
 * `reveal` is a permission of admin and operator tokens (values outside resolve). A runtime token
 * receives values through resolve already and an auditor never does: a token of either role
 * "with reveal" held a permission that did nothing while its listing said it had it. Refused at
 * creation, through the library, the API and the CLI, saying what to do.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from './helpers.js';

const MESSAGE = (role: string) =>
  `reveal is a permission of admin and operator tokens: a${role === 'auditor' ? 'n auditor' : ' runtime'} token ${role === 'auditor' ? 'never receives secret values' : 'receives values through resolve without it'}: leave reveal out`;

describe('reveal on a runtime or auditor token', () => {
  let t: TestServer;
  let admin: string;
  beforeAll(async () => {
    t = await startTestServer();
    admin = (await t.token('admin', { reveal: true })).token;
  });
  afterAll(async () => {
    await t.close();
  });

  it('is refused by the token service, and no token is made', async () => {
    for (const role of ['runtime', 'auditor'] as const) {
      await expect(t.server.services.tokens.create({ role, reveal: true, createdBy: 'test' })).rejects.toThrow(
        new UsageError(MESSAGE(role)),
      );
    }
    const listed = await t.call('GET', '/api/v1/tokens', { token: admin });
    expect(JSON.stringify(listed.body)).not.toMatch(/"role":"(runtime|auditor)"[^}]*"reveal":true/);
  });

  it('is a 400 from POST /tokens naming what to do', async () => {
    for (const role of ['runtime', 'auditor']) {
      const res = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role, reveal: true } });
      expect(res.status).toBe(400);
      expect((res.body as { error: { message: string } }).error.message).toContain(MESSAGE(role));
    }
    // Admin and operator tokens still take it.
    const operator = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'operator', reveal: true } });
    expect(operator.status).toBe(201);
  });

  it('is exit 2 from sesame tokens create', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-token-reveal-'));
    const r = await runCli(['tokens', 'create', '--role', 'runtime', '--reveal'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').at(-2)).toBe(`sesame: ${MESSAGE('runtime')}`);
  });
});
