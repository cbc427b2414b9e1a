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
 * Written on `node:http`/`node:https` rather than `fetch`: `caFile` needs a per-request CA, which
 * the built-in `fetch` only takes through undici's dispatcher, a package Sesame does not carry.
 *
 * @example
 * stores:
 *   - name: vaultish
 *     type: http
 *     url: https://secrets.internal/v1/secrets/{+name}?version={version}
 *     auth: { method: bearer, token: "${env:SECRETS_TOKEN}" }
 *     valuePath: /data/value
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import {
  AccessDeniedError,
  ConfigError,
  SecretNotFoundError,
  SecretStateError,
  SesameError,
  StoreUnavailableError,
  UnsupportedOperationError,
  UsageError,
} from '../../errors.js';
import { evaluatePointer, parsePointer } from '../../refs/pointer.js';
import type {
  CheckOptions,
  CheckReport,
  CheckStep,
  FetchedSecret,
  ListOptions,
  ListPage,
  SecretRequest,
  StoreClient,
  StoreContext,
  StoreType,
  HostAccess,
} from '../contract.js';
import { type RetryOptions, withRetry } from '../core/retry.js';

const template = (what: string) =>
  z.string().refine((t) => {
    try {
      const url = new URL(t.replace(/\{\+?[a-z]+\}/g, 'x'));
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, `${what} is an http(s) URL template, e.g. https://secrets.internal/v1/{name}`);

const settings = z
  .strictObject({
    /** Where a secret is read; `{name}`, `{+name}` and `{version}` are filled in (see above). */
    url: template('url'),
    method: z.enum(['GET', 'POST']).default('GET'),
    /** Extra request headers. Their values are treated as credentials (masked, never logged). */
    headers: z
      .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not an HTTP header name'), z.string())
      .default({}),
    auth: z
      .discriminatedUnion('method', [
        z.strictObject({ method: z.literal('none') }),
        z.strictObject({ method: z.literal('bearer'), token: z.string().min(1) }),
        z.strictObject({ method: z.literal('basic'), username: z.string().min(1), password: z.string() }),
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

/** Hooks for tests: replace the backoff sleep. Not reachable from config. */
export interface HttpStoreTestHooks {
  retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

const MAX_BODY = 1024 * 1024;
const RETRY_ATTEMPTS = 4;

interface HttpAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A failed exchange, kept internal: messages are built from the status, never from the body. */
class HttpFailure extends Error {
  override readonly name = 'HttpFailure';
  constructor(
    readonly status: number | undefined,
    readonly network: string | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(status !== undefined ? `HTTP ${status}` : `network error ${network ?? ''}`.trim());
  }
}

function retryAfter(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** TLS verification failures: retrying cannot help, trusting the right CA can. */
const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|SSL|TLS|HOSTNAME_MISMATCH/;

function verdict(err: unknown): boolean | number {
  if (!(err instanceof HttpFailure)) return false;
  if (err.status === 429) return err.retryAfterMs ?? true;
  if (err.status !== undefined) return err.status >= 500;
  return !TLS_ERROR.test(err.network ?? '');
}

/** The URL without query, fragment or user info: safe to show (queries can hold API keys). */
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

export class HttpStoreClient implements StoreClient {
  readonly #timeoutMs: number;
  readonly #ca: string | undefined;
  readonly #authorization: string | undefined;

  constructor(
    private readonly settings: HttpStoreSettings,
    private readonly context: StoreContext,
    private readonly hooks: HttpStoreTestHooks = {},
  ) {
    const at = `stores.${context.storeName}`;
    this.#timeoutMs = parseDuration(settings.timeout) ?? 10_000;
    if (settings.caFile) {
      const file = path.resolve(context.baseDir ?? process.cwd(), settings.caFile);
      try {
        this.#ca = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(
          `cannot read caFile ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
          { path: `${at}.caFile` },
        );
      }
    }
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
  }

  get #tag(): string {
    return `[${this.context.storeName}]`;
  }

  #urlFor(name: string, version: string | undefined): URL {
    const { url } = this.settings;
    if (version !== undefined && !url.includes('{version}')) {
      throw new UsageError(
        `${this.#tag} this store's url has no {version}: it cannot serve pinned version ${version}`,
      );
    }
    return new URL(
      url
        .replace(/\{\+name\}/g, encodePath(name))
        .replace(/\{name\}/g, encodeURIComponent(name))
        .replace(/\{version\}/g, encodeURIComponent(version ?? '')),
    );
  }

  #send(url: URL, method: 'GET' | 'POST', body?: string): Promise<HttpAnswer> {
    const headers: Record<string, string> = {
      accept: 'application/json, text/plain;q=0.9, */*;q=0.5',
      ...this.settings.headers,
    };
    if (this.#authorization) headers.authorization = this.#authorization;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers,
          ...(this.#ca ? { ca: this.#ca } : {}),
          ...(this.context.lookup ? { lookup: this.context.lookup } : {}),
          signal: AbortSignal.timeout(this.#timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY) {
              req.destroy();
              reject(
                new SecretStateError(
                  `${this.#tag} the answer from ${shown(url)} is larger than ${MAX_BODY} bytes: not a secret`,
                ),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', (err: NodeJS.ErrnoException) =>
            reject(new HttpFailure(undefined, err.code ?? err.name, undefined)),
          );
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code =
          err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timeout' : (err.code ?? err.name);
        reject(new HttpFailure(undefined, code, undefined));
      });
      req.end(body);
    });
  }

  /** One request with retries; throws the mapped error for anything but 2xx. */
  async #exchange(url: URL, method: 'GET' | 'POST', what: string, body?: string): Promise<HttpAnswer> {
    let attempts = 0;
    try {
      return await withRetry(
        async () => {
          attempts += 1;
          const answer = await this.#send(url, method, body);
          if (answer.status >= 200 && answer.status < 300) return answer;
          throw new HttpFailure(
            answer.status,
            undefined,
            answer.status === 429 ? retryAfter(answer.headers['retry-after']) : undefined,
          );
        },
        {
          attempts: RETRY_ATTEMPTS,
          baseDelayMs: 200,
          maxDelayMs: 2_000,
          retryable: verdict,
          ...this.hooks.retry,
        },
      );
    } catch (err) {
      if (err instanceof SesameError) throw err;
      throw this.#map(err, url, what, attempts);
    }
  }

  #map(err: unknown, url: URL, what: string, attempts: number): SesameError {
    const tag = this.#tag;
    const tries = `after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const target = shown(url);
    if (!(err instanceof HttpFailure)) return new StoreUnavailableError(`${tag} request to ${target} failed`);
    const cause = new Error(err.message);
    if (err.status === undefined && TLS_ERROR.test(err.network ?? '')) {
      return new StoreUnavailableError(
        `${tag} ${what}: the certificate of ${url.host} is not trusted (${err.network}): set caFile to the CA that signed it`,
        {},
        { cause },
      );
    }
    if (err.status === undefined) {
      const reason =
        err.network === 'timeout'
          ? `no answer within ${this.settings.timeout}`
          : `cannot reach it (${err.network})`;
      return new StoreUnavailableError(`${tag} ${what}: ${target} ${reason} ${tries}`, {}, { cause });
    }
    switch (err.status) {
      case 404:
        return new SecretNotFoundError(`${tag} ${what}: ${target} answered 404 Not Found`, {}, { cause });
      case 401:
        return new AccessDeniedError(
          `${tag} ${what}: ${target} answered 401 Unauthorized: check auth (method ${this.settings.auth.method}) and its credentials`,
          {},
          { cause },
        );
      case 403:
        return new AccessDeniedError(
          `${tag} ${what}: ${target} answered 403 Forbidden: the credentials are valid but not allowed to read this; grant them access on the store`,
          {},
          { cause },
        );
      case 429:
        return new StoreUnavailableError(
          `${tag} ${what}: ${target} is throttling (429 Too Many Requests) ${tries}`,
          {},
          { cause },
        );
      default:
        if (err.status >= 500) {
          return new StoreUnavailableError(
            `${tag} ${what}: ${target} is failing (HTTP ${err.status}) ${tries}`,
            {},
            { cause },
          );
        }
        if (err.status >= 300 && err.status < 400) {
          return new StoreUnavailableError(
            `${tag} ${what}: ${target} redirected (HTTP ${err.status}); redirects are not followed, point url at the final location`,
            {},
            { cause },
          );
        }
        return new StoreUnavailableError(
          `${tag} ${what}: ${target} answered HTTP ${err.status}`,
          {},
          { cause },
        );
    }
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
      try {
        return { value: new TextDecoder('utf-8', { fatal: true }).decode(answer.body) };
      } catch {
        return { value: new Uint8Array(answer.body) };
      }
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
    const url = new URL(
      this.settings.listUrl.replace(/\{prefix\}/g, encodeURIComponent(options.prefix ?? '')),
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
    const items = [...new Set(names)]
      .filter((n) => !options.prefix || n.startsWith(options.prefix))
      .sort()
      .map((name) => ({ name }));
    return { items };
  }

  async check(options: CheckOptions): Promise<CheckReport> {
    const steps: CheckStep[] = [];
    const probe = options.sample ?? `sesame-check-${Math.random().toString(36).slice(2, 10)}`;
    try {
      await this.get({ name: probe, namespaces: options.namespaces });
      steps.push({ step: 'read', ok: true, detail: `"${probe}" is readable` });
    } catch (err) {
      const code = (err as SesameError).code;
      const reachable = code === 'not_found' && !options.sample;
      steps.push({
        step: 'read',
        ok: reachable,
        detail: reachable
          ? 'the store answers and accepts the credentials (no sample given: probed a name that does not exist)'
          : (err as Error).message,
        ...(reachable
          ? {}
          : {
              fix:
                code === 'access_denied'
                  ? 'fix auth or headers, or grant these credentials read access on the store'
                  : code === 'not_found'
                    ? 'create the sample secret, or check the url template'
                    : code === 'secret_state'
                      ? 'check valuePath against what the store answers'
                      : 'check that url points at the store and that it is up',
            }),
      });
    }
    if (this.settings.listUrl) {
      try {
        const n = (await this.list({ namespaces: options.namespaces })).items.length;
        steps.push({ step: 'list', ok: true, detail: `${n} name${n === 1 ? '' : 's'} listed` });
      } catch (err) {
        steps.push({
          step: 'list',
          ok: false,
          detail: (err as Error).message,
          fix: 'check listUrl and what it answers',
        });
      }
    }
    return { ok: steps.every((s) => s.ok), steps };
  }

  async close(): Promise<void> {}
}

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
  secretSettings: ['auth.token', 'auth.password', 'headers'],
  connectsThroughLookup: true,
  hostAccess(s: HttpStoreSettings): HostAccess[] {
    // The URL template's host part is fixed; `{name}` and `{version}` only fill its path and query.
    const out: HostAccess[] = [{ kind: 'address', setting: 'url', url: s.url.replace(/\{[^}]*\}/g, 'x') }];
    if (s.caFile) out.push({ kind: 'files', setting: 'caFile', path: s.caFile });
    return out;
  },
  create: (s: HttpStoreSettings, context: StoreContext) => new HttpStoreClient(s, context),
} satisfies StoreType<HttpStoreSettings>;
