/**
 * The core's TokenSession: single-flight login, lazy and background refresh, renewal and the
 * switch to a fresh login near the maximum lifetime, re-login after a refused token, configured
 * tokens that are only renewed, and no timer left after close.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type TokenLease, TokenSession } from '../../src/stores/core/index.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A login that hands out token-1, token-2… with the given lease, counting calls. */
function logins(lease: Omit<TokenLease<string>, 'token'> = {}) {
  let n = 0;
  const login = vi.fn(async () => ({ token: `token-${++n}`, ...lease }));
  return login;
}

describe('TokenSession', () => {
  it('logs in once for concurrent callers and reuses the token', async () => {
    let release: (() => void) | undefined;
    const login = vi.fn(
      () =>
        new Promise<TokenLease<string>>((resolve) => {
          release = () => resolve({ token: 'shared' });
        }),
    );
    const session = new TokenSession({ login });
    const waiting = Promise.all([session.token(), session.token(), session.token()]);
    release?.();
    expect(await waiting).toEqual(['shared', 'shared', 'shared']);
    expect(await session.token()).toBe('shared');
    expect(login).toHaveBeenCalledTimes(1);
  });

  it('shares a failed login with every waiter and tries again at the next use', async () => {
    const login = vi
      .fn<() => Promise<TokenLease<string>>>()
      .mockRejectedValueOnce(new Error('refused'))
      .mockResolvedValueOnce({ token: 'second' });
    const session = new TokenSession({ login });
    const results = await Promise.allSettled([session.token(), session.token()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await session.token()).toBe('second');
    expect(login).toHaveBeenCalledTimes(2);
  });

  it('lazily: the first use after refreshAt of the lease logs in again, not before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const login = logins({ ttlMs: 8 * 60_000 });
    const session = new TokenSession({ login, refreshAt: 0.75 });
    expect(await session.token()).toBe('token-1');
    vi.setSystemTime(Date.now() + 6 * 60_000 - 1);
    expect(await session.token()).toBe('token-1');
    vi.setSystemTime(Date.now() + 2);
    expect(session.current).toBeUndefined();
    expect(await session.token()).toBe('token-2');
    expect(login).toHaveBeenCalledTimes(2);
  });

  it('keeps a token without a known lifetime until it is forgotten', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const login = logins();
    const session = new TokenSession({ login });
    await session.token();
    vi.setSystemTime(Date.now() + 365 * 24 * 3_600_000);
    expect(await session.token()).toBe('token-1');
    session.forget();
    expect(await session.token()).toBe('token-2');
  });

  it('use: one new login and one more send after a refused token, none when accepted', async () => {
    const login = logins();
    const session = new TokenSession({ login });
    const sent: string[] = [];
    const send = async (token: string) => {
      sent.push(token);
      return token === 'token-1' ? 401 : 200;
    };
    expect(await session.use(send, (status) => status === 401)).toBe(200);
    expect(sent).toEqual(['token-1', 'token-2']);
    expect(await session.use(send, (status) => status === 401)).toBe(200);
    expect(sent).toEqual(['token-1', 'token-2', 'token-2']);
    expect(login).toHaveBeenCalledTimes(2);
  });

  it('use: a configured token (relogin false) is sent once and kept; refused may throw its own error', async () => {
    const login = vi.fn(async () => ({ token: 'configured' }));
    const session = new TokenSession({ login, relogin: false });
    expect(session.canLogin).toBe(false);
    expect(
      await session.use(
        async () => 401,
        () => true,
      ),
    ).toBe(401);
    session.forget();
    expect(session.current).toBe('configured');
    await expect(
      session.use(
        async () => 401,
        () => {
          throw new Error('set a new token');
        },
      ),
    ).rejects.toThrow('set a new token');
    expect(login).toHaveBeenCalledTimes(1);
  });

  it('background: renews at two thirds of the lease on an unref’d timer, and the token stays usable', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = logins({ ttlMs: 60_000, renewable: true });
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: 60_000, renewable: true }));
    const session = new TokenSession({ login, renew, background: true });
    const unref = vi.spyOn(globalThis, 'setTimeout');
    await session.token();
    expect(unref.mock.results.at(-1)?.value.hasRef()).toBe(false);
    await vi.advanceTimersByTimeAsync(39_000);
    expect(renew).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(renew).toHaveBeenCalledWith('token-1');
    await vi.advanceTimersByTimeAsync(40_000);
    expect(renew).toHaveBeenCalledTimes(2);
    expect(await session.token()).toBe('token-1');
    expect(login).toHaveBeenCalledTimes(1);
    session.close();
  });

  it('background: a token that cannot be renewed is replaced by a login at two thirds of its lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = logins({ ttlMs: 30_000 });
    const session = new TokenSession({ login, background: true });
    await session.token();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(login).toHaveBeenCalledTimes(2);
    expect(session.current).toBe('token-2');
    session.close();
  });

  it('background: logs in instead of renewing once a renewal grants under half the login lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = logins({ ttlMs: 60_000, renewable: true });
    const grants = [40_000, 13_000];
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: grants.shift(), renewable: true }));
    const session = new TokenSession({ login, renew, background: true });
    await session.token();
    await vi.advanceTimersByTimeAsync(40_000); // renewed to 40 s: still over half of 60 s
    await vi.advanceTimersByTimeAsync(26_700); // renewed to 13 s: the maximum lifetime is near
    expect(renew).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(8_700); // a fresh login, not a third renewal
    expect(renew).toHaveBeenCalledTimes(2);
    expect(login).toHaveBeenCalledTimes(2);
    session.close();
  });

  it('background: a failed renewal is reported and the token forgotten, so the next use logs in', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = logins({ ttlMs: 60_000, renewable: true });
    const failures: unknown[] = [];
    const session = new TokenSession({
      login,
      renew: async () => {
        throw new Error('renewal refused');
      },
      background: true,
      onRefreshError: (err) => failures.push(err),
    });
    await session.token();
    await vi.advanceTimersByTimeAsync(40_000);
    expect(failures.map((e) => (e as Error).message)).toEqual(['renewal refused']);
    expect(session.current).toBeUndefined();
    expect(await session.token()).toBe('token-2');
    session.close();
  });

  it('background: a configured token learns its lease later and is renewed, never replaced', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = vi.fn(async () => ({ token: 'configured' }));
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: 30_000, renewable: true }));
    const session = new TokenSession({ login, renew, relogin: false, background: true });
    await session.token();
    session.learn({ token: 'other', ttlMs: 30_000, renewable: true }); // not the token held: ignored
    await vi.advanceTimersByTimeAsync(60_000);
    expect(renew).not.toHaveBeenCalled();
    session.learn({ token: 'configured', ttlMs: 30_000, renewable: true });
    await vi.advanceTimersByTimeAsync(20_000);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(login).toHaveBeenCalledTimes(1);
    session.close();
  });

  it('a configured token that cannot be renewed gets no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = vi.fn(async () => ({ token: 'configured', ttlMs: 30_000, renewable: false }));
    const session = new TokenSession({ login, relogin: false, background: true });
    await session.token();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves no timer behind once closed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const login = logins({ ttlMs: 60_000, renewable: true });
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: 60_000 }));
    const session = new TokenSession({ login, renew, background: true });
    await session.token();
    expect(vi.getTimerCount()).toBe(1);
    session.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(renew).not.toHaveBeenCalled();
  });
});
