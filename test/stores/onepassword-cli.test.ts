/**
 * The 1password-connect store end to end: a `sesame.yaml` pointing at the local Connect emulator
 * and the real `sesame` bin. `resolve` of a field and of a whole item, with and without `vault`;
 * `stores test` ready, denied (wrong token, vault out of scope) and unreachable; no value or token
 * on any output. Needs `npx tsc -p tsconfig.build.json`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OnePasswordEmulator, startOnePasswordEmulator } from '../emulators/onepassword/index.js';
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

const PASSWORD = 'op-jira-password-e2e-41c';
const VALUES = [PASSWORD, 'op-hidden-value-e2e-7a0'];

describe('1password-connect through the CLI', () => {
  let op: OnePasswordEmulator;
  let token: string;
  let wd: Workdir;
  const config = (settings: Record<string, unknown> = {}) =>
    wd.config({
      stores: [
        {
          name: 'op',
          type: '1password-connect',
          url: op.url,
          auth: { method: 'token', token: '${env:OP_TOKEN}' },
          ...settings,
        },
      ],
    });
  const env = () => ({ OP_TOKEN: token });

  beforeAll(async () => {
    op = await startOnePasswordEmulator();
    op.addVault('Prod');
    op.addVault('Locked');
    op.putItem('Prod', 'jira', { username: 'jira-bot', password: PASSWORD });
    op.putItem('Locked', 'hidden', { password: 'op-hidden-value-e2e-7a0' });
    token = op.issueToken(['Prod']);
    wd = workdir('onepassword');
  });
  afterAll(async () => {
    await op?.stop();
    wd?.remove();
  });

  it('resolve: a field of <vault>/<item>, and the item as JSON with vault set', async () => {
    config();
    expectValue(await sesame(wd, ['resolve', 'secret://op/Prod/jira#password'], { env: env() }), PASSWORD);
    config({ vault: 'Prod' });
    const whole = await sesame(wd, ['resolve', 'secret://op/jira'], { env: env() });
    expect(whole.code, show(whole)).toBe(0);
    expect(JSON.parse(whole.stdout)).toEqual({ username: 'jira-bot', password: PASSWORD });
  });

  it('resolve: a missing item exits 1 naming the reference; a wrong token exits 1 saying to set auth.token', async () => {
    config();
    const missing = expectFailure(
      await sesame(wd, ['resolve', 'secret://op/Prod/nope#password'], { env: env() }),
      1,
      VALUES,
    );
    expect(missing).toContain('secret://op/Prod/nope#password');
    expect(missing).toContain('no item titled "nope" in vault "Prod"');
    const wrong = 'wrong-op-token-e2e-000';
    const denied = expectFailure(
      await sesame(wd, ['resolve', 'secret://op/Prod/jira#password'], { env: { OP_TOKEN: wrong } }),
      1,
      [...VALUES, wrong],
    );
    expect(denied).toContain('the Connect server refused the token (401 Invalid token signature)');
  });

  it('stores test: ready with every step, exit 0, nothing secret printed', async () => {
    config({ vault: 'Prod' });
    const r = await sesame(wd, ['stores', 'test', 'op', '--sample', 'jira'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(okStep(r, 'authenticate')).toBe('token accepted; vaults in its scope: Prod');
    expect(okStep(r, 'vault')).toMatch(/^vault "Prod" \([a-z0-9]{26}\)$/);
    expect(okStep(r, 'list')).toBe('1 item(s)');
    expect(okStep(r, 'read'), show(r)).toBeDefined();
    expectNoSecrets(r, [...VALUES, token]);
  });

  it('stores test: denied — a wrong token fails authenticate with the fix; a vault out of scope fails vault', async () => {
    config({ vault: 'Prod' });
    const wrong = 'wrong-op-token-e2e-111';
    const bad = await sesame(wd, ['stores', 'test', 'op'], { env: { OP_TOKEN: wrong } });
    expect(bad.code, show(bad)).toBe(1);
    expect(failedStep(bad, 'authenticate').fix).toBe(
      'set auth.token to an access token of this Connect server (1Password: Developer → Connect servers → tokens)',
    );
    expectNoSecrets(bad, [...VALUES, wrong]);
    config({ vault: 'Locked' });
    const locked = await sesame(wd, ['stores', 'test', 'op'], { env: env() });
    expect(locked.code, show(locked)).toBe(1);
    expect(failedStep(locked, 'vault')).toEqual({
      detail: '[op] no vault named "Locked" in the Connect token\'s scope',
      fix: 'check the vault name, or give the token access to vault "Locked"',
    });
    expectNoSecrets(locked, [...VALUES, token]);
  });

  it('stores test: unreachable — fails authenticate naming the address, exit 1', async () => {
    wd.config({
      stores: [
        {
          name: 'op',
          type: '1password-connect',
          url: 'http://127.0.0.1:9',
          auth: { method: 'token', token: '${env:OP_TOKEN}' },
        },
      ],
    });
    const r = await sesame(wd, ['stores', 'test', 'op'], { env: env() });
    expect(r.code, show(r)).toBe(1);
    const step = failedStep(r, 'authenticate');
    expect(step.detail).toContain(
      'at http://127.0.0.1:9: 127.0.0.1:9 refused the connection: nothing listens on port 9 (ECONNREFUSED)',
    );
    expect(step.fix).toBe('check the port in url and that the store is running');
    expectNoSecrets(r, [token]);
  });
});
