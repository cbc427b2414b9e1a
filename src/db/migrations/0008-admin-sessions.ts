/**
 * The admin UI's sessions, shared by every Sesame process on the database (see
 * `src/server/sessions.ts`): any node serves any session, a sign out ends it everywhere, and a
 * restart signs nobody out.
 *
 * A row holds no secret in clear: the cookie's value is kept as its sha256 (`id_hash`), the CSRF
 * token as its sha256 (`csrf_hash`), and the bearer token the session was opened with only by its
 * id in `api_tokens` (every token kind has a row there), so each request checks that token's
 * revocation, expiry and scope again. `expires_at` is when the session ends unless used again
 * (the earlier of its idle and absolute limits), indexed so expired rows are pruned cheaply.
 */
import type { Migration } from './types.js';

export const adminSessions: Migration = {
  version: 8,
  name: 'admin-sessions',
  async up(db) {
    await db.schema
      .createTable('admin_sessions')
      // sha256 (hex) of the cookie's value: the lookup of every request made with the cookie.
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      // api_tokens.id of the token the session was opened with.
      .addColumn('token_id', 'text', (c) => c.notNull())
      // sha256 (hex) of the session's CSRF token.
      .addColumn('csrf_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      // The last activity recorded (at most once a minute, see sessions.ts).
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    // Ending a token's sessions (revocation) and capping them per token.
    await db.schema.createIndex('admin_sessions_by_token').on('admin_sessions').columns(['token_id']).execute();
    // Pruning expired rows.
    await db.schema.createIndex('admin_sessions_by_expiry').on('admin_sessions').columns(['expires_at']).execute();
  },
};
