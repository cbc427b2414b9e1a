/**
 * The core's HTTP transport applies the outbound policy's `lookup` to every request, whatever the
 * host form. Node calls an agent's `lookup` only for host names: for an IP literal
 * (`http://127.0.0.1/`, `http://[::1]/`) it connects straight away, so the transport asks the
 * policy itself before connecting.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, NetworkError } from '../../src/stores/core/index.js';
import { OutboundPolicy } from '../../src/resolve/outbound.js';

let server: Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  server = createServer((_req, res) => res.end('loopback-only'));
  server.on('connection', () => {
    connections += 1;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** The policy's lookup, recording what it was asked. */
function recorded(policy: OutboundPolicy, asked: string[]): LookupFunction {
  const lookup = policy.lookup('store t');
  return ((host: string, options: unknown, cb: unknown) => {
    asked.push(host);
    return (lookup as (...a: unknown[]) => void)(host, options, cb);
  }) as LookupFunction;
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  );
}

describe('HttpTransport and the outbound policy', () => {
  it('refuses an IP-literal loopback URL the policy refuses, without connecting', async () => {
    const asked: string[] = [];
    const http = new HttpTransport({ lookup: recorded(new OutboundPolicy(undefined), asked), timeoutMs: 2000 });
    const before = connections;
    try {
      for (const url of [`http://127.0.0.1:${port}/internal-admin`, `https://127.0.0.1:${port}/`, 'http://[::1]:9/x']) {
        const err = await failure(http.request('GET', url));
        expect(err, url).toBeInstanceOf(NetworkError);
        expect((err as NetworkError).code, url).toBe('forbidden_destination');
      }
      expect(asked).toEqual(['127.0.0.1', '127.0.0.1', '::1']);
      expect(connections - before).toBe(0);
    } finally {
      http.close();
    }
  });

  it('refuses an IP literal outside server.outbound.allow', async () => {
    const http = new HttpTransport({ lookup: new OutboundPolicy({ allow: ['secrets.example'] }).lookup('store t') });
    try {
      const err = await failure(http.request('GET', 'http://203.0.113.9:9/x'));
      expect((err as NetworkError).code).toBe('forbidden_destination');
    } finally {
      http.close();
    }
  });

  it('connects to an IP literal the policy allows, and without a policy', async () => {
    const asked: string[] = [];
    const allowed = new HttpTransport({ lookup: recorded(new OutboundPolicy({ allow: ['127.0.0.1'] }), asked) });
    const free = new HttpTransport();
    try {
      expect((await allowed.request('GET', `http://127.0.0.1:${port}/`)).body.toString()).toBe('loopback-only');
      expect(asked).toEqual(['127.0.0.1']);
      expect((await free.request('GET', `http://127.0.0.1:${port}/`)).body.toString()).toBe('loopback-only');
    } finally {
      allowed.close();
      free.close();
    }
  });
});
