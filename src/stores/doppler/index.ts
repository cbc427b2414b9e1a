/**
 * `doppler` store: secrets of one Doppler config, over the Doppler API v3.
 *
 * A name is the secret's name; the value is its computed value (references such as
 * `${OTHER}` expanded by Doppler). Several secrets of one resolve are read in one call
 * (`secrets?secrets=A,B`). A service token belongs to one project and config, so `project` and
 * `config` may be left out; with a personal or service account token they are required by
 * Doppler. Doppler keeps no per-secret versions, so `?version=` is refused.
 *
 * @example
 * stores:
 *   - name: doppler
 *     type: doppler
 *     project: backend
 *     config: prd
 *     auth: { method: service-token, token: "${env:DOPPLER_TOKEN}" }
 */
import { z } from 'zod';
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
  HttpStatusError,
  HttpTransport,
  jsonWith,
  pageInMemory,
  type RetryPolicy,
  readSampleStep,
  runChecks,
  StoreCore,
} from '../core/index.js';

const settings = z.strictObject({
  apiUrl: z
    .url({ protocol: /^https?$/, error: 'apiUrl is the Doppler API URL, e.g. https://api.doppler.com' })
    .default('https://api.doppler.com'),
  project: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  /** Prepended to every name (e.g. `APP_`); listings show names without it. */
  prefix: z.string().default(''),
  auth: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('service-token'),
      token: credential(z.string().min(1, 'token is a Doppler service token (dp.st.…)')),
    }),
  ]),
});
export type DopplerSettings = z.infer<typeof settings>;

interface Op {
  action: string;
  name?: string | undefined;
}
interface Value {
  raw?: string | null;
  computed?: string | null;
  computedVisibility?: string;
}

/**
 * Doppler's error body: `{"messages": ["Could not find requested secret"], "success": false}` (the
 * shape its own CLI reads): at least one message, each a string. `success` is not required, only
 * never `true`. A 400, 401, 403 or 404 without it comes from something else at `apiUrl` (a
 * gateway, a proxy, another API — Cloudflare's `{"success": false, "messages": [], "errors": […]}`
 * included): never Doppler's word on the token or the config.
 */
const dopplerError = (body: unknown): boolean => {
  const b = body as { messages?: unknown; success?: unknown } | null;
  return (
    (b?.success === false || (b !== null && typeof b === 'object' && b.success === undefined)) &&
    Array.isArray(b.messages) &&
    b.messages.length > 0 &&
    b.messages.every((m) => typeof m === 'string')
  );
};

/** The statuses whose meaning (token refused, config wrong, not found) only Doppler's own body gives. */
const DOPPLER_SAYS = new Set([400, 401, 403, 404]);

/** `/v3/me`: the token's `slug` and its `workplace`. */
const tokenInfo = (body: unknown): boolean =>
  typeof (body as { slug?: unknown } | null)?.slug === 'string' || jsonWith('workplace')(body);

export class DopplerStore implements StoreClient {
  readonly #s: DopplerSettings;
  readonly #core: StoreCore<Op>;
  readonly #http: HttpTransport;
  readonly #scope: Record<string, string>;

  constructor(s: DopplerSettings, context: StoreContext, options: { retry?: RetryPolicy } = {}) {
    this.#s = s;
    this.#http = new HttpTransport({
      lookup: context.lookup,
      settings: { address: 'apiUrl', provider: 'Doppler' },
    });
    this.#scope = { ...(s.project ? { project: s.project } : {}), ...(s.config ? { config: s.config } : {}) };
    this.#core = new StoreCore({
      context,
      settings: s,
      credentialPaths: dopplerStoreType.secretSettings,
      retry: options.retry,
      scrub: [[/dp\.(st|pt|sa|ct|scim|audit)\.[\w.-]+/g, 'dp.$1.[redacted]']],
      classify: (err, op) => this.#classify(err, op),
    });
  }

  get #where(): string {
    return this.#s.project && this.#s.config ? ` in ${this.#s.project}/${this.#s.config}` : '';
  }

  #classify(err: unknown, op: Op): Classification | undefined {
    const what = `${op.action}${op.name ? ` "${op.name}"` : ''}${this.#where}`;
    if (!(err instanceof HttpStatusError)) return classifyHttp(err, what);
    const body = err.answer.json<unknown>();
    const said =
      (dopplerError(body) && (body as { messages: string[] }).messages.join('; ')) || `HTTP ${err.status}`;
    const tokenFix = this.#tokenFix;
    if (err.status === 401)
      return { kind: 'denied', message: `${what}: Doppler refused the token (401 ${said})`, fix: tokenFix };
    if (err.status === 403) return { kind: 'denied', message: `${what}: ${said} (403)`, fix: tokenFix };
    if (err.status === 404 && /secret/i.test(said)) return { kind: 'not_found', message: `${what}: ${said}` };
    if (err.status === 404 || err.status === 400)
      return {
        kind: 'config',
        message: `${what}: ${said} (HTTP ${err.status})`,
        fix: 'check project and config (required unless the token is a service token)',
      };
    return classifyHttp(err, what);
  }

  /**
   * A GET whose JSON answer `check` accepts; an answer that is not Doppler's (a 200 without the
   * fields asked for, a 400/401/403/404 without Doppler's error body) is a foreign answer, never
   * a value, a refused token or a missing secret.
   */
  #get<T>(
    op: Op,
    path: string,
    query: Record<string, string>,
    check: (body: unknown) => boolean,
    what: string,
  ): Promise<T> {
    const headers = { authorization: `Bearer ${this.#s.auth.token}` };
    const url = `${this.#s.apiUrl.replace(/\/+$/, '')}/v3/${path}`;
    return this.#core.call(op, async () => {
      const answer = await this.#http.request('GET', url, { headers, query: { ...this.#scope, ...query } });
      if (DOPPLER_SAYS.has(answer.status)) answer.expectJson(dopplerError, "Doppler's error");
      return expectOk(answer).expectJson<T>(check, what);
    });
  }

  #text(name: string, value: Value | undefined): string {
    if (typeof value?.computed === 'string') return value.computed;
    // Doppler gives a restricted value to service tokens only: the token is the thing to change.
    if (value?.computedVisibility === 'restricted')
      throw this.#core.fail({
        kind: 'denied',
        message: `"${name}"${this.#where} is restricted: Doppler gives its value to service tokens only, not to personal or CLI tokens`,
        fix: this.#tokenFix,
      });
    throw this.#core.fail({
      kind: 'conflict',
      message: `"${name}"${this.#where}: Doppler answered no value`,
    });
  }

  get #tokenFix(): string {
    const { project, config } = this.#s;
    return `set auth.token to a service token of ${project && config ? `${project}/${config}` : 'the config'} (Doppler: project → config → Access → Generate)`;
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    const got = await this.#get<{ value?: Value }>(
      { action: 'reading', name: request.name },
      'configs/config/secret',
      { name: this.#s.prefix + request.name },
      jsonWith('value'),
      'a secret',
    );
    return { value: this.#text(request.name, got.value) };
  }

  async getMany(requests: readonly SecretRequest[]): Promise<Array<FetchedSecret | Error>> {
    const names = [...new Set(requests.map((r) => this.#s.prefix + r.name))];
    const op = { action: 'reading', name: names.join(', ') };
    let secrets: Record<string, Value>;
    try {
      secrets = (
        await this.#get<{ secrets: Record<string, Value> }>(
          op,
          'configs/config/secrets',
          { secrets: names.join(',') },
          jsonWith('secrets'),
          'secrets',
        )
      ).secrets;
    } catch (err) {
      return requests.map(() => err as Error);
    }
    return requests.map((r) => {
      try {
        const id = this.#s.prefix + r.name;
        if (!(id in secrets))
          throw this.#core.fail({
            kind: 'not_found',
            message: `reading "${r.name}"${this.#where}: Could not find requested secret`,
          });
        return { value: this.#text(r.name, secrets[id]) };
      } catch (err) {
        return err as Error;
      }
    });
  }

  async list(options: ListOptions): Promise<ListPage> {
    const { names } = await this.#get<{ names: string[] }>(
      { action: 'listing' },
      'configs/config/secrets/names',
      { include_managed_secrets: 'false' },
      (b) => Array.isArray((b as { names?: unknown } | null)?.names),
      'secret names',
    );
    const wanted = this.#s.prefix + (options.prefix ?? '');
    const mine = names.filter((n) => n.startsWith(wanted));
    return pageInMemory(
      mine.map((n) => ({ name: n.slice(this.#s.prefix.length) })),
      options,
    );
  }

  check(options: CheckOptions) {
    return runChecks([
      {
        step: 'authenticate',
        required: true,
        run: async () => {
          const me = await this.#get<{ name?: string; type?: string; workplace?: { name?: string } }>(
            { action: 'authenticating' },
            'me',
            {},
            tokenInfo,
            "a token's details",
          );
          return `token "${me.name ?? '?'}" (${me.type ?? 'unknown type'}) of workplace ${me.workplace?.name ?? '?'}`;
        },
      },
      {
        step: 'list',
        run: async () =>
          `${(await this.list({ namespaces: options.namespaces })).items.length} secret name(s)${this.#where}`,
      },
      readSampleStep(this, options, 'check the secret name and that the token belongs to this config'),
    ]);
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

export const dopplerStoreType = {
  type: 'doppler',
  capabilities: {
    write: false,
    batch: true,
    versions: false,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings,
  secretSettings: credentialPaths(settings),
  connectsThroughLookup: true,
  hostAccess: (s: DopplerSettings): HostAccess[] => [{ kind: 'address', setting: 'apiUrl', url: s.apiUrl }],
  create: (s: DopplerSettings, context: StoreContext) => new DopplerStore(s, context),
} satisfies StoreType<DopplerSettings>;
