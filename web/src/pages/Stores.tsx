import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { ApiError, api, nsLabel, unwrap } from '../api/client';
import { Empty, ErrorMessage, Loading, PageHeader, Status } from '../components/common';
import { useSession } from '../session';

/** A starting point per store type (the server checks the settings and names what is wrong). */
const TEMPLATES: Record<string, unknown> = {
  builtin: {},
  vault: { address: 'https://vault.example.com:8200', mount: 'secret', auth: { method: 'token', token: '' } },
  'aws-secrets-manager': { region: 'eu-west-1' },
  'azure-key-vault': { vaultUrl: 'https://my-vault.vault.azure.net' },
  'gcp-secret-manager': { project: 'my-project' },
  http: { url: 'https://secrets.example.com' },
};

interface TestReport {
  store: string;
  ok: boolean;
  steps: Array<{ step: string; ok: boolean; detail: string; fix?: string }>;
}

function Steps({ report }: { report: TestReport }) {
  return (
    <div className={`panel ${report.ok ? 'ok' : 'fail'}`} role="status" aria-live="polite">
      <p>
        <strong>
          {report.ok ? `${report.store}: all checks pass.` : `${report.store}: a check failed.`}
        </strong>
      </p>
      <ol className="steps">
        {report.steps.map((s) => (
          <li key={s.step}>
            <span className={s.ok ? 'step-ok' : 'step-fail'}>{s.ok ? 'ok' : 'FAIL'}</span> {s.step}:{' '}
            {s.detail}
            {s.fix && <div className="muted">Fix: {s.fix}</div>}
          </li>
        ))}
      </ol>
    </div>
  );
}

interface StoreForm {
  name: string;
  type: string;
  description: string;
  settings: string;
}

export function StoresPage() {
  const { namespace } = useSession();
  const queryClient = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [results, setResults] = useState<Record<string, TestReport>>({});
  const [failed, setFailed] = useState<{ form: StoreForm; report: TestReport } | null>(null);
  const list = useQuery({
    queryKey: ['stores', namespace],
    queryFn: () => unwrap(api.GET('/api/v1/stores', { params: { query: { namespace, limit: 500 } } })),
  });
  const runTest = async (name: string, ns: string): Promise<TestReport> => {
    const report = await unwrap(
      api.POST('/api/v1/stores/{name}/test', { params: { path: { name }, query: { namespace: ns } } }),
    );
    setResults((r) => ({ ...r, [`${ns}/${name}`]: report }));
    return report;
  };
  const test = useMutation({
    mutationFn: (s: { name: string; namespace: string }) => runTest(s.name, s.namespace),
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
  const { register, handleSubmit, setValue, reset } = useForm<StoreForm>({
    defaultValues: {
      name: '',
      type: 'vault',
      description: '',
      settings: JSON.stringify(TEMPLATES['vault'], null, 2),
    },
  });
  /**
   * Save tests first: the store is created, tested, and removed again when a check fails (unless
   * "save anyway"), so a broken store is not left behind.
   */
  const save = useMutation({
    mutationFn: async ({ form, anyway }: { form: StoreForm; anyway: boolean }) => {
      let settings: Record<string, unknown>;
      try {
        settings = JSON.parse(form.settings || '{}') as Record<string, unknown>;
      } catch (e) {
        throw new ApiError(400, 'invalid_json', `Settings are not JSON: ${(e as Error).message}`);
      }
      const created = await unwrap(
        api.POST('/api/v1/stores', {
          body: {
            name: form.name,
            namespace,
            type: form.type,
            settings,
            ...(form.description ? { description: form.description } : {}),
          },
        }),
      );
      if (anyway) return { saved: true };
      const report = await runTest(created.name, created.namespace);
      if (!report.ok) {
        await unwrap(
          api.DELETE('/api/v1/stores/{name}', {
            params: { path: { name: created.name }, query: { namespace: created.namespace } },
          }),
        );
        setFailed({ form, report });
        return { saved: false };
      }
      return { saved: true };
    },
    onSuccess: (r) => {
      if (r.saved) {
        setFailed(null);
        setAdding(false);
        reset();
      }
      return queryClient.invalidateQueries({ queryKey: ['stores'] });
    },
  });
  const items = list.data?.items ?? [];
  return (
    <section>
      <PageHeader title={`Stores of ${nsLabel(namespace)}`}>
        <button type="button" onClick={() => setAdding(true)}>
          New store
        </button>
      </PageHeader>
      {adding && (
        <form
          className="panel"
          aria-label="New store"
          onSubmit={handleSubmit((form) => save.mutate({ form, anyway: false }))}
        >
          <h2>New store in {nsLabel(namespace)}</h2>
          <div className="grid">
            <label>
              Store name
              <input autoComplete="off" placeholder="vault-prod" {...register('name', { required: true })} />
            </label>
            <label>
              Type
              <select
                {...register('type', {
                  onChange: (e) =>
                    setValue('settings', JSON.stringify(TEMPLATES[e.target.value] ?? {}, null, 2)),
                })}
              >
                {Object.keys(TEMPLATES).map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Description
              <input autoComplete="off" {...register('description')} />
            </label>
          </div>
          <label>
            Settings (JSON; credentials are write-only and may be secret:// references)
            <textarea rows={8} spellCheck={false} {...register('settings')} />
          </label>
          <ErrorMessage error={save.error} />
          {save.isPending && <Status>Saving and testing…</Status>}
          {failed && (
            <>
              <Steps report={failed.report} />
              <p>The store was not saved because a check failed.</p>
              <button
                type="button"
                className="danger"
                onClick={() => save.mutate({ form: failed.form, anyway: true })}
              >
                Save anyway
              </button>
            </>
          )}
          <div className="row">
            <button type="submit" disabled={save.isPending}>
              Save
            </button>
            <button type="button" className="secondary" onClick={() => setAdding(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {list.isPending && <Loading what="stores" />}
      <ErrorMessage error={list.error ?? test.error ?? remove.error} />
      {list.isSuccess && items.length === 0 && (
        <Empty title="No stores in this namespace.">
          Press <strong>New store</strong> to connect a secret manager; the builtin store is always there.
        </Empty>
      )}
      {items.length > 0 && (
        <table>
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
            {items.map((s) => {
              const key = `${s.namespace}/${s.name}`;
              const masked = Object.entries(s.settings).filter(([, v]) => v === '***');
              const last = results[key];
              return (
                <tr key={key}>
                  <td>
                    {s.name} <span className="muted">{s.source}</span>
                  </td>
                  <td>{s.type}</td>
                  <td>{nsLabel(s.namespace)}</td>
                  <td>{masked.length > 0 ? masked.map(([k]) => `${k}: set`).join(', ') : 'none set'}</td>
                  <td>{last ? (last.ok ? 'ok' : 'FAIL') : 'not tested'}</td>
                  <td className="row">
                    <button
                      type="button"
                      className="secondary small"
                      aria-label={`Test ${s.name}`}
                      disabled={test.isPending}
                      onClick={() => test.mutate({ name: s.name, namespace: s.namespace })}
                    >
                      Test
                    </button>
                    {s.source === 'api' && (
                      <button
                        type="button"
                        className="danger small"
                        aria-label={`Delete ${s.name}`}
                        onClick={() => {
                          if (window.confirm(`Delete the store ${s.name}?`)) remove.mutate(s);
                        }}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {test.isPending && <Status>Testing…</Status>}
      {test.data && <Steps report={test.data} />}
    </section>
  );
}
