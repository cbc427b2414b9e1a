import { useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { nsLabel } from '../api/client';
import { type Page, pagesFor, usePrincipal, useSession } from '../session';
import { ErrorMessage } from './common';

const LABELS: Record<Page, string> = {
  namespaces: 'Namespaces',
  stores: 'Stores',
  secrets: 'Secrets',
  connections: 'Connections',
  audit: 'Audit',
  cache: 'Cache',
  tokens: 'Tokens',
};

export function Layout() {
  const principal = usePrincipal();
  const { signOut, namespace, setNamespace, namespaces } = useSession();
  const [error, setError] = useState<unknown>();
  const [menuOpen, setMenuOpen] = useState(false);
  return (
    <div className="layout">
      <header className="topbar">
        <a className="brand" href="/">
          Sesame
        </a>
        <button
          type="button"
          className="menu-toggle secondary"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <div className="ns-picker">
          <label htmlFor="namespace-picker">Namespace</label>
          <select id="namespace-picker" value={namespace} onChange={(e) => setNamespace(e.target.value)}>
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {nsLabel(n)}
              </option>
            ))}
          </select>
        </div>
        <span className="whoami">
          {principal.role}
          {principal.reveal ? ' · reveal' : ''} · {nsLabel(principal.namespace)}
        </span>
        <button type="button" className="secondary" onClick={() => signOut().catch(setError)}>
          Sign out
        </button>
      </header>
      <div className="body">
        <nav id="main-nav" aria-label="Main" className={menuOpen ? 'open' : ''}>
          <ul>
            {pagesFor(principal.role).map((p) => (
              <li key={p}>
                <NavLink to={`/${p}`} onClick={() => setMenuOpen(false)}>
                  {LABELS[p]}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main>
          <ErrorMessage error={error} />
          <Outlet />
        </main>
      </div>
    </div>
  );
}
