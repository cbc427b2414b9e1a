/**
 * Listing cursors. A cursor is opaque to callers: it carries the provider's own page token (AWS
 * NextToken, a Key Vault nextLink, a Secret Manager pageToken) or, for providers without one,
 * the last name served (Vault's sorted folder walk, a file tree). A bad cursor is a usage error,
 * never a silent restart from the first page.
 */
import { UsageError } from '../../errors.js';
import type { ListPage, SecretMetadata } from '../contract.js';

/** Encode a cursor state (any JSON value). */
export function encodeCursor(state: unknown): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

/**
 * Decode a cursor made by {@link encodeCursor}; `accept` checks its shape. `undefined` when no
 * cursor was given.
 */
export function decodeCursor<T>(
  cursor: string | undefined,
  accept: (state: unknown) => state is T,
): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    state = undefined;
  }
  if (state !== undefined && accept(state)) return state;
  throw new UsageError(
    'invalid list cursor: pass the cursor a previous page returned, or none for the first page',
  );
}

/** A cursor holding one provider page token. */
export const tokenCursor = {
  encode: (token: string | undefined | null): string | undefined =>
    token ? encodeCursor({ t: token }) : undefined,
  decode: (cursor: string | undefined): string | undefined =>
    decodeCursor(cursor, (s): s is { t: string } => typeof (s as { t?: unknown })?.t === 'string')?.t,
};

/** Page size asked for, bounded to what the provider takes in one call. */
export function pageSize(limit: number | undefined, fallback: number, max: number): number {
  return Math.min(Math.max(Math.floor(limit ?? fallback), 1), max);
}

/**
 * One page of a complete, in-memory list (providers that answer everything at once, such as an
 * http store's listUrl): sorted by name, resumed after the last name served.
 */
export function pageInMemory(
  items: SecretMetadata[],
  options: { cursor?: string | undefined; limit?: number | undefined },
): ListPage {
  const after = decodeCursor(
    options.cursor,
    (s): s is { after: string } => typeof (s as { after?: unknown })?.after === 'string',
  )?.after;
  const sorted = [...items].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((i) => i.name > after);
  const limit = options.limit ?? rest.length;
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  return rest.length > limit && last
    ? { items: page, cursor: encodeCursor({ after: last.name }) }
    : { items: page };
}
