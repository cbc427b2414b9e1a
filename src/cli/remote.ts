/**
 * Commands that act on a running `sesame serve` instead of locally: `--server URL` (or
 * SESAME_SERVER), the bearer token from SESAME_TOKEN, and for an agent the agent token from
 * SESAME_AGENT_TOKEN or the file SESAME_AGENT_TOKEN_FILE names. Server errors keep their message
 * and map to the CLI's exit codes (2 for bad input, 1 for a failure to do the job).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { SesameError, UsageError } from '../errors.js';
import type { CliContext } from './context.js';

/**
 * Error codes that mean bad usage or bad input (exit 2), as the same error would locally; every
 * other answer (a missing secret, a denied read, an unreachable store, 401, 403) is a failure to
 * do the job (exit 1).
 */
const USAGE_CODES = new Set([
  'bad_request',
  'validation',
  'invalid_json',
  'reference_syntax',
  'config',
  'store_not_found',
  'connection_not_found',
  'connection_fields',
  'token_not_found',
  'route_not_found',
  'conflict',
  'value_too_large',
  'payload_too_large',
  'unsupported',
  'unsupported_media_type',
  'master_key',
]);

/** An error the server answered with, or a server that could not be reached. */
export class RemoteError extends SesameError {
  override readonly code: string;
  override readonly status: number;
  override readonly exitCode: 1 | 2;

  constructor(message: string, options: { code: string; status: number }) {
    super(message);
    this.code = options.code;
    this.status = options.status;
    this.exitCode = USAGE_CODES.has(options.code) ? 2 : 1;
  }
}

export interface RemoteOptions {
  server: string;
  token?: string | undefined;
  agentToken?: string | undefined;
  fetch?: typeof fetch;
}

export class SesameClient {
  readonly base: string;

  constructor(private readonly options: RemoteOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new UsageError(`--server ${JSON.stringify(options.server)} is not a URL: e.g. http://127.0.0.1:7373`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--server must be an http:// or https:// URL, not ${url.protocol}`);
    }
    this.base = url.toString().replace(/\/+$/, '');
  }

  /**
   * Call the API under /api/v1 and return the JSON answer; an error answer throws `RemoteError`.
   *
   * @example
   * const { value } = await client.request<{ value: string }>('POST', '/resolve', { body: { reference: 'secret://aws/x' } });
   */
  async request<T>(
    method: string,
    apiPath: string,
    options: { query?: Record<string, string | number | boolean | undefined>; body?: unknown } = {},
  ): Promise<T> {
    const url = new URL(`${this.base}/api/v1${apiPath}`);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers['authorization'] = `Bearer ${this.options.token}`;
    if (this.options.agentToken) headers['x-sesame-agent-token'] = this.options.agentToken;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RemoteError(
        `cannot reach the server at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is sesame serve running there?)`,
        { code: 'unreachable', status: 0 },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.ok) return body as T;
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    let message = error?.message ?? `HTTP ${response.status}`;
    if (response.status === 401 && !this.options.token && !this.options.agentToken) {
      message = 'the server needs a token: set SESAME_TOKEN (create one with sesame tokens create)';
    }
    throw new RemoteError(`server: ${message}`, { code: error?.code ?? 'http_error', status: response.status });
  }
}

/** Add `--server <url>` (default: SESAME_SERVER). */
export function withServer(cmd: Command): Command {
  return cmd.addOption(
    new Option('--server <url>', 'act on a running sesame serve (token from SESAME_TOKEN)').env('SESAME_SERVER'),
  );
}

/** The client for `--server`, or undefined to act locally. */
export function remote(ctx: CliContext, server: string | undefined): SesameClient | undefined {
  if (!server) return undefined;
  let agentToken = ctx.env['SESAME_AGENT_TOKEN'];
  const agentFile = ctx.env['SESAME_AGENT_TOKEN_FILE'];
  if (!agentToken && agentFile) {
    try {
      agentToken = readFileSync(path.resolve(ctx.cwd, agentFile), 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read SESAME_AGENT_TOKEN_FILE ${agentFile}: ${(err as Error).message}`);
    }
  }
  return new SesameClient({ server, token: ctx.env['SESAME_TOKEN'], agentToken });
}
