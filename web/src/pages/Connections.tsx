import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, nsLabel, unwrap } from '../api/client';
import { chipText, formatRef, parseRef } from '../api/refs';
import { Empty, ErrorMessage, Loading, PageHeader, Status } from '../components/common';
import { useSession } from '../session';
import { useStores } from './Secrets';

interface Field {
  key: string;
  value: string;
}

/** Store, then a searchable list of its names, then the JSON key: the field gets a reference, never a value. */
function SecretPicker({
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
  const names = useQuery({
    queryKey: ['secrets', namespace, store, search, 'picker'],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/secrets', {
          params: { query: { namespace, store, limit: 50, ...(search ? { prefix: search } : {}) } },
        }),
      ),
  });
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
        {(names.data?.items ?? []).map((s) => (
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
      {names.isSuccess && names.data.items.length === 0 && <p className="muted">No secret names match.</p>}
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

function ConnectionForm({
  namespace,
  initial,
  onDone,
}: {
  namespace: string;
  initial?: { name: string; type: string; fields: Record<string, unknown> } | undefined;
  onDone(): void;
}) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(initial?.name ?? '');
  const [type, setType] = useState(initial?.type ?? 'generic');
  const [fields, setFields] = useState<Field[]>(
    initial
      ? Object.entries(initial.fields).map(([key, v]) => ({
          key,
          value: typeof v === 'string' ? v : JSON.stringify(v),
        }))
      : [{ key: 'password', value: '' }],
  );
  const [picking, setPicking] = useState<number | null>(null);
  const update = (i: number, f: Partial<Field>) =>
    setFields((fs) => fs.map((x, j) => (j === i ? { ...x, ...f } : x)));
  const save = useMutation({
    mutationFn: () => {
      const body = {
        type,
        fields: Object.fromEntries(fields.filter((f) => f.key).map((f) => [f.key, f.value])),
      };
      return initial
        ? unwrap(
            api.PUT('/api/v1/connections/{name}', { params: { path: { name }, query: { namespace } }, body }),
          )
        : unwrap(api.POST('/api/v1/connections', { body: { name, namespace, ...body } }));
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['connections'] });
      onDone();
    },
  });
  return (
    <form
      className="panel"
      aria-label={initial ? `Edit ${initial.name}` : 'New connection'}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <h2>{initial ? `Edit ${initial.name}` : `New connection in ${nsLabel(namespace)}`}</h2>
      <div className="grid">
        <label>
          Connection name
          <input
            required
            autoComplete="off"
            readOnly={Boolean(initial)}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.target.value)}>
            {['generic', 'http', 'postgres'].map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      <h3>Fields</h3>
      {fields.map((f, i) => {
        const ref = parseRef(f.value);
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place
          <div key={i}>
            <div className="field-row">
              <label>
                Field {i + 1} name
                <input
                  autoComplete="off"
                  value={f.key}
                  onChange={(e) => update(i, { key: e.target.value })}
                />
              </label>
              {ref ? (
                <div>
                  <span className="chip">
                    {chipText(ref)}
                    <button
                      type="button"
                      className="link"
                      aria-label={`Clear the secret of ${f.key || `field ${i + 1}`}`}
                      onClick={() => update(i, { value: '' })}
                    >
                      ×
                    </button>
                  </span>
                </div>
              ) : (
                <label>
                  Field {i + 1} value (literal)
                  <input
                    type="password"
                    autoComplete="off"
                    value={f.value}
                    onChange={(e) => update(i, { value: e.target.value })}
                  />
                </label>
              )}
              <button type="button" className="secondary" onClick={() => setPicking(i)}>
                Pick secret
              </button>
              <button
                type="button"
                className="danger small"
                aria-label={`Remove field ${i + 1}`}
                onClick={() => setFields((fs) => fs.filter((_, j) => j !== i))}
              >
                Remove
              </button>
            </div>
            {picking === i && (
              <SecretPicker
                namespace={namespace}
                onCancel={() => setPicking(null)}
                onPick={(r) => {
                  update(i, { value: `{{ ${r} }}` });
                  setPicking(null);
                }}
              />
            )}
          </div>
        );
      })}
      <button
        type="button"
        className="secondary"
        onClick={() => setFields((fs) => [...fs, { key: '', value: '' }])}
      >
        Add field
      </button>
      <ErrorMessage error={save.error} />
      <div className="row">
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function ConnectionsPage() {
  const { namespace } = useSession();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<
    { name: string; type: string; fields: Record<string, unknown> } | 'new' | null
  >(null);
  const list = useQuery({
    queryKey: ['connections', namespace],
    queryFn: () => unwrap(api.GET('/api/v1/connections', { params: { query: { namespace, limit: 500 } } })),
  });
  const params = (c: { name: string; namespace: string }) => ({
    path: { name: c.name },
    query: { namespace: c.namespace },
  });
  const test = useMutation({
    mutationFn: (c: { name: string; namespace: string }) =>
      unwrap(api.POST('/api/v1/connections/{name}/test', { params: params(c) })),
  });
  const refresh = useMutation({
    mutationFn: (c: { name: string; namespace: string }) =>
      unwrap(api.POST('/api/v1/connections/{name}/refresh', { params: params(c) })),
  });
  const remove = useMutation({
    mutationFn: (c: { name: string; namespace: string }) =>
      unwrap(api.DELETE('/api/v1/connections/{name}', { params: params(c) })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['connections'] }),
  });
  const items = list.data?.items ?? [];
  return (
    <section>
      <PageHeader title={`Connections of ${nsLabel(namespace)}`}>
        <button type="button" onClick={() => setEditing('new')}>
          New connection
        </button>
      </PageHeader>
      {editing && (
        <ConnectionForm
          key={editing === 'new' ? 'new' : editing.name}
          namespace={namespace}
          initial={editing === 'new' ? undefined : editing}
          onDone={() => setEditing(null)}
        />
      )}
      {list.isPending && <Loading what="connections" />}
      <ErrorMessage error={list.error ?? test.error ?? refresh.error ?? remove.error} />
      {list.isSuccess && items.length === 0 && (
        <Empty title="No connections in this namespace.">
          Press <strong>New connection</strong> and use <strong>Pick secret</strong> beside a field to
          reference a secret.
        </Empty>
      )}
      {items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">References</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={`${c.namespace}/${c.name}`}>
                <td>
                  {c.name} <span className="muted">{nsLabel(c.namespace)}</span>
                </td>
                <td>{c.type}</td>
                <td>
                  {c.references.map((r) => {
                    const ref = parseRef(r);
                    return (
                      <span key={r} className="chip">
                        {ref ? chipText(ref) : r}
                      </span>
                    );
                  })}
                </td>
                <td className="row">
                  <button
                    type="button"
                    className="secondary small"
                    aria-label={`Test ${c.name}`}
                    onClick={() => test.mutate(c)}
                  >
                    Test
                  </button>
                  <button
                    type="button"
                    className="secondary small"
                    aria-label={`Refresh ${c.name}`}
                    onClick={() => refresh.mutate(c)}
                  >
                    Refresh
                  </button>
                  {c.source === 'api' && (
                    <>
                      <button
                        type="button"
                        className="secondary small"
                        aria-label={`Edit ${c.name}`}
                        onClick={() => setEditing(c)}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        className="danger small"
                        aria-label={`Delete ${c.name}`}
                        onClick={() => {
                          if (window.confirm(`Delete the connection ${c.name}?`)) remove.mutate(c);
                        }}
                      >
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(test.isPending || refresh.isPending) && <Status>Working…</Status>}
      {refresh.data && <Status>Dropped {refresh.data.dropped} cached values.</Status>}
      {test.data && (
        <div className={`panel ${test.data.ok ? 'ok' : 'fail'}`} role="status">
          <p>
            <strong>
              {test.data.connection}: {test.data.ok ? 'ok' : `failed at ${test.data.failedStep}`}
            </strong>
          </p>
          <ol className="steps">
            {test.data.steps.map((s, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: steps are in order
              <li key={i}>
                <span className={s.ok ? 'step-ok' : 'step-fail'}>{s.ok ? 'ok' : 'FAIL'}</span> {s.step}
                {s.field ? ` ${s.field}` : ''}: {s.detail}
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}
