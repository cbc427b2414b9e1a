/**
 * A background-refreshed token with a lease longer than Node's timers hold (2^31-1 ms, about 24.8
 * days): Vault hands out such tokens (a token made with -ttl=8760h, a mount whose max_lease_ttl is
 * raised). Node fires a timer set past that bound after 1 ms, so the renewal due in about eight
 * months ran at once, got the same lease back, and ran again: renew-self against Vault in a loop
 * for as long as the process lived. The renewal now waits as long as a timer can, and asks again.
 */
import { describe, expect, it, vi } from 'vitest';
import { TokenSession } from '../../src/stores/core/index.js';

const YEAR_MS = 365 * 86_400_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TokenSession with a lease of a year', () => {
  it('does not renew in a loop: neither renew nor login runs in the next 300 ms', async () => {
    const login = vi.fn(async () => ({ token: 'long-lived', ttlMs: YEAR_MS, renewable: true }));
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: YEAR_MS, renewable: true }));
    const session = new TokenSession({ login, renew, background: true });
    try {
      expect(await session.token()).toBe('long-lived');
      await sleep(300);
      expect(renew).not.toHaveBeenCalled();
      expect(login).toHaveBeenCalledTimes(1);
      expect(await session.token()).toBe('long-lived');
    } finally {
      session.close();
    }
  });

  it('a configured token learnt with such a lease is not renewed at once either', async () => {
    const login = vi.fn(async () => ({ token: 'configured' }));
    const renew = vi.fn(async (token: string) => ({ token, ttlMs: 400 * 86_400_000, renewable: true }));
    const session = new TokenSession({ login, renew, background: true, relogin: false });
    try {
      expect(await session.token()).toBe('configured');
      session.learn({ token: 'configured', ttlMs: 400 * 86_400_000, renewable: true });
      await sleep(300);
      expect(renew).not.toHaveBeenCalled();
    } finally {
      session.close();
    }
  });
});
