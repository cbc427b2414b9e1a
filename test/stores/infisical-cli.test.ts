/**
 * The infisical store end to end: a `sesame.yaml` pointing at the local Infisical emulator and
 * the real `sesame` bin. `resolve` with universal-auth and with token auth, a pinned version and a
 * folder; `stores test` ready, denied (wrong client secret, environment without access) and
 * unreachable; no value or credential on any output. Needs `npx tsc -p tsconfig.build.json`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InfisicalEmulator, startInfisicalEmulator } from '../emulators/infisical/index.js';
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

const CURRENT = 'infisical-e2e-current-5d0';
const OLD = 'infisical-e2e-old-a21';
const API_KEY = 'infisical-e2e-api-key-77f';
const VALUES = [CURRENT, OLD, API_KEY];

describe('infisical through the CLI', () => {
  let inf: InfisicalEmulator;
  let project: string;
  let creds: { identityId: string; clientId: string; clientSecret: string };
  let wd: Workdir;
  const config = (settings: Record<string, unknown> = {}) =>
    wd.config({
      stores: [
        {
          name: 'inf',
          type: 'infisical',
          siteUrl: inf.url,
          projectId: project,
          environment: 'prod',
          auth: {
            method: 'universal-auth',
            clientId: creds.clientId,
            clientSecret: '${env:INFISICAL_CLIENT_SECRET}',
          },
          ...settings,
        },
      ],
    });
  const env = () => ({ INFISICAL_CLIENT_SECRET: creds.clientSecret });

  beforeAll(async () => {
    inf = await startInfisicalEmulator();
    project = inf.addProject(['prod', 'dev']);
    inf.setSecret(project, 'prod', '/', 'DB_PASSWORD', OLD);
    inf.setSecret(project, 'prod', '/', 'DB_PASSWORD', CURRENT);
    inf.setSecret(project, 'prod', '/apps/api', 'API_KEY', API_KEY);
    inf.setSecret(project, 'dev', '/', 'DEV_ONLY', 'dev-only-e2e-value');
    creds = inf.addIdentity({ [project]: ['prod'] });
    wd = workdir('infisical');
  });
  afterAll(async () => {
    await inf?.stop();
    wd?.remove();
  });

  it('resolve with universal-auth: the current value, a pinned version, a key in a folder', async () => {
    config();
    expectValue(await sesame(wd, ['resolve', 'secret://inf/DB_PASSWORD'], { env: env() }), CURRENT);
    expectValue(await sesame(wd, ['resolve', 'secret://inf/DB_PASSWORD?version=1'], { env: env() }), OLD);
    expectValue(await sesame(wd, ['resolve', 'secret://inf/apps/api/API_KEY'], { env: env() }), API_KEY);
  });

  it("resolve with token auth; a missing secret exits 1 with Infisical's words", async () => {
    const token = inf.issueToken(creds.identityId);
    config({ auth: { method: 'token', token: '${env:INFISICAL_TOKEN}' } });
    expectValue(
      await sesame(wd, ['resolve', 'secret://inf/DB_PASSWORD'], { env: { INFISICAL_TOKEN: token } }),
      CURRENT,
    );
    const missing = expectFailure(
      await sesame(wd, ['resolve', 'secret://inf/NOPE'], { env: { INFISICAL_TOKEN: token } }),
      1,
      [...VALUES, token],
    );
    expect(missing).toContain("Secret with name 'NOPE' not found");
  });

  it('stores test: ready, exit 0, nothing secret printed', async () => {
    config();
    const r = await sesame(wd, ['stores', 'test', 'inf', '--sample', 'DB_PASSWORD'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(okStep(r, 'authenticate')).toBe(`logged in as client ${creds.clientId}`);
    expect(okStep(r, 'list')).toBe('2 secret(s) in prod:/');
    expect(okStep(r, 'read')).toBe(`read "DB_PASSWORD" (${CURRENT.length} bytes, version 2)`);
    expectNoSecrets(r, [...VALUES, creds.clientSecret]);
  });

  it('stores test: denied — a wrong client secret fails authenticate; an environment without access fails list', async () => {
    config();
    const wrong = 'wrong-infisical-secret-e2e';
    const bad = await sesame(wd, ['stores', 'test', 'inf'], { env: { INFISICAL_CLIENT_SECRET: wrong } });
    expect(bad.code, show(bad)).toBe(1);
    expect(failedStep(bad, 'authenticate')).toEqual({
      detail: '[inf] universal-auth login failed (401 Invalid credentials)',
      fix: 'check auth.clientId and auth.clientSecret (a client secret can expire or run out of uses)',
    });
    expectNoSecrets(bad, [...VALUES, wrong]);
    config({ environment: 'dev' });
    const r = await sesame(wd, ['stores', 'test', 'inf'], { env: env() });
    expect(r.code, show(r)).toBe(1);
    const list = failedStep(r, 'list');
    expect(list.detail).toBe('[inf] listing in dev:/: You are not allowed to read on secrets (403)');
    expect(list.fix).toBe(
      'give the machine identity a project role that reads secrets in environment dev under / (Project → Access Control → Machine Identities)',
    );
    expectNoSecrets(r, [...VALUES, 'dev-only-e2e-value', creds.clientSecret]);
  });

  it('stores test: unreachable — fails authenticate with the cause, exit 1', async () => {
    config({ siteUrl: 'http://127.0.0.1:9' });
    const r = await sesame(wd, ['stores', 'test', 'inf'], { env: env() });
    expect(r.code, show(r)).toBe(1);
    expect(failedStep(r, 'authenticate').detail).toMatch(
      /^\[inf\] authenticating in prod:\/: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
    expectNoSecrets(r, [creds.clientSecret]);
  });
});
