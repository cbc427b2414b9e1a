/**
 * Fixtures of the authorization table (authorization.test.ts): listeners that stand in for the
 * places a value could be sent to (an attacker's HTTP endpoint, a database port, the cloud
 * metadata service) and record everything that reaches them, and canary values to look for in
 * every reply.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface Sink {
  port: number;
  /** Every HTTP request that reached the listener, in order. */
  requests: Received[];
  /** Every TCP connection accepted (a database driver probing the port counts here too). */
  connections: number;
  /** Requests whose path starts with `prefix`. */
  at(prefix: string): Received[];
  close(): Promise<void>;
}

/** An HTTP listener answering 200 (with `body`) to everything and recording what it received. */
export async function startSink(host = '127.0.0.1', body = '{"ok":true}'): Promise<Sink> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const sink: Sink = {
    port: 0,
    requests,
    connections: 0,
    at: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    sink.connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  sink.port = (server.address() as AddressInfo).port;
  return sink;
}

/**
 * An address of this machine that the outbound policy does not refuse by default (not loopback,
 * link-local or metadata): the stand-in for "a public-looking destination" that a test can
 * still listen on. Undefined when the machine has none.
 */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
    }
  }
  return undefined;
}

/** A distinct value per target, recognisable in any reply. */
export function canary(label: string): string {
  return `canary-${label}-${randomBytes(9).toString('hex')}`;
}

/** The forms a value could take in a reply: plain, base64, base64url, hex, URL-encoded. */
export function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('base64'), b.toString('base64url'), b.toString('hex'), encodeURIComponent(value)];
}

/** The canaries (by label) found in `text`, in any of their forms. */
export function leaked(text: string, canaries: Record<string, string>): string[] {
  return Object.entries(canaries)
    .filter(([, value]) => forms(value).some((f) => text.includes(f)))
    .map(([label]) => label);
}

