import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { allPages, api, nsLabel, unwrap } from '../api/client';
import { chipText, parseRef } from '../api/refs';
import { Empty, ErrorMessage, formatTime, Loading, PageHeader, Progress } from '../components/common';
import { type JsonSchema, SchemaForm, valueAt } from '../components/SchemaForm';
import { FieldPicker } from '../components/SecretPicker';
import { useSession } from '../session';

interface TestReport {
  store: string;
  ok: boolean;
  steps: Array<{ step: string; ok: boolean; detail: string; fix?: string }>;
}

export interface StoreType {
  type: string;
  capabilities: Record<string, boolean>;
  settings: JsonSchema;
  secretSettings: string[];
}

interface StoreView {
  name: string;
  namespace: string;
  type: string;
  source: string;
  description?: string;
  settings: Record<string, unknown>;
  lastTest?: { ok: boolean; at: string };
}

export function useStoreTypes() {
  return useQuery({
    queryKey: ['store-types'],
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async () =>
      (await unwrap(api.GET('/api/v1/store-types'))).items.map((t) => ({
        ...t,
        settings: t.settings as JsonSchema,
      })) as StoreType[],
  });
}

function Steps({ report }: { report: TestReport }) {
  return (
    <div className={`panel ${report.ok ? 'ok' : 'fail'}`} role="status" aria-live="polite">
      <p>
        <strong>
          {report.ok ? `${report.store}: all checks pass.` : `${report.store}: a check failed.`}
        </strong>
      </p>
      <ol className="steps" aria-label="Test steps">
        {report.steps.map((s) => (
          <li key={s.step}>
            <span className={s.ok ? 'step-ok' : 'step-fail'}>{s.ok ? 'ok' : 'FAIL'}</span> {s.step}:{' '}
            {s.detail}
            {s.fix && <div className="fix">Fix: {s.fix}</div>}
          </li>
        ))}
      </ol>
    </div>
  );
}

/** Which credentials of a store are set, by the secret settings of its type. */
function credentials(store: StoreView, type: StoreType | undefined): string {
  const paths = type?.secretSettings ?? [];
  const shown = paths
    .map((p) => [p, valueAt(store.settings, p)] as const)
    .filter(([, v]) => v !== undefined)
    .map(([p, v]) => {
      const ref = typeof v === 'string' ? parseRef(v) : undefined;
      return `${p}: ${ref ? chipText(ref) : 'set'}`;
    });
  return shown.length > 0 ? shown.join(', ') : 'none set';
}

interface Draft {
  name: string;
  type: string;
  description: string;
  settings: Record<string, unknown>;
}

type Phase = 'creating' | 'saving' | 'testing' | null;
const PHASES: Record<Exclude<Phase, null>, string> = {
  creating: 'Creating the store…',
  saving: 'Saving the settings…',
  testing: 'Testing the store (authenticate, list, read)…',
};

/**
 * New or edit. Test checks the settings on the form without saving anything (the API tests
 * settings sent with the request); Save tests them first and saves only when every check
 * passes, or when "Save even though a check failed" is ticked after a failure (one Save button
 * either way). A stored credential is kept by sending "***".
 */
function StoreForm({
  namespace,
  types,
  initial,
  onDone,
}: {
  namespace: string;
  types: StoreType[];
  initial?: StoreView | undefined;
  onDone(): void;
}) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<Draft>(() => ({
    name: initial?.name ?? '',
    type: initial?.type ?? (types.some((t) => t.type === 'vault') ? 'vault' : (types[0]?.type ?? 'builtin')),
    description: initial?.description ?? '',
    settings: initial?.settings ?? {},
  }));
  const [phase, setPhase] = useState<Phase>(null);
  const [report, setReport] = useState<{ report: TestReport; saved: boolean } | null>(null);
  const type = types.find((t) => t.type === draft.type);
  const ns = initial?.namespace ?? namespace;

  const name = initial?.name ?? draft.name;
  /** The form's settings, tested as they are, nothing saved. */
  const runTest = () =>
    unwrap(
      api.POST('/api/v1/stores/{name}/test', {
        params: { path: { name }, query: { namespace: ns } },
        body: {
          type: draft.type,
          settings: draft.settings,
          ...(draft.description ? { description: draft.description } : {}),
        },
      }),
    );
  const update = () =>
    unwrap(
      api.PUT('/api/v1/stores/{name}', {
        params: { path: { name }, query: { namespace: ns } },
        body: {
          type: draft.type,
          settings: draft.settings,
          ...(draft.description ? { description: draft.description } : {}),
        },
      }),
    );
  const create = () =>
    unwrap(
      api.POST('/api/v1/stores', {
        body: {
          name: draft.name,
          namespace: ns,
          type: draft.type,
          settings: draft.settings,
          ...(draft.description ? { description: draft.description } : {}),
        },
      }),
    );
  const run = useMutation({
    mutationFn: async (mode: 'test' | 'save' | 'anyway') => {
      setReport(null);
      try {
        let r: TestReport | undefined;
        if (mode !== 'anyway') {
          setPhase('testing');
          r = await runTest();
        }
        const save = mode === 'anyway' || (mode === 'save' && r?.ok === true);
        if (save) {
          setPhase(initial ? 'saving' : 'creating');
          await (initial ? update() : create());
          // The saved store tested as saved: the list shows this result as its last test.
          setPhase('testing');
          const saved = await unwrap(
            api.POST('/api/v1/stores/{name}/test', { params: { path: { name }, query: { namespace: ns } } }),
          );
          r ??= saved;
        }
        if (r) setReport({ report: r, saved: save });
        return { done: save };
      } finally {
        setPhase(null);
        await queryClient.invalidateQueries({ queryKey: ['stores'] });
      }
    },
    onSuccess: (r) => {
      if (r.done) onDone();
    },
  });
  const busy = run.isPending;
  const [anyway, setAnyway] = useState(false);
  const failed = Boolean(report && !report.report.ok && !report.saved);
  const title = initial ? `Edit store ${initial.name}` : 'New store';
  return (
    <form
      className="panel"
      aria-label={title}
      onSubmit={(e) => {
        e.preventDefault();
        run.mutate(failed && anyway ? 'anyway' : 'save');
      }}
    >
      <h2>{initial ? title : `New store in ${nsLabel(namespace)}`}</h2>
      <div className="grid">
        <label>
          Store name
          <input
            required
            autoComplete="off"
            placeholder="vault-prod"
            readOnly={Boolean(initial)}
            value={draft.name}
            onChange={(e) => setDraft({ ...draft, name: e.target.value })}
          />
        </label>
        <label>
          Type
          <select
            value={draft.type}
            disabled={Boolean(initial)}
            onChange={(e) => {
              setReport(null);
              setDraft({ ...draft, type: e.target.value, settings: {} });
            }}
          >
            {types.map((t) => (
              <option key={t.type} value={t.type}>
                {t.type}
              </option>
            ))}
          </select>
        </label>
        <label>
          Description
          <input
            autoComplete="off"
            value={draft.description}
            onChange={(e) => setDraft({ ...draft, description: e.target.value })}
          />
        </label>
      </div>
      {type && (
        <section aria-label="Settings" className="settings">
          <h3>Settings of a {type.type} store</h3>
          <p className="muted">
            Fields marked * are required; placeholders show defaults. Credentials are write-only
            {initial ? ': leave a set one empty to keep it.' : '.'}
          </p>
          <SchemaForm
            key={`${type.type}/${initial?.name ?? ''}`}
            schema={type.settings}
            value={draft.settings}
            onChange={(settings) => setDraft((d) => ({ ...d, settings }))}
            options={{
              secretPaths: type.secretSettings,
              editing: Boolean(initial),
              picker: FieldPicker,
              pickSecretsOnly: true,
            }}
          />
        </section>
      )}
      <ErrorMessage error={run.error} />
      {phase && <Progress label={PHASES[phase]} />}
      {report && (
        <>
          <Steps report={report.report} />
          {!report.report.ok && (
            <p>
              {report.saved
                ? 'The store is saved, but a check failed.'
                : 'The store was not saved because a check failed. Fix what the steps say and press Save again, or tick the box below to save it as it is.'}
            </p>
          )}
        </>
      )}
      {failed && (
        <label className="inline">
          <input type="checkbox" checked={anyway} onChange={(e) => setAnyway(e.target.checked)} />
          Save even though a check failed
        </label>
      )}
      <div className="row">
        <button type="submit" disabled={busy} className={failed && anyway ? 'danger' : undefined}>
          Save
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={() => run.mutate('test')}>
          Test
        </button>
        <button type="button" className="secondary" disabled={busy} onClick={onDone}>
          {report?.saved ? 'Close' : 'Cancel'}
        </button>
      </div>
    </form>
  );
}

export function StoresPage() {
  const { namespace } = useSession();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<StoreView | 'new' | null>(null);
  const types = useStoreTypes();
  const list = useQuery({
    queryKey: ['stores', namespace],
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/stores', {
            params: { query: { namespace, limit: 500, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
  });
  const test = useMutation({
    mutationFn: (s: { name: string; namespace: string }) =>
      unwrap(
        api.POST('/api/v1/stores/{name}/test', {
          params: { path: { name: s.name }, query: { namespace: s.namespace } },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['stores'] }),
  });
  const remove = useMutation({
    mutationFn: (s: { name: string; namespace: string }) =>
      unwrap(
        api.DELETE('/api/v1/stores/{name}', {
          params: { path: { name: s.name }, query: { namespace: s.namespace } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['stores'] }),
  });
  const items = (list.data?.items ?? []) as StoreView[];
  const typeOf = (t: string) => types.data?.find((x) => x.type === t);
  return (
    <section>
      <PageHeader title={`Stores of ${nsLabel(namespace)}`}>
        <button type="button" disabled={!types.data} onClick={() => setEditing('new')}>
          New store
        </button>
      </PageHeader>
      <ErrorMessage error={types.error} />
      {editing && types.data && (
        <StoreForm
          key={editing === 'new' ? 'new' : `${editing.namespace}/${editing.name}`}
          namespace={namespace}
          types={types.data}
          initial={editing === 'new' ? undefined : editing}
          onDone={() => setEditing(null)}
        />
      )}
      {/* The form stands alone: its Test and Save are the only ones on the page while it is open. */}
      {!editing && (
        <>
          {list.isPending && <Loading what="stores" />}
          <ErrorMessage error={list.error ?? test.error ?? remove.error} />
          {list.isSuccess && items.length === 0 && (
            <Empty title="No stores in this namespace.">
              Press <strong>New store</strong> to connect a secret manager; the builtin store is always there.
            </Empty>
          )}
          {items.length > 0 && (
            <div className="scroll">
              <table>
                <caption className="sr-only">Stores</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Type</th>
                    <th scope="col">Namespace</th>
                    <th scope="col">Credentials</th>
                    <th scope="col">Last test</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((s, i) => {
                    const key = `${s.namespace}/${s.name}`;
                    return (
                      <tr key={key}>
                        <td id={`store-${i}`}>
                          {s.name} <span className="muted">{s.source}</span>
                        </td>
                        <td>{s.type}</td>
                        <td>{nsLabel(s.namespace)}</td>
                        <td>{credentials(s, typeOf(s.type))}</td>
                        <td>
                          {s.lastTest ? (
                            <>
                              <span className={s.lastTest.ok ? 'step-ok' : 'step-fail'}>
                                {s.lastTest.ok ? 'ok' : 'FAIL'}
                              </span>{' '}
                              <span className="muted">{formatTime(s.lastTest.at)}</span>
                            </>
                          ) : (
                            'not tested'
                          )}
                        </td>
                        <td className="row">
                          <button
                            type="button"
                            className="secondary small"
                            aria-describedby={`store-${i}`}
                            disabled={test.isPending}
                            onClick={() => test.mutate({ name: s.name, namespace: s.namespace })}
                          >
                            Test
                          </button>
                          {s.source === 'api' && (
                            <>
                              <button
                                type="button"
                                className="secondary small"
                                aria-label={`Edit ${s.name}`}
                                disabled={!types.data}
                                onClick={() => setEditing(s)}
                              >
                                Edit
                              </button>
                              <button
                                type="button"
                                className="danger small"
                                aria-label={`Delete ${s.name}`}
                                disabled={remove.isPending}
                                onClick={() => {
                                  if (window.confirm(`Delete the store ${s.name}?`)) remove.mutate(s);
                                }}
                              >
                                Delete
                              </button>
                            </>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
          {test.isPending && <Progress label={`Testing ${test.variables?.name ?? 'the store'}…`} />}
          {test.data && !test.isPending && <Steps report={test.data} />}
        </>
      )}
    </section>
  );
}
