/**
 * The doppler store end to end: a `sesame.yaml` pointing at the local Doppler API emulator and
 * the real `sesame` bin. `resolve` of a computed value and of a template with several secrets;
 * `stores test` ready, denied (wrong token, another config's token) and unreachable; no value or
 * token on any output. Needs `npx tsc -p tsconfig.build.json`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DopplerEmulator, startDopplerEmulator } from '../emulators/doppler/index.js';
import {
  expectFailure,
  expectNoSecrets,
  expectValue,
  failedStep,
  okStep,
  sesame,
  show,
  type Workdir,
  workdir,
} from '../e2e/support.js';

const PASSWORD = 'doppler-e2e-password-8b3';
const VALUES = [PASSWORD];

describe('doppler through the CLI', () => {
  let dp: DopplerEmulator;
  let token: string;
  let wd: Workdir;
  const config = (settings: Record<string, unknown> = {}) =>
    wd.config({
      stores: [
        {
          name: 'doppler',
          type: 'doppler',
          apiUrl: dp.url,
          project: 'backend',
          config: 'prd',
          auth: { method: 'service-token', token: '${env:DOPPLER_TOKEN}' },
          ...settings,
        },
      ],
    });

  beforeAll(async () => {
    dp = await startDopplerEmulator();
    dp.setSecret('backend', 'prd', 'DB_USER', 'app');
    dp.setSecret('backend', 'prd', 'DB_PASSWORD', PASSWORD);
    dp.setSecret('backend', 'prd', 'DATABASE_URL', 'postgres://${DB_USER}:${DB_PASSWORD}@db/app');
    token = dp.issueToken({ project: 'backend', config: 'prd' });
    wd = workdir('doppler');
  });
  afterAll(async () => {
    await dp?.stop();
    wd?.remove();
  });

  it('resolve: the computed value, and a template of two secrets read in one call', async () => {
    config();
    expectValue(
      await sesame(wd, ['resolve', 'secret://doppler/DATABASE_URL'], { env: { DOPPLER_TOKEN: token } }),
      `postgres://app:${PASSWORD}@db/app`,
    );
    const before = dp.calls['secrets-list'] ?? 0;
    expectValue(
      await sesame(wd, ['resolve', '{{ secret://doppler/DB_USER }}:{{ secret://doppler/DB_PASSWORD }}'], {
        env: { DOPPLER_TOKEN: token },
      }),
      `app:${PASSWORD}`,
    );
    expect((dp.calls['secrets-list'] ?? 0) - before).toBe(1);
  });

  it("resolve: a missing secret exits 1 with Doppler's words; ?version= is refused with exit 2", async () => {
    config();
    const missing = expectFailure(
      await sesame(wd, ['resolve', 'secret://doppler/NOPE'], { env: { DOPPLER_TOKEN: token } }),
      1,
      VALUES,
    );
    expect(missing).toContain('Could not find requested secret');
    expectFailure(
      await sesame(wd, ['resolve', 'secret://doppler/DB_PASSWORD?version=3'], {
        env: { DOPPLER_TOKEN: token },
      }),
      2,
      VALUES,
    );
  });

  it('stores test: ready, exit 0, nothing secret printed', async () => {
    config();
    const r = await sesame(wd, ['stores', 'test', 'doppler', '--sample', 'DB_PASSWORD'], {
      env: { DOPPLER_TOKEN: token },
    });
    expect(r.code, show(r)).toBe(0);
    expect(okStep(r, 'authenticate')).toBe(
      'token "prd-token" (service_token) of workplace Emulator Workplace',
    );
    expect(okStep(r, 'list')).toBe('3 secret name(s) in backend/prd');
    expect(okStep(r, 'read')).toBe(`read "DB_PASSWORD" (${PASSWORD.length} bytes)`);
    expectNoSecrets(r, [...VALUES, token]);
  });

  it('stores test: denied — a wrong token fails authenticate; a token of another config fails list', async () => {
    config();
    const wrong = 'dp.st.prd.wrongtokenE2E0000';
    const bad = await sesame(wd, ['stores', 'test', 'doppler'], { env: { DOPPLER_TOKEN: wrong } });
    expect(bad.code, show(bad)).toBe(1);
    expect(failedStep(bad, 'authenticate')).toEqual({
      detail: '[doppler] authenticating in backend/prd: Doppler refused the token (401 Invalid Auth token)',
      fix: 'set auth.token to a service token of backend/prd (Doppler: project → config → Access → Generate)',
    });
    expectNoSecrets(bad, [...VALUES, wrong]);
    const other = dp.issueToken({ project: 'backend', config: 'dev' });
    const r = await sesame(wd, ['stores', 'test', 'doppler'], { env: { DOPPLER_TOKEN: other } });
    expect(r.code, show(r)).toBe(1);
    expect(okStep(r, 'authenticate'), show(r)).toBeDefined();
    expect(failedStep(r, 'list').detail).toContain(
      'This token does not have access to requested project or config (403)',
    );
    expectNoSecrets(r, [...VALUES, other]);
  });

  it('stores test: unreachable — fails authenticate with the cause, exit 1', async () => {
    config({ apiUrl: 'http://127.0.0.1:9' });
    const r = await sesame(wd, ['stores', 'test', 'doppler'], { env: { DOPPLER_TOKEN: token } });
    expect(r.code, show(r)).toBe(1);
    expect(failedStep(r, 'authenticate').detail).toMatch(
      /^\[doppler\] authenticating in backend\/prd: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
    expectNoSecrets(r, [token]);
  });
});
