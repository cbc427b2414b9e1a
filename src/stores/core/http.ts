/**
 * JSON-over-HTTP(S) for adapters whose provider has no SDK worth loading (Vault, custom http
 * stores, and the REST APIs of 1Password Connect, Doppler, Infisical, Conjur): one keep-alive
 * agent per store, a custom CA (`caFile`), the outbound policy's connect-time `lookup` (asked for
 * IP-literal hosts too, which Node connects to without a lookup), a
 * timeout, a cap on the answer's size and no redirects followed (credentials never go to a host
 * the settings do not name).
 *
 * Written on `node:http`/`node:https` rather than `fetch`: the built-in `fetch` only takes a
 * custom CA and `lookup` through undici's dispatcher, a package Sesame does not carry.
 *
 * @example
 * const http = new HttpTransport({ timeoutMs: 10_000, lookup: context.lookup });
 * const answer = await core.call({ action: 'read' }, () => http.request('GET', url, { headers }).then(expectOk));
 * const body = answer.json();
 */
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Classification } from './errors.js';
import {
  FOREIGN_ANSWER,
  foreignAnswer,
  type NetworkFailure,
  type NetworkSettings,
  networkFailure,
  PLAIN_HTTP_TO_TLS,
} from './network.js';
import { timerDelay } from '../../timers.js';

export interface HttpTransportOptions {
  /** PEM CA bundle that signs the server's certificate. */
  ca?: string | Buffer | undefined;
  /** Resolve host names through this (the outbound policy's, for stores configured through the API). */
  lookup?: LookupFunction | undefined;
  /** Per request, default 15 s. */
  timeoutMs?: number | undefined;
  /** Answers above this many bytes are refused (default 1 MiB): no secret is that large. */
  maxBodyBytes?: number | undefined;
  /**
   * The store type's settings that a network or TLS failure's fix names (the address, the CA
   * file if the type has one). Default: `address`, no CA setting.
   */
  settings?: NetworkSettings | undefined;
}

export interface HttpRequest {
  headers?: Record<string, string> | undefined;
  /** A string or bytes is sent as is; anything else as JSON. */
  body?: unknown;
  query?: Record<string, string> | undefined;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  json<T = unknown>(): T | undefined;
  /**
   * The body as JSON of the shape `check` accepts (see {@link jsonWith}); anything else is a
   * {@link NetworkError} saying the address does not answer like the provider (`what`: what
   * was expected, e.g. `a secret`), never a crash on a missing field.
   */
  expectJson<T>(check: (body: unknown) => boolean, what: string): T;
  /** Throw the {@link NetworkError} of an answer that is not the provider's (`what` was expected). */
  foreign(what: string): never;
}

/** A JSON object whose `key` is an object or an array: `jsonWith('secret')` for `{"secret": {…}}`. */
export function jsonWith(key: string): (body: unknown) => boolean {
  return (body) => {
    const field =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
    return typeof field === 'object' && field !== null;
  };
}

/** A JSON array. */
export const jsonArray = (body: unknown): boolean => Array.isArray(body);

/** Where a failed request went, to say what failed and which setting to change. */
export interface NetworkErrorTarget {
  /** The request's origin (`https://vault:8200`): never its path, query or user info. */
  origin: string;
  settings: NetworkSettings;
  timeoutMs?: number | undefined;
}

/**
 * No HTTP answer at all (refused, reset, timed out, TLS failure), with the errno-like code and
 * Node's own text (`reason`: which names a certificate covers, which TLS alert came back).
 */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  readonly origin: string;
  readonly settings: NetworkSettings;
  readonly timeoutMs: number | undefined;
  constructor(
    readonly host: string,
    readonly code: string,
    readonly reason = '',
    target?: NetworkErrorTarget,
  ) {
    super(`cannot reach ${host} (${code})${reason ? `: ${reason}` : ''}`);
    this.origin = target?.origin ?? `https://${host}`;
    this.settings = target?.settings ?? { address: 'address' };
    this.timeoutMs = target?.timeoutMs;
  }
}

/** An answer whose status the caller does not accept; carries the answer for classification. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(readonly answer: HttpAnswer) {
    super(`HTTP ${answer.status}`);
  }
  get status(): number {
    return this.answer.status;
  }
}

/** The answer was larger than `maxBodyBytes`. */
export class AnswerTooLargeError extends Error {
  override readonly name = 'AnswerTooLargeError';
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes`);
  }
}

/**
 * What TLS servers answer to plain HTTP on their port: Go's net/http (Vault, Conjur's and
 * Infisical's proxies, most Go services) and nginx. Told apart from the service's own 400 so the
 * fix is the scheme; Node's own TLS servers just close the connection (see `networkFailure`).
 */
const PLAIN_TO_TLS =
  /Client sent an HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/;

/** Throw {@link HttpStatusError} unless the status is 2xx (or one of `also`). */
export function expectOk(answer: HttpAnswer, also: readonly number[] = []): HttpAnswer {
  if ((answer.status >= 200 && answer.status < 300) || also.includes(answer.status)) return answer;
  throw new HttpStatusError(answer);
}

/** Retry-After (seconds or an HTTP date) in milliseconds. */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (text.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/**
 * The classification of transport failures and of statuses every HTTP API shares, for adapters
 * to fall back on: 404 not found, 401/403 denied, 429 throttled (Retry-After honoured), 5xx
 * unavailable, no answer unavailable, told by {@link networkFailure} (TLS failures and a wrong
 * scheme not retried), other statuses invalid.
 * `what` names the request in messages (`reading "db/pass" from https://vault:8200`).
 */
export function classifyHttp(err: unknown, what: string): Classification | undefined {
  if (err instanceof NetworkError) {
    const failure = networkFailureOf(err);
    return {
      kind: 'unavailable',
      message: `${what}: ${failure.reason}`,
      fix: failure.fix,
      retry: failure.retry,
      summary: `NetworkError ${err.code}`,
    };
  }
  if (err instanceof AnswerTooLargeError) {
    return { kind: 'conflict', message: `${what}: ${err.message}, not a secret`, retry: false };
  }
  if (!(err instanceof HttpStatusError)) return undefined;
  const { status } = err;
  const summary = `HTTP ${status}`;
  if (status === 404) return { kind: 'not_found', message: `${what}: not found (HTTP 404)`, summary };
  if (status === 401)
    return {
      kind: 'denied',
      message: `${what}: the credentials were refused (HTTP 401)`,
      fix: 'check the auth settings and their credentials',
      summary,
    };
  if (status === 403)
    return {
      kind: 'denied',
      message: `${what}: not allowed (HTTP 403)`,
      fix: 'grant these credentials access on the store',
      summary,
    };
  if (status === 429) {
    return {
      kind: 'throttled',
      message: `${what}: throttled (HTTP 429)`,
      fix: 'spread requests over time or raise the rate limit',
      retryAfterMs: retryAfterMs(err.answer.headers['retry-after']),
      summary,
    };
  }
  if (status >= 500)
    return {
      kind: 'unavailable',
      message: `${what}: the store is failing (HTTP ${status})`,
      fix: 'check the store and retry later',
      summary,
    };
  if (status >= 300 && status < 400) {
    return {
      kind: 'config',
      message: `${what}: redirected (HTTP ${status}); redirects are not followed`,
      fix: 'point the address at the final location',
      summary,
    };
  }
  return { kind: 'invalid', message: `${what}: refused as invalid (HTTP ${status})`, summary };
}

/** What a {@link NetworkError} means, in the words every adapter shares. */
export function networkFailureOf(err: NetworkError): NetworkFailure {
  const target = { url: err.origin, settings: err.settings, timeoutMs: err.timeoutMs };
  if (err.code === FOREIGN_ANSWER) return foreignAnswer(target, err.reason);
  return (
    networkFailure(err, target) ?? {
      kind: 'reset',
      code: err.code,
      reason: `cannot reach ${err.host} (${err.code})${err.reason ? `: ${err.reason}` : ''}`,
      fix: `check ${err.settings.address} and that the store is up and reachable from this host`,
      retry: true,
    }
  );
}

export class HttpTransport {
  readonly #timeoutMs: number;
  readonly #maxBody: number;
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  readonly #lookup: LookupFunction | undefined;
  readonly #settings: NetworkSettings;

  constructor(options: HttpTransportOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    // Node's http/https connect directly: HTTPS_PROXY and friends are not read.
    this.#settings = { proxy: 'none', ...(options.settings ?? { address: 'address' }) };
    this.#maxBody = options.maxBodyBytes ?? 1024 * 1024;
    this.#lookup = options.lookup;
    const lookup = options.lookup ? { lookup: options.lookup } : {};
    this.#http = new HttpAgent({ keepAlive: true, maxSockets: 16, ...lookup });
    this.#https = new HttpsAgent({
      keepAlive: true,
      maxSockets: 16,
      ...(options.ca ? { ca: options.ca } : {}),
      ...lookup,
    });
  }

  /** One exchange. Resolves with any status; rejects with {@link NetworkError} or {@link AnswerTooLargeError}. */
  async request(method: string, target: string | URL, req: HttpRequest = {}): Promise<HttpAnswer> {
    const url = new URL(target);
    await this.#checkLiteral(url);
    return this.#send(method, url, req);
  }

  /**
   * Node calls an agent's `lookup` for host names only: an IP literal (`http://127.0.0.1/`,
   * `http://[::1]/`) is connected to straight away. With an outbound policy, the literal is put
   * to its `lookup` here first, so every request is checked whatever the host form.
   */
  async #checkLiteral(url: URL): Promise<void> {
    const lookup = this.#lookup;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!lookup || isIP(host) === 0) return;
    await new Promise<void>((resolve, reject) => {
      lookup(host, { all: true }, (err) => {
        if (err) reject(this.#networkError(url, err));
        else resolve();
      });
    });
  }

  #networkError(
    url: URL,
    err: NodeJS.ErrnoException & { reason?: unknown; cert?: { subjectaltname?: unknown } },
  ): NetworkError {
    // The certificate's names, for a host-name mismatch: Node's text omits them for an IP host.
    const san = err.cert?.subjectaltname;
    const reason = [
      err.message,
      typeof err.reason === 'string' ? err.reason : '',
      typeof san === 'string' ? `certificate names: ${san};` : '',
    ]
      .filter(Boolean)
      .join(': ');
    return new NetworkError(url.host, err.code ?? err.name, reason, {
      origin: url.origin,
      settings: this.#settings,
      timeoutMs: this.#timeoutMs,
    });
  }

  #send(method: string, url: URL, req: HttpRequest): Promise<HttpAnswer> {
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const payload =
      req.body === undefined
        ? undefined
        : typeof req.body === 'string' || req.body instanceof Uint8Array
          ? Buffer.from(req.body)
          : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (payload) {
      headers['content-length'] = String(payload.length);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
        headers['content-type'] = 'application/json';
    }
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const limit = this.#maxBody;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const r = send(url, { method, headers, agent: https ? this.#https : this.#http }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) {
            r.destroy();
            reject(new AnswerTooLargeError(limit));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err: NodeJS.ErrnoException) => reject(this.#networkError(url, err)));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          if (
            !https &&
            res.statusCode === 400 &&
            PLAIN_TO_TLS.test(body.subarray(0, 512).toString('latin1'))
          ) {
            reject(
              this.#networkError(url, {
                name: 'Error',
                code: PLAIN_HTTP_TO_TLS,
                message: 'plain HTTP to a TLS port',
              }),
            );
            return;
          }
          // A web page is never a provider's answer (a sign-in page, a proxy's own page); a 5xx
          // page stays a failing store, retried.
          const type = String(res.headers['content-type'] ?? '')
            .split(';')[0]
            ?.trim()
            .toLowerCase();
          const status = res.statusCode ?? 0;
          if (type === 'text/html' && status < 500) {
            reject(
              this.#networkError(url, {
                name: 'Error',
                code: FOREIGN_ANSWER,
                message: `HTTP ${status} text/html`,
              }),
            );
            return;
          }
          const json = <T>(): T | undefined => {
            const text = body.toString('utf8');
            if (!text.trim()) return undefined;
            try {
              return JSON.parse(text) as T;
            } catch {
              return undefined;
            }
          };
          const foreign = (what: string): never => {
            const detail = `HTTP ${status} ${type || 'without a content type'}, not ${what}`;
            throw this.#networkError(url, { name: 'Error', code: FOREIGN_ANSWER, message: detail });
          };
          resolve({
            status,
            headers: res.headers,
            body,
            json,
            expectJson<T>(check: (body: unknown) => boolean, what: string): T {
              const parsed = json<unknown>();
              return parsed !== undefined && check(parsed) ? (parsed as T) : foreign(what);
            },
            foreign,
          });
        });
      });
      r.setTimeout(timerDelay(this.#timeoutMs), () =>
        r.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })),
      );
      r.on('error', (err: NodeJS.ErrnoException) => reject(this.#networkError(url, err)));
      r.end(payload);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
