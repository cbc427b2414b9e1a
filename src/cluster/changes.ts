/**
 * The change feed as the server's listener reads it (the writing side, committed with each
 * change, is `src/db/changes.ts`), and how a refresh is carried in a change row.
 */
import type { RefreshTarget } from '../sesame.js';

export * from '../db/changes.js';

/** The refresh target and scope of a `refresh` change, as its `target` column holds them. */
export function refreshChangeTarget(target: RefreshTarget, scope: string): string {
  return JSON.stringify({ ...target, ...(scope !== '' ? { scope } : {}) });
}

export function parseRefreshChange(target: string): { target: RefreshTarget; scope: string } | undefined {
  try {
    const parsed = JSON.parse(target) as Record<string, unknown>;
    const scope = typeof parsed['scope'] === 'string' ? parsed['scope'] : '';
    for (const field of ['reference', 'connection', 'store', 'namespace'] as const) {
      if (typeof parsed[field] === 'string') return { target: { [field]: parsed[field] } as RefreshTarget, scope };
    }
    if (parsed['all'] === true) return { target: { all: true }, scope };
  } catch {
    // Not JSON: not a change this version understands.
  }
  return undefined;
}

