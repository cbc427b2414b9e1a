/**
 * Distributed mode on the server side: what a change another Sesame process committed to the
 * shared database means here (see `src/cluster/`).
 *
 * - `secret`: drop that name's cached values in every store kept in Sesame's database, for every namespace
 *   (a builtin secret in `acme` is also what `acme.devops` resolves when it has none of its own,
 *   so the entries to drop are not only those keyed by the secret's namespace).
 * - `store`, `connection`, `namespace`: read the stored config again and apply it (a namespace's
 *   isolation also decides where its values come from: its cached values are dropped).
 * - `token`: drop the token cache.
 * - `refresh`: the same refresh here (target and scope as the other process applied them).
 * - `key`: read the master keys again (a rotation finished).
 */
import { type ChangeRow, parseRefreshChange, publishChanges, refreshChangeTarget } from '../cluster/changes.js';
import type { RefreshTarget } from '../sesame.js';
import { ChangeListener } from '../cluster/listener.js';
import type { ServerServices } from './services.js';

export function applyChanges(services: Pick<ServerServices, 'sesame' | 'stored' | 'tokens' | 'backend'>) {
  const { sesame, stored, tokens, backend } = services;
  return async (rows: ChangeRow[]): Promise<void> => {
    const log = sesame.log;
    let reload = false;
    const namespaces = new Set<string>();
    const names = new Set<string>();
    const refreshes: ChangeRow[] = [];
    for (const row of rows) {
      switch (row.kind) {
        case 'secret':
          names.add(row.target);
          break;
        case 'store':
        case 'connection':
          reload = true;
          break;
        case 'namespace':
          reload = true;
          namespaces.add(row.target);
          break;
        case 'token':
          tokens.forget(row.target);
          break;
        case 'refresh':
          refreshes.push(row);
          break;
        case 'key':
          try {
            backend.keyring.reload();
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'change feed: could not reload the master keys');
          }
          break;
        default:
          log.warn({ kind: row.kind, seq: row.seq }, 'change feed: unknown change kind ignored (a newer Sesame wrote it)');
      }
    }
    if (names.size > 0) {
      for (const binding of sesame.bindings.all()) {
        // Only stores in Sesame's database write change rows (`StoreType.publishesChanges`).
        if (binding.type.publishesChanges !== true) continue;
        // Keys: namespace (or ''), name, version, stage, separated by NUL.
        binding.cache.invalidate((k) => names.has(k.split('\u0000')[1] ?? ''));
      }
    }
    if (reload) {
      try {
        await stored.reload();
      } catch (err) {
        // The database did not answer: read the rows again at the next wake-up.
        if (typeof (err as { code?: unknown }).code === 'string') throw err;
        log.error({ err: (err as Error).message }, 'change feed: the stored config changed by another server does not apply here');
      }
      for (const ns of namespaces) await sesame.refresh({ namespace: ns }).catch(() => undefined);
    }
    for (const row of refreshes) {
      const parsed = parseRefreshChange(row.target);
      if (!parsed) continue;
      try {
        await sesame.refresh(parsed.target, { namespace: row.namespace, scope: parsed.scope });
      } catch (err) {
        // e.g. a connection this server does not know (yet): nothing of it is cached here.
        log.debug({ err: (err as Error).message, seq: row.seq }, 'change feed: refresh not applicable here');
      }
    }
  };
}

/** Start following the change feed for a server's services. */
export async function startChangeListener(services: Pick<ServerServices, 'sesame' | 'stored' | 'tokens' | 'backend'>): Promise<ChangeListener> {
  const listener = new ChangeListener({ database: services.backend.database, apply: applyChanges(services), log: services.sesame.log });
  await listener.start();
  return listener;
}

/**
 * Refresh here, then tell the other servers on this database to refresh the same (a change row
 * in a transaction of its own). The refresh here has happened when the row fails to commit: the
 * error then says the other servers did not hear of it.
 */
export async function refreshEverywhere(
  services: Pick<ServerServices, 'sesame' | 'backend'>,
  target: RefreshTarget,
  options: { namespace: string; scope: string },
): Promise<{ dropped: number }> {
  const result = await services.sesame.refresh(target, options);
  await publishChanges(services.backend.database, [
    { kind: 'refresh', namespace: options.namespace, target: refreshChangeTarget(target, options.scope) },
  ]);
  return result;
}
