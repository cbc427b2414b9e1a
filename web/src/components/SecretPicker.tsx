import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api, unwrap } from '../api/client';
import { formatRef } from '../api/refs';
import { useStores } from '../pages/Secrets';
import { useSession } from '../session';
import { ErrorMessage } from './common';

/** Store, then a searchable list of its names, then the JSON key: the field gets a reference, never a value. */
export function SecretPicker({
  namespace,
  onPick,
  onCancel,
}: {
  namespace: string;
  onPick(ref: string): void;
  onCancel(): void;
}) {
  const stores = useStores(namespace);
  const [store, setStore] = useState('builtin');
  const [search, setSearch] = useState('');
  const [name, setName] = useState<string | null>(null);
  const [key, setKey] = useState('');
  // Paged on the API's cursor: a store of hundreds of names offers them all, 50 at a time.
  const names = useInfiniteQuery({
    queryKey: ['secrets', namespace, store, search, 'picker'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/secrets', {
          params: {
            query: {
              namespace,
              store,
              limit: 50,
              ...(search ? (store === 'builtin' ? { contains: search } : { prefix: search }) : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.cursor,
  });
  const items = names.data?.pages.flatMap((p) => p.items) ?? [];
  const keys = useQuery({
    queryKey: ['secret-keys', namespace, store, name],
    enabled: name !== null,
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/secrets/{name}/keys', {
          params: { path: { name: name ?? '' }, query: { namespace, store } },
        }),
      ),
  });
  return (
    <fieldset className="picker">
      <legend>Pick a secret</legend>
      <div className="row">
        <label>
          Store
          <select value={store} onChange={(e) => setStore(e.target.value)}>
            {[...new Set(['builtin', ...(stores.data?.items.map((s) => s.name) ?? [])])].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Search names
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
      </div>
      <ErrorMessage error={names.error} />
      <ul aria-label="Secret names">
        {items.map((s) => (
          <li key={s.name}>
            <label className="inline">
              <input
                type="radio"
                name="picked-secret"
                checked={name === s.name}
                onChange={() => setName(s.name)}
              />
              {s.name}
            </label>
          </li>
        ))}
      </ul>
      {names.isSuccess && items.length === 0 && <p className="muted">No secret names match.</p>}
      {names.hasNextPage && (
        <button
          type="button"
          className="secondary small"
          disabled={names.isFetchingNextPage}
          onClick={() => names.fetchNextPage()}
        >
          {names.isFetchingNextPage ? 'Loading…' : 'More names'}
        </button>
      )}
      {name !== null && (keys.data?.keys.length ?? 0) > 0 ? (
        <label>
          JSON key
          <select value={key} onChange={(e) => setKey(e.target.value)}>
            <option value="">(the whole value)</option>
            {keys.data?.keys.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
      ) : (
        <label>
          JSON key (optional: a key name of a JSON secret)
          <input autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
        </label>
      )}
      <div className="row">
        <button
          type="button"
          disabled={!name}
          onClick={() => name && onPick(formatRef({ store, name, ...(key ? { key } : {}) }))}
        >
          Use this secret
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </fieldset>
  );
}

/** The picker a form field opens: its value becomes {{ secret://store/name#key }}. */
export function FieldPicker({ onPick, onCancel }: { onPick(value: string): void; onCancel(): void }) {
  const { namespace } = useSession();
  return <SecretPicker namespace={namespace} onCancel={onCancel} onPick={(r) => onPick(`{{ ${r} }}`)} />;
}
