/**
 * A client that opens a request and never finishes sending it holds a connection (and its memory)
 * for as long as it likes unless the server bounds the time to receive a request: Fastify turns
 * Node's own limit off by default. `server.requestTimeout` bounds it (60 s by default).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Open a socket to `url`, write `head`, then drip `drip` one character every 200 ms; collect what comes back until it closes. */
function slowRequest(url: string, head: string, drip: string): Promise<{ reply: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(Number(port), hostname, () => {
      socket.write(head);
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed || i >= drip.length) return clearInterval(timer);
        socket.write(drip[i++] as string);
      }, 200);
      socket.on('close', () => clearInterval(timer));
    });
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      reply += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve({ reply, closedAfterMs: Date.now() - started }));
    // The test's own bound: a server that never closes fails here, not by hanging.
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after 15 s; it had answered: ${JSON.stringify(reply)}`));
    }, 15_000).unref();
  });
}

describe('slow clients', () => {
  it('a request whose body arrives a byte at a time is answered 408 and closed after server.requestTimeout', async () => {
    server = await startTestServer({ config: { server: { requestTimeout: '2s' } } });
    const token = (await server.token('runtime')).token;
    const body = `{"value": "${'x'.repeat(200)}"}`;
    const head = `POST /api/v1/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { reply, closedAfterMs } = await slowRequest(server.url, head, body);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(1_900);
  }, 30_000);

  it('a request refused before its body (no token) is closed at the limit too, the body still dripping', async () => {
    server = await startTestServer({ config: { server: { requestTimeout: '2s' } } });
    const body = `{"value": "${'x'.repeat(200)}"}`;
    const head = `POST /api/v1/resolve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { reply, closedAfterMs } = await slowRequest(server.url, head, body);
    expect(reply).toMatch(/^HTTP\/1\.1 401 /);
    expect(closedAfterMs).toBeLessThan(10_000);
  }, 30_000);

  it('so is a request whose headers never end', async () => {
    server = await startTestServer({ config: { server: { requestTimeout: '2s' } } });
    const { reply } = await slowRequest(server.url, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'x-slow: ' + 'a'.repeat(200));
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
  }, 30_000);

  it('by default a request must arrive within 60 s (Fastify alone leaves Node\'s limit at 0: none)', async () => {
    server = await startTestServer();
    expect(server.server.app.server.requestTimeout).toBe(60_000);
  });

  it('the limit is for receiving a request, not for answering it: a normal request is unaffected', async () => {
    server = await startTestServer({ config: { server: { requestTimeout: '2s' } } });
    const res = await server.call('GET', '/healthz');
    expect(res.status).toBe(200);
  });

  it('refuses a requestTimeout that is not a duration, or 0 (no limit), saying what to write', async () => {
    await expect(startTestServer({ config: { server: { requestTimeout: 'soon' } } })).rejects.toThrow(
      /server\.requestTimeout.*not a duration/,
    );
    await expect(startTestServer({ config: { server: { requestTimeout: 0 } } })).rejects.toThrow(
      /server\.requestTimeout.*at least 1s/,
    );
  });
});
