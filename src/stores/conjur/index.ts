/**
 * `conjur` store: variables of CyberArk Conjur (Open Source, Secrets Manager Enterprise or
 * Cloud), over Conjur's REST API.
 *
 * A name is the variable id (`prod/db/password`); `?version=N` pins a version. Sesame
 * authenticates with a host's or user's API key (`api-key`) or with a JWT the platform gives the
 * workload (`authn-jwt`, read again from its file or variable at each login), and sends the
 * 8-minute access token as `Authorization: Token token="…"`, authenticating again after 6
 * minutes or once after a 401. Listing pages with Conjur's own `limit`/`offset`.
 *
 * @example
 * stores:
 *   - name: conjur
 *     type: conjur
 *     url: https://conjur.example.com
 *     account: myorg
 *     auth: { method: api-key, login: host/apps/sesame, apiKey: "${env:CONJUR_AUTHN_API_KEY}" }
 */
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, InvalidRequestError } from '../../errors.js';
import type {
  CheckOptions,
  FetchedSecret,
  HostAccess,
  ListOptions,
  ListPage,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
} from '../contract.js';
import {
  type Classification,
  classifyHttp,
  credential,
  credentialPaths,
  expectOk,
  type HttpAnswer,
  HttpStatusError,
  HttpTransport,
  listProviderPages,
  numberedVersion,
  readSettingFile,
  readSampleStep,
  type RetryPolicy,
  runChecks,
  StoreCore,
  TokenSession,
  valueOfBytes,
} from '../core/index.js';

const settings = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'url is the Conjur URL, e.g. https://conjur.example.com' }),
  account: z.string().regex(/^(?!\.{1,2}$)[^/?#\s]+$/, 'account is the Conjur account name, e.g. myorg'),
  /** PEM file of the CA that signed Conjur's certificate (Conjur's own CA, often self-signed). */
  caFile: z.string().min(1).optional(),
  /** Prepended to every variable id (e.g. `prod/`); listings show ids without it. */
  prefix: z.string().default(''),
  auth: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('api-key'),
      login: z.string().min(1, 'login is host/<id> or a user name'),
      apiKey: credential(z.string().min(1)),
    }),
    z
      .strictObject({
        method: z.literal('authn-jwt'),
        serviceId: z
          .string()
          .regex(/^(?!\.{1,2}$)[^/?#\s]+$/, 'serviceId is the authn-jwt service id, e.g. k8s-cluster'),
        /** The host to log in as, when the authenticator does not take it from a claim of the JWT. */
        hostId: z.string().min(1).optional(),
        jwtFile: z.string().min(1).optional(),
        jwtEnv: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
          .optional(),
      })
      .refine(
        (a) => (a.jwtFile === undefined) !== (a.jwtEnv === undefined),
        'authn-jwt takes the JWT from jwtFile or jwtEnv (one of them)',
      ),
  ]),
});
export type ConjurSettings = z.infer<typeof settings>;

interface Op {
  action: string;
  name?: string | undefined;
}

/** A refused or failed authentication, kept apart from the request it was for. */
class AuthnFailed extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`authentication answered HTTP ${answer.status}`);
  }
}

/** Conjur access tokens live 8 minutes; a new one is asked for after 6. */
const TOKEN_LIFE_MS = 8 * 60_000;
const TOKEN_REUSE = 6 / 8;
const PAGE = 1000;
/** What a jwtFile should be, for its error. */
const JWT_FILE_HINT = 'point jwtFile at the token the platform mounts, or set jwtEnv';

/** A Conjur access token is JSON with `protected`, `payload` and `signature`. */
function isAccessToken(json: string): boolean {
  try {
    const token = JSON.parse(json) as Record<string, unknown>;
    return typeof token.payload === 'string' && typeof token.signature === 'string';
  } catch {
    return false;
  }
}

/** Conjur's error body, `{"error": {"code": "not_found", "message": "CONJ00076E …"}}`. */
function isConjurError(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof error === 'object' && error !== null && typeof error.message === 'string';
}

/** The answer, unless it is a 404 that is not Conjur's (then the address does not answer like Conjur). */
function own404(answer: HttpAnswer): HttpAnswer {
  if (answer.status === 404) answer.expectJson(isConjurError, "Conjur's error");
  return answer;
}

export class ConjurStore implements StoreClient {
  readonly #s: ConjurSettings;
  readonly #core: StoreCore<Op>;
  readonly #http: HttpTransport;
  readonly #base: string;
  readonly #context: StoreContext;
  readonly #session: TokenSession<string>;

  constructor(s: ConjurSettings, context: StoreContext, options: { retry?: RetryPolicy } = {}) {
    this.#s = s;
    this.#base = s.url.replace(/\/+$/, '');
    this.#context = context;
    const ca =
      s.caFile &&
      readSettingFile(
        context,
        'caFile',
        s.caFile,
        'the PEM file of the CA that signed the Conjur certificate',
      );
    this.#session = new TokenSession({ login: () => this.#authenticate(), refreshAt: TOKEN_REUSE });
    this.#http = new HttpTransport({
      ca,
      lookup: context.lookup,
      settings: { address: 'url', ca: 'caFile', provider: 'Conjur' },
    });
    this.#core = new StoreCore({
      context,
      settings: s,
      credentialPaths: conjurStoreType.secretSettings,
      retry: options.retry,
      scrub: [
        [/Token token="[^"]*"/g, 'Token token="[redacted]"'],
        [/\beyJ[\w-]+\.[\w-]+\.[\w-]+/g, '[jwt]'],
      ],
      classify: (err, op) => this.#classify(err, op),
    });
  }

  get #who(): string {
    const { auth } = this.#s;
    return auth.method === 'api-key'
      ? auth.login
      : `authn-jwt/${auth.serviceId}${auth.hostId ? ` as ${auth.hostId}` : ''}`;
  }

  /** The role that logs in, as a policy names it: `!host <id>` for `host/<id>`, else `!user <login>`. */
  get #role(): string {
    const { auth } = this.#s;
    const id = auth.method === 'api-key' ? auth.login : auth.hostId;
    if (id === undefined) return '!host <the host the JWT maps to>';
    return id.startsWith('host/') ? `!host ${id.slice('host/'.length)}` : `!user ${id}`;
  }

  #classify(err: unknown, op: Op): Classification | undefined {
    const what = `${op.action}${op.name ? ` "${op.name}"` : ''} in account ${this.#s.account}`;
    if (err instanceof AuthnFailed && err.answer.status < 500) {
      const { auth } = this.#s;
      return auth.method === 'api-key'
        ? {
            kind: 'denied',
            message: `Conjur refused the API key of ${auth.login} (HTTP ${err.answer.status})`,
            fix: 'check auth.login (host/<id> for a host) and auth.apiKey (a rotated key stops working)',
          }
        : {
            kind: 'denied',
            message: `Conjur refused the JWT at authn-jwt/${auth.serviceId} (HTTP ${err.answer.status})`,
            fix: `check that authn-jwt/${auth.serviceId} is enabled, the JWT is current, and its identity maps to a host allowed to authenticate there`,
          };
    }
    const answer = err instanceof AuthnFailed || err instanceof HttpStatusError ? err.answer : undefined;
    if (!answer) return classifyHttp(err, what);
    const said = answer.json<{ error?: { message?: string } }>()?.error?.message ?? `HTTP ${answer.status}`;
    if (answer.status === 404) {
      // Conjur hides what a role has no privilege on: a 404 is also a missing permit.
      const fix = op.name
        ? `check the variable id and that it has a value; Conjur answers the same for a variable the role has no privilege on: - !permit { role: ${this.#role}, privileges: [ read, execute ], resource: !variable ${op.name} }`
        : undefined;
      return { kind: 'not_found', message: `${what}: ${said}`, ...(fix ? { fix } : {}) };
    }
    if (answer.status === 403) {
      return {
        kind: 'denied',
        message: `${what}: ${this.#who} is not allowed (403 ${said})`,
        fix: `permit it in policy: - !permit { role: ${this.#role}, privileges: [ read, execute ], resource: !variable ${op.name ?? '<id>'} }`,
      };
    }
    if (answer.status === 401)
      return {
        kind: 'denied',
        message: `${what}: Conjur refused the access token (401)`,
        fix: 'check the auth settings',
      };
    return classifyHttp(new HttpStatusError(answer), what);
  }

  #jwt(auth: Extract<ConjurSettings['auth'], { method: 'authn-jwt' }>): string {
    // The file is read at each login: the platform rotates the token it mounts there.
    const where = auth.jwtFile
      ? `jwtFile ${path.resolve(this.#context.baseDir ?? process.cwd(), auth.jwtFile)}`
      : `jwtEnv ${auth.jwtEnv}`;
    const jwt = auth.jwtFile
      ? readSettingFile(this.#context, 'auth.jwtFile', auth.jwtFile, JWT_FILE_HINT).trim()
      : process.env[auth.jwtEnv as string]?.trim();
    if (!jwt)
      throw new ConfigError(`no JWT in ${where}`, {
        hint: 'the platform must provide the workload a JWT there',
      });
    return jwt;
  }

  /** A new access token, as the header `Token token="…"` (the session reuses it for 6 minutes). */
  async #authenticate() {
    const { auth, account } = this.#s;
    const answer =
      auth.method === 'api-key'
        ? await this.#http.request(
            'POST',
            `${this.#base}/authn/${encodeURIComponent(account)}/${encodeURIComponent(auth.login)}/authenticate`,
            { body: auth.apiKey, headers: { 'content-type': 'text/plain', 'accept-encoding': 'base64' } },
          )
        : await this.#http.request(
            'POST',
            `${this.#base}/authn-jwt/${encodeURIComponent(auth.serviceId)}/${encodeURIComponent(account)}${auth.hostId ? `/${encodeURIComponent(auth.hostId)}` : ''}/authenticate`,
            {
              body: new URLSearchParams({ jwt: this.#jwt(auth) }).toString(),
              headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-encoding': 'base64' },
            },
          );
    if (answer.status !== 200) throw new AuthnFailed(own404(answer));
    const text = answer.body.toString('utf8').trim();
    // Asked for base64; a server that ignores Accept-Encoding answers the token's JSON.
    const json = text.startsWith('{') ? text : Buffer.from(text, 'base64').toString('utf8');
    if (!isAccessToken(json)) answer.foreign('a Conjur access token');
    const token = text.startsWith('{') ? Buffer.from(text).toString('base64') : text;
    return { token: `Token token="${token}"`, ttlMs: TOKEN_LIFE_MS };
  }

  #get(op: Op, target: string, query?: Record<string, string>): Promise<HttpAnswer> {
    const send = (authorization: string) =>
      this.#http.request('GET', `${this.#base}${target}`, {
        headers: { authorization, accept: '*/*' },
        query,
      });
    // A 401 is an access token Conjur no longer takes: one new one, one more try.
    return this.#core.call(op, async () =>
      expectOk(own404(await this.#session.use(send, (a) => a.status === 401))),
    );
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    numberedVersion(this.#core.tag, 'Conjur', request.version);
    // The id is one URL path segment: "." or ".." would address another endpoint.
    const id = this.#s.prefix + request.name;
    if (id === '.' || id === '..')
      throw new InvalidRequestError(`${this.#core.tag} "${request.name}" is not a variable id`);
    const answer = await this.#get(
      { action: 'fetching', name: id },
      `/secrets/${encodeURIComponent(this.#s.account)}/variable/${encodeURIComponent(id)}`,
      request.version ? { version: request.version } : undefined,
    );
    return { value: valueOfBytes(answer.body), version: request.version };
  }

  list(options: ListOptions): Promise<ListPage> {
    const strip = `${this.#s.account}:variable:${this.#s.prefix}`;
    type Resource = { id: string; created_at?: string; secrets?: Array<{ version: number }> };
    return listProviderPages<Resource>({
      ...options,
      fetch: async (token) => {
        const offset = Number(token ?? 0);
        const query = { kind: 'variable', limit: String(PAGE), offset: String(offset) };
        const items =
          (
            await this.#get(
              { action: 'listing variables' },
              `/resources/${encodeURIComponent(this.#s.account)}`,
              query,
            )
          ).json<Resource[]>() ?? [];
        return { items, next: items.length === PAGE ? String(offset + PAGE) : undefined };
      },
      pick: (r) => {
        if (!r.id.startsWith(strip)) return undefined;
        const name = r.id.slice(strip.length);
        if (options.prefix && !name.startsWith(options.prefix)) return undefined;
        return {
          name,
          createdAt: r.created_at,
          version: r.secrets?.length ? String(r.secrets.at(-1)?.version) : undefined,
        };
      },
    });
  }

  check(options: CheckOptions) {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        run: async () => {
          const me = (await this.#get({ action: 'authenticating' }, '/whoami')).json<{
            username?: string;
            account?: string;
          }>();
          return `authenticated as ${me?.username ?? this.#who} in account ${me?.account ?? this.#s.account}`;
        },
      },
      {
        step: 'list',
        run: async () =>
          `${(await this.list({ namespaces: options.namespaces })).items.length} variable(s) visible (first page)`,
        fix: 'permit the role read on the variables',
      },
      readSampleStep(
        this,
        options,
        'check the variable id, that it has a value, and that the role can see it',
      ),
    ]);
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

export const conjurStoreType = {
  type: 'conjur',
  capabilities: {
    write: false,
    batch: false,
    versions: true,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings,
  secretSettings: credentialPaths(settings),
  connectsThroughLookup: true,
  hostAccess(s: ConjurSettings): HostAccess[] {
    const out: HostAccess[] = [{ kind: 'address', setting: 'url', url: s.url }];
    if (s.caFile) out.push({ kind: 'files', setting: 'caFile', path: s.caFile });
    if (s.auth.method === 'authn-jwt' && s.auth.jwtFile)
      out.push({ kind: 'files', setting: 'auth.jwtFile', path: s.auth.jwtFile });
    if (s.auth.method === 'authn-jwt' && s.auth.jwtEnv)
      out.push({ kind: 'environment', detail: `auth.jwtEnv reads ${s.auth.jwtEnv}` });
    return out;
  },
  create: (s: ConjurSettings, context: StoreContext) => new ConjurStore(s, context),
} satisfies StoreType<ConjurSettings>;
