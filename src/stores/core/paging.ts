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

/** One provider page: its items and the token of the next page. */
export interface ProviderPage<Raw> {
  items: readonly Raw[];
  next?: string | undefined;
}

/**
 * A page of a listing over provider pages, for providers that filter nothing server-side (the
 * adapter's `pick` maps and filters each raw item): provider pages are read until `limit`
 * items are found, and the cursor holds the provider's token and, when a page was cut short,
 * how many matches of that provider page were already served. `phases` chains listings (Key
 * Vault's active then deleted secrets). No cap: every provider page is reachable.
 */
export async function listProviderPages<Raw>(options: {
  cursor?: string | undefined;
  limit?: number | undefined;
  /** Listings read one after the other (default one). */
  phases?: number;
  fetch(token: string | undefined, phase: number): Promise<ProviderPage<Raw>>;
  pick(raw: Raw, phase: number): SecretMetadata | undefined;
}): Promise<ListPage> {
  type State = { p: number; t?: string; s?: number };
  const start = decodeCursor(options.cursor, (s): s is State => typeof (s as State)?.p === 'number') ?? {
    p: 0,
  };
  const limit = pageSize(options.limit, 100, 1_000);
  const phases = options.phases ?? 1;
  const items: SecretMetadata[] = [];
  let next: State | undefined = start;
  while (next && items.length < limit) {
    const at: State = next;
    const page = await options.fetch(at.t, at.p);
    let matched = 0;
    let cut = false;
    for (const raw of page.items) {
      const item = options.pick(raw, at.p);
      if (!item || matched++ < (at.s ?? 0)) continue;
      if (items.length === limit) {
        cut = true;
        break;
      }
      items.push(item);
    }
    next = cut
      ? { ...at, s: matched - 1 }
      : page.next
        ? { p: at.p, t: page.next }
        : at.p + 1 < phases
          ? { p: at.p + 1 }
          : undefined;
  }
  return next ? { items, cursor: encodeCursor(next) } : { items };
}
