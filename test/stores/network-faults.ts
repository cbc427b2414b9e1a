/**
 * Broken listeners on 127.0.0.1 for the network and TLS failure tests: a port nothing listens on,
 * a listener that accepts and never answers, one that closes every connection at once, HTTPS
 * servers with the certificates of `network-tls-fixture.ts`, and plain HTTP servers answering
 * what a wrong address answers (a login page, a proxy's 502, another service's JSON). Each closes
 * every connection it holds on `close()`, so a test never waits on a socket it left open.
 */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createSecureServer } from 'node:http2';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { LOCALHOST_CERT, SERVER_KEY } from './network-tls-fixture.js';

export interface Listener {
  /** `http://127.0.0.1:<port>` or `https://…` (a raw TCP listener says `http`). */
  url: string;
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

async function listen(
  server: Server | ReturnType<typeof createTcpServer>,
  scheme: string,
  host = '127.0.0.1',
): Promise<Listener> {
  const sockets = new Set<Socket>();
  let count = 0;
  server.on('connection', (s: Socket) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://${host}:${port}`,
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const l = await listen(createTcpServer(), 'http');
  await l.close();
  return l.port;
}

/** Accepts connections and never answers (a firewall that drops, a hung service). */
export function silentListener(): Promise<Listener> {
  return listen(
    createTcpServer(() => {}),
    'http',
  );
}

/** Accepts each connection and closes it at once, without a byte (a load balancer with no backend). */
export function hangupListener(): Promise<Listener> {
  return listen(
    createTcpServer((s) => s.destroy()),
    'http',
  );
}

/** Plain HTTP answering with `handler`. */
export function httpListener(handler: RequestListener): Promise<Listener> {
  return listen(createHttpServer(handler), 'http');
}

/**
 * HTTPS with `cert` (default: the test CA's certificate for localhost and 127.0.0.1), offering
 * HTTP/2 and HTTP/1.1 as most TLS front ends do (gRPC clients refuse a server without h2 before
 * they look at its certificate). `host` is the host the URL names.
 */
export function httpsListener(
  handler: RequestListener,
  options: { cert?: string; requestCert?: boolean; ca?: string; host?: string } = {},
): Promise<Listener> {
  const server = createSecureServer(
    {
      key: SERVER_KEY,
      cert: options.cert ?? LOCALHOST_CERT,
      allowHTTP1: true,
      ...(options.requestCert ? { requestCert: true, rejectUnauthorized: true, ca: options.ca } : {}),
    },
    handler as unknown as Parameters<typeof createSecureServer>[1],
  );
  return listen(server as unknown as Server, 'https', options.host);
}

/** Answers every request with `status`, `body` and a content type. */
export function answer(status: number, body: string, contentType = 'application/json'): RequestListener {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** A corporate sign-in page, answered with 200 to anything. */
export const LOGIN_PAGE = answer(
  200,
  '<!DOCTYPE html><html><head><title>Sign in - Acme Corp</title></head><body><form action="/login"><input name="user"></form></body></html>',
  'text/html; charset=utf-8',
);

/** A proxy's 502 page. */
export const PROXY_502 = answer(
  502,
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>',
  'text/html',
);

/** Another service's JSON error (a 404 in its own shape). */
export const OTHER_SERVICE_404 = answer(404, '{"status":404,"error":"Not Found","path":"/whatever"}');
