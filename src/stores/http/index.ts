/**
 * `http` store: a custom secret store behind an HTTP endpoint (Atlan's "custom secret store").
 *
 * A read is one request to `url`, a template where `{name}` and `{version}` are replaced by the
 * URL-encoded name and pinned version (`{version}` is empty when none is pinned); `{+name}` keeps
 * the `/` between path segments (each segment still encoded). `valuePath` is an RFC 6901 JSON
 * Pointer into the JSON answer; without it the body text is the value.
 *
 * Listing needs `listUrl`: a GET answering either a JSON array of names (`["a", "b"]`) or an
 * object with a `names` array (`{"names": ["a", "b"]}`); `{prefix}` in it is replaced by the
 * URL-encoded prefix asked for (the store filters by prefix again either way).
 *
 * `method: POST` sends `{"name": "...", "version": "..."}` as a JSON body (the url then needs no
 * `{name}`), for stores that take the lookup in the body.
 *
 * 404 → not found; 401/403 → access denied; 429 (after `Retry-After`) and 5xx are retried with
 * the shared backoff, then reported unavailable. Redirects are not followed, so credentials are
 * never sent to a host the config does not name.
 *
 * Requests go through the core's `HttpTransport` (CA, lookup, timeout, size cap, no redirects);
 * retries and classification are the core's.
 *
 * @example
 * stores:
 *   - name: vaultish
 *     type: http
 *     url: https://secrets.internal/v1/secrets/{+name}?version={version}
 *     auth: { method: bearer, token: "${env:SECRETS_TOKEN}" }
 *     valuePath: /data/value
 */
import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import { ConfigError, SecretStateError, UnsupportedOperationError, UsageError } from '../../errors.js';
import { evaluatePointer, parsePointer } from '../../refs/pointer.js';
import type {
  CheckOptions,
  CheckReport,
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
  AnswerTooLargeError,
  type Classification,
  credential,
  credentialPaths,
  expectOk,
  type HttpAnswer,
  HttpStatusError,
  HttpTransport,
  notFoundFix,
  pageInMemory,
  readSettingFile,
  retryAfterMs,
  type RetryPolicy,
  runChecks,
  StoreCore,
  valueOfBytes,
} from '../core/index.js';

/**
 * The fixed part of a URL template: scheme and authority (user info, host, port), up to where the
 * path, query or fragment starts. Undefined when placeholders reach into it: `{name}` and
 * `{version}` may fill only the path and the query, or a secret's name would choose the host
 * (`http://{+name}@8.8.8.8/` with the name `127.0.0.1/admin` is a request to 127.0.0.1).
 */
function fixedOrigin(t: string): string | undefined {
  const m = /^(https?:\/\/[^/?#\\{}]+)(?:[/?#]|$)/i.exec(t);
  return m?.[1];
}

const template = (what: string) =>
  z
    .string()
    .refine((t) => {
      try {
        const url = new URL(t.replace(/\{\+?[a-z]+\}/g, 'x'));
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    }, `${what} is an http(s) URL template, e.g. https://secrets.internal/v1/{name}`)
    .refine(
      (t) => !/[{}]/.test(t) || fixedOrigin(t) !== undefined,
      `${what} takes placeholders ({name}, {+name}, {version}, {prefix}) only in the path and the query, not in the scheme, user info, host or port, so a name cannot choose the host: write the host out, e.g. https://secrets.internal/v1/{name}`,
    );

const settings = z
  .strictObject({
    /** Where a secret is read; `{name}`, `{+name}` and `{version}` are filled in (see above). */
    url: template('url'),
    method: z.enum(['GET', 'POST']).default('GET'),
    /** Extra request headers. Their values are treated as credentials (masked, never logged). */
    headers: z
      .record(
        z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not an HTTP header name'),
        credential(z.string()),
      )
      .default({}),
    auth: z
      .discriminatedUnion('method', [
        z.strictObject({ method: z.literal('none') }),
        z.strictObject({ method: z.literal('bearer'), token: credential(z.string().min(1)) }),
        z.strictObject({
          method: z.literal('basic'),
          username: z.string().min(1),
          password: credential(z.string()),
        }),
      ])
      .default({ method: 'none' }),
    /** RFC 6901 JSON Pointer to the value in a JSON answer; absent: the body text is the value. */
    valuePath: z
      .string()
      .refine((p) => {
        try {
          parsePointer(p);
          return true;
        } catch {
          return false;
        }
      }, 'valuePath is a JSON Pointer such as /data/value')
      .optional(),
    timeout: z
      .string()
      .refine((d) => (parseDuration(d) ?? 0) > 0, 'timeout is a duration such as 5s or 500ms')
      .default('10s'),
    /** PEM file of the CA(s) that signed the store's certificate. */
    caFile: z.string().min(1).optional(),
    /** URL answering the names of the secrets (see the module comment); without it the store cannot list. */
    listUrl: template('listUrl').optional(),
  })
  .refine((s) => s.method === 'POST' || /\{\+?name\}/.test(s.url), {
    message: 'url must contain {name} (or {+name}) unless method is POST, which sends the name in the body',
    path: ['url'],
  });

export type HttpStoreSettings = z.infer<typeof settings>;

/** Hooks for tests: replace the backoff sleep, set the call's time budget. Not reachable from config. */
export interface HttpStoreTestHooks {
  retry?: RetryPolicy;
}

interface Op {
  what: string;
  url: URL;
}

/** The URL without query, fragment or user info: safe to show (queries can hold API keys). */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
};

/**
 * What an exchange's failure means; messages are built from the status, never from the body. No
 * answer at all is the core's (the host and port, what failed and the setting to change).
 */
function classify(err: unknown, { what, url }: Op, settings: HttpStoreSettings): Classification | undefined {
  const target = shown(url);
  if (err instanceof AnswerTooLargeError) {
    return {
      kind: 'conflict',
      message: `${what}: the answer from ${target} is larger than ${err.limit} bytes: not a secret`,
      retry: false,
    };
  }
  if (!(err instanceof HttpStatusError)) return undefined;
  const status = err.status;
  const answered = `${what}: ${target} answered ${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
  const summary = `HTTP ${status}`;
  if (status === 404)
    return {
      kind: 'not_found',
      message: answered,
      fix: notFoundFix('read', { check: 'the url template' }),
      summary,
    };
  if (status === 401 || status === 403) {
    const fix = 'fix auth or headers, or grant these credentials read access on the store';
    const why =
      status === 401
        ? `check auth (method ${settings.auth.method}) and its credentials`
        : 'the credentials are valid but not allowed to read this; grant them access on the store';
    return { kind: 'denied', message: `${answered}: ${why}`, fix, summary };
  }
  if (status === 429) {
    return {
      kind: 'throttled',
      message: `${what}: ${target} is throttling (429 Too Many Requests)`,
      retryAfterMs: retryAfterMs(err.answer.headers['retry-after']),
      summary,
    };
  }
  if (status >= 500)
    return {
      kind: 'unavailable',
      message: `${what}: ${target} is failing (HTTP ${status})`,
      fix: 'check the store and retry later',
      summary,
    };
  if (status >= 300 && status < 400) {
    const fix = 'point url at the final location';
    return {
      kind: 'unavailable',
      message: `${what}: ${target} redirected (HTTP ${status}); redirects are not followed, ${fix}`,
      fix,
      retry: false,
      summary,
    };
  }
  return { kind: 'invalid', message: `${what}: ${target} answered HTTP ${status}`, summary };
}

function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

export class HttpStoreClient implements StoreClient {
  readonly #authorization: string | undefined;
  readonly #http: HttpTransport;
  readonly #core: StoreCore<Op>;

  constructor(
    private readonly settings: HttpStoreSettings,
    private readonly context: StoreContext,
    hooks: HttpStoreTestHooks = {},
  ) {
    const at = `stores.${context.storeName}`;
    const ca =
      settings.caFile &&
      readSettingFile(
        context,
        'caFile',
        settings.caFile,
        "the PEM file of the CA(s) that signed the service's certificate",
      );
    const { auth } = settings;
    if (
      auth.method !== 'none' &&
      Object.keys(settings.headers).some((h) => h.toLowerCase() === 'authorization')
    ) {
      throw new ConfigError('headers.Authorization and auth both set the Authorization header', {
        path: `${at}.headers`,
        hint: 'keep one of them',
      });
    }
    if (auth.method === 'bearer') this.#authorization = `Bearer ${auth.token}`;
    if (auth.method === 'basic') {
      this.#authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    }
    const timeoutMs = parseDuration(settings.timeout) ?? 10_000;
    const address = {
      address: 'url',
      ca: 'caFile',
      provider: 'a secret service',
      timeout: `timeout (${settings.timeout})`,
    };
    this.#http = new HttpTransport({ ca, lookup: context.lookup, timeoutMs, settings: address });
    this.#core = new StoreCore<Op>({
      context,
      settings,
      credentialPaths: HTTP_CREDENTIALS,
      // The call's time budget follows the timeout setting: its default is the timeout plus 5 s.
      retry: { attempts: 4, baseDelayMs: 200, ...hooks.retry },
      requestTimeoutMs: timeoutMs,
      endpoint: { at: ({ what, url }) => ({ url, settings: address, what }) },
      classify: (err, op) => classify(err, op, settings),
    });
  }

  get #tag(): string {
    return this.#core.tag;
  }

  #urlFor(name: string, version: string | undefined): URL {
    const { url } = this.settings;
    if (version !== undefined && !url.includes('{version}')) {
      throw new UsageError(
        `${this.#tag} this store's url has no {version}: it cannot serve pinned version ${version}`,
      );
    }
    return this.#filled(
      'url',
      url
        .replace(/\{\+name\}/g, encodePath(name))
        .replace(/\{name\}/g, encodeURIComponent(name))
        .replace(/\{version\}/g, encodeURIComponent(version ?? '')),
      url,
      `the name "${name}"`,
    );
  }

  /**
   * The filled template as a URL, refused unless it goes to the host the template names (the one
   * checked against the outbound policy when the store was saved). The settings schema already
   * keeps placeholders out of the scheme, user info, host and port; this holds for settings that
   * did not pass it (a row stored before it did).
   */
  #filled(setting: string, filled: string, template: string, by: string): URL {
    const judged = new URL(template.replace(/\{[^}]*\}/g, 'x'));
    let url: URL;
    try {
      url = new URL(filled);
    } catch {
      throw new UsageError(`${this.#tag} ${by} does not make a valid URL of ${setting}`);
    }
    if (url.protocol !== judged.protocol || url.host !== judged.host || fixedOrigin(template) === undefined) {
      throw new UsageError(
        `${this.#tag} ${by} would send the request to ${url.host} instead of ${judged.host}: placeholders go only in the path and the query of ${setting}`,
      );
    }
    return url;
  }

  /** One request with the core's retries; a non-2xx answer is a classified error. */
  #exchange(url: URL, method: 'GET' | 'POST', what: string, body?: string): Promise<HttpAnswer> {
    const headers: Record<string, string> = {
      accept: 'application/json, text/plain;q=0.9, */*;q=0.5',
      ...this.settings.headers,
      ...(this.#authorization ? { authorization: this.#authorization } : {}),
    };
    return this.#core.call({ what, url }, async () =>
      expectOk(await this.#http.request(method, url, { headers, body })),
    );
  }

  async get(request: SecretRequest): Promise<FetchedSecret> {
    // ?version= and ?stage= the type does not have are refused by the core (resolve/bindings.ts).
    const url = this.#urlFor(request.name, request.version);
    const what = `reading "${request.name}"${request.version ? ` version ${request.version}` : ''}`;
    const body =
      this.settings.method === 'POST'
        ? JSON.stringify({ name: request.name, ...(request.version ? { version: request.version } : {}) })
        : undefined;
    const answer = await this.#exchange(url, this.settings.method, what, body);
    if (this.settings.valuePath === undefined) {
      return { value: valueOfBytes(answer.body) };
    }
    let document: unknown;
    try {
      document = JSON.parse(answer.body.toString('utf8'));
    } catch {
      // Never quote the body: it may be the secret.
      throw new SecretStateError(
        `${this.#tag} ${what}: ${shown(url)} did not answer JSON, so valuePath ${this.settings.valuePath} cannot apply; drop valuePath to take the body as is`,
      );
    }
    const found = evaluatePointer(document, parsePointer(this.settings.valuePath));
    if (!found.found || found.value === null || found.value === undefined) {
      throw new SecretStateError(
        `${this.#tag} ${what}: the JSON answer of ${shown(url)} has no value at valuePath ${this.settings.valuePath}${found.found ? '' : ` (missing from ${found.failedAt})`}: check valuePath against what the store returns`,
      );
    }
    const value = found.value;
    return { value: typeof value === 'string' ? value : JSON.stringify(value) };
  }

  async list(options: ListOptions): Promise<ListPage> {
    if (!this.settings.listUrl) {
      throw new UnsupportedOperationError(
        `${this.#tag} this http store cannot list: set listUrl to a URL answering a JSON array of names or {"names": [...]}`,
      );
    }
    const url = this.#filled(
      'listUrl',
      this.settings.listUrl.replace(/\{prefix\}/g, encodeURIComponent(options.prefix ?? '')),
      this.settings.listUrl,
      `the prefix "${options.prefix ?? ''}"`,
    );
    const answer = await this.#exchange(url, 'GET', 'listing');
    let names: unknown;
    try {
      const document = JSON.parse(answer.body.toString('utf8')) as unknown;
      names = Array.isArray(document) ? document : (document as { names?: unknown } | null)?.names;
    } catch {
      names = undefined;
    }
    if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string')) {
      throw new SecretStateError(
        `${this.#tag} listing: ${shown(url)} must answer a JSON array of names or {"names": [...]}, and did not`,
      );
    }
    // The store answers every name at once: paged here, after the last name served.
    const items = [...new Set(names)]
      .filter((n) => !options.prefix || n.startsWith(options.prefix))
      .map((name) => ({ name }));
    return pageInMemory(items, options);
  }

  check(options: CheckOptions): Promise<CheckReport> {
    const probe = options.sample ?? `sesame-check-${Math.random().toString(36).slice(2, 10)}`;
    return runChecks([
      {
        step: 'read',
        fix: (err) =>
          (err as { code?: string }).code === 'secret_state'
            ? 'check valuePath against what the store answers'
            : 'check that url points at the store and that it is up',
        run: async () => {
          try {
            await this.get({ name: probe, namespaces: options.namespaces });
            return `"${probe}" is readable`;
          } catch (err) {
            // Without a sample, "not found" for a made-up name proves the store answers and takes the credentials.
            if (options.sample || (err as { code?: string }).code !== 'not_found') throw err;
            return 'the store answers and accepts the credentials (no sample given: probed a name that does not exist)';
          }
        },
      },
      this.settings.listUrl !== undefined && {
        step: 'list',
        fix: 'check listUrl and what it answers',
        run: async () => {
          const n = (await this.list({ namespaces: options.namespaces })).items.length;
          return `${n} name${n === 1 ? '' : 's'} listed`;
        },
      },
    ]);
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

const HTTP_CREDENTIALS = credentialPaths(settings);

export const httpStoreType = {
  type: 'http',
  capabilities: {
    write: false,
    batch: false,
    versions: true,
    stages: false,
    namespaced: false,
    restore: false,
  },
  settings,
  secretSettings: HTTP_CREDENTIALS,
  connectsThroughLookup: true,
  hostAccess(s: HttpStoreSettings): HostAccess[] {
    // The schema keeps placeholders out of the scheme, user info, host and port (fixedOrigin), and
    // the client refuses a filled URL whose host differs: the host judged here is the one reached.
    const out: HostAccess[] = [{ kind: 'address', setting: 'url', url: s.url.replace(/\{[^}]*\}/g, 'x') }];
    if (s.listUrl)
      out.push({ kind: 'address', setting: 'listUrl', url: s.listUrl.replace(/\{[^}]*\}/g, 'x') });
    if (s.caFile) out.push({ kind: 'files', setting: 'caFile', path: s.caFile });
    return out;
  },
  create: (s: HttpStoreSettings, context: StoreContext) => new HttpStoreClient(s, context),
} satisfies StoreType<HttpStoreSettings>;
