/**
 * `infisical` store: secrets of one Infisical project environment, over Infisical's REST API.
 *
 * A name is a secret key, or `folder/…/KEY` under `secretPath`. `?version=N` pins a version. A
 * value's references to other secrets are expanded by Infisical, and the keys a folder imports
 * read as its own (its own first).
 * `universal-auth` logs in with a machine identity's client ID and secret and logs in again
 * before the access token expires, or once after Infisical calls it expired; `token` uses a
 * given access token (Token Auth) as is. Infisical's raw secrets API has no paging: a listing
 * asks for every name at once (values hidden) and is paged in memory.
 *
 * @example
 * stores:
 *   - name: infisical
 *     type: infisical
 *     projectId: 6f5b3c2e-…
 *     environment: prod
 *     auth: { method: universal-auth, clientId: "…", clientSecret: "${env:INFISICAL_CLIENT_SECRET}" }
 */
import { z } from 'zod';
import { InvalidRequestError } from '../../errors.js';
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
  jsonWith,
  type HttpAnswer,
  HttpStatusError,
  HttpTransport,
  numberedVersion,
  pageInMemory,
  readSampleStep,
  type RetryPolicy,
  runChecks,
  StoreCore,
  TokenSession,
} from '../core/index.js';

const settings = z.strictObject({
  siteUrl: z
    .url({ protocol: /^https?$/, error: 'siteUrl is the Infisical URL, e.g. https://app.infisical.com' })
    .default('https://app.infisical.com'),
  projectId: z.string().min(1, 'projectId is the project ID (Project settings)'),
  environment: z.string().min(1, 'environment is the environment slug, e.g. prod'),
  secretPath: z
    .string()
    .regex(/^\/[^?#]*$/, 'secretPath is a folder path starting with /, e.g. /apps/api')
    .default('/'),
  auth: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('universal-auth'),
      clientId: z.string().min(1),
      clientSecret: credential(z.string().min(1)),
    }),
    z.strictObject({
      method: z.literal('token'),
      token: credential(z.string().min(1, 'token is a machine identity access token')),
    }),
  ]),
});
export type InfisicalSettings = z.infer<typeof settings>;

interface Op {
  action: string;
  name?: string | undefined;
}
interface Secret {
  secretKey: string;
  secretValue: string;
  secretPath?: string;
  version?: number;
  createdAt?: string;
  updatedAt?: string;
}

/** A failed universal-auth login, kept apart from the request it was for. */
class LoginFailed extends Error {
  constructor(readonly answer: HttpAnswer) {
    super(`login answered HTTP ${answer.status}`);
  }
}

/** Infisical answers an expired or unknown access token 403 TokenError (401 when missing). */
const refused = (a: HttpAnswer) =>
  a.status === 401 || (a.status === 403 && a.json<{ error?: string }>()?.error === 'TokenError');
/**
 * Infisical's error body (`{reqId, statusCode, message, error}`, its API reference's Errors page;
 * `message` can be a list of field errors). A 404 without it is another service at siteUrl.
 */
const infisicalError = (body: unknown): boolean => {
  const b = (body ?? {}) as { statusCode?: unknown; error?: unknown; message?: unknown };
  return (
    typeof b.statusCode === 'number' &&
    typeof b.error === 'string' &&
    (typeof b.message === 'string' || Array.isArray(b.message))
  );
};
/** The answer, unless it is a 404 that is not Infisical's (then the address does not answer like Infisical). */
const own404 = (a: HttpAnswer): HttpAnswer => {
  if (a.status === 404) a.expectJson(infisicalError, "Infisical's error");
  return a;
};
const join = (...parts: string[]) =>
  `/${parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/')}`;

export class InfisicalStore implements StoreClient {
  readonly #s: InfisicalSettings;
  readonly #core: StoreCore<Op>;
  readonly #http: HttpTransport;
  readonly #site: string;
  readonly #session: TokenSession<string>;

  constructor(s: InfisicalSettings, context: StoreContext, options: { retry?: RetryPolicy } = {}) {
    this.#s = s;
    this.#site = s.siteUrl.replace(/\/+$/, '');
    this.#http = new HttpTransport({
      lookup: context.lookup,
      settings: { address: 'siteUrl', provider: 'Infisical' },
    });
    // A universal-auth token is used until 80% of its life; a configured one as long as it works.
    this.#session = new TokenSession({
      login: () => this.#login(),
      relogin: s.auth.method === 'universal-auth',
      refreshAt: 0.8,
    });
    this.#core = new StoreCore({
      context,
      settings: s,
      credentialPaths: infisicalStoreType.secretSettings,
      retry: options.retry,
      scrub: [[/\beyJ[\w-]+\.[\w-]+\.[\w-]+/g, '[token]']],
      classify: (err, op) => this.#classify(err, op),
    });
  }

  get #where(): string {
    return `${this.#s.environment}:${this.#s.secretPath}`;
  }

  #classify(err: unknown, op: Op): Classification | undefined {
    const what = `${op.action}${op.name ? ` "${op.name}"` : ''} in ${this.#where}`;
    const answer = err instanceof LoginFailed || err instanceof HttpStatusError ? err.answer : undefined;
    if (!answer) return classifyHttp(err, what);
    const body = answer.json<{ message?: unknown; error?: string }>();
    const said = typeof body?.message === 'string' ? body.message : `HTTP ${answer.status}`;
    if (err instanceof LoginFailed && answer.status < 500) {
      return {
        kind: 'denied',
        message: `universal-auth login failed (${answer.status} ${said})`,
        fix: 'check auth.clientId and auth.clientSecret (a client secret can expire or run out of uses)',
      };
    }
    if (body?.error === 'TokenError' || answer.status === 401) {
      return {
        kind: 'denied',
        message: `${what}: Infisical refused the access token (${answer.status} ${said})`,
        fix:
          this.#s.auth.method === 'token'
            ? 'set auth.token to a valid access token of the machine identity'
            : 'check the machine identity and its universal auth settings',
      };
    }
    if (answer.status === 403) {
      return {
        kind: 'denied',
        message: `${what}: ${said} (403)`,
        fix: `give the machine identity a project role that reads secrets in environment ${this.#s.environment} under ${this.#s.secretPath} (Project → Access Control → Machine Identities)`,
      };
    }
    if (answer.status === 404 && /^(Project|Environment) /.test(said))
      return { kind: 'config', message: `${what}: ${said}`, fix: 'check projectId and environment' };
    // A listing is of secretPath itself: a folder missing there is the setting, not a secret.
    if (answer.status === 404 && op.action === 'listing' && /^Folder with path /.test(said)) {
      const fix = `check secretPath: it is a folder of environment ${this.#s.environment}, e.g. / or /apps/api`;
      return { kind: 'config', message: `${what}: ${said}`, fix };
    }
    if (answer.status === 404) return { kind: 'not_found', message: `${what}: ${said}` };
    return classifyHttp(new HttpStatusError(answer), what);
  }

  /** The access token: the configured one, or a universal-auth login. */
  async #login() {
    const { auth } = this.#s;
    if (auth.method === 'token') return { token: auth.token };
    const answer = await this.#http.request('POST', `${this.#site}/api/v1/auth/universal-auth/login`, {
      body: { clientId: auth.clientId, clientSecret: auth.clientSecret },
    });
    if (answer.status !== 200) throw new LoginFailed(own404(answer));
    const { accessToken, expiresIn } = answer.expectJson<{ accessToken: string; expiresIn: number }>(
      (b) => typeof (b as { accessToken?: unknown } | null)?.accessToken === 'string',
      'a login answer',
    );
    return { token: accessToken, ttlMs: expiresIn * 1000 };
  }

  /** A GET whose JSON answer `check` accepts (else the address does not answer like Infisical). */
  #get<T>(
    op: Op,
    path: string,
    query: Record<string, string>,
    check: (body: unknown) => boolean,
  ): Promise<T> {
    const send = (token: string) =>
      this.#http.request('GET', `${this.#site}${path}`, {
        headers: { authorization: `Bearer ${token}` },
        query: { workspaceId: this.#s.projectId, environment: this.#s.environment, ...query },
      });
    // A refused universal-auth token: one new login, one more try (a configured token is sent once).
    return this.#core.call(op, async () =>
      expectOk(own404(await this.#session.use(send, refused))).expectJson<T>(
        check,
        `an answer of ${op.action}`,
      ),
    );
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    numberedVersion(this.#core.tag, 'Infisical', request.version);
    const at = request.name.lastIndexOf('/');
    const key = request.name.slice(at + 1);
    // The key is a URL path segment: "." or ".." (or nothing) would address another endpoint.
    if (key === '' || key === '.' || key === '..')
      throw new InvalidRequestError(`${this.#core.tag} "${request.name}" does not end in a secret key`);
    const secretPath = join(this.#s.secretPath, request.name.slice(0, Math.max(at, 0)));
    const { secret } = await this.#get<{ secret: Secret }>(
      { action: 'reading', name: request.name },
      `/api/v3/secrets/raw/${encodeURIComponent(key)}`,
      // References (`${KEY}`, `${env.folder.KEY}`) expanded and the folder's imports included by
      // Infisical, as its CLI and operators do.
      {
        secretPath,
        expandSecretReferences: 'true',
        include_imports: 'true',
        ...(request.version ? { version: request.version } : {}),
      },
      jsonWith('secret'),
    );
    return {
      value: secret.secretValue,
      version: secret.version === undefined ? undefined : String(secret.version),
    };
  }

  async list(options: ListOptions): Promise<ListPage> {
    type Listed = { secrets: Secret[]; imports?: Array<{ secrets?: Secret[] }> };
    const query = { secretPath: this.#s.secretPath, viewSecretValue: 'false' };
    const listed = await this.#get<Listed>(
      { action: 'listing' },
      '/api/v3/secrets/raw',
      {
        ...query,
        recursive: 'true',
      },
      jsonWith('secrets'),
    );
    // A recursive listing mixes every folder's imports: the imports of secretPath alone, asked
    // for by themselves, read as its keys (after its own, the last import winning).
    const { imports = [] } = await this.#get<Listed>(
      { action: 'listing' },
      '/api/v3/secrets/raw',
      {
        ...query,
        include_imports: 'true',
      },
      jsonWith('secrets'),
    );
    const base = join(this.#s.secretPath);
    const own = new Set(
      listed.secrets.filter((s) => join(s.secretPath ?? base) === base).map((s) => s.secretKey),
    );
    const imported = new Map<string, Secret>();
    for (const i of imports)
      for (const s of i.secrets ?? [])
        if (!own.has(s.secretKey)) imported.set(s.secretKey, { ...s, secretPath: base });
    const items = [...listed.secrets, ...imported.values()].flatMap((s) => {
      const folder = join(s.secretPath ?? base);
      const rel = folder === base ? '' : `${folder.slice(base === '/' ? 1 : base.length + 1)}/`;
      const name = `${rel}${s.secretKey}`;
      return !options.prefix || name.startsWith(options.prefix)
        ? [
            {
              name,
              version: s.version === undefined ? undefined : String(s.version),
              createdAt: s.createdAt,
              updatedAt: s.updatedAt,
            },
          ]
        : [];
    });
    return pageInMemory(items, options);
  }

  check(options: CheckOptions) {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        run: async () => {
          await this.#core.call({ action: 'authenticating' }, () => this.#session.token());
          return this.#s.auth.method === 'token'
            ? 'access token configured (the list step uses it)'
            : `logged in as client ${this.#s.auth.clientId}`;
        },
      },
      {
        step: 'list',
        required: true,
        run: async () =>
          `${(await this.list({ namespaces: options.namespaces })).items.length} secret(s) in ${this.#where}`,
      },
      readSampleStep(
        this,
        options,
        "check the name (folder/KEY under secretPath) and the identity's access to it",
      ),
    ]);
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

export const infisicalStoreType = {
  type: 'infisical',
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
  hostAccess: (s: InfisicalSettings): HostAccess[] => [
    { kind: 'address', setting: 'siteUrl', url: s.siteUrl },
  ],
  create: (s: InfisicalSettings, context: StoreContext) => new InfisicalStore(s, context),
} satisfies StoreType<InfisicalSettings>;
