import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { turnGate } from '../../src/server/plugins/auth.js';

describe('turnGate: the first request read from a connection in a turn of the event loop', () => {
  it('is first once per socket per turn: a pipelined second request on the same socket is not', () => {
    const first = turnGate();
    const a = {};
    const b = {};
    expect(first(a)).toBe(true);
    expect(first(a)).toBe(false);
    expect(first(b)).toBe(true);
    expect(first(b)).toBe(false);
    expect(first(a)).toBe(false);
  });

  it('starts again in the next turn', async () => {
    const first = turnGate();
    const a = {};
    expect(first(a)).toBe(true);
    await nextTurn();
    expect(first(a)).toBe(true);
    expect(first(a)).toBe(false);
    await nextTurn();
    await nextTurn();
    expect(first(a)).toBe(true);
  });

  it('keeps each server apart: one gate does not mark a socket for another', () => {
    const one = turnGate();
    const two = turnGate();
    const a = {};
    expect(one(a)).toBe(true);
    expect(two(a)).toBe(true);
    expect(one(a)).toBe(false);
  });
});
