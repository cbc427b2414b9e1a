import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, nsLabel, unwrap } from '../api/client';
import { Empty, ErrorMessage, Loading, PageHeader, Progress, Status } from '../components/common';
import { usePrincipal, useSession } from '../session';

type Target = 'reference' | 'connection' | 'store' | 'namespace' | 'all';

export function CachePage() {
  const principal = usePrincipal();
  const { namespace } = useSession();
  const queryClient = useQueryClient();
  const canSee = principal.role === 'admin' || principal.role === 'operator';
  const [target, setTarget] = useState<Target>('namespace');
  const [what, setWhat] = useState('');
  const stats = useQuery({
    queryKey: ['cache', namespace],
    enabled: canSee,
    queryFn: () => unwrap(api.GET('/api/v1/cache', { params: { query: { namespace } } })),
  });
  const refresh = useMutation({
    mutationFn: () => {
      const body =
        target === 'all'
          ? { all: true as const }
          : target === 'namespace'
            ? { namespace }
            : { [target]: what.trim(), namespace };
      return unwrap(api.POST('/api/v1/refresh', { body }));
    },
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['cache'] }),
  });
  const needsWhat = target === 'reference' || target === 'connection' || target === 'store';
  return (
    <section>
      <PageHeader title={`Cache of ${nsLabel(namespace)}`} />
      <form
        className="panel"
        aria-label="Refresh the cache"
        onSubmit={(e) => {
          e.preventDefault();
          refresh.mutate();
        }}
      >
        <h2>Refresh</h2>
        <p>Drop cached values so the next resolve fetches them again (e.g. after a rotation).</p>
        <div className="row">
          {/* Not wrapped in its label: a wrapping label's name takes in the chosen option ("this
              namespace"), and the picker at the top is the one field named Namespace. */}
          <div className="field">
            <label htmlFor="refresh-target">Refresh what</label>
            <select
              id="refresh-target"
              value={target}
              disabled={refresh.isPending}
              onChange={(e) => setTarget(e.target.value as Target)}
            >
              <option value="namespace">this namespace</option>
              <option value="reference">a reference</option>
              <option value="connection">a connection</option>
              <option value="store">a store</option>
              {principal.namespace === '' && <option value="all">everything</option>}
            </select>
          </div>
          {needsWhat && (
            <label>
              {target === 'reference'
                ? 'Reference'
                : target === 'connection'
                  ? 'Connection name'
                  : 'Store name'}
              <input
                required
                autoComplete="off"
                value={what}
                onChange={(e) => setWhat(e.target.value)}
                placeholder={target === 'reference' ? 'secret://builtin/db-password' : ''}
              />
            </label>
          )}
          <button type="submit" disabled={refresh.isPending}>
            {refresh.isPending ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
        {refresh.isPending && <Progress label="Dropping cached values…" />}
        <ErrorMessage error={refresh.error} />
        {refresh.data && !refresh.isPending && <Status>Dropped {refresh.data.dropped} cached values.</Status>}
      </form>
      {canSee && (
        <>
          <h2>Per store</h2>
          {stats.isPending && <Loading what="cache statistics" />}
          <ErrorMessage error={stats.error} />
          {stats.data && stats.data.stores.length === 0 && (
            <Empty title="Nothing cached yet.">Values are cached as they are resolved.</Empty>
          )}
          {stats.data && stats.data.stores.length > 0 && (
            <div className="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Store</th>
                    <th scope="col">Namespace</th>
                    <th scope="col">Entries</th>
                    <th scope="col">Hits</th>
                    <th scope="col">Misses</th>
                    <th scope="col">Stale serves</th>
                    <th scope="col">Store calls</th>
                    <th scope="col">Store errors</th>
                    <th scope="col">Refreshes</th>
                  </tr>
                </thead>
                <tbody>
                  {stats.data.stores.map((s) => (
                    <tr key={`${s.namespace}/${s.store}`}>
                      <td>{s.store}</td>
                      <td>{nsLabel(s.namespace)}</td>
                      <td>
                        {s.entries} / {s.maxEntries}
                      </td>
                      <td>{s.hits}</td>
                      <td>{s.misses}</td>
                      <td>{s.staleServes}</td>
                      <td>{s.storeCalls}</td>
                      <td>{s.storeErrors}</td>
                      <td>{s.refreshes}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
