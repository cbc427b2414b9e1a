/**
 * Commands that act on a running `sesame serve` instead of locally: `--server URL` (or
 * SESAME_SERVER), or `--server` alone / `--profile NAME` for a profile `sesame login` saved.
 * The bearer token comes from SESAME_TOKEN, else from the profile (the one named, or the one
 * saved for that URL); for an agent, the agent token from SESAME_AGENT_TOKEN or the file
 * SESAME_AGENT_TOKEN_FILE names. No token at all is a usage error, before any request. Server
 * errors keep their message and map to the CLI's exit codes (2 for bad input, 1 for a failure
 * to do the job).
 */
import path from 'node:path';
import { type Command, Option } from 'commander';
import { formatDuration, durationProblem, parseDuration } from '../config/duration.js';
import { SesameError, UsageError } from '../errors.js';
import { processRedactor } from '../redact/redactor.js';
import { type CliContext, unreadable } from './context.js';
import {
  checkProfileName,
  DEFAULT_PROFILE,
  normalizeServerUrl,
  type Profile,
  readProfiles,
} from './profiles.js';
import { timerDelay } from '../timers.js';
import { readHostFile } from '../host-file.js';

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

/** Query parameters; an array repeats the parameter (`tag=a=1&tag=b=2`). */
export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface RemoteOptions {
  server: string;
  token?: string | undefined;
  agentToken?: string | undefined;
  fetch?: typeof fetch;
  /** How long a request may wait for the whole answer (SESAME_SERVER_TIMEOUT; 2 minutes by default). */
  timeoutMs?: number | undefined;
}

/** How long the CLI waits for a server's answer unless SESAME_SERVER_TIMEOUT says otherwise. */
export const DEFAULT_SERVER_TIMEOUT_MS = 120_000;

/** SESAME_SERVER_TIMEOUT of `env` in milliseconds, the default when unset; a usage error when it is no duration. */
export function serverTimeout(env: Readonly<Record<string, string | undefined>>): number {
  const text = env['SESAME_SERVER_TIMEOUT'];
  if (text === undefined || text.trim() === '') return DEFAULT_SERVER_TIMEOUT_MS;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1) {
    throw new UsageError(
      `SESAME_SERVER_TIMEOUT=${JSON.stringify(text)} ${durationProblem(text)}: write a number with a unit, e.g. 30s or 5m`,
    );
  }
  return ms;
}

/**
 * A server URL with a user or password is refused, without showing them: Sesame sends a token
 * (and fetch refuses such a URL), so what is there is most likely a credential typed in the wrong
 * place, and every later message would repeat the URL.
 */
function refuseUserinfo(url: URL): void {
  if (url.username === '' && url.password === '') return;
  throw new UsageError(
    `--server must not carry a user or password (${url.protocol}//…@${url.host}): give the address only, ` +
      'and the token with SESAME_TOKEN or sesame login',
  );
}

export class SesameClient {
  readonly base: string;

  constructor(private readonly options: RemoteOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new UsageError(
        `--server ${JSON.stringify(options.server)} is not a URL: e.g. http://127.0.0.1:7373`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--server must be an http:// or https:// URL, not ${url.protocol}`);
    }
    refuseUserinfo(url);
    this.base = normalizeServerUrl(url.toString());
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
    options: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    return (await this.#send<T>(method, apiPath, options)).body;
  }

  async #send<T>(
    method: string,
    apiPath: string,
    options: {
      query?: Query;
      body?: unknown;
      headers?: Record<string, string>;
      /** Leave the bearer and agent tokens out (the sign-in body carries the token instead). */
      anonymous?: boolean;
    } = {},
  ): Promise<{ body: T; response: Response }> {
    const url = new URL(`${this.base}/api/v1${apiPath}`);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, item);
      else if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.options.token && !options.anonymous) headers['authorization'] = `Bearer ${this.options.token}`;
    if (this.options.agentToken && !options.anonymous)
      headers['x-sesame-agent-token'] = this.options.agentToken;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_SERVER_TIMEOUT_MS;
    // One limit for the answer, headers and body: fetch's own are 5 minutes each.
    const signal = AbortSignal.timeout(timerDelay(timeoutMs));
    const timedOut = () =>
      new RemoteError(
        `the server at ${this.base} accepted the request but did not answer within ${formatDuration(timeoutMs)}: check that sesame serve is healthy there (its logs, GET /readyz), or set SESAME_SERVER_TIMEOUT to wait longer (e.g. 5m)`,
        { code: 'timeout', status: 0 },
      );
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw timedOut();
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RemoteError(
        `cannot reach the server at ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is sesame serve running there?)`,
        { code: 'unreachable', status: 0 },
      );
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      if (signal.aborted) throw timedOut();
      throw new RemoteError(
        `the server at ${this.base} broke off its answer: ${(err as Error).message} (retry; check its logs if it keeps happening)`,
        { code: 'unreachable', status: 0 },
      );
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (response.ok) return { body: body as T, response };
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    let message = error?.message ?? `HTTP ${response.status}`;
    if (response.status === 401 && !this.options.token && !this.options.agentToken) {
      message =
        'the server needs a token: run sesame login, or set SESAME_TOKEN (an admin creates one with sesame tokens create)';
    }
    throw new RemoteError(`server: ${message}`, {
      code: error?.code ?? 'http_error',
      status: response.status,
    });
  }

  /**
   * Check the bearer token with the server and return what it says the token is. The one route
   * every role may call that names the principal is the admin UI's sign-in (POST /session), so
   * this signs in with the token and signs the session out again at once: the audit trail shows
   * both, and no session is left open.
   */
  async whoami(): Promise<Principal> {
    if (!this.options.token) throw new UsageError('no token to check');
    const signedIn = await this.#send<{ principal: Principal; csrfToken: string }>('POST', '/session', {
      body: { token: this.options.token },
      anonymous: true,
    });
    const cookie = signedIn.response.headers
      .getSetCookie()
      .map((c) => c.split(';')[0] ?? '')
      .find((c) => c.startsWith('sesame_session='));
    if (cookie) {
      await this.#send('DELETE', '/session', {
        headers: { cookie, 'x-sesame-csrf': signedIn.body.csrfToken },
        anonymous: true,
      }).catch(() => undefined);
    }
    return signedIn.body.principal;
  }
}

/** A token as the server describes it (never the token itself). */
export interface Principal {
  id: string;
  role: string;
  namespace: string;
  reveal: boolean;
}

/** The value `--profile NAME` leaves in `--server`: commands pass `flags.server` on unchanged. */
const PROFILE_PREFIX = 'profile:';

/**
 * Add `--server [url]` (default: SESAME_SERVER) and `--profile <name>`. `--server` without a URL
 * uses the login profile SESAME_PROFILE names, else `default`; `--profile NAME` uses that one.
 */
export function withServer(cmd: Command): Command {
  cmd
    .addOption(
      new Option(
        '--server [url]',
        'act on a running sesame serve; alone: the server of your login profile (sesame login)',
      ).env('SESAME_SERVER'),
    )
    .addOption(new Option('--profile <name>', 'act on the server of this login profile (implies --server)'));
  return cmd.hook('preAction', (self) => {
    const { profile, server } = self.opts<{ profile?: string; server?: string | boolean }>();
    if (profile === undefined) return;
    checkProfileName(profile);
    // SESAME_SERVER in the environment yields to an explicit --profile; --server URL does not.
    if (
      typeof server === 'string' &&
      !server.startsWith(PROFILE_PREFIX) &&
      self.getOptionValueSource('server') !== 'env'
    ) {
      throw new UsageError(
        'give either --server URL or --profile NAME, not both (a profile holds its server URL)',
      );
    }
    self.setOptionValue('server', `${PROFILE_PREFIX}${profile}`);
  });
}

/** Where a command's server, token and profile came from. */
export interface RemoteTarget {
  server: string;
  token?: string | undefined;
  /** The profile the server or the token came from. */
  profile?: string | undefined;
}

/**
 * Decide the server and bearer token for `--server` (a URL, `true` for the default profile, or
 * `profile:NAME`). SESAME_TOKEN wins over a profile's token; for a URL, the profile saved for
 * that URL gives the token (SESAME_PROFILE's first, else any).
 */
export function remoteTarget(
  ctx: Pick<CliContext, 'env' | 'stderr'>,
  server: string | boolean,
): RemoteTarget {
  const envToken = ctx.env['SESAME_TOKEN'] || undefined;
  let named: string | undefined;
  if (server === true) named = ctx.env['SESAME_PROFILE'] || DEFAULT_PROFILE;
  else if (typeof server === 'string' && server.startsWith(PROFILE_PREFIX))
    named = server.slice(PROFILE_PREFIX.length);
  if (named !== undefined) {
    checkProfileName(named);
    const { profiles, file, warning } = readProfiles(ctx.env);
    if (warning) ctx.stderr.write(`sesame: warning: ${warning}\n`);
    const profile = profiles[named];
    if (!profile) {
      const known = Object.keys(profiles);
      throw new UsageError(
        `no login profile ${JSON.stringify(named)}${known.length > 0 ? ` (${file} has ${known.join(', ')})` : ''}: ` +
          `run sesame login --server URL${named === DEFAULT_PROFILE ? '' : ` --profile ${named}`}, or give --server URL`,
      );
    }
    return { server: profile.server, token: envToken ?? profile.token, profile: named };
  }
  const url = String(server);
  if (!/^https?:\/\//i.test(url)) {
    throw new UsageError(
      `--server ${JSON.stringify(url)} is not an http:// or https:// URL: e.g. --server http://127.0.0.1:7373, ` +
        'or put --server last (or use --profile NAME) for the server of your login profile',
    );
  }
  if (URL.canParse(url)) refuseUserinfo(new URL(url));
  if (envToken) return { server: url, token: envToken };
  let normalized: string;
  try {
    normalized = normalizeServerUrl(url);
  } catch {
    throw new UsageError(`--server ${JSON.stringify(url)} is not a URL: e.g. http://127.0.0.1:7373`);
  }
  const { profiles, warning } = readProfiles(ctx.env);
  const preferred = ctx.env['SESAME_PROFILE'] || DEFAULT_PROFILE;
  const matches = Object.entries(profiles).filter(([, p]) => safeNormalize(p.server) === normalized);
  const match: [string, Profile] | undefined = matches.find(([name]) => name === preferred) ?? matches[0];
  if (match && warning) ctx.stderr.write(`sesame: warning: ${warning}\n`);
  return { server: url, token: match?.[1].token, profile: match?.[0] };
}

function safeNormalize(server: string): string | undefined {
  try {
    return normalizeServerUrl(server);
  } catch {
    return undefined;
  }
}

/** The client for `--server`, or undefined to act locally. */
export function remote(ctx: CliContext, server: string | boolean | undefined): SesameClient | undefined {
  // An empty SESAME_SERVER means "not set", as before profiles.
  if (server === undefined || server === false || server === '') return undefined;
  let agentToken = ctx.env['SESAME_AGENT_TOKEN'];
  const agentFile = ctx.env['SESAME_AGENT_TOKEN_FILE'];
  if (!agentToken && agentFile) {
    try {
      agentToken = readHostFile(path.resolve(ctx.cwd, agentFile), { maxBytes: 64 * 1024, streams: true }).trim();
    } catch (err) {
      throw unreadable(`SESAME_AGENT_TOKEN_FILE ${agentFile}`, err);
    }
  }
  const target = remoteTarget(ctx, server);
  if (!target.token && !agentToken) {
    throw new UsageError(
      `the server needs a token: run sesame login --server ${target.server}, or set SESAME_TOKEN ` +
        '(an admin creates one with sesame tokens create)',
    );
  }
  // Never in an error line, whatever a server or a proxy puts in its answer.
  for (const secret of [target.token, agentToken]) if (secret) processRedactor.add(secret);
  return new SesameClient({ server: target.server, token: target.token, agentToken, timeoutMs: serverTimeout(ctx.env) });
}
