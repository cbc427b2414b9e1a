/**
 * A small JSON-over-HTTP(S) helper for the Vault API on node:http/node:https.
 *
 * Why not `fetch`: Node's fetch (undici) only takes a custom CA through an undici `Agent`
 * passed as `dispatcher`, and undici is not a dependency of Sesame. node:https takes `ca`
 * directly, and a keep-alive agent gives the same connection reuse.
 */
import type { LookupFunction } from 'node:net';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface VaultHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  body: unknown;
}

export interface VaultHttpOptions {
  /** PEM CA bundle that signs the Vault server certificate. */
  ca?: string | Buffer | undefined;
  timeoutMs?: number;
  /** Resolve host names through this (the outbound policy's, for stores configured through the API). */
  lookup?: LookupFunction | undefined;
}

function lookupOf(options: VaultHttpOptions): { lookup?: LookupFunction } {
  return options.lookup ? { lookup: options.lookup } : {};
}

export interface VaultRequest {
  headers?: Record<string, string>;
  body?: unknown;
  query?: Record<string, string> | undefined;
}

/** A network failure (no HTTP answer), with the errno code when there is one. */
export class VaultNetworkError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'VaultNetworkError';
  }
}

export class VaultHttp {
  readonly #base: URL;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #timeoutMs: number;

  constructor(address: string, options: VaultHttpOptions = {}) {
    this.#base = new URL(address);
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#agent =
      this.#base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 16, ...(options.ca ? { ca: options.ca } : {}), ...lookupOf(options) })
        : new HttpAgent({ keepAlive: true, maxSockets: 16, ...lookupOf(options) });
  }

  /** `path` is relative to `/v1/`, already percent-encoded per segment. */
  request(method: string, path: string, req: VaultRequest = {}): Promise<VaultHttpResponse> {
    const url = new URL(`${this.#base.pathname.replace(/\/+$/, '')}/v1/${path}`, this.#base);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = send(
        url,
        {
          method,
          agent: this.#agent,
          headers: {
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
              : {}),
            ...req.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err: NodeJS.ErrnoException) =>
            reject(new VaultNetworkError(err.message, err.code)),
          );
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            if (text.trim()) {
              try {
                body = JSON.parse(text);
              } catch {
                body = undefined;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          });
        },
      );
      r.setTimeout(this.#timeoutMs, () =>
        r.destroy(Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      r.on('error', (err: NodeJS.ErrnoException) => reject(new VaultNetworkError(err.message, err.code)));
      r.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
