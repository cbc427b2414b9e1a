/**
 * Failures below HTTP — no answer, or a TLS handshake that failed — told in an operator's words,
 * once for every adapter: the HTTP transport's {@link NetworkError} and the errors the AWS, Azure
 * and Google SDKs wrap around the same Node socket errors. An adapter only names its own
 * settings (which one holds the address, which one a CA, if any); what the failure is and what
 * to change is decided here.
 */
import type { Classification } from './errors.js';

/**
 * Error codes of a request that never got an answer (connection refused or reset, timeout, name
 * not resolved, network unreachable), as Node's sockets, undici and the Azure SDK report them:
 * the store is unavailable and a retry may work. One set for every adapter.
 */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'REQUEST_SEND_ERROR',
]);

/** The code of an `http://` request answered by a TLS server's "HTTP request to an HTTPS server" 400. */
export const PLAIN_HTTP_TO_TLS = 'PLAIN_HTTP_TO_TLS_PORT';

/** The code of a TLS server that refused HTTP/2 (ALPN `h2`), which gRPC needs. */
const NO_HTTP2 = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';

/** The settings of a store type that a network failure's fix names. */
export interface NetworkSettings {
  /** The setting holding the address (`address`, `url`, `vaultUrl`, `endpoint`…). */
  address: string;
  /**
   * The setting holding a PEM file of CAs to trust (`caFile`). Without one the fix names
   * `NODE_EXTRA_CA_CERTS`, the only way to add a CA for that store type.
   */
  ca?: string | undefined;
  /** The setting holding a client certificate, for types that can send one. */
  clientCertificate?: string | undefined;
  /** How messages name the provider: `… does not answer like Vault`. Default: `the store`. */
  provider?: string | undefined;
  /**
   * Whether the client goes through a proxy of the environment: `environment` (the Azure SDK:
   * HTTPS_PROXY, else ALL_PROXY, else HTTP_PROXY, unless NO_PROXY lists the host) or `none`
   * (Node's http/https and the AWS SDK connect directly whatever the environment says). Unset:
   * nothing is said about proxies.
   */
  proxy?: 'environment' | 'none' | undefined;
  /**
   * The setting holding the request time limit, with its value (`timeout (10s)`), for types whose
   * config has one: a timeout's fix then says it can be raised.
   */
  timeout?: string | undefined;
}

const PROXY_VARIABLES = ['HTTPS_PROXY', 'ALL_PROXY', 'HTTP_PROXY'] as const;

/** The first proxy variable set (upper case first, as the Azure SDK reads them), with its value. */
function proxyVariable(env: NodeJS.ProcessEnv): { variable: string; value: string } | undefined {
  for (const name of PROXY_VARIABLES) {
    for (const variable of [name, name.toLowerCase()]) {
      const value = env[variable];
      if (value) return { variable, value };
    }
  }
  return undefined;
}

/**
 * The proxy an `environment` client uses for `url` (host and port only: a proxy URL may carry a
 * password), or undefined when none is set or NO_PROXY lists the host (exactly, or `.suffix`).
 */
function environmentProxy(url: URL, env: NodeJS.ProcessEnv): { variable: string; host: string } | undefined {
  const proxy = proxyVariable(env);
  if (!proxy || !URL.canParse(proxy.value)) return undefined;
  const bypass = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const host = url.hostname;
  if (bypass.some((p) => (p.startsWith('.') ? host.endsWith(p) || host === p.slice(1) : host === p)))
    return undefined;
  const proxyUrl = new URL(proxy.value);
  return { variable: proxy.variable, host: `${proxyUrl.hostname}:${proxyUrl.port || '80'}` };
}

/**
 * The code of an answer that is not the provider's: a web page (a sign-in page, a proxy's own
 * page), or a body its client cannot read. The address reaches something, but not the store.
 */
export const FOREIGN_ANSWER = 'FOREIGN_ANSWER';

/**
 * Thrown by an adapter on an SDK whose answer parsed but lacks what the provider always sends;
 * {@link classifyNetwork} tells it as a {@link foreignAnswer} (the message is the detail).
 */
export class ForeignAnswerError extends Error {
  override readonly name = 'ForeignAnswerError';
  readonly code = FOREIGN_ANSWER;
}

export type NetworkFailureKind =
  | 'dns'
  | 'refused'
  | 'reset'
  | 'timeout'
  | 'unreachable'
  | 'scheme'
  | 'untrusted'
  | 'host-mismatch'
  | 'expired'
  | 'client-certificate'
  | 'tls'
  | 'foreign';

/** What a failure below HTTP is, in words, with what to change. */
export interface NetworkFailure {
  kind: NetworkFailureKind;
  /** The code the failure was recognised by (`ECONNREFUSED`, `CERT_HAS_EXPIRED`…). */
  code: string;
  /** What happened, naming the host: `127.0.0.1:8200 refused the connection …`. */
  reason: string;
  fix: string;
  /** Whether another attempt may work: never for TLS failures and a wrong scheme. */
  retry: boolean;
}

export interface NetworkTarget {
  /** The URL (or origin) the request went to; only its scheme, host and port are used. */
  url: string | URL;
  settings: NetworkSettings;
  /** The request timeout, to say how long was waited. */
  timeoutMs?: number | undefined;
}

interface ErrorLike {
  code?: unknown;
  /** The server's certificate, on Node's host-name check error. */
  cert?: { subjectaltname?: unknown } | undefined;
  message?: unknown;
  reason?: unknown;
  details?: unknown;
  cause?: unknown;
  errors?: unknown;
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * Node's messages for the same failures, for SDKs that keep only a message (gRPC's "No
 * connection established. Last error: …", a fetch wrapper's text): the code each one stands for.
 */
const BY_MESSAGE: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bENOTFOUND\b|Name resolution failed|DNS resolution failed/i, 'ENOTFOUND'],
  [/\bEAI_AGAIN\b/, 'EAI_AGAIN'],
  [/\bECONNREFUSED\b|Connection refused/i, 'ECONNREFUSED'],
  [/\bECONNRESET\b|socket hang up|Connection reset/i, 'ECONNRESET'],
  [/\bETIMEDOUT\b|timed? ?out|Deadline exceeded/i, 'ETIMEDOUT'],
  [/\bE(NET|HOST)UNREACH\b/, 'EHOSTUNREACH'],
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to verify the first certificate/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get (local )?issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/i, 'CERT_NOT_YET_VALID'],
  [/does not match certificate's altnames|is not in the cert's/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/wrong version number|packet length too long/i, 'ERR_SSL_WRONG_VERSION_NUMBER'],
  [/alert certificate required/i, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
  [/alert no application protocol/i, NO_HTTP2],
];

function textOf(e: ErrorLike): string {
  return [e.message, e.reason, e.details].filter((t) => typeof t === 'string').join(' ');
}

/** The error and the errors it wraps (`cause`, an AggregateError's `errors`), nearest first. */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 8) {
    const next = queue.shift();
    if (typeof next !== 'object' || next === null) continue;
    const e = next as ErrorLike;
    out.push(e);
    queue.push(e.cause);
    if (Array.isArray(e.errors)) queue.push(...e.errors);
  }
  return out;
}

/** A code this module can describe: a socket, DNS or TLS failure. */
function describable(code: string): boolean {
  return (
    NETWORK_ERROR_CODES.has(code) ||
    UNTRUSTED.has(code) ||
    code === 'timeout' ||
    code === 'EPROTO' ||
    code === PLAIN_HTTP_TO_TLS ||
    code.startsWith('CERT_') ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_')
  );
}

/**
 * The socket, DNS or TLS code of a failure, looked for on the error, its causes and its message
 * (SDKs that keep only the text), or undefined when the failure is not below HTTP.
 */
export function lowLevelCode(err: unknown): { code: string; text: string; names?: string } | undefined {
  const errors = chain(err);
  const san = errors.map((e) => e.cert?.subjectaltname).find((n) => typeof n === 'string');
  const text = errors.map(textOf).join(' ') + (san ? ` certificate names: ${san};` : '');
  for (const e of errors) {
    if (typeof e.code === 'string' && describable(e.code)) {
      // EPROTO is any TLS protocol failure: the text tells a plain-HTTP answer from an alert.
      if (e.code !== 'EPROTO') return { code: e.code, text };
      const refined = BY_MESSAGE.find(([pattern]) => pattern.test(text))?.[1];
      return { code: refined ?? e.code, text };
    }
  }
  const byText = BY_MESSAGE.find(([pattern]) => pattern.test(text))?.[1];
  return byText ? { code: byText, text } : undefined;
}

/** A time limit in words: `15 s`, `2.5 s`, `300 ms`. */
export function seconds(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * What the certificate covers: its subjectAltName (kept by the transport, or on Node's error),
 * else the list in Node's "… is not in the cert's altnames: DNS:a, DNS:b".
 */
function certificateNames(text: string): string | undefined {
  const m =
    /certificate names: ([^;]*);/.exec(text) ?? /is not in the cert's altnames: ([^:]+:[^\n]*)/.exec(text);
  const names = m?.[1]
    ?.split(/,\s*/)
    .map((n) => n.replace(/^(DNS|IP Address|IP):/, '').trim())
    .filter(Boolean);
  return names && names.length > 0 ? names.join(', ') : undefined;
}

/**
 * What a failure below HTTP means for `target`, or undefined when `err` is something else (an
 * HTTP answer, a provider's refusal). Say it after what was being done:
 * `reading "db": ${failure.reason}`.
 *
 * @example
 * const failure = networkFailure(err, { url: settings.address, settings: { address: 'address', ca: 'caFile' } });
 * if (failure) return { kind: 'unavailable', message: `${what}: ${failure.reason}`, fix: failure.fix, retry: failure.retry };
 */
export function networkFailure(err: unknown, target: NetworkTarget): NetworkFailure | undefined {
  const failure = describeFailure(err, target);
  if (!failure || !CONNECTION_KINDS.has(failure.kind)) return failure;
  const url = new URL(target.url);
  if (target.settings.proxy === 'environment') {
    const proxy = environmentProxy(url, process.env);
    if (proxy && (failure.kind === 'refused' || failure.kind === 'dns' || failure.kind === 'unreachable')) {
      // The connection that failed was the one to the proxy: say so, with the proxy's address.
      const proxied = describeFailure(err, { ...target, url: `http://${proxy.host}` }) ?? failure;
      const proxyName = proxy.host.replace(/:\d+$/, '');
      const named = `the proxy ${proxy.host} (${proxy.variable})`;
      const reason = proxied.reason.startsWith(proxy.host)
        ? `${named}${proxied.reason.slice(proxy.host.length)}`
        : proxied.reason
            .replace(
              `the host name ${proxyName}`,
              `the host name of the proxy ${proxyName} (${proxy.variable})`,
            )
            .replace(`route to ${proxy.host}`, `route to ${named}`);
      return {
        ...failure,
        reason,
        fix: `check ${proxy.variable}, or add ${url.hostname} to NO_PROXY to connect directly`,
      };
    }
    if (proxy)
      return { ...failure, fix: `${failure.fix} (through the proxy ${proxy.host} of ${proxy.variable})` };
  }
  const set = proxyVariable(process.env);
  if (target.settings.proxy === 'none' && set) {
    return {
      ...failure,
      fix: `${failure.fix} (${set.variable} is set, but this store type does not use a proxy: it connects to ${url.host} directly)`,
    };
  }
  return failure;
}

/** Failures of the connection itself, which a proxy changes. */
const CONNECTION_KINDS: ReadonlySet<NetworkFailureKind> = new Set([
  'dns',
  'refused',
  'reset',
  'timeout',
  'unreachable',
]);

function describeFailure(err: unknown, target: NetworkTarget): NetworkFailure | undefined {
  const found = lowLevelCode(err);
  if (!found) return undefined;
  const { code, text } = found;
  const url = new URL(target.url);
  const host = url.host;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const { address, ca, clientCertificate } = target.settings;
  const https = url.protocol === 'https:';
  const fail = (kind: NetworkFailureKind, reason: string, fix: string, retry: boolean): NetworkFailure => ({
    kind,
    code,
    reason: `${reason} (${code})`,
    fix,
    retry,
  });

  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return fail(
      'dns',
      code === 'EAI_AGAIN'
        ? `the host name ${url.hostname} could not be resolved now (DNS did not answer)`
        : `the host name ${url.hostname} does not resolve (no such name in DNS)`,
      `check the host name in ${address}, and that this host's DNS knows it (a private name needs the network's DNS server)`,
      true,
    );
  if (code === 'ECONNREFUSED')
    return fail(
      'refused',
      `${host} refused the connection: nothing listens on port ${port}`,
      `check the port in ${address} and that the store is running`,
      true,
    );
  if (code === 'timeout' || code === 'ETIMEDOUT')
    return fail(
      'timeout',
      target.timeoutMs === undefined
        ? `${host} did not answer in time`
        : `${host} did not answer within ${seconds(target.timeoutMs)}`,
      `check that the store is up and that a firewall or proxy lets this host reach ${host}${target.settings.timeout ? `; or raise ${target.settings.timeout}` : ''}`,
      true,
    );
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH')
    return fail(
      'unreachable',
      `there is no network route to ${host}`,
      `check ${address} and this host's network (routes, VPN, firewall)`,
      true,
    );
  if (NETWORK_ERROR_CODES.has(code))
    return fail(
      'reset',
      `${host} closed the connection without answering`,
      https
        ? `check that the store is up and that nothing between (a proxy, a load balancer) cuts the connection`
        : `check that the store is up; if it serves HTTPS on port ${port}, ${address} must start with https://`,
      true,
    );
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER')
    return fail(
      'scheme',
      `${host} does not speak TLS on port ${port}: the address's scheme is wrong`,
      `write ${address} with http://, or give the port where the store serves HTTPS`,
      false,
    );
  if (code === PLAIN_HTTP_TO_TLS)
    return fail(
      'scheme',
      `${host} serves HTTPS on port ${port}: the address's scheme is wrong`,
      `write ${address} with https://`,
      false,
    );
  if (UNTRUSTED.has(code))
    return fail(
      'untrusted',
      `the certificate of ${host} is not signed by a CA this process trusts`,
      ca
        ? `set ${ca} to a PEM file of the CA that signed it`
        : 'this store type has no CA setting: put a PEM file of the CA that signed it in NODE_EXTRA_CA_CERTS, in the environment of the process that runs sesame',
      false,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = certificateNames(text);
    return fail(
      'host-mismatch',
      `the certificate of ${host} is ${names ? `for ${names}` : 'for other names'}, not ${url.hostname}`,
      `use a host name the certificate covers in ${address}, or have the certificate reissued to cover ${url.hostname}`,
      false,
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return fail(
      'expired',
      code === 'CERT_HAS_EXPIRED'
        ? `the certificate of ${host} has expired`
        : `the certificate of ${host} is not valid yet`,
      `renew the store's certificate (trusting another CA does not help), or check this host's clock`,
      false,
    );
  if (code === NO_HTTP2)
    return fail(
      'scheme',
      `${host} does not offer HTTP/2 over TLS, which gRPC needs (it is not a gRPC endpoint)`,
      `point ${address} at the service's gRPC endpoint`,
      false,
    );
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || /alert handshake failure/i.test(text))
    return fail(
      'client-certificate',
      code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
        ? `${host} asks for a client certificate and none was sent`
        : `${host} refused the TLS handshake (it may ask for a client certificate)`,
      clientCertificate
        ? `set ${clientCertificate} to the client certificate ${host} expects`
        : `this store type sends no client certificate: let ${host} accept Sesame without one, or put a proxy that presents it in between`,
      false,
    );
  return fail(
    'tls',
    `the TLS handshake with ${host} failed`,
    `check that ${address} is the store's HTTPS address`,
    false,
  );
}

/**
 * An answer from something that is not the provider (`detail`: `HTTP 200 text/html`): never
 * retried, never quoted (a page can echo the request), and never "not found".
 */
export function foreignAnswer(target: NetworkTarget, detail: string): NetworkFailure {
  const url = new URL(target.url);
  const provider = target.settings.provider ?? 'the store';
  return {
    kind: 'foreign',
    code: FOREIGN_ANSWER,
    reason: `${url.host} does not answer like ${provider}: ${detail}`,
    fix: `check that ${target.settings.address} is the address of ${provider}'s API, and that no proxy or sign-in page answers in its place`,
    retry: false,
  };
}

interface SdkAnswerError {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown } | undefined;
  $response?: { headers?: Record<string, unknown> } | undefined;
}

/** What an SDK error says of the answer it could not read: `HTTP 200 text/html`, as far as it knows. */
function unreadableDetail(err: SdkAnswerError): string {
  const status = err.$metadata?.httpStatusCode;
  const type = err.$response?.headers?.['content-type'];
  const parts = [
    typeof status === 'number' ? `HTTP ${status}` : undefined,
    typeof type === 'string' ? type.split(';')[0] : undefined,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : 'an answer its client cannot read';
}

/**
 * The classification of a failure below HTTP, for adapters on an SDK: `unavailable`, the
 * reason after `what`, the fix, and no retry for TLS and scheme failures. An answer the SDK
 * could not parse (a `SyntaxError`, or any error when `unreadable` says the SDK failed reading
 * the answer) is a {@link foreignAnswer}. Undefined for anything else: the adapter classifies
 * the provider's answer.
 *
 * @example
 * classifyNetwork(err, `Secrets Manager call ${op.action}`, { url: endpoint, settings: { address: 'endpoint' } }) ?? classifyAws(err, op);
 */
export function classifyNetwork(
  err: unknown,
  what: string,
  target: NetworkTarget,
  options: { unreadable?: boolean } = {},
): Classification | undefined {
  const e = (err ?? {}) as SdkAnswerError;
  const failure =
    networkFailure(err, target) ??
    (err instanceof ForeignAnswerError
      ? foreignAnswer(target, err.message)
      : options.unreadable || e.name === 'SyntaxError'
        ? foreignAnswer(target, unreadableDetail(e))
        : undefined);
  if (!failure) return undefined;
  return {
    kind: 'unavailable',
    message: `${what}: ${failure.reason}`,
    fix: failure.fix,
    retry: failure.retry,
    summary: `network ${failure.code}`,
  };
}
