/**
 * A duration of "99999999999d" is a number of milliseconds no date can hold: POST /tokens with it
 * as expiresIn answered 500, `sesame tokens create --expires` printed "unexpected error:
 * RangeError: Invalid time value", and `sesame secrets delete --recovery-window` blamed the
 * database ("the sqlite database: Invalid time value"). Durations are now at most 100 years,
 * refused where they are read with a message that says so; nothing is written.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durationProblem, MAX_DURATION_MS, parseDuration } from '../../src/config/duration.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const HUGE = '99999999999d';

describe('parseDuration', () => {
  it('takes up to 100 years and says why it refuses more', () => {
    expect(parseDuration('36500d')).toBe(MAX_DURATION_MS);
    expect(parseDuration('36500d1ms')).toBeUndefined();
    expect(parseDuration(HUGE)).toBeUndefined();
    expect(durationProblem(HUGE)).toBe('is longer than 100 years (36500d)');
    expect(durationProblem('soon')).toBe('is not a duration');
    expect(durationProblem('0')).toBe('is not a duration');
  });
});

describe('a duration longer than 100 years', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t.close());

  it('POST /tokens: 400 naming the limit, no token made', async () => {
    const admin = (await t.token('admin', { reveal: true })).token;
    const before = (await t.call('GET', '/api/v1/tokens', { token: admin })).body.items.length;
    const r = await t.call('POST', '/api/v1/tokens', { token: admin, body: { role: 'runtime', expiresIn: HUGE } });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error.message).toBe(`body.expiresIn: "${HUGE}" is longer than 100 years (36500d): e.g. 12h, 30d`);
    expect((await t.call('GET', '/api/v1/tokens', { token: admin })).body.items).toHaveLength(before);
  });

  it('sesame tokens create --expires and sesame secrets delete --recovery-window: exit 2 with the limit; the secret is kept', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-duration-'));
    const env = { SESAME_LOG_LEVEL: 'warn' };
    const token = await runCli(['tokens', 'create', '--role', 'runtime', '--expires', HUGE], { cwd, env });
    expect(token.code).toBe(2);
    expect(token.stderr).toBe(`sesame: --expires ${HUGE} is longer than 100 years (36500d): e.g. 12h, 30d\n`);
    expect((await runCli(['secrets', 'set', 'kept', 'kept-value'], { cwd, env })).code).toBe(0);
    const del = await runCli(['secrets', 'delete', 'kept', '--recovery-window', HUGE], { cwd, env });
    expect(del.code).toBe(2);
    expect(del.stderr).toBe(
      `sesame: --recovery-window "${HUGE}" is longer than 100 years (36500d): write e.g. 7d, 12h or 0\n`,
    );
    expect((await runCli(['secrets', 'get', 'kept'], { cwd, env })).stdout).toBe('kept-value');
  });
});
