import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState } from 'react';
import { useForm } from 'react-hook-form';
import { allPages, api, nsLabel, unwrap } from '../api/client';
import { refersTo } from '../api/refs';
import { Empty, ErrorMessage, formatTime, Loading, PageHeader, Pager, Status } from '../components/common';
import { usePrincipal, useSession } from '../session';

const REVEAL_MS = 20_000;

type SecretMeta = {
  name: string;
  namespace?: string;
  version?: string;
  description?: string;
  tags?: Record<string, string>;
  updatedAt?: string;
  createdAt?: string;
  deletedAt?: string;
};

export function useStores(namespace: string) {
  return useQuery({
    queryKey: ['stores', 'visible', namespace],
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/stores', {
            params: { query: { namespace, visible: 'true', limit: 500, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
  });
}

export function SecretsPage() {
  const { namespace } = useSession();
  const [store, setStore] = useState('builtin');
  // What the list shows (applied on Search) and what the filter fields hold.
  const [filter, setFilter] = useState<{ prefix: string; contains: string; tags: string[] }>({
    prefix: '',
    contains: '',
    tags: [],
  });
  const [search, setSearch] = useState({ prefix: '', contains: '', tags: '' });
  const [tagError, setTagError] = useState<string | null>(null);
  const [showDeleted, setShowDeleted] = useState(false);
  const [editing, setEditing] = useState<{ name?: string } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const stores = useStores(namespace);

  const list = useInfiniteQuery({
    queryKey: ['secrets', namespace, store, filter, showDeleted],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/secrets', {
          params: {
            query: {
              namespace,
              store,
              limit: 50,
              ...(filter.prefix ? { prefix: filter.prefix } : {}),
              ...(filter.contains ? { contains: filter.contains } : {}),
              ...(filter.tags.length > 0 ? { tag: filter.tags } : {}),
              ...(showDeleted ? { includeDeleted: 'true' } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.cursor,
  });
  const items: SecretMeta[] = list.data?.pages.flatMap((p) => p.items) ?? [];
  const filtering = Boolean(filter.prefix || filter.contains || filter.tags.length > 0);

  return (
    <section>
      <PageHeader title={`Secrets in ${nsLabel(namespace)}`}>
        <button type="button" onClick={() => setEditing({})}>
          New secret
        </button>
      </PageHeader>
      <form
        className="filters"
        aria-label="Search secrets"
        onSubmit={(e) => {
          e.preventDefault();
          const tags = search.tags.split(/[\s,]+/).filter(Boolean);
          const bad = tags.find((t) => !/^[^=]+=/.test(t));
          setTagError(bad ? `"${bad}" is not a tag: write each tag as key=value, e.g. env=prod` : null);
          if (bad) return;
          setFilter({ prefix: search.prefix.trim(), contains: search.contains.trim(), tags });
        }}
      >
        <label>
          Store
          <select value={store} onChange={(e) => setStore(e.target.value)}>
            {[...new Set(['builtin', ...(stores.data?.items.map((s) => s.name) ?? [])])].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Contains
          <input
            type="search"
            placeholder="part of a name"
            value={search.contains}
            onChange={(e) => setSearch({ ...search, contains: e.target.value })}
          />
        </label>
        <label>
          Starts with
          <input
            type="search"
            placeholder="billing/"
            value={search.prefix}
            onChange={(e) => setSearch({ ...search, prefix: e.target.value })}
          />
        </label>
        <label>
          Tags
          <input
            type="search"
            placeholder="env=prod team=billing"
            aria-describedby="tag-filter-hint"
            aria-invalid={tagError ? true : undefined}
            value={search.tags}
            onChange={(e) => setSearch({ ...search, tags: e.target.value })}
          />
        </label>
        <span id="tag-filter-hint" className="muted">
          Tags: key=value, space-separated; every one must match.
        </span>
        <button type="submit" className="secondary">
          Search
        </button>
        <label className="inline">
          <input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted(e.target.checked)} />
          Show deleted
        </label>
      </form>
      {/* Keyed by namespace and store: what another namespace showed (a revealed value, a typed
          one) goes when the picker moves, and a form never saves somewhere else than it showed. */}
      {editing && (
        <SecretForm
          key={`${namespace}/${store}/${editing.name ?? ''}`}
          store={store}
          namespace={namespace}
          name={editing.name}
          onDone={(name) => {
            setEditing(null);
            if (name) setSelected(name);
          }}
        />
      )}
      {tagError && (
        <p className="field-error" role="alert">
          {tagError}
        </p>
      )}
      {list.isFetching && !list.isFetchingNextPage && <Loading what="secrets" />}
      <ErrorMessage error={list.error} />
      {list.isSuccess &&
        items.length === 0 &&
        (filtering ? (
          <Empty title="No secret matches the search.">
            Change or clear the search fields, then press Search.
          </Empty>
        ) : (
          <Empty title="No secrets here yet.">
            Press <strong>New secret</strong> to add one to the {store} store of {nsLabel(namespace)}.
          </Empty>
        ))}
      {items.length > 0 && (
        <table>
          <caption className="sr-only">Secrets</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Namespace</th>
              <th scope="col">Updated</th>
              <th scope="col">Tags</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={`${s.namespace}/${s.name}`} className={s.deletedAt ? 'deleted' : ''}>
                <td>
                  <button
                    type="button"
                    className="link"
                    onClick={() => setSelected(s.name)}
                    aria-label={`Open ${s.name}`}
                  >
                    {s.name}
                  </button>
                  {s.deletedAt && <span className="badge">deleted</span>}
                </td>
                <td>{s.version}</td>
                <td>{nsLabel(s.namespace ?? '')}</td>
                <td>{formatTime(s.updatedAt ?? s.createdAt)}</td>
                <td>
                  {Object.entries(s.tags ?? {}).map(([k, v]) => (
                    <span key={k} className="tag">
                      {k}={v}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        cursor={list.hasNextPage ? 'more' : undefined}
        busy={list.isFetchingNextPage}
        onMore={() => list.fetchNextPage()}
      />
      {selected && (
        <SecretDetail
          key={`${namespace}/${store}/${selected}`}
          store={store}
          namespace={namespace}
          name={selected}
          deleted={Boolean(items.find((i) => i.name === selected)?.deletedAt)}
          onNewVersion={() => setEditing({ name: selected })}
          onClose={() => setSelected(null)}
        />
      )}
    </section>
  );
}

interface FormValues {
  name: string;
  value: string;
  description: string;
  multiline: boolean;
}

function SecretForm({
  store,
  namespace,
  name,
  onDone,
}: {
  store: string;
  namespace: string;
  name?: string | undefined;
  onDone(name?: string): void;
}) {
  const queryClient = useQueryClient();
  const { register, handleSubmit, watch, setValue, reset, formState } = useForm<FormValues>({
    defaultValues: { name: name ?? '', value: '', description: '', multiline: false },
  });
  const multiline = watch('multiline');
  const valueId = useId();
  const save = useMutation({
    mutationFn: (v: FormValues) =>
      unwrap(
        api.PUT('/api/v1/secrets/{name}', {
          params: { path: { name: v.name }, query: { store, namespace } },
          body: { value: v.value, ...(v.description ? { description: v.description } : {}) },
        }),
      ),
    onSuccess: async (written) => {
      reset({ name: '', value: '', description: '', multiline: false });
      await queryClient.invalidateQueries({ queryKey: ['secrets'] });
      await queryClient.invalidateQueries({ queryKey: ['secret', store, namespace, written.name] });
      onDone(written.name);
    },
  });
  const readFile = async (file: File | undefined) => {
    if (!file) return;
    const text = await file.text();
    setValue('multiline', text.includes('\n'));
    setValue('value', text, { shouldValidate: true });
  };
  return (
    <form
      className="panel"
      aria-label={name ? `New version of ${name}` : 'New secret'}
      onSubmit={handleSubmit((v) => save.mutate(v))}
    >
      <h2>{name ? `New version of ${name}` : 'New secret'}</h2>
      <label>
        Name
        <input
          autoComplete="off"
          readOnly={Boolean(name)}
          {...register('name', { required: 'A secret needs a name.' })}
          aria-invalid={Boolean(formState.errors.name)}
        />
      </label>
      {formState.errors.name && <p className="field-error">{formState.errors.name.message}</p>}
      <label htmlFor={valueId}>Value</label>
      {multiline ? (
        <textarea
          id={valueId}
          rows={8}
          spellCheck={false}
          autoComplete="off"
          {...register('value', { required: 'A secret needs a value.' })}
        />
      ) : (
        <input
          id={valueId}
          type="password"
          autoComplete="new-password"
          {...register('value', { required: 'A secret needs a value.' })}
        />
      )}
      {formState.errors.value && <p className="field-error">{formState.errors.value.message}</p>}
      <div className="row">
        <label className="inline">
          <input type="checkbox" {...register('multiline')} />
          Multi-line (PEM, JSON)
        </label>
        <label className="inline">
          Read from a file
          <input type="file" onChange={(e) => readFile(e.target.files?.[0])} />
        </label>
      </div>
      <label>
        Description
        <input autoComplete="off" {...register('description')} />
      </label>
      <ErrorMessage error={save.error} />
      <div className="row">
        <button type="submit" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save'}
        </button>
        <button type="button" className="secondary" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function SecretDetail({
  store,
  namespace,
  name,
  deleted,
  onNewVersion,
  onClose,
}: {
  store: string;
  namespace: string;
  name: string;
  deleted: boolean;
  onNewVersion(): void;
  onClose(): void;
}) {
  const principal = usePrincipal();
  const queryClient = useQueryClient();
  const params = { path: { name }, query: { store, namespace } };
  const versions = useQuery({
    queryKey: ['secret', store, namespace, name, 'versions'],
    enabled: !deleted,
    queryFn: () => unwrap(api.GET('/api/v1/secrets/{name}/versions', { params })),
  });
  const usedBy = useQuery({
    queryKey: ['connections', 'visible', namespace],
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/connections', {
            params: { query: { namespace, visible: 'true', limit: 500, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
  });
  const users = (usedBy.data?.items ?? []).filter((c) => c.references.some((r) => refersTo(r, store, name)));
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/secrets/{name}', { params })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['secrets'] }),
  });
  const restore = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/secrets/{name}/restore', { params })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['secrets'] }),
  });
  return (
    <section className="panel" aria-label={`Secret ${name}`}>
      <header className="page-header">
        <h2>{name}</h2>
        <div className="actions">
          {!deleted && (
            <button type="button" className="secondary" onClick={onNewVersion}>
              New version
            </button>
          )}
          {deleted ? (
            <button type="button" onClick={() => restore.mutate()} disabled={restore.isPending}>
              Restore
            </button>
          ) : (
            <button
              type="button"
              className="danger"
              disabled={remove.isPending}
              onClick={() => {
                if (window.confirm(`Delete ${name}? It can be restored during the store's recovery window.`))
                  remove.mutate();
              }}
            >
              Delete
            </button>
          )}
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </header>
      <ErrorMessage error={remove.error ?? restore.error} />
      {remove.isSuccess && <Status>{name} deleted: show deleted secrets to restore it.</Status>}
      {restore.isSuccess && <Status>{name} restored.</Status>}
      {!deleted &&
        (principal.role === 'admin' || principal.role === 'operator') &&
        (principal.reveal ? (
          <Reveal store={store} namespace={namespace} name={name} />
        ) : (
          <p className="muted">
            The value stays hidden: showing it needs a token with the reveal permission (an admin makes one
            with <code>sesame tokens create --reveal</code>).
          </p>
        ))}
      <h3>Used by</h3>
      {usedBy.isPending && <Loading what="connections" />}
      {usedBy.isSuccess && users.length === 0 && <p>No connection references this secret.</p>}
      {users.length > 0 && (
        <ul>
          {users.map((c) => (
            <li key={`${c.namespace}/${c.name}`}>
              {c.name} <span className="muted">({nsLabel(c.namespace)})</span>
            </li>
          ))}
        </ul>
      )}
      <h3>Versions</h3>
      <ErrorMessage error={versions.error} />
      {versions.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Created</th>
              <th scope="col">Stages</th>
            </tr>
          </thead>
          <tbody>
            {versions.data.items.map((v) => (
              <tr key={v.version}>
                <td>{v.version}</td>
                <td>{formatTime(v.createdAt)}</td>
                <td>{(v.stages ?? []).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The value, fetched on request (audited server side), shown for REVEAL_MS, never cached. */
function Reveal({ store, namespace, name }: { store: string; namespace: string; name: string }) {
  const [value, setValue] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [left, setLeft] = useState(0);
  const timer = useRef<ReturnType<typeof setInterval> | undefined>(undefined);
  const hide = () => {
    clearInterval(timer.current);
    setValue(null);
    setLeft(0);
  };
  useEffect(() => () => clearInterval(timer.current), []);
  const reveal = async () => {
    setError(undefined);
    setBusy(true);
    try {
      const data = await unwrap(
        api.GET('/api/v1/secrets/{name}/value', { params: { path: { name }, query: { store, namespace } } }),
      );
      setValue(data.value);
      const until = Date.now() + REVEAL_MS;
      setLeft(Math.ceil(REVEAL_MS / 1000));
      clearInterval(timer.current);
      timer.current = setInterval(() => {
        const s = Math.ceil((until - Date.now()) / 1000);
        if (s <= 0) hide();
        else setLeft(s);
      }, 250);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="reveal">
      {value === null ? (
        <button type="button" onClick={reveal} disabled={busy}>
          {busy ? 'Revealing…' : 'Reveal'}
        </button>
      ) : (
        <>
          <h3 className="sr-only">Revealed value</h3>
          <pre className="value">{value}</pre>
          <p className="muted">Hidden again in {left} s (the reveal was recorded in the audit trail).</p>
          <button type="button" className="secondary" onClick={hide}>
            Hide
          </button>
        </>
      )}
      <ErrorMessage error={error} />
    </div>
  );
}
