/**
 * Every schema change, in order. The database records the versions it has applied in
 * `schema_migrations`; `migrate()` applies the rest, and refuses a database whose version is
 * above the last entry here (it was migrated by a newer Sesame).
 *
 * To change the schema (audit trail, tokens, stored store configs, connections…):
 *   1. add `src/db/migrations/NNNN-what-it-does.ts` exporting a `Migration` whose `version` is
 *      the next number (use `types.binary` for bytes; timestamps are ISO text);
 *   2. append it to `MIGRATIONS` below;
 *   3. add the new tables' row types to `src/db/tables.ts`.
 * Never edit or reorder a migration that has shipped; a test checks the list is 1, 2, 3… with
 * no gap.
 */
import { builtinSecrets } from './0001-builtin-secrets.js';
import { tokensAndAudit } from './0002-tokens-and-audit.js';
import { storedConfig } from './0003-stored-config.js';
import { leanAuditLog } from './0004-lean-audit-log.js';
import { keyedAuditChain } from './0005-keyed-audit-chain.js';
import { changeFeed } from './0006-change-feed.js';
import { auditTimeOrder } from './0007-audit-time-order.js';
import { adminSessions } from './0008-admin-sessions.js';
import type { Migration } from './types.js';

export const MIGRATIONS: readonly Migration[] = [
  builtinSecrets,
  tokensAndAudit,
  storedConfig,
  leanAuditLog,
  keyedAuditChain,
  changeFeed,
  auditTimeOrder,
  adminSessions,
];

export type { Migration, MigrationContext, PortableTypes } from './types.js';
