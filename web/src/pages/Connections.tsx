import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { allPages, api, nsLabel, unwrap } from '../api/client';
import { chipText, parseRef } from '../api/refs';
import { Empty, ErrorMessage, Loading, PageHeader, Progress, Status } from '../components/common';
import { type JsonSchema, SchemaForm } from '../components/SchemaForm';
import { FieldPicker } from '../components/SecretPicker';
import { useSession } from '../session';

interface ConnectionType {
  type: string;
  description: string;
  fields: JsonSchema;
  secretFields: string[];
  testable: boolean;
}

function useConnectionTypes() {
  return useQuery({
    queryKey: ['connection-types'],
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async () =>
      (await unwrap(api.GET('/api/v1/connection-types'))).items.map((t) => ({
        ...t,
        fields: t.fields as JsonSchema,
      })) as ConnectionType[],
  });
}

/** A type whose fields are a free-form record (generic): every value may be a credential. */
const freeForm = (t: ConnectionType) => !t.fields.properties && !t.fields.anyOf && !t.fields.oneOf;

function ConnectionForm({
  namespace,
  types,
  initial,
  onDone,
}: {
  namespace: string;
  types: ConnectionType[];
  initial?: { name: string; type: string; fields: Record<string, unknown> } | undefined;
  onDone(): void;
}) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(initial?.name ?? '');
  const [type, setType] = useState(initial?.type ?? types[0]?.type ?? 'generic');
  const [fields, setFields] = useState<Record<string, unknown>>(initial?.fields ?? { password: '' });
  const chosen = types.find((t) => t.type === type);
  const save = useMutation({
    mutationFn: () => {
      const body = { type, fields };
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
          <select
            value={type}
            onChange={(e) => {
              setType(e.target.value);
              setFields({});
            }}
          >
            {types.map((t) => (
              <option key={t.type} value={t.type}>
                {t.type}
              </option>
            ))}
          </select>
        </label>
      </div>
      {chosen && (
        <section aria-label="Fields" className="settings">
          <h3>Fields</h3>
          <p className="muted">
            {chosen.description}. Each field takes a literal or a secret (<strong>Pick secret</strong>
            ); secret values are never shown{initial ? ': leave a set one empty to keep it' : ''}.
          </p>
          <SchemaForm
            key={type}
            schema={chosen.fields}
            value={fields}
            onChange={setFields}
            options={{
              secretPaths: freeForm(chosen) ? ['*'] : chosen.secretFields,
              editing: Boolean(initial),
              picker: FieldPicker,
            }}
          />
        </section>
      )}
      <ErrorMessage error={save.error} />
      {save.isPending && <Progress label="Saving the connection…" />}
      <div className="row">
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
        <button type="button" className="secondary" disabled={save.isPending} onClick={onDone}>
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
  const types = useConnectionTypes();
  const list = useQuery({
    queryKey: ['connections', namespace],
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/connections', {
            params: { query: { namespace, limit: 500, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
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
        <button type="button" disabled={!types.data} onClick={() => setEditing('new')}>
          New connection
        </button>
      </PageHeader>
      <ErrorMessage error={types.error} />
      {editing && types.data && (
        <ConnectionForm
          key={editing === 'new' ? 'new' : editing.name}
          namespace={namespace}
          types={types.data}
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
            {items.map((c, i) => (
              <tr key={`${c.namespace}/${c.name}`}>
                <td id={`connection-${i}`}>
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
                    aria-describedby={`connection-${i}`}
                    disabled={test.isPending}
                    onClick={() => test.mutate(c)}
                  >
                    Test
                  </button>
                  <button
                    type="button"
                    className="secondary small"
                    aria-describedby={`connection-${i}`}
                    disabled={refresh.isPending}
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
      {test.isPending && (
        <Progress label={`Testing ${test.variables?.name}: resolving and authenticating…`} />
      )}
      {refresh.isPending && <Progress label={`Dropping the cached values of ${refresh.variables?.name}…`} />}
      {refresh.data && <Status>Dropped {refresh.data.dropped} cached values.</Status>}
      {test.data && !test.isPending && (
        <div className={`panel ${test.data.ok ? 'ok' : 'fail'}`} role="status" aria-live="polite">
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
