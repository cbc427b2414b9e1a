/** The Conjur emulator answers with the Conjur REST API reference's paths, statuses and bodies (plain fetch). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConjurEmulator, startConjurEmulator } from './index.js';

describe('Conjur emulator wire format', () => {
  let cj: ConjurEmulator;
  let apiKey: string;
  const authenticate = (login: string, key: string, headers: Record<string, string> = {}) =>
    fetch(`${cj.url}/authn/acme/${encodeURIComponent(login)}/authenticate`, {
      method: 'POST',
      body: key,
      headers,
    });
  const header = async () =>
    `Token token="${await (await authenticate('host/app', apiKey, { 'accept-encoding': 'base64' })).text()}"`;

  beforeAll(async () => {
    cj = await startConjurEmulator({ account: 'acme' });
    apiKey = cj.addRole('host/app', { execute: ['db/*'], read: ['db/*', 'seen/*'] });
    cj.setVariable('db/password', 'one');
    cj.setVariable('db/password', 'two');
    cj.setVariable('seen/only', 'x');
    cj.enableJwt('k8s', { identityPath: '' });
  });
  afterAll(async () => {
    await cj.stop();
  });

  it('authenticate answers the token JSON, or base64 with Accept-Encoding: base64; a wrong key is 401 with no body', async () => {
    const json = (await (await authenticate('host/app', apiKey)).json()) as Record<string, string>;
    expect(Object.keys(json).sort()).toEqual(['payload', 'protected', 'signature']);
    const b64 = await authenticate('host/app', apiKey, { 'accept-encoding': 'base64' });
    expect(b64.headers.get('content-encoding')).toBe('base64');
    expect(Object.keys(JSON.parse(Buffer.from(await b64.text(), 'base64').toString('utf8')))).toHaveLength(3);
    const bad = await authenticate('host/app', 'wrong');
    expect([bad.status, await bad.text()]).toEqual([401, '']);
  });

  it('authn-jwt takes jwt= in a form body and checks the signature and exp', async () => {
    const post = (jwt: string) =>
      fetch(`${cj.url}/authn-jwt/k8s/acme/authenticate`, {
        method: 'POST',
        body: `jwt=${jwt}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    expect((await post(cj.signJwt('k8s', { sub: 'app' }))).status).toBe(200);
    expect((await post(cj.signJwt('k8s', { sub: 'app' }, -5))).status).toBe(401);
    const [h, p] = cj.signJwt('k8s', { sub: 'app' }).split('.');
    expect((await post(`${h}.${p}.forged`)).status).toBe(401);
  });

  it('secrets: bytes as application/octet-stream, ?version=, 404 CONJ00076E, 403 without execute, 401 without a token', async () => {
    const authorization = await header();
    const read = await fetch(`${cj.url}/secrets/acme/variable/db%2Fpassword`, { headers: { authorization } });
    expect([read.status, read.headers.get('content-type'), await read.text()]).toEqual([
      200,
      'application/octet-stream',
      'two',
    ]);
    expect(
      await (
        await fetch(`${cj.url}/secrets/acme/variable/db%2Fpassword?version=1`, { headers: { authorization } })
      ).text(),
    ).toBe('one');
    const missing = await fetch(`${cj.url}/secrets/acme/variable/db%2Fnope`, { headers: { authorization } });
    expect([missing.status, await missing.json()]).toEqual([
      404,
      {
        error: {
          code: 'not_found',
          message: 'CONJ00076E Variable acme:variable:db/nope is empty or not found.',
        },
      },
    ]);
    const forbidden = await fetch(`${cj.url}/secrets/acme/variable/seen%2Fonly`, {
      headers: { authorization },
    });
    expect([forbidden.status, await forbidden.json()]).toEqual([
      403,
      { error: { code: 'forbidden', message: 'Forbidden' } },
    ]);
    expect((await fetch(`${cj.url}/secrets/acme/variable/db%2Fpassword`)).status).toBe(401);
  });

  it('resources lists visible variables with versions, paged by limit/offset, counted by count=true', async () => {
    const authorization = await header();
    const page = (await (
      await fetch(`${cj.url}/resources/acme?kind=variable&limit=1&offset=0`, { headers: { authorization } })
    ).json()) as Array<Record<string, unknown>>;
    expect(page).toEqual([
      expect.objectContaining({
        id: 'acme:variable:db/password',
        secrets: [
          { version: 1, expires_at: null },
          { version: 2, expires_at: null },
        ],
      }),
    ]);
    expect(
      await (
        await fetch(`${cj.url}/resources/acme?kind=variable&count=true`, { headers: { authorization } })
      ).json(),
    ).toEqual({ count: 2 });
  });
});
