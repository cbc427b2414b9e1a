/**
 * A local Infisical API speaking the calls Sesame makes, as Infisical's API reference gives them:
 *
 * - `POST /api/v1/auth/universal-auth/login` `{clientId, clientSecret}` → `{accessToken, expiresIn,
 *   accessTokenMaxTTL, tokenType: "Bearer"}`; bad credentials 401
 * - `GET /api/v3/secrets/raw/{secretName}?workspaceId&environment&secretPath&version&expandSecretReferences` →
 *   `{"secret": {id, _id, workspace, environment, version, type, secretKey, secretValue,
 *   secretComment, secretPath, createdAt, updatedAt, …}}`; references (`${KEY}` in the same folder,
 *   `${env.folder.sub.KEY}` elsewhere) are left as written unless `expandSecretReferences=true`,
 *   then replaced by the referenced values, nested ones too (10 levels, cycles stopped), a missing
 *   one left as written, and one the identity may not read refused with 403; with
 *   `include_imports=true` a key the folder lacks is looked up in the folder's secret imports,
 *   the last import first (imports the identity may not read skipped), and answered with the
 *   importing environment and path of the source
 * - `GET /api/v3/secrets/raw?workspaceId&environment&secretPath&recursive&viewSecretValue&include_imports` →
 *   `{"secrets": [...], "imports": [...]}`; with `viewSecretValue=false` values are hidden;
 *   `imports` lists the imports (`{secretPath, environment, folderId, secrets}`) of the folders
 *   listed (with `recursive`, subfolders' too, not saying which folder imports them) when
 *   `include_imports=true`, else it is empty; a missing folder is 404 `SecretPathNotFound`'s
 *   message. Imports of imports are not emulated.
 *
 * Errors are Infisical's `{reqId, statusCode, message, error}`: 404 `NotFound` (secret, version,
 * environment, folder), 401 `UnauthorizedError`, 403 `PermissionDenied` (`You are not allowed to
 * read on secrets`) when the identity has no access to the project, environment or path, and 403
 * `TokenError` for an expired or unknown access token (as Infisical's error handler answers JWT
 * errors). `Authorization: Bearer <token>` carries the access token.
 *
 * Time is `Date.now()`: fake timers expire tokens too.
 *
 * @example
 * const inf = await startInfisicalEmulator();
 * const project = inf.addProject(['dev', 'prod']);
 * inf.setSecret(project, 'prod', '/', 'DB_PASSWORD', 'pw');
 * const { clientId, clientSecret } = inf.addIdentity({ [project]: ['prod'] });
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type FaultControls, Faults } from '../faults.js';

interface SecretVersion {
  value: string;
  comment: string;
  createdAt: string;
}

interface StoredSecret {
  id: string;
  versions: SecretVersion[];
}

/** Project id → environment slugs the identity may read (`*` for all), optionally only under a path. */
export type IdentityAccess = Record<string, string[] | { environments: string[]; secretPath: string }>;

export interface InfisicalEmulator {
  url: string;
  /** Shared fault injection on secret calls (never the login): 403 PermissionDenied, 503, 429 RateLimitError. */
  faults: FaultControls;
  /** Requests per operation (`login`, `get-secret`, `list-secrets`) and `unauthorized`, `forbidden`. */
  calls: Record<string, number>;
  /** A project with these environment slugs; returns its id. */
  addProject(environments: string[]): string;
  /** Import the secrets of `from` (environment and folder) into a folder, after its earlier imports. */
  addImport(
    projectId: string,
    environment: string,
    secretPath: string,
    from: { environment: string; secretPath: string },
  ): void;
  /** Add a version of a secret at a folder path (folders are created on the way); returns its version. */
  setSecret(projectId: string, environment: string, secretPath: string, key: string, value: string): number;
  /** A machine identity with universal auth credentials. */
  addIdentity(
    access: IdentityAccess,
    options?: { accessTokenTtlSeconds?: number },
  ): {
    identityId: string;
    clientId: string;
    clientSecret: string;
  };
  /** An access token for an identity without logging in (Infisical's Token Auth). */
  issueToken(identityId: string, ttlSeconds?: number): string;
  /** Make every access token issued so far expire now (Infisical then answers 403 TokenError). */
  expireAll(): void;
  /** Access tokens issued so far (by logins). */
  loginTokens(): string[];
  /** The next `times` requests answer `status` (5xx). */
  failNext(times: number, status: number): void;
  stop(): Promise<void>;
}

const normPath = (p: string) => `/${p.split('/').filter(Boolean).join('/')}`;

export async function startInfisicalEmulator(): Promise<InfisicalEmulator> {
  /** projectId → env → folder path → key → secret */
  const projects = new Map<string, Map<string, Map<string, Map<string, StoredSecret>>>>();
  /** projectId:env:path → the folder's secret imports, in the order they were added. */
  const imports = new Map<string, Array<{ env: string; path: string }>>();
  const identities = new Map<
    string,
    { clientId: string; clientSecret: string; access: IdentityAccess; ttl: number }
  >();
  const tokens = new Map<string, { identityId: string; expiresAt: number }>();
  const issued: string[] = [];
  const calls: Record<string, number> = {};
  const faultPlan = new Faults();
  let faults = { times: 0, status: 500 };

  const count = (op: string) => {
    calls[op] = (calls[op] ?? 0) + 1;
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, error: string, message: string) =>
    send(res, status, { reqId: `req-${randomBytes(7).toString('hex')}`, statusCode: status, message, error });

  const jwt = (identityId: string) => {
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ identityId, authTokenType: 'accessToken', jti: randomUUID() })}.${randomBytes(32).toString('base64url')}`;
  };
  const mint = (identityId: string, ttl: number) => {
    const t = jwt(identityId);
    tokens.set(t, { identityId, expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : Number.POSITIVE_INFINITY });
    return t;
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  function allowed(access: IdentityAccess, projectId: string, env: string, path: string): boolean {
    const rule = access[projectId];
    if (!rule) return false;
    const envs = Array.isArray(rule) ? rule : rule.environments;
    const under = Array.isArray(rule) ? '/' : normPath(rule.secretPath);
    const envOk = envs.includes('*') || envs.includes(env);
    const pathOk = under === '/' || path === under || path.startsWith(`${under}/`);
    return envOk && pathOk;
  }

  /**
   * Infisical's expansion of `${…}` references in `value` of `key` at env:path: one name is a key
   * in the same folder, more are environment, folders and key; a reference the identity may not
   * read is a 403 naming both secrets; a missing one reads as empty and stays as written.
   */
  function expand(
    projectId: string,
    access: IdentityAccess,
    origin: { env: string; path: string; key: string },
    value: string,
  ): string {
    let out = value;
    const stack = [{ value, env: origin.env, path: origin.path, depth: 0, seen: new Set<string>() }];
    stack[0]?.seen.add(`${origin.env}:${origin.path}:${origin.key}`);
    while (stack.length > 0) {
      const at = stack.pop() as (typeof stack)[number];
      if (at.depth > 10) continue;
      for (const [syntax, inner] of at.value.matchAll(/\$\{([^}]+)\}/g)) {
        const parts = (inner as string).trim().split('.');
        const key = parts.at(-1) as string;
        const env = parts.length === 1 ? at.env : (parts[0] as string);
        const path = parts.length === 1 ? at.path : normPath(parts.slice(1, -1).join('/'));
        if (!allowed(access, projectId, env, path))
          throw Object.assign(new Error('forbidden'), {
            message: `You do not have permission to read secret '${key}' in environment '${env}' at path '${path}', which is referenced by secret '${origin.key}' in environment '${origin.env}' at path '${origin.path}'.`,
          });
        const versions = projects.get(projectId)?.get(env)?.get(path)?.get(key)?.versions;
        const referenced = versions?.at(-1)?.value ?? '';
        const id = `${env}:${path}:${key}`;
        if (/\$\{[^}]+\}/.test(referenced) && !at.seen.has(id))
          stack.push({ value: referenced, env, path, depth: at.depth + 1, seen: new Set([...at.seen, id]) });
        if (referenced) out = out.replaceAll(syntax, () => referenced);
      }
    }
    return out;
  }

  const secretJson = (
    projectId: string,
    env: string,
    path: string,
    key: string,
    s: StoredSecret,
    v: number,
    hide: boolean,
  ) => {
    const version = s.versions[v - 1] as SecretVersion;
    return {
      id: s.id,
      _id: s.id,
      workspace: projectId,
      environment: env,
      version: v,
      type: 'shared',
      secretKey: key,
      secretValue: hide ? '<hidden-by-infisical>' : version.value,
      secretValueHidden: hide,
      secretComment: version.comment,
      secretPath: path,
      skipMultilineEncoding: false,
      createdAt: (s.versions[0] as SecretVersion).createdAt,
      updatedAt: version.createdAt,
      tags: [],
      secretMetadata: [],
    };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (faults.times > 0) {
      faults.times -= 1;
      return fail(res, faults.status, 'InternalServerError', 'Something went wrong');
    }
    if (req.method === 'POST' && url.pathname === '/api/v1/auth/universal-auth/login') {
      count('login');
      let body: { clientId?: unknown; clientSecret?: unknown } = {};
      try {
        body = JSON.parse(await readBody(req)) as typeof body;
      } catch {
        return fail(res, 400, 'BadRequest', 'Body is not valid JSON');
      }
      if (typeof body.clientId !== 'string' || typeof body.clientSecret !== 'string') {
        return send(res, 422, {
          reqId: `req-${randomBytes(7).toString('hex')}`,
          statusCode: 422,
          error: 'ValidationFailure',
          message: [{ code: 'invalid_type', path: ['clientId'], message: 'Required' }],
        });
      }
      const entry = [...identities.entries()].find(([, i]) => i.clientId === body.clientId);
      if (!entry || entry[1].clientSecret !== body.clientSecret) {
        return fail(res, 401, 'UnauthorizedError', 'Invalid credentials');
      }
      const [identityId, identity] = entry;
      const accessToken = mint(identityId, identity.ttl);
      issued.push(accessToken);
      return send(res, 200, {
        accessToken,
        expiresIn: identity.ttl,
        accessTokenMaxTTL: identity.ttl * 24,
        tokenType: 'Bearer',
      });
    }

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) {
      count('unauthorized');
      return fail(res, 401, 'UnauthorizedError', 'Missing Authorization Header in the request header.');
    }
    const session = tokens.get(bearer);
    if (!session) {
      count('unauthorized');
      return fail(
        res,
        403,
        'TokenError',
        'The provided access token is malformed. Please use a valid token or generate a new one and try again.',
      );
    }
    if (Date.now() >= session.expiresAt) {
      count('unauthorized');
      return fail(res, 403, 'TokenError', 'Your token has expired. Please re-authenticate.');
    }
    const injected = await faultPlan.next();
    if (injected === 'denied')
      return fail(res, 403, 'PermissionDenied', 'You are not allowed to read on secrets');
    if (injected === 'unavailable') return fail(res, 503, 'ServiceUnavailable', 'Service unavailable');
    if (injected === 'throttled')
      return fail(res, 429, 'RateLimitExceeded', 'Rate limit exceeded. Please try again later.');
    const identity = identities.get(session.identityId);
    if (!identity) return fail(res, 401, 'UnauthorizedError', 'Identity not found');

    const m = /^\/api\/v3\/secrets\/raw(?:\/([^/]+))?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m)
      return fail(res, 404, 'NotFound', `Route ${req.method}:${url.pathname} not found`);
    const projectId = url.searchParams.get('workspaceId');
    const env = url.searchParams.get('environment');
    const path = normPath(url.searchParams.get('secretPath') ?? '/');
    if (!projectId || !env) return fail(res, 400, 'BadRequest', 'Missing workspaceId or environment');
    const project = projects.get(projectId);
    if (!project) return fail(res, 404, 'NotFound', `Project with ID '${projectId}' not found`);
    if (!allowed(identity.access, projectId, env, path)) {
      count('forbidden');
      return fail(res, 403, 'PermissionDenied', 'You are not allowed to read on secrets');
    }
    const folders = project.get(env);
    if (!folders)
      return fail(
        res,
        404,
        'NotFound',
        `Environment with slug '${env}' in project with ID '${projectId}' not found`,
      );

    if (m[1] !== undefined) {
      count('get-secret');
      const key = decodeURIComponent(m[1]);
      const folder = folders.get(path);
      if (!folder)
        return fail(
          res,
          404,
          'NotFound',
          `Folder with path '${path}' in environment with slug '${env}' not found`,
        );
      let secret = folder.get(key);
      let from = { env, path };
      const pinned = url.searchParams.get('version');
      if (!secret && pinned === null && url.searchParams.get('include_imports') === 'true') {
        // The last import that holds the key wins; imports the identity may not read are skipped.
        for (const source of [...(imports.get(`${projectId}:${env}:${path}`) ?? [])].reverse()) {
          if (!allowed(identity.access, projectId, source.env, source.path)) continue;
          const found = project.get(source.env)?.get(source.path)?.get(key);
          if (found) {
            secret = found;
            from = source;
            break;
          }
        }
      }
      if (!secret) return fail(res, 404, 'NotFound', `Secret with name '${key}' not found`);
      const v = pinned === null ? secret.versions.length : Number(pinned);
      if (!Number.isInteger(v) || v < 1 || v > secret.versions.length) {
        return fail(res, 404, 'NotFound', `Secret version ${pinned} not found`);
      }
      const json = secretJson(projectId, from.env, from.path, key, secret, v, false);
      if (url.searchParams.get('expandSecretReferences') === 'true' && json.secretValue) {
        try {
          const origin = { env: from.env, path: from.path, key };
          json.secretValue = expand(projectId, identity.access, origin, json.secretValue);
        } catch (err) {
          // Infisical's ForbiddenRequestError, under its default name.
          return fail(res, 403, 'ForbiddenError', (err as Error).message);
        }
      }
      return send(res, 200, { secret: json });
    }

    count('list-secrets');
    const recursive = url.searchParams.get('recursive') === 'true';
    const hide = url.searchParams.get('viewSecretValue') === 'false';
    if (!folders.has(path))
      return fail(
        res,
        404,
        'NotFound',
        `Folder with path '${path}' in environment '${env}' was not found. Please ensure the environment slug and secret path is correct.`,
      );
    const listed = [...folders.entries()]
      .filter(([p]) => p === path || (recursive && (path === '/' ? true : p.startsWith(`${path}/`))))
      .filter(([p]) => allowed(identity.access, projectId, env, p));
    const secrets = listed.flatMap(([p, folder]) =>
      [...folder.entries()].map(([key, s]) => secretJson(projectId, env, p, key, s, s.versions.length, hide)),
    );
    const imported =
      url.searchParams.get('include_imports') === 'true'
        ? // The imports of every folder listed (recursive: subfolders' too), not told apart.
          listed
            .flatMap(([p]) => imports.get(`${projectId}:${env}:${p}`) ?? [])
            .filter((source) => allowed(identity.access, projectId, source.env, source.path))
            .map((source) => ({
              secretPath: source.path,
              environment: source.env,
              folderId: `${source.env}:${source.path}`,
              secrets: [...(project.get(source.env)?.get(source.path)?.entries() ?? [])].map(([key, s]) =>
                secretJson(projectId, source.env, source.path, key, s, s.versions.length, hide),
              ),
            }))
        : [];
    return send(res, 200, { secrets, imports: imported });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => fail(res, 500, 'InternalServerError', 'Something went wrong'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    faults: faultPlan,
    calls,
    addProject(environments) {
      const id = randomUUID();
      projects.set(id, new Map(environments.map((e) => [e, new Map([['/', new Map()]])])));
      return id;
    },
    addImport(projectId, environment, secretPath, from) {
      const at = `${projectId}:${environment}:${normPath(secretPath)}`;
      imports.set(at, [
        ...(imports.get(at) ?? []),
        { env: from.environment, path: normPath(from.secretPath) },
      ]);
    },
    setSecret(projectId, environment, secretPath, key, value) {
      const folders = projects.get(projectId)?.get(environment);
      if (!folders) throw new Error(`emulator: no environment ${environment} in ${projectId}`);
      const path = normPath(secretPath);
      // Folders exist along the way, as creating /a/b in Infisical's UI creates /a too.
      const segments = path.split('/').filter(Boolean);
      for (let i = 0; i <= segments.length; i++) {
        const p = normPath(segments.slice(0, i).join('/'));
        if (!folders.has(p)) folders.set(p, new Map());
      }
      const folder = folders.get(path) as Map<string, StoredSecret>;
      const existing = folder.get(key) ?? { id: randomUUID(), versions: [] };
      existing.versions.push({ value, comment: '', createdAt: new Date().toISOString() });
      folder.set(key, existing);
      return existing.versions.length;
    },
    addIdentity(access, options = {}) {
      const identityId = randomUUID();
      const creds = { clientId: randomUUID(), clientSecret: randomBytes(32).toString('hex') };
      identities.set(identityId, { ...creds, access, ttl: options.accessTokenTtlSeconds ?? 2_592_000 });
      return { identityId, ...creds };
    },
    issueToken(identityId, ttlSeconds = 0) {
      if (!identities.has(identityId)) throw new Error(`emulator: no identity ${identityId}`);
      return mint(identityId, ttlSeconds);
    },
    expireAll() {
      for (const t of tokens.values()) t.expiresAt = Date.now();
    },
    loginTokens: () => [...issued],
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
