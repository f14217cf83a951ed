// Who is signed in: the token and user from /api/user/login, kept in localStorage until they expire.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import type { LoginAnswer, User } from "./api";

const KEY = "storefront.session";

export interface Session {
  token: string;
  user: User;
  expiresAt: number; // epoch milliseconds
}

export interface SessionApi {
  session: Session | null;
  signIn(answer: LoginAnswer): void;
  signOut(): void;
}

export function loadSession(now: number = Date.now(), storage: Storage = localStorage): Session | null {
  try {
    const raw = storage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token || !s.user || typeof s.expiresAt !== "number" || s.expiresAt <= now) {
      storage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function sessionFrom(answer: LoginAnswer, now: number = Date.now()): Session {
  // a minute of margin, so a token is never sent in its last seconds
  return { token: answer.access_token, user: answer.user, expiresAt: now + Math.max(0, answer.expires_in - 60) * 1000 };
}

const Context = createContext<SessionApi | null>(null);

export function SessionProvider({ children, initial }: { children: ReactNode; initial?: Session | null }) {
  const [session, setSession] = useState<Session | null>(() => (initial === undefined ? loadSession() : initial));
  const signIn = useCallback((answer: LoginAnswer) => {
    const s = sessionFrom(answer);
    try {
      localStorage.setItem(KEY, JSON.stringify(s));
    } catch {
      // private mode: the session lasts as long as the page
    }
    setSession(s);
  }, []);
  const signOut = useCallback(() => {
    try {
      localStorage.removeItem(KEY);
    } catch {
      // nothing stored
    }
    setSession(null);
  }, []);
  const value = useMemo(() => ({ session, signIn, signOut }), [session, signIn, signOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionApi {
  const value = useContext(Context);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}
