/**
 * The conjur store end to end: a `sesame.yaml` pointing at the local Conjur emulator and the real
 * `sesame` bin. `resolve` with api-key and with authn-jwt (JWT file next to the config), a pinned
 * version; `stores test` ready, denied (wrong API key, variable without execute) and unreachable;
 * no value or credential on any output. Needs `npx tsc -p tsconfig.build.json`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConjurEmulator, startConjurEmulator } from '../emulators/conjur/index.js';
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

const CURRENT = 'conjur-e2e-current-6e1';
const OLD = 'conjur-e2e-old-0b7';
const LOCKED = 'conjur-e2e-locked-91d';
const VALUES = [CURRENT, OLD, LOCKED];

describe('conjur through the CLI', () => {
  let cj: ConjurEmulator;
  let apiKey: string;
  let wd: Workdir;
  const config = (settings: Record<string, unknown> = {}) =>
    wd.config({
      stores: [
        {
          name: 'conjur',
          type: 'conjur',
          url: cj.url,
          account: 'acme',
          auth: { method: 'api-key', login: 'host/apps/sesame', apiKey: '${env:CONJUR_API_KEY}' },
          ...settings,
        },
      ],
    });
  const env = () => ({ CONJUR_API_KEY: apiKey });

  beforeAll(async () => {
    cj = await startConjurEmulator({ account: 'acme' });
    apiKey = cj.addRole('host/apps/sesame', { execute: ['prod/*'], read: ['prod/*', 'locked/*'] });
    cj.addRole('host/k8s/deployer', { execute: ['prod/*'] });
    cj.setVariable('prod/db/password', OLD);
    cj.setVariable('prod/db/password', CURRENT);
    cj.setVariable('locked/key', LOCKED);
    cj.enableJwt('k8s', { identityPath: 'k8s' });
    wd = workdir('conjur');
  });
  afterAll(async () => {
    await cj?.stop();
    wd?.remove();
  });

  it('resolve with api-key: the current value and a pinned version', async () => {
    config();
    expectValue(await sesame(wd, ['resolve', 'secret://conjur/prod/db/password'], { env: env() }), CURRENT);
    expectValue(
      await sesame(wd, ['resolve', 'secret://conjur/prod/db/password?version=1'], { env: env() }),
      OLD,
    );
  });

  it('resolve with authn-jwt: the JWT from a file next to the config', async () => {
    const jwt = cj.signJwt('k8s', { sub: 'deployer' });
    wd.file('conjur.jwt', jwt);
    config({ auth: { method: 'authn-jwt', serviceId: 'k8s', jwtFile: './conjur.jwt' } });
    const r = await sesame(wd, ['resolve', 'secret://conjur/prod/db/password']);
    expectValue(r, CURRENT);
    expectNoSecrets({ ...r, stdout: '' }, [jwt]);
  });

  it('resolve: a variable without execute exits 1 naming the permit to add', async () => {
    config();
    const line = expectFailure(
      await sesame(wd, ['resolve', 'secret://conjur/locked/key'], { env: env() }),
      1,
      [...VALUES, apiKey],
    );
    expect(line).toContain('host/apps/sesame is not allowed (403 Forbidden)');
  });

  it('stores test: ready, exit 0, nothing secret printed', async () => {
    config();
    const r = await sesame(wd, ['stores', 'test', 'conjur', '--sample', 'prod/db/password'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(okStep(r, 'authenticate')).toBe('authenticated as host/apps/sesame in account acme');
    expect(okStep(r, 'list')).toBe('2 variable(s) visible (first page)');
    expect(okStep(r, 'read')).toBe(`read "prod/db/password" (${CURRENT.length} bytes)`);
    expectNoSecrets(r, [...VALUES, apiKey]);
  });

  it('stores test: denied — a wrong API key fails authenticate; a sample without execute fails read', async () => {
    config();
    const wrong = 'wrong-conjur-key-e2e-123';
    const bad = await sesame(wd, ['stores', 'test', 'conjur'], { env: { CONJUR_API_KEY: wrong } });
    expect(bad.code, show(bad)).toBe(1);
    expect(failedStep(bad, 'authenticate')).toEqual({
      detail: '[conjur] Conjur refused the API key of host/apps/sesame (HTTP 401)',
      fix: 'check auth.login (host/<id> for a host) and auth.apiKey (a rotated key stops working)',
    });
    expectNoSecrets(bad, [...VALUES, wrong]);
    const r = await sesame(wd, ['stores', 'test', 'conjur', '--sample', 'locked/key'], { env: env() });
    expect(r.code, show(r)).toBe(1);
    expect(failedStep(r, 'read').fix).toBe(
      'permit it in policy: - !permit { role: !host apps/sesame, privileges: [ read, execute ], resource: !variable locked/key }',
    );
    expectNoSecrets(r, [...VALUES, apiKey]);
  });

  it('stores test: unreachable — fails authenticate with the cause, exit 1', async () => {
    config({ url: 'http://127.0.0.1:9' });
    const r = await sesame(wd, ['stores', 'test', 'conjur'], { env: env() });
    expect(r.code, show(r)).toBe(1);
    expect(failedStep(r, 'authenticate').detail).toMatch(
      /^\[conjur\] authenticating in account acme: 127\.0\.0\.1:\d+ refused the connection: nothing listens on port \d+ \(ECONNREFUSED\) \(?after 3 attempts\)?$/,
    );
    expectNoSecrets(r, [apiKey]);
  });
});
