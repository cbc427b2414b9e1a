import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import {
  allPages,
  api,
  currentSession,
  type Principal,
  type Role,
  type Session,
  setCsrfToken,
  setUnauthorizedHandler,
  signIn as apiSignIn,
  signOut as apiSignOut,
  unwrap,
} from './api/client';

export type Page = 'namespaces' | 'stores' | 'secrets' | 'connections' | 'audit' | 'cache' | 'tokens';

/** What each role may use (the API is the real guard; the UI hides what would be refused). */
const PAGES: Record<Role, Page[]> = {
  admin: ['namespaces', 'stores', 'secrets', 'connections', 'audit', 'cache', 'tokens'],
  operator: ['namespaces', 'stores', 'secrets', 'connections', 'cache'],
  runtime: ['cache'],
  auditor: ['audit'],
};

export function pagesFor(role: Role): Page[] {
  return PAGES[role];
}

interface SessionState {
  session: Session | null;
  loading: boolean;
  signIn(token: string): Promise<void>;
  signOut(): Promise<void>;
  namespace: string;
  setNamespace(ns: string): void;
  namespaces: string[];
  /** The session ended while the page was open (expired, revoked, signed out elsewhere). */
  ended: boolean;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [session, setSession] = useState<Session | null>(null);
  const [loading, setLoading] = useState(true);
  const [namespace, setNamespace] = useState('');
  const [ended, setEnded] = useState(false);
  /** Whether a session is held now: a late 401 after Sign out is not a session that ended. */
  const held = useRef(false);

  const adopt = useCallback(
    (s: Session | null) => {
      setCsrfToken(s?.csrfToken);
      held.current = s !== null;
      setSession(s);
      setNamespace(s?.principal.namespace ?? '');
      if (!s) queryClient.clear();
    },
    [queryClient],
  );

  useEffect(() => {
    let live = true;
    currentSession()
      .then((s) => live && adopt(s))
      .catch(() => live && adopt(null))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [adopt]);

  useEffect(() => {
    // The session ended (expired, signed out elsewhere): back to sign-in, saying why.
    setUnauthorizedHandler(() => {
      if (held.current) setEnded(true);
      adopt(null);
    });
    return () => setUnauthorizedHandler(undefined);
  }, [adopt]);

  const signIn = useCallback(
    async (token: string) => {
      const s = await apiSignIn(token);
      setEnded(false);
      adopt(s);
    },
    [adopt],
  );
  const signOut = useCallback(async () => {
    held.current = false;
    try {
      await apiSignOut();
    } finally {
      adopt(null);
    }
  }, [adopt]);

  const principal = session?.principal;
  const canListNamespaces = principal?.role === 'admin' || principal?.role === 'operator';
  const nsQuery = useQuery({
    queryKey: ['namespaces', 'picker', principal?.id],
    enabled: Boolean(canListNamespaces),
    queryFn: () =>
      allPages((cursor) =>
        unwrap(
          api.GET('/api/v1/namespaces', {
            params: { query: { limit: 1000, ...(cursor ? { cursor } : {}) } },
          }),
        ),
      ),
  });
  const namespaces = useMemo(() => {
    const names = new Set<string>();
    if (principal) names.add(principal.namespace);
    for (const n of nsQuery.data?.items ?? []) names.add(n.name);
    return [...names].sort();
  }, [principal, nsQuery.data]);

  const value = useMemo<SessionState>(
    () => ({ session, loading, signIn, signOut, namespace, setNamespace, namespaces, ended }),
    [session, loading, signIn, signOut, namespace, namespaces, ended],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error('useSession outside SessionProvider');
  return ctx;
}

/** The signed-in principal (pages render only when signed in). */
export function usePrincipal(): Principal {
  const { session } = useSession();
  if (!session) throw new Error('not signed in');
  return session.principal;
}
