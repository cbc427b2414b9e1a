/**
 * Paging over a fully listed result, for backends whose SDK cannot resume a listing (Azure's
 * `byPage` drops the continuation token; GCP pages follow for symmetry): sort by name, cut a
 * page at an offset carried in an opaque cursor.
 */
import { UsageError } from '../errors.js';
import type { ListPage, SecretMetadata } from './contract.js';

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch {
    // fall through to the error below
  }
  throw new UsageError('invalid list cursor: pass the cursor a previous page returned');
}

/** One page of `items` sorted by name; `cursor` is set when more follow. */
export function pageSorted(items: SecretMetadata[], options: { cursor?: string | undefined; limit?: number | undefined }): ListPage {
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const offset = decodeCursor(options.cursor);
  const next = offset + (options.limit ?? items.length);
  const page = items.slice(offset, next);
  return next < items.length ? { items: page, cursor: encodeCursor(next) } : { items: page };
}
