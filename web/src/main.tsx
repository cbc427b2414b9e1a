import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { type ReactNode, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { ApiError } from './api/client';
import { Loading } from './components/common';
import { Layout } from './components/Layout';
import { AuditPage } from './pages/Audit';
import { CachePage } from './pages/Cache';
import { ConnectionsPage } from './pages/Connections';
import { NamespacesPage } from './pages/Namespaces';
import { SecretsPage } from './pages/Secrets';
import { SignIn } from './pages/SignIn';
import { StoresPage } from './pages/Stores';
import { TokensPage } from './pages/Tokens';
import { type Page, pagesFor, SessionProvider, useSession } from './session';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal (4xx) is final; no answer at all (status 0) or a 5xx may pass.
      retry: (count, error) =>
        !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
      staleTime: 5_000,
    },
  },
});

const ELEMENTS: Record<Page, ReactNode> = {
  namespaces: <NamespacesPage />,
  stores: <StoresPage />,
  secrets: <SecretsPage />,
  connections: <ConnectionsPage />,
  audit: <AuditPage />,
  cache: <CachePage />,
  tokens: <TokensPage />,
};

function App() {
  const { session, loading } = useSession();
  if (loading) return <Loading what="session" />;
  if (!session) return <SignIn />;
  // A role sees the pages it can use only; the API refuses the rest anyway.
  const pages = pagesFor(session.principal.role);
  const home = `/${pages[0]}`;
  return (
    <Routes>
      <Route element={<Layout />}>
        {pages.map((p) => (
          <Route key={p} path={`/${p}`} element={ELEMENTS[p]} />
        ))}
        <Route path="*" element={<Navigate to={home} replace />} />
      </Route>
    </Routes>
  );
}

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <SessionProvider>
            <App />
          </SessionProvider>
        </BrowserRouter>
      </QueryClientProvider>
    </StrictMode>,
  );
}
