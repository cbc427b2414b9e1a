/** The Doppler emulator answers with the Doppler API v3 reference's paths, statuses and bodies (plain fetch). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DopplerEmulator, startDopplerEmulator } from './index.js';

describe('Doppler emulator wire format', () => {
  let dp: DopplerEmulator;
  let token: string;
  const get = async (
    path: string,
    headers: Record<string, string> = { authorization: `Bearer ${token}` },
  ) => {
    const res = await fetch(`${dp.url}${path}`, { headers });
    return {
      status: res.status,
      body: (await res.json()) as unknown,
      retryAfter: res.headers.get('retry-after'),
    };
  };

  beforeAll(async () => {
    dp = await startDopplerEmulator();
    dp.setSecret('web', 'prd', 'USER', 'brian');
    dp.setSecret('web', 'prd', 'DATABASE', '${USER}@db:9876');
    token = dp.issueToken({ project: 'web', config: 'prd' });
  });
  afterAll(async () => {
    await dp.stop();
  });

  it('retrieve: {name, value: {raw, computed, note}} with references computed', async () => {
    const r = await get('/v3/configs/config/secret?project=web&config=prd&name=DATABASE');
    expect(r).toMatchObject({
      status: 200,
      body: {
        name: 'DATABASE',
        value: { raw: '${USER}@db:9876', computed: 'brian@db:9876', note: '' },
        success: true,
      },
    });
  });

  it('values carry their visibility; a restricted one goes to service tokens only (null raw and computed for a personal token)', async () => {
    dp.setSecret('web', 'sec', 'SEALED', 'sealed-value');
    dp.setSecret('web', 'sec', 'USER', 'brian');
    dp.setVisibility('web', 'sec', 'SEALED', 'restricted');
    const q = '/v3/configs/config/secret?project=web&config=sec&name=SEALED';
    const service = { authorization: `Bearer ${dp.issueToken({ project: 'web', config: 'sec' })}` };
    expect((await get(q, service)).body).toMatchObject({
      value: {
        raw: 'sealed-value',
        computed: 'sealed-value',
        rawVisibility: 'restricted',
        computedVisibility: 'restricted',
      },
    });
    const personal = { authorization: `Bearer ${dp.issueToken('personal')}` };
    expect((await get(q, personal)).body).toEqual({
      name: 'SEALED',
      value: {
        raw: null,
        computed: null,
        note: '',
        rawVisibility: 'restricted',
        computedVisibility: 'restricted',
      },
      success: true,
    });
    const list = await get('/v3/configs/config/secrets?project=web&config=sec&secrets=SEALED,USER', personal);
    expect(list.body).toMatchObject({
      secrets: {
        SEALED: { computed: null, computedVisibility: 'restricted' },
        USER: { computed: 'brian', computedVisibility: 'masked' },
      },
    });
  });

  it('takes the token as bearer or as the basic-auth user; a bad one is 401 Invalid Auth token', async () => {
    const basic = `Basic ${Buffer.from(`${token}:`).toString('base64')}`;
    expect((await get('/v3/configs/config/secret?name=USER', { authorization: basic })).status).toBe(200);
    expect(
      await get('/v3/configs/config/secret?name=USER', { authorization: 'Bearer dp.st.nope' }),
    ).toMatchObject({
      status: 401,
      body: { messages: ['Invalid Auth token'], success: false },
    });
  });

  it('404 Could not find requested secret; 403 for another config of a service token', async () => {
    expect((await get('/v3/configs/config/secret?name=NOPE')).body).toEqual({
      messages: ['Could not find requested secret'],
      success: false,
    });
    expect((await get('/v3/configs/config/secret?project=web&config=dev&name=USER')).status).toBe(403);
  });

  it('names include the managed DOPPLER_* secrets unless include_managed_secrets=false; the list filters by secrets=', async () => {
    expect((await get('/v3/configs/config/secrets/names')).body).toEqual({
      names: ['DATABASE', 'DOPPLER_CONFIG', 'DOPPLER_ENVIRONMENT', 'DOPPLER_PROJECT', 'USER'],
      success: true,
    });
    expect((await get('/v3/configs/config/secrets/names?include_managed_secrets=false')).body).toEqual({
      names: ['DATABASE', 'USER'],
      success: true,
    });
    expect(
      (await get('/v3/configs/config/secrets?secrets=USER,NOPE&include_managed_secrets=false')).body,
    ).toEqual({
      secrets: {
        USER: {
          raw: 'brian',
          computed: 'brian',
          note: '',
          rawVisibility: 'masked',
          computedVisibility: 'masked',
        },
      },
      success: true,
    });
  });

  it('429 with retry-after when throttled; /v3/me describes the token', async () => {
    dp.throttle(1, 2);
    expect(await get('/v3/me')).toMatchObject({ status: 429, retryAfter: '2' });
    expect((await get('/v3/me')).body).toMatchObject({
      type: 'service_token',
      workplace: { name: 'Emulator Workplace' },
    });
  });
});
