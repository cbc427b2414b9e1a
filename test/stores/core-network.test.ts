/**
 * Failures below HTTP, told once for every adapter: a real request through the core's
 * `HttpTransport` to a broken listener on 127.0.0.1 (or a name under `.invalid`), classified by
 * `classifyHttp`. Each case checks what an operator reads: the host and port, what went wrong in
 * words, the setting to change, and whether a retry is tried.
 */
import { createServer as createTcpServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Classification,
  classifyAtEndpoint,
  classifyHttp,
  HttpTransport,
  type HttpTransportOptions,
  lowLevelCode,
  networkFailure,
  type StoreEndpoint,
} from '../../src/stores/core/index.js';
import {
  answer,
  closedPort,
  hangupListener,
  httpListener,
  httpsListener,
  type Listener,
  silentListener,
} from './network-faults.js';
import {
  CLIENT_CERT,
  EXPIRED_CERT,
  OTHER_HOST_CERT,
  SELF_SIGNED_CERT,
  TEST_CA_CERT,
} from './network-tls-fixture.js';

const ok = answer(200, '{}');
const open: Array<Listener | HttpTransport> = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

/** One GET through a transport with `options`; the classification of its failure. */
async function failureOf(url: string, options: HttpTransportOptions = {}): Promise<Classification> {
  const http = new HttpTransport({ settings: { address: 'address', ca: 'caFile' }, ...options });
  open.push(http);
  const err = await http.request('GET', `${url}/v1/secret/db`).then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  );
  const c = classifyHttp(err, 'reading "db"');
  if (!c) throw new Error(`not classified: ${String(err)}`);
  return c;
}

async function started(l: Promise<Listener>): Promise<Listener> {
  const listener = await l;
  open.push(listener);
  return listener;
}

describe('network failures through the HTTP transport', () => {
  it('a host name that does not resolve says so and names the address setting', async () => {
    const c = await failureOf('https://sesame-test.invalid');
    expect(c.kind).toBe('unavailable');
    expect(c.message).toMatch(
      /^reading "db": the host name sesame-test\.invalid does not resolve \(no such name in DNS\) \((ENOTFOUND|EAI_AGAIN)\)$/,
    );
    expect(c.fix).toContain('check the host name in address');
  });

  it('a closed port says the connection was refused on that port', async () => {
    const port = await closedPort();
    const c = await failureOf(`http://127.0.0.1:${port}`);
    expect(c.message).toBe(
      `reading "db": 127.0.0.1:${port} refused the connection: nothing listens on port ${port} (ECONNREFUSED)`,
    );
    expect(c.fix).toBe('check the port in address and that the store is running');
    expect(c.retry).toBe(true);
  });

  it('a listener that never answers times out after the timeout, and says how long it waited', async () => {
    const l = await started(silentListener());
    const t0 = Date.now();
    const c = await failureOf(l.url, { timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(c.message).toBe(`reading "db": 127.0.0.1:${l.port} did not answer within 300 ms (timeout)`);
    expect(c.fix).toContain(`a firewall or proxy lets this host reach 127.0.0.1:${l.port}`);
    expect(c.retry).toBe(true);
  });

  it('a connection closed at once on http:// says so and suggests https://', async () => {
    const l = await started(hangupListener());
    const c = await failureOf(l.url);
    expect(c.message).toBe(
      `reading "db": 127.0.0.1:${l.port} closed the connection without answering (ECONNRESET)`,
    );
    expect(c.fix).toBe(
      `check that the store is up; if it serves HTTPS on port ${l.port}, address must start with https://`,
    );
  });

  it('http:// to a TLS port that answers like Go or nginx says the scheme is wrong', async () => {
    // What Go's net/http writes to a plain-HTTP client on a TLS port (Vault answers this).
    const tcp = createTcpServer((s) =>
      s.once('data', () =>
        s.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n'),
      ),
    );
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as { port: number }).port;
    try {
      const c = await failureOf(`http://127.0.0.1:${port}`);
      expect(c.message).toBe(
        `reading "db": 127.0.0.1:${port} serves HTTPS on port ${port}: the address's scheme is wrong (PLAIN_HTTP_TO_TLS_PORT)`,
      );
      expect(c.fix).toBe('write address with https://');
      expect(c.retry).toBe(false);
    } finally {
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('https:// to a plain HTTP port says the scheme is wrong, not retried', async () => {
    const l = await started(httpListener(ok));
    const c = await failureOf(l.url.replace('http:', 'https:'));
    expect(c.message).toBe(
      `reading "db": 127.0.0.1:${l.port} does not speak TLS on port ${l.port}: the address's scheme is wrong (ERR_SSL_WRONG_VERSION_NUMBER)`,
    );
    expect(c.fix).toBe('write address with http://, or give the port where the store serves HTTPS');
    expect(c.retry).toBe(false);
  });
});

describe('TLS failures through the HTTP transport', () => {
  it('a self-signed certificate names the CA setting of the store type', async () => {
    const l = await started(httpsListener(ok, { cert: SELF_SIGNED_CERT }));
    const c = await failureOf(l.url);
    expect(c.message).toBe(
      `reading "db": the certificate of 127.0.0.1:${l.port} is not signed by a CA this process trusts (DEPTH_ZERO_SELF_SIGNED_CERT)`,
    );
    expect(c.fix).toBe('set caFile to a PEM file of the CA that signed it');
    expect(c.retry).toBe(false);
  });

  it('a store type without a CA setting is told to use NODE_EXTRA_CA_CERTS', async () => {
    const l = await started(httpsListener(ok));
    const c = await failureOf(l.url, { settings: { address: 'siteUrl' } });
    expect(c.message).toContain('(UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(c.fix).toBe(
      'this store type has no CA setting: put a PEM file of the CA that signed it in NODE_EXTRA_CA_CERTS, in the environment of the process that runs sesame',
    );
  });

  it('a certificate for another host names the host asked for and what the certificate covers', async () => {
    const l = await started(httpsListener(ok, { cert: OTHER_HOST_CERT }));
    const c = await failureOf(l.url, { ca: TEST_CA_CERT });
    expect(c.message).toBe(
      `reading "db": the certificate of 127.0.0.1:${l.port} is for secrets.other.example, not 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID)`,
    );
    expect(c.fix).toBe(
      'use a host name the certificate covers in address, or have the certificate reissued to cover 127.0.0.1',
    );
    expect(c.retry).toBe(false);
  });

  it('an expired certificate says so, and that another CA will not help', async () => {
    const l = await started(httpsListener(ok, { cert: EXPIRED_CERT }));
    const c = await failureOf(l.url, { ca: TEST_CA_CERT });
    expect(c.message).toBe(
      `reading "db": the certificate of 127.0.0.1:${l.port} has expired (CERT_HAS_EXPIRED)`,
    );
    expect(c.fix).toContain("renew the store's certificate");
    expect(c.retry).toBe(false);
  });

  it('a server that requires a client certificate says none was sent', async () => {
    const l = await started(httpsListener(ok, { requestCert: true, ca: TEST_CA_CERT }));
    const c = await failureOf(l.url, { ca: TEST_CA_CERT });
    expect(c.message).toMatch(
      new RegExp(
        `^reading "db": 127\\.0\\.0\\.1:${l.port} (asks for a client certificate and none was sent|refused the TLS handshake)`,
      ),
    );
    expect(c.fix).toContain('this store type sends no client certificate');
    expect(c.retry).toBe(false);
    expect(CLIENT_CERT).toContain('BEGIN CERTIFICATE'); // the fixture a client would present
  });

  it('a trusted, valid certificate for the host works (the fixtures are right)', async () => {
    const l = await started(httpsListener(ok));
    const http = new HttpTransport({ ca: TEST_CA_CERT });
    open.push(http);
    expect((await http.request('GET', `${l.url}/`)).status).toBe(200);
  });
});

describe('networkFailure on SDK errors', () => {
  const target = { url: 'https://secretsmanager.eu-west-1.amazonaws.com', settings: { address: 'endpoint' } };

  it("reads the code from a wrapped cause and from gRPC's text", () => {
    const wrapped = new Error('request failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
    });
    expect(lowLevelCode(wrapped)?.code).toBe('ECONNREFUSED');
    const grpc = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established. Last error: Error: self-signed certificate',
    });
    expect(networkFailure(grpc, target)?.fix).toContain('NODE_EXTRA_CA_CERTS');
  });

  it('is undefined for errors that are not below HTTP', () => {
    expect(networkFailure(new Error('AccessDeniedException'), target)).toBeUndefined();
    expect(
      networkFailure(Object.assign(new Error('no'), { code: 'ResourceNotFoundException' }), target),
    ).toBeUndefined();
  });
});

describe('networkFailure with a proxy in the environment', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const unresolved = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  const target = (proxy: 'environment' | 'none') => ({
    url: 'https://acme.vault.azure.net',
    settings: { address: 'vaultUrl', proxy },
  });

  it("a client that reads the environment names the proxy's host name that does not resolve", () => {
    vi.stubEnv('HTTPS_PROXY', 'http://proxy.corp.invalid:3128');
    expect(networkFailure(unresolved, target('environment'))?.reason).toBe(
      'the host name of the proxy proxy.corp.invalid (HTTPS_PROXY) does not resolve (no such name in DNS) (ENOTFOUND)',
    );
  });

  it('NO_PROXY listing the host (or a parent domain) means a direct connection', () => {
    vi.stubEnv('HTTPS_PROXY', 'http://proxy.corp.invalid:3128');
    vi.stubEnv('NO_PROXY', 'localhost,.vault.azure.net');
    expect(networkFailure(unresolved, target('environment'))?.reason).toBe(
      'the host name acme.vault.azure.net does not resolve (no such name in DNS) (ENOTFOUND)',
    );
  });

  it('a client that connects directly says nothing of proxies when none is set', () => {
    vi.stubEnv('HTTPS_PROXY', '');
    vi.stubEnv('https_proxy', '');
    vi.stubEnv('ALL_PROXY', '');
    vi.stubEnv('all_proxy', '');
    vi.stubEnv('HTTP_PROXY', '');
    vi.stubEnv('http_proxy', '');
    expect(networkFailure(unresolved, target('none'))?.fix).not.toContain('proxy');
  });
});

describe('classifyAtEndpoint: the network wiring a store declares', () => {
  type Op = { action: string };
  const endpoint: StoreEndpoint<Op> = {
    at: (op) => ({
      url: 'https://api.example:8443',
      settings: { address: 'apiUrl', provider: 'Example' },
      what: `Example call ${op.action}`,
    }),
    answered: (err) => (err as { status?: unknown }).status !== undefined,
    foreign: (err) =>
      (err as { foreign?: string }).foreign ? 'HTTP 404 without an Example error' : undefined,
    timedOut: (err) => (err as Error).name === 'AbortError',
  };
  const op = { action: 'read' };

  it('tells a socket failure in the core words, naming the declared setting and the time limit', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(classifyAtEndpoint(refused, op, endpoint, 5_000)).toMatchObject({
      kind: 'unavailable',
      message:
        'Example call read: api.example:8443 refused the connection: nothing listens on port 8443 (ECONNREFUSED)',
      fix: 'check the port in apiUrl and that the store is running',
      retry: true,
    });
    const aborted = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    expect(classifyAtEndpoint(aborted, op, endpoint, 5_000)?.message).toBe(
      'Example call read: api.example:8443 did not answer within 5 s (timeout)',
    );
  });

  it("says an answer that is not the provider's is foreign, never retried", () => {
    const c = classifyAtEndpoint(
      Object.assign(new Error('x'), { status: 404, foreign: 'yes' }),
      op,
      endpoint,
      5_000,
    );
    expect(c).toMatchObject({
      kind: 'unavailable',
      message:
        'Example call read: api.example:8443 does not answer like Example: HTTP 404 without an Example error',
      retry: false,
    });
  });

  it("leaves the provider's own answers to the adapter, even when their text names a timeout", () => {
    const answered = Object.assign(new Error('Deadline exceeded while reading'), { status: 504 });
    expect(classifyAtEndpoint(answered, op, endpoint, 5_000)).toBeUndefined();
    expect(classifyAtEndpoint(new Error('a bad name'), op, endpoint, 5_000)).toBeUndefined();
  });

  it("tells the HTTP transport's errors with the declared `what`, and the transport's own settings", async () => {
    const port = await closedPort();
    const http = new HttpTransport({ settings: { address: 'address', provider: 'Example' } });
    const err = await http.request('GET', `http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    http.close();
    expect(classifyAtEndpoint(err, op, endpoint, 5_000)).toMatchObject({
      message: `Example call read: 127.0.0.1:${port} refused the connection: nothing listens on port ${port} (ECONNREFUSED)`,
      fix: 'check the port in address and that the store is running',
    });
  });
});
