import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { api, nsLabel, type Role, unwrap } from '../api/client';
import { Empty, ErrorMessage, formatTime, Loading, PageHeader, Pager, Status } from '../components/common';
import { usePrincipal, useSession } from '../session';

interface NewToken {
  name: string;
  role: Role;
  namespace: string;
  reveal: boolean;
  expiresIn: string;
}

/** Reveal is a permission of admin and operator tokens (runtime tokens get values through resolve). */
const mayReveal = (role: string) => role === 'admin' || role === 'operator';

export function TokensPage() {
  const principal = usePrincipal();
  const { namespace, namespaces } = useSession();
  const queryClient = useQueryClient();
  const [showRevoked, setShowRevoked] = useState(false);
  const [created, setCreated] = useState<{ token: string; name: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const { register, handleSubmit, reset, watch } = useForm<NewToken>({
    defaultValues: { name: '', role: 'operator', namespace, reveal: false, expiresIn: '' },
  });
  const list = useInfiniteQuery({
    queryKey: ['tokens', namespace, showRevoked],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/tokens', {
          params: {
            query: {
              namespace,
              limit: 50,
              ...(showRevoked ? { includeRevoked: 'true' } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.cursor,
  });
  const create = useMutation({
    mutationFn: (v: NewToken) =>
      unwrap(
        api.POST('/api/v1/tokens', {
          body: {
            role: v.role,
            namespace: v.namespace,
            // Admin and operator tokens only: the API refuses it on runtime and auditor tokens.
            reveal: mayReveal(v.role) && v.reveal,
            ...(v.name ? { name: v.name } : {}),
            ...(v.expiresIn ? { expiresIn: v.expiresIn } : {}),
          },
        }),
      ),
    onSuccess: (t) => {
      setCopied(false);
      setCreated({ token: t.token, name: t.name });
      reset();
      return queryClient.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <section>
      <PageHeader title="Tokens" />
      <form className="panel" aria-label="Create a token" onSubmit={handleSubmit((v) => create.mutate(v))}>
        <h2>Create a token</h2>
        <div className="grid">
          <label>
            Token name
            <input autoComplete="off" {...register('name')} placeholder="ci-deploy" />
          </label>
          <label>
            Role
            <select {...register('role')}>
              <option value="admin">admin</option>
              <option value="operator">operator</option>
              <option value="runtime">runtime</option>
              <option value="auditor">auditor</option>
            </select>
          </label>
          <label>
            Scope
            <select {...register('namespace')}>
              {namespaces.map((n) => (
                <option key={n} value={n}>
                  {nsLabel(n)}
                </option>
              ))}
            </select>
          </label>
          <label>
            Expires in
            <input autoComplete="off" placeholder="30d (empty: never)" {...register('expiresIn')} />
          </label>
          {principal.reveal && mayReveal(watch('role')) && (
            <label className="inline">
              <input type="checkbox" {...register('reveal')} />
              May reveal values
            </label>
          )}
        </div>
        <ErrorMessage error={create.error} />
        <button type="submit" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create token'}
        </button>
      </form>
      {created && (
        <section className="panel created" aria-label="New token">
          <p>
            The token <strong>{created.name}</strong>, shown this once (it is stored hashed):
          </p>
          <code className="token">{created.token}</code>
          <div className="row">
            <button
              type="button"
              onClick={() =>
                navigator.clipboard.writeText(created.token).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              Copy
            </button>
            <button type="button" className="secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
          {copied && <Status>Copied.</Status>}
        </section>
      )}
      <label className="inline">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} />
        Show revoked
      </label>
      {list.isPending && <Loading what="tokens" />}
      <ErrorMessage error={list.error ?? revoke.error} />
      {list.isSuccess && items.length === 0 && (
        <Empty title="No tokens in this scope.">Create one above.</Empty>
      )}
      {items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Scope</th>
              <th scope="col">Reveal</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.id} className={t.revokedAt ? 'deleted' : ''}>
                <td>
                  {t.name} <span className="muted">{t.id}</span>
                </td>
                <td>{t.role}</td>
                <td>{nsLabel(t.namespace)}</td>
                <td>{t.reveal ? 'yes' : 'no'}</td>
                <td>{formatTime(t.createdAt)}</td>
                <td>{formatTime(t.expiresAt) || 'never'}</td>
                <td>
                  {t.revokedAt ? (
                    <span className="badge">revoked</span>
                  ) : t.id === principal.id ? (
                    <span className="muted">this session</span>
                  ) : (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke ${t.name}`}
                      disabled={revoke.isPending}
                      onClick={() => {
                        if (window.confirm(`Revoke ${t.name}? It is refused from its next request on.`))
                          revoke.mutate(t.id);
                      }}
                    >
                      Revoke
                    </button>
                  )}
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
    </section>
  );
}
