/**
 * A local CyberArk Conjur (Open Source / Secrets Manager) speaking the REST calls Sesame makes, as
 * Conjur's API reference gives them:
 *
 * - `POST /authn/{account}/{login}/authenticate`, body the API key → the access token (JSON:
 *   `protected`, `payload`, `signature`; base64 when `Accept-Encoding: base64`); 401 when wrong
 * - `POST /authn-jwt/{service-id}/{account}[/{host-id}]/authenticate`, form body `jwt=…` → the same
 *   token, after checking the JWT's RS256 signature and `exp` against the service's key; the host
 *   is the URL's, or `host/<identityPath>/<claim>` from the service's identity claim
 * - `GET /secrets/{account}/variable/{id}[?version=N]` → the value's bytes
 *   (`application/octet-stream`); 404 `CONJ00076E Variable … is empty or not found.` (also for a
 *   variable the role cannot see, as Conjur hides them), 403 `Forbidden` without `execute`
 * - `GET /resources/{account}?kind=variable&search&limit&offset[&count=true]` → the variables the
 *   role can see, with their `secrets` versions (never values)
 * - `GET /whoami` → `{account, username, token_issued_at, …}`
 *
 * Requests carry `Authorization: Token token="<base64 of the token JSON>"`; a missing, forged or
 * expired token (8 minutes, as Conjur's) is 401 with an empty body. Error bodies are Conjur's
 * `{"error": {"code", "message"}}`. Time is `Date.now()`: fake timers expire tokens too.
 *
 * @example
 * const conjur = await startConjurEmulator({ account: 'acme' });
 * const apiKey = conjur.addRole('host/app', { execute: ['prod/*'] });
 * conjur.setVariable('prod/db/password', 'pw');
 */
import {
  createHmac,
  createSign,
  createVerify,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

interface Role {
  apiKey: string;
  /** Variable id globs (`prod/*`) the role may read the value of (`execute`). */
  execute: string[];
  /** Globs the role can see (`read`): listing, and 403 rather than 404. Default: `execute`. */
  read: string[];
}

interface JwtService {
  publicKey: KeyObject;
  privateKey: KeyObject;
  identityClaim: string;
  identityPath: string;
  audience?: string | undefined;
}

export interface ConjurEmulator {
  url: string;
  /** Shared fault injection after authentication (never on authn): 403 Forbidden, 503, 429. */
  faults: FaultControls;
  account: string;
  /** Requests per operation (`authn`, `authn-jwt`, `secret`, `resources`, `whoami`) and `unauthorized`. */
  calls: Record<string, number>;
  /** A user (`alice`) or host (`host/app`) with its API key (returned). */
  addRole(login: string, grants: { execute: string[]; read?: string[] }): string;
  /** Add a value to a variable (declared on first use); returns the version number. */
  setVariable(id: string, value: string | Buffer): number;
  /** Declare a variable without a value. */
  declareVariable(id: string): void;
  /** Enable an authn-jwt service: tokens are RS256, identity from `identityClaim` under `identityPath`. */
  enableJwt(
    serviceId: string,
    options?: { identityClaim?: string; identityPath?: string; audience?: string },
  ): void;
  /** A JWT for an enabled authn-jwt service, signed with its key (`exp` in seconds from now; negative = expired). */
  signJwt(serviceId: string, claims: Record<string, unknown>, expiresInSeconds?: number): string;
  /** A new token signing key: every access token issued so far is refused (401) from now on. */
  rotateTokenKey(): void;
  /** The next `times` requests answer `status` (5xx). */
  failNext(times: number, status: number): void;
  stop(): Promise<void>;
}

const TOKEN_LIFETIME_S = 8 * 60;
const b64url = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function glob(patterns: string[], id: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? id.startsWith(p.slice(0, -1)) : p === id));
}

export async function startConjurEmulator(options: { account?: string } = {}): Promise<ConjurEmulator> {
  const account = options.account ?? 'myorg';
  const roles = new Map<string, Role>();
  const variables = new Map<string, Array<{ value: Buffer; at: string }>>();
  const services = new Map<string, JwtService>();
  const calls: Record<string, number> = {};
  const faultPlan = new Faults();
  let tokenKey = randomBytes(32);
  let faults = { times: 0, status: 500 };

  const count = (op: string) => {
    calls[op] = (calls[op] ?? 0) + 1;
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const unauthorized = (res: ServerResponse) => {
    count('unauthorized');
    res.writeHead(401, { 'content-length': '0' });
    res.end();
  };
  const errorBody = (code: string, message: string) => ({ error: { code, message } });
  const fullId = (id: string) => `${account}:variable:${id}`;

  /** Conjur signs tokens with its own key; an HMAC stands in for it here. */
  function issue(login: string) {
    const protectedHeader = b64url({
      alg: 'conjur.org/slosilo/v2',
      kid: tokenKey.subarray(0, 8).toString('hex'),
    });
    const iat = Math.floor(Date.now() / 1000);
    const payload = b64url({ sub: login, iat, exp: iat + TOKEN_LIFETIME_S });
    const signature = hmac(tokenKey, `${protectedHeader}.${payload}`).toString('base64url');
    return { protected: protectedHeader, payload, signature };
  }

  function verifyToken(header: string | undefined): string | undefined {
    const raw = /^Token token="([^"]+)"$/.exec(header ?? '')?.[1];
    if (!raw) return undefined;
    try {
      const token = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Record<string, string>;
      const expected = hmac(tokenKey, `${token.protected}.${token.payload}`).toString('base64url');
      if (token.signature !== expected) return undefined;
      const claims = JSON.parse(Buffer.from(token.payload as string, 'base64url').toString('utf8')) as {
        sub: string;
        exp: number;
      };
      if (Date.now() / 1000 >= claims.exp) return undefined;
      return roles.has(claims.sub) ? claims.sub : undefined;
    } catch {
      return undefined;
    }
  }

  function verifyJwt(service: JwtService, jwt: string): Record<string, unknown> | undefined {
    const [h, p, s] = jwt.split('.');
    if (!h || !p || !s) return undefined;
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: string };
      if (header.alg !== 'RS256') return undefined;
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${h}.${p}`);
      if (!verifier.verify(service.publicKey, Buffer.from(s, 'base64url'))) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (typeof claims.exp !== 'number' || Date.now() / 1000 >= claims.exp) return undefined;
      if (service.audience !== undefined && claims.aud !== service.audience) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  function sendToken(req: IncomingMessage, res: ServerResponse, login: string) {
    const token = JSON.stringify(issue(login));
    if (String(req.headers['accept-encoding'] ?? '').toLowerCase() === 'base64') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'base64' });
      res.end(Buffer.from(token).toString('base64'));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(token);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (faults.times > 0) {
      faults.times -= 1;
      return send(res, faults.status, errorBody('internal_server_error', 'emulated failure'));
    }
    const segs = url.pathname.split('/').slice(1).map(decodeURIComponent);

    if (req.method === 'POST' && segs[0] === 'authn' && segs.length === 4 && segs[3] === 'authenticate') {
      count('authn');
      const [, acct, login] = segs as [string, string, string];
      const apiKey = (await readBody(req)).trim();
      const role = roles.get(login);
      if (acct !== account || !role || role.apiKey !== apiKey) return unauthorized(res);
      return sendToken(req, res, login);
    }
    if (
      req.method === 'POST' &&
      segs[0] === 'authn-jwt' &&
      (segs.length === 4 || segs.length === 5) &&
      segs.at(-1) === 'authenticate'
    ) {
      count('authn-jwt');
      const [, serviceId, acct] = segs as [string, string, string];
      const service = services.get(serviceId);
      const jwt = new URLSearchParams(await readBody(req)).get('jwt');
      if (acct !== account || !service || !jwt) return unauthorized(res);
      const claims = verifyJwt(service, jwt);
      if (!claims) return unauthorized(res);
      let login: string;
      if (segs.length === 5) {
        login = segs[3] as string;
      } else {
        const claim = claims[service.identityClaim];
        if (typeof claim !== 'string') return unauthorized(res);
        login = `host/${service.identityPath ? `${service.identityPath}/` : ''}${claim}`;
      }
      if (!roles.has(login)) return unauthorized(res);
      return sendToken(req, res, login);
    }

    const login = verifyToken(req.headers.authorization);
    if (!login) return unauthorized(res);
    const role = roles.get(login) as Role;
    const injected = await faultPlan.next();
    if (injected === 'denied') return send(res, 403, errorBody('forbidden', 'Forbidden'));
    if (injected === 'unavailable')
      return send(res, 503, errorBody('service_unavailable', 'Service Unavailable'));
    if (injected === 'throttled') return send(res, 429, errorBody('too_many_requests', 'Too Many Requests'));

    if (req.method === 'GET' && url.pathname === '/whoami') {
      count('whoami');
      return send(res, 200, {
        client_ip: '127.0.0.1',
        user_agent: req.headers['user-agent'] ?? '',
        account,
        username: login,
        token_issued_at: new Date().toISOString(),
      });
    }
    if (req.method === 'GET' && segs[0] === 'secrets' && segs.length >= 4 && segs[2] === 'variable') {
      count('secret');
      const id = segs.slice(3).join('/');
      const missing = () =>
        send(res, 404, errorBody('not_found', `CONJ00076E Variable ${fullId(id)} is empty or not found.`));
      if (segs[1] !== account || !variables.has(id) || !glob(role.read, id)) return missing();
      if (!glob(role.execute, id)) return send(res, 403, errorBody('forbidden', 'Forbidden'));
      const versions = variables.get(id) as Array<{ value: Buffer }>;
      const pinned = url.searchParams.get('version');
      const v = pinned === null ? versions.length : Number(pinned);
      const found = Number.isInteger(v) && v >= 1 ? versions[v - 1] : undefined;
      if (!found) return missing();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(found.value);
      return;
    }
    if (req.method === 'GET' && segs[0] === 'resources' && segs.length === 2) {
      count('resources');
      if (segs[1] !== account) return send(res, 200, []);
      const kind = url.searchParams.get('kind');
      const search = url.searchParams.get('search') ?? '';
      const visible =
        kind !== null && kind !== 'variable'
          ? []
          : [...variables.keys()].filter((id) => glob(role.read, id) && id.includes(search)).sort();
      if (url.searchParams.get('count') === 'true') return send(res, 200, { count: visible.length });
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = url.searchParams.has('limit') ? Number(url.searchParams.get('limit')) : visible.length;
      return send(
        res,
        200,
        visible.slice(offset, offset + limit).map((id) => ({
          created_at: variables.get(id)?.[0]?.at ?? new Date().toISOString(),
          id: fullId(id),
          owner: `${account}:policy:root`,
          policy: `${account}:policy:root`,
          permissions: [],
          annotations: [],
          secrets: (variables.get(id) ?? []).map((_, i) => ({ version: i + 1, expires_at: null })),
        })),
      );
    }
    return send(res, 404, errorBody('not_found', `No route matches ${req.method} ${url.pathname}`));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, errorBody('internal_server_error', 'emulator failure')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    faults: faultPlan,
    account,
    calls,
    addRole(login, grants) {
      const apiKey = randomBytes(26).toString('hex');
      roles.set(login, { apiKey, execute: grants.execute, read: grants.read ?? grants.execute });
      return apiKey;
    },
    setVariable(id, value) {
      const versions = variables.get(id) ?? [];
      versions.push({
        value: Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'),
        at: new Date().toISOString(),
      });
      variables.set(id, versions);
      return versions.length;
    },
    declareVariable(id) {
      if (!variables.has(id)) variables.set(id, []);
    },
    enableJwt(serviceId, opts = {}) {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      services.set(serviceId, {
        publicKey,
        privateKey,
        identityClaim: opts.identityClaim ?? 'sub',
        identityPath: opts.identityPath ?? '',
        audience: opts.audience,
      });
    },
    signJwt(serviceId, claims, expiresInSeconds = 300) {
      const service = services.get(serviceId);
      if (!service) throw new Error(`emulator: authn-jwt/${serviceId} is not enabled`);
      const now = Math.floor(Date.now() / 1000);
      const head = b64url({ alg: 'RS256', typ: 'JWT', kid: serviceId });
      const body = b64url({ iat: now, exp: now + expiresInSeconds, ...claims });
      const signer = createSign('RSA-SHA256');
      signer.update(`${head}.${body}`);
      return `${head}.${body}.${signer.sign(service.privateKey).toString('base64url')}`;
    },
    rotateTokenKey() {
      tokenKey = randomBytes(32);
    },
    failNext(times, status) {
      faults = { times, status };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
