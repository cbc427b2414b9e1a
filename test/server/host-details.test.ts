/**
 * A store's error names the host's own places: the directory a file store reads, the address of
 * a Vault or an http store. Admin and operator tokens (who may read the store's settings) see
 * them; a runtime token (a workflow's credential) and an auditor get the setting's name instead,
 * in the message and in the fix, whichever door the error comes through.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreBinding } from '../../src/resolve/bindings.js';
import { HostDetails, hostPlaces, UNKNOWN_PLACES } from '../../src/server/host-details.js';
import { withoutHostDetails } from '../../src/server/plugins/errors.js';
import { type Reply, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let root: string;
/** A port nothing listens on (taken, then closed). */
let closedPort: number;
let runtime: string;
let auditor: string;
let operator: string;
let admin: string;

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  root = path.join(mkdtempSync(path.join(tmpdir(), 'sesame-host-details-')), 'srv', 'team-secrets');
  mkdirSync(root, { recursive: true });
  closedPort = await freePort();
  t = await startTestServer({
    config: {
      stores: [
        { name: 'files', type: 'file', root },
        // Relative to the config's directory: the error shows the resolved path.
        { name: 'local', type: 'file', root: './relative-root' },
        { name: 'web', type: 'http', url: `http://127.0.0.1:${closedPort}/v1/secrets/{name}`, timeout: '2s' },
        {
          name: 'vault',
          type: 'vault',
          address: `http://localhost:${closedPort}`,
          auth: { method: 'token', token: 'hvs.not-a-real-token' },
        },
      ],
    },
  });
  runtime = (await t.token('runtime')).token;
  auditor = (await t.token('auditor')).token;
  operator = (await t.token('operator', { reveal: true })).token;
  admin = (await t.token('admin', { reveal: true })).token;
}, 30_000);

afterAll(async () => {
  await t?.close();
});

const resolve = (token: string, reference: string): Promise<Reply> =>
  t.call('POST', '/api/v1/resolve', { token, body: { reference } });

/** What a caller reads of an error: its code, message and fix. */
const said = (reply: Reply): string => JSON.stringify(reply.body?.error ?? reply.text);

describe('host details in store errors', () => {
  it("hides a file store's directory from a runtime token and names the setting instead", async () => {
    const reply = await resolve(runtime, 'secret://files/nope');
    expect(reply.status).toBe(404);
    expect(reply.text).not.toContain(root);
    expect(reply.text).not.toContain('srv/team-secrets');
    expect(reply.body.error.message).toContain('no file nope under <root>');
    // The caller is told why the place is not shown and who can see it.
    expect(reply.body.error.fix).toMatch(/hidden from this token.*admin or operator/);
  });

  it('shows the same error in full to an operator and an admin', async () => {
    for (const token of [operator, admin]) {
      const reply = await resolve(token, 'secret://files/nope');
      expect(reply.status).toBe(404);
      expect(reply.body.error.message).toContain(`no file nope under ${root}`);
      expect(said(reply)).not.toContain('hidden from this token');
    }
  });

  it('hides a relative root as the store resolved it', async () => {
    const reply = await resolve(runtime, 'secret://local/nope');
    expect(said(reply)).not.toContain(path.join(t.dir, 'relative-root'));
    expect(said(reply)).not.toContain('relative-root');
    expect(reply.body.error.message).toContain('<root>');
  });

  it("hides an http store's address: host, port and URL, in the message and the fix", async () => {
    const reply = await resolve(runtime, 'secret://web/token');
    expect(reply.status).toBe(503);
    expect(said(reply)).not.toContain(`127.0.0.1:${closedPort}`);
    expect(reply.body.error.message).toContain('<url>');
    const full = await resolve(operator, 'secret://web/token');
    expect(full.status).toBe(503);
    expect(said(full)).toContain(`127.0.0.1:${closedPort}`);
  });

  it('hides a Vault address from a runtime token', async () => {
    const reply = await resolve(runtime, 'secret://vault/kv/app#password');
    expect(reply.status).toBe(503);
    expect(said(reply)).not.toContain(`localhost:${closedPort}`);
    expect(said(reply)).toContain('<address>');
  });

  it('hides them from an auditor too (refused before any store, and nothing else to hide)', async () => {
    const reply = await resolve(auditor, 'secret://files/nope');
    expect(reply.status).toBe(403);
    expect(said(reply)).not.toContain(root);
  });

  it('no runtime reply in this file held a host detail', () => {
    const runtimeBodies = t.bodies.filter((b) => b.text.includes('hidden from this token'));
    expect(runtimeBodies.length).toBeGreaterThanOrEqual(4);
    for (const b of runtimeBodies) {
      expect(b.text).not.toContain(root);
      expect(b.text).not.toContain(`127.0.0.1:${closedPort}`);
    }
  });
});

describe('hostPlaces', () => {
  const binding = (hostAccess: unknown[]) =>
    ({ config: { settings: {} }, type: { hostAccess: () => hostAccess } }) as unknown as StoreBinding;

  it('spells an address as URL, origin, host:port and a dotted or IP host name, longest first', () => {
    const places = hostPlaces(
      [binding([{ kind: 'address', setting: 'address', url: 'https://vault.corp.example:8200/' }])],
      '/etc/sesame',
    );
    expect(places.map((p) => p.text)).toEqual([
      'https://vault.corp.example:8200',
      'vault.corp.example:8200',
      'vault.corp.example',
    ]);
    expect(new Set(places.map((p) => p.label))).toEqual(new Set(['<address>']));
  });

  it('leaves a one-word host name alone but hides its host:port, and unbrackets IPv6', () => {
    const oneWord = hostPlaces(
      [binding([{ kind: 'address', setting: 'url', url: 'http://vault:8200' }])],
      '/',
    );
    expect(oneWord.map((p) => p.text)).not.toContain('vault');
    expect(oneWord.map((p) => p.text)).toContain('vault:8200');
    const v6 = hostPlaces(
      [binding([{ kind: 'address', setting: 'url', url: 'http://[fd00::5]:8200' }])],
      '/',
    );
    expect(v6.map((p) => p.text)).toEqual(expect.arrayContaining(['[fd00::5]:8200', 'fd00::5', '[fd00::5]']));
  });

  it('spells a path as given and resolved against the config directory, without a trailing slash', () => {
    const places = hostPlaces(
      [
        binding([
          { kind: 'files', setting: 'caFile', path: 'certs/ca.pem' },
          { kind: 'files', setting: 'root', path: '/run/secrets/' },
        ]),
      ],
      '/etc/sesame',
    );
    expect(places).toEqual(
      expect.arrayContaining([
        { text: '/etc/sesame/certs/ca.pem', label: '<caFile>' },
        { text: 'certs/ca.pem', label: '<caFile>' },
        { text: '/run/secrets', label: '<root>' },
      ]),
    );
  });

  it('labels a place two settings share <hidden>', () => {
    const places = hostPlaces(
      [
        binding([{ kind: 'address', setting: 'url', url: 'http://10.0.0.5:8200/v1/{name}' }]),
        binding([{ kind: 'address', setting: 'address', url: 'http://10.0.0.5:8200' }]),
      ],
      '/',
    );
    expect(places.find((p) => p.text === '10.0.0.5:8200')?.label).toBe('<hidden>');
    expect(places.find((p) => p.text === 'http://10.0.0.5:8200/v1/{name}')?.label).toBe('<url>');
  });

  it('drops texts too short to be a place', () => {
    expect(hostPlaces([binding([{ kind: 'files', setting: 'root', path: '/' }])], '/')).toEqual([]);
  });

  it('fails closed for a store type that does not declare its host access (it may name anything)', () => {
    const undeclared = { config: { type: 'custom', settings: {} }, type: {} } as unknown as StoreBinding;
    expect(() => hostPlaces([undeclared], '/')).toThrow('store type custom does not declare its host access');
  });

  it('fails closed: a store type whose hostAccess throws makes hide() throw, which the server answers with the code only', () => {
    const broken = {
      config: { settings: {} },
      type: {
        hostAccess: () => {
          throw new Error('bad settings');
        },
      },
    } as unknown as StoreBinding;
    const details = new HostDetails(() => ({ generation: 1, bindings: [broken], baseDir: '/' }));
    expect(() => details.hide('anything')).toThrow('bad settings');
  });
});

describe('withoutHostDetails', () => {
  const details = (places: () => never | undefined) =>
    new HostDetails(() => {
      places();
      return { generation: 1, bindings: [], baseDir: '/' };
    });

  it('answers the code only when the places cannot be worked out', () => {
    const broken = details(() => {
      throw new Error('no source');
    });
    const body = withoutHostDetails(
      { error: { code: 'not_found', message: 'no file x under /srv/a', fix: 'create /srv/a/x' } },
      broken,
    );
    expect(body).toEqual({ error: { code: 'not_found', message: UNKNOWN_PLACES } });
  });

  it('returns the body unchanged when it names no place', () => {
    const body = { error: { code: 'not_found', message: 'no secret x', fix: 'create it' } };
    expect(
      withoutHostDetails(
        body,
        details(() => undefined),
      ),
    ).toBe(body);
  });
});
