import type { ReactNode } from 'react';
import { ApiError } from '../api/client';

/** An API error shown as the API words it: its message, what to do (fix) and the fields it names. */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const issues = error instanceof ApiError ? error.issues : undefined;
  const fix = error instanceof ApiError ? error.fix : undefined;
  return (
    <div role="alert" className="error">
      <p>{message}</p>
      {fix && <p className="fix">Fix: {fix}</p>}
      {issues && issues.length > 0 && (
        <ul>
          {issues.map((i) => (
            <li key={`${i.path}:${i.message}`}>
              {i.path ? <code>{i.path}</code> : null} {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children ? <p>{children}</p> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Status({ children }: { children: ReactNode }) {
  return (
    <p className="status" role="status" aria-live="polite">
      {children}
    </p>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      <div className="actions">{children}</div>
    </header>
  );
}

/** "Load more" paging on an opaque cursor. */
export function Pager({
  cursor,
  onMore,
  busy,
}: {
  cursor?: string | undefined;
  onMore(): void;
  busy: boolean;
}) {
  if (!cursor) return null;
  return (
    <button type="button" className="secondary" onClick={onMore} disabled={busy}>
      {busy ? 'Loading…' : 'Load more'}
    </button>
  );
}

export function formatTime(iso?: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** A long operation under way: an indeterminate progress bar and what it is doing, announced. */
export function Progress({ label }: { label: string }) {
  return (
    <div className="progress" role="status" aria-live="polite">
      <progress aria-label={label} />
      <span>{label}</span>
    </div>
  );
}
