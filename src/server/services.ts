/** What route handlers share: the library, the database-backed services and the metrics. */
import type { AuditLog } from '../audit/index.js';
import type { BuiltinBackend } from '../encrypted-store/index.js';
import type { ChangeListener } from '../cluster/listener.js';
import type { Sesame } from '../sesame.js';
import type { TokenService } from '../tokens/index.js';
import type { ServerMetrics } from './metrics.js';
import type { AuditRecorder } from './outage.js';
import type { StoredConfig } from './stored-config.js';

export interface ServerServices {
  sesame: Sesame;
  backend: BuiltinBackend;
  audit: AuditLog;
  /** Commits the audit records of requests: to `audit`, or to the local spool while the database is unreachable. */
  recorder: AuditRecorder;
  tokens: TokenService;
  stored: StoredConfig;
  metrics: ServerMetrics;
  mode: 'api' | 'agent';
  now(): number;
  /** The last `POST /stores/{name}/test` of each store (`namespace/name`), for the store list. */
  storeTests: Map<string, { ok: boolean; at: string }>;
  /** Follows the changes other servers on the same database make (distributed mode). */
  changes?: ChangeListener | undefined;
}
