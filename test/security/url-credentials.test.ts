/**
 * Credentials written in clear where no field name says so: the user and password of a URL
 * (`https://svc:pw@jira…`, `mysql://app:pw@db/app`, a token as a git URL's user) and the value of
 * an HTTP header whose name is not a credential word (`Ocp-Apim-Subscription-Key`,
 * `X-Auth-Key`). The views of stores and connections (API, admin UI, `connections list`) show
 * such literals as `***`, like every other secret literal, and an update that sends `***` back
 * keeps them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskConnectionFields } from '../../src/connections/mask.js';
import { defaultConnectionTypes } from '../../src/connections/default-types.js';
import { createSesame } from '../../src/sesame.js';
import { runCli } from '../support/cli.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const pw = (label: string) => `${label}-${randomBytes(8).toString('hex')}`;

describe('maskConnectionFields', () => {
  const httpSecretFields = defaultConnectionTypes().get('http').secretFields;

  it('shows a URL that holds a user or password as ***, whatever the field is called', () => {
    const dsn = `mysql://app:${pw('dsn')}@db:3306/app`;
    const git = `https://${pw('ghp')}@github.com/acme/repo.git`;
    const masked = maskConnectionFields({ dsn, remote: git, nested: { list: [dsn] }, plain: 'https://jira.example.com/rest' }, []);
    expect(masked).toEqual({ dsn: '***', remote: '***', nested: { list: ['***'] }, plain: 'https://jira.example.com/rest' });
  });

  it('shows a URL whose query carries a credential (api_key, access_token, sig) as ***, and keeps other queries', () => {
    const masked = maskConnectionFields(
      {
        feed: `https://api.example.com/v1/feed?api_key=${pw('qk')}&page=2`,
        sas: `https://acct.blob.core.windows.net/c/b?sv=2024-01-01&sig=${pw('sig')}`,
        hook: `https://hooks.example.com/in?access_token=${pw('at')}`,
        paged: 'https://api.example.com/v1/items?page=2&sort=name',
        ref: 'https://api.example.com/v1/feed?api_key={{ secret://env/FEED_KEY }}',
      },
      [],
    );
    expect(masked).toEqual({
      feed: '***',
      sas: '***',
      hook: '***',
      paged: 'https://api.example.com/v1/items?page=2&sort=name',
      ref: 'https://api.example.com/v1/feed?api_key={{ secret://env/FEED_KEY }}',
    });
  });

  it('keeps a URL whose credentials are references as written (the reference is not the value)', () => {
    const baseUrl = 'https://svc:{{ secret://env/JIRA_PASSWORD }}@jira.example.com';
    expect(maskConnectionFields({ baseUrl }, httpSecretFields)).toEqual({ baseUrl });
  });

  it('shows every literal header value of an http connection as ***, references as written', () => {
    const fields = {
      baseUrl: 'https://api.example.com',
      headers: { 'Ocp-Apim-Subscription-Key': pw('apim'), 'X-Auth-Key': pw('cf'), 'X-Trace': '{{ secret://env/TRACE }}' },
    };
    expect(maskConnectionFields(fields, httpSecretFields)).toEqual({
      baseUrl: 'https://api.example.com',
      headers: { 'Ocp-Apim-Subscription-Key': '***', 'X-Auth-Key': '***', 'X-Trace': '{{ secret://env/TRACE }}' },
    });
  });
});

describe('stores and connections through the API', () => {
  let t: TestServer;
  let admin: string;
  let runtime: string;
  const secrets = {
    storeUrl: pw('storeurl'),
    vaultAddress: pw('vaultaddr'),
    baseUrl: pw('baseurl'),
    apim: pw('apim'),
    authKey: pw('authkey'),
    dsn: pw('dsn'),
    queryKey: pw('querykey'),
  };
  const leaked = (text: string) => Object.entries(secrets).filter(([, v]) => text.includes(v)).map(([k]) => k);

  beforeAll(async () => {
    t = await startTestServer();
    admin = (await t.token('admin')).token;
    runtime = (await t.token('runtime')).token;
  });
  afterAll(async () => {
    await t.close();
  });

  it('no view shows a credential held in a URL or a header, and an update sending *** back keeps it', async () => {
    const stores = [
      { name: 'web', type: 'http', settings: { url: `http://reader:${secrets.storeUrl}@127.0.0.1:9/{name}` } },
      { name: 'keyed', type: 'http', settings: { url: `http://127.0.0.1:9/v1/{name}?api_key=${secrets.queryKey}` } },
      {
        name: 'vlt',
        type: 'vault',
        settings: { address: `http://ops:${secrets.vaultAddress}@127.0.0.1:9`, auth: { method: 'token', token: pw('token') } },
      },
    ];
    const connections = [
      {
        name: 'api',
        type: 'http',
        fields: {
          baseUrl: `https://svc:${secrets.baseUrl}@api.example.com`,
          headers: { 'Ocp-Apim-Subscription-Key': secrets.apim, 'X-Auth-Key': secrets.authKey, Accept: 'application/json' },
        },
      },
      { name: 'db', type: 'generic', fields: { dsn: `mysql://app:${secrets.dsn}@db:3306/app`, pool: 4 } },
    ];
    const shown: string[] = [];
    for (const body of stores) shown.push((await t.call('POST', '/api/v1/stores', { token: admin, body })).text);
    for (const body of connections) shown.push((await t.call('POST', '/api/v1/connections', { token: admin, body })).text);
    for (const path of ['/api/v1/stores', '/api/v1/stores/web', '/api/v1/stores/keyed', '/api/v1/stores/vlt', '/api/v1/connections', '/api/v1/connections/api', '/api/v1/connections/db']) {
      const r = await t.call('GET', path, { token: admin });
      expect(r.status, path).toBe(200);
      shown.push(r.text);
    }
    expect(leaked(shown.join('\n')), 'credentials shown by the views').toEqual([]);

    // The UI's edit form sends the view back: `***` keeps what is stored.
    const api = (await t.call('GET', '/api/v1/connections/api', { token: admin })).body;
    expect(api.fields.baseUrl).toBe('***');
    expect(api.fields.headers).toEqual({ 'Ocp-Apim-Subscription-Key': '***', 'X-Auth-Key': '***', Accept: '***' });
    const put = await t.call('PUT', '/api/v1/connections/api', { token: admin, body: { type: 'http', fields: api.fields } });
    expect(put.status, put.text).toBe(200);
    const web = (await t.call('GET', '/api/v1/stores/web', { token: admin })).body;
    expect(web.settings.url).toBe('***');
    const putStore = await t.call('PUT', '/api/v1/stores/web', { token: admin, body: { type: 'http', settings: web.settings } });
    expect(putStore.status, putStore.text).toBe(200);

    const resolved = await t.call('POST', '/api/v1/resolve', { token: runtime, body: { connection: 'api' } });
    expect(resolved.status, resolved.text).toBe(200);
    expect(resolved.body.value.baseUrl).toBe(`https://svc:${secrets.baseUrl}@api.example.com`);
    expect(resolved.body.value.headers['X-Auth-Key']).toBe(secrets.authKey);
    expect(t.sesame.store('web').config.settings).toMatchObject({ url: `http://reader:${secrets.storeUrl}@127.0.0.1:9/{name}` });
    expect(leaked(t.logs.join('\n')), 'credentials in the server log').toEqual([]);
  });
});

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('store errors', () => {
  it('name the address a store could not reach without the user and password written in it', async () => {
    const port = await closedPort();
    const secrets = { vault: pw('vault'), azure: pw('azure'), onepassword: pw('op'), http: pw('http') };
    const sesame = createSesame(
      {
        database: 'sqlite:./s.db',
        stores: [
          { name: 'vlt', type: 'vault', address: `http://ops:${secrets.vault}@127.0.0.1:${port}`, auth: { method: 'token', token: pw('token') } },
          {
            name: 'kv',
            type: 'azure-key-vault',
            vaultUrl: `https://reader:${secrets.azure}@127.0.0.1:${port}`,
            allowInsecureConnection: true,
            auth: { method: 'client-secret', tenantId: 'tenant', clientId: 'client', clientSecret: pw('cs') },
          },
          { name: 'op', type: '1password-connect', url: `http://k:${secrets.onepassword}@127.0.0.1:${port}`, auth: { method: 'token', token: pw('token') } },
          { name: 'web', type: 'http', url: `http://reader:${secrets.http}@127.0.0.1:${port}/{name}`, timeout: '2s' },
        ],
      } as Parameters<typeof createSesame>[0],
      { baseDir: mkdtempSync(path.join(tmpdir(), 'sesame-url-creds-')) },
    );
    const said: string[] = [];
    try {
      for (const store of ['vlt', 'kv', 'op', 'web']) {
        const err = await sesame.resolve(`secret://${store}/app/db`).then(
          () => undefined,
          (e: unknown) => e as Error & { fix?: string },
        );
        expect(err, `resolve through ${store} failed`).toBeInstanceOf(Error);
        said.push(`${store}: ${err?.message} | ${err?.fix} | ${String(err?.cause)}`);
        said.push(`${store} test: ${JSON.stringify(await sesame.testStore(store, {}))}`);
      }
    } finally {
      await sesame.close();
    }
    expect(said.join('\n')).toContain(`127.0.0.1:${port}`);
    const shown = Object.entries(secrets).filter(([, v]) => said.join('\n').includes(v)).map(([k]) => k);
    expect(shown, said.join('\n').replace(/-[0-9a-f]{16}/g, '-<hex>')).toEqual([]);
  }, 60_000);
});

describe('sesame run --connection with credentials written in clear', () => {
  it("masks the connection's literal credentials in the command's output, as it masks resolved values", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'sesame-run-literals-'));
    const s = { token: pw('tok'), header: pw('hdr'), pg: pw('pgpw'), url: pw('urlpw') };
    writeFileSync(
      path.join(cwd, 'sesame.yaml'),
      [
        'database: sqlite:./.sesame/sesame.db',
        'masterKey: { file: ./.sesame/master.key }',
        'connections:',
        '  - name: api',
        '    type: http',
        '    fields:',
        '      baseUrl: https://api.example.com',
        `      auth: { method: bearer, token: "${s.token}" }`,
        `      headers: { Ocp-Apim-Subscription-Key: "${s.header}" }`,
        '  - name: db',
        '    type: postgres',
        '    fields: { host: db.internal, port: 5432, user: app, database: app, password: "' + s.pg + '" }',
        '  - name: dsn',
        '    type: generic',
        `    fields: { dsn: "mysql://app:${s.url}@db:3306/app" }`,
        '',
      ].join('\n'),
    );
    const out: string[] = [];
    for (const connection of ['api', 'db', 'dsn']) {
      const r = await runCli(['run', '--connection', connection, '--', 'env'], { cwd });
      expect(r.code, r.stderr).toBe(0);
      out.push(r.stdout, r.stderr);
    }
    const all = out.join('\n');
    expect(all).toContain('AUTH_TOKEN=***');
    expect(all).toContain('PGPASSWORD=***');
    const shown = Object.entries(s).filter(([, v]) => all.includes(v)).map(([k]) => k);
    expect(shown).toEqual([]);
  });
});
