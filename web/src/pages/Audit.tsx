import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { api, nsLabel, unwrap } from '../api/client';
import { Empty, ErrorMessage, formatTime, Loading, PageHeader, Pager } from '../components/common';
import { useSession } from '../session';

interface Filters {
  actor: string;
  action: string;
  outcome: '' | 'ok' | 'denied' | 'error';
  from: string;
  to: string;
}

const EMPTY: Filters = { actor: '', action: '', outcome: '', from: '', to: '' };

/** datetime-local (local time) to ISO. */
const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function AuditPage() {
  const { namespace } = useSession();
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const { register, handleSubmit, reset } = useForm<Filters>({ defaultValues: EMPTY });
  const list = useInfiniteQuery({
    queryKey: ['audit', namespace, filters],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => {
      const from = iso(filters.from);
      const to = iso(filters.to);
      return unwrap(
        api.GET('/api/v1/audit', {
          params: {
            query: {
              namespace,
              limit: 50,
              ...(filters.actor ? { actor: filters.actor } : {}),
              ...(filters.action ? { action: filters.action } : {}),
              ...(filters.outcome ? { outcome: filters.outcome } : {}),
              ...(from ? { from } : {}),
              ...(to ? { to } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      );
    },
    getNextPageParam: (last) => last.cursor,
  });
  const verify = useMutation({ mutationFn: () => unwrap(api.GET('/api/v1/audit/verify')) });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const v = verify.data;
  return (
    <section>
      <PageHeader title={`Audit trail of ${nsLabel(namespace)}`}>
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          {verify.isPending ? 'Verifying…' : 'Verify'}
        </button>
      </PageHeader>
      <ErrorMessage error={verify.error} />
      {v && (
        <div className={`panel ${v.ok ? 'ok' : 'fail'}`} role="status" aria-live="polite">
          {v.ok ? (
            <p>
              <strong>The chain verifies.</strong>
              {v.records !== undefined && ` ${v.records} records checked`}
              {v.head && `, head #${v.head.seq}`}
              {v.checkpoint && `; checkpoint ${v.checkpoint.state}`}.
            </p>
          ) : (
            <p>
              <strong>The chain does not verify.</strong>
              {v.firstBroken &&
                ` First broken record: #${v.firstBroken.seq} (${v.firstBroken.reason}): ${v.firstBroken.message}`}
            </p>
          )}
        </div>
      )}
      <form
        className="filters"
        aria-label="Filter audit records"
        onSubmit={handleSubmit((f) => setFilters(f))}
      >
        <label>
          Actor
          <input autoComplete="off" {...register('actor')} />
        </label>
        <label>
          Action
          <input autoComplete="off" placeholder="secret. or resolve" {...register('action')} />
        </label>
        <label>
          Outcome
          <select {...register('outcome')}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="denied">denied</option>
            <option value="error">error</option>
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" {...register('from')} />
        </label>
        <label>
          To
          <input type="datetime-local" {...register('to')} />
        </label>
        <button type="submit" className="secondary">
          Filter
        </button>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            reset(EMPTY);
            setFilters(EMPTY);
          }}
        >
          Clear
        </button>
      </form>
      {list.isPending && <Loading what="audit records" />}
      <ErrorMessage error={list.error} />
      {list.isSuccess && items.length === 0 && (
        <Empty title="No audit record matches.">Clear the filters or pick another namespace.</Empty>
      )}
      {items.length > 0 && (
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Namespace</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.seq}>
                  <td>{r.seq}</td>
                  <td>{formatTime(r.at)}</td>
                  <td>{r.actor}</td>
                  <td>{r.action}</td>
                  <td>{nsLabel(r.namespace)}</td>
                  <td className="wrap">{r.target}</td>
                  <td>
                    <span className={`badge ${r.outcome}`}>{r.outcome}</span>
                    {r.detail && <span className="muted"> {r.detail}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        cursor={list.hasNextPage ? 'more' : undefined}
        busy={list.isFetchingNextPage}
        onMore={() => list.fetchNextPage()}
      />
    </section>
  );
}
