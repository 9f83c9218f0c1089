/**
 * Who is signed in. The access token lives in memory only; the refresh token is an HttpOnly
 * cookie the page never sees, so a reload restores the session through the refresh endpoint.
 */
import { create } from 'zustand';
import { api, CSRF_HEADERS, refreshAccessToken, setTokenSource, unwrap, type Me } from '@/api/client';

export type SessionStatus = 'unknown' | 'signed-in' | 'signed-out';

export interface SessionData {
  status: SessionStatus;
  accessToken: string | null;
  me: Me | null;
}

export interface SessionState extends SessionData {
  /** Password sign-in; throws ApiError (401 wrong credentials, 422, 429...) and stays signed out. */
  signIn(email: string, password: string): Promise<void>;
  /** At app start: trade the refresh cookie for a token, then load /me. Never throws. */
  restore(): Promise<void>;
  /** Ends this session on the server (best effort) and forgets it here. */
  signOut(): Promise<void>;
  /** Ends every session of this user; throws ApiError when the server refuses (still signed in then). */
  signOutEverywhere(): Promise<void>;
  /** A new access token, or null: the session is over (signed out here, nothing sent). */
  setToken(token: string | null): void;
  /** Reloads /me (after a change to the account); throws ApiError. */
  reloadMe(): Promise<void>;
}

export const initialSession: SessionData = { status: 'unknown', accessToken: null, me: null };

const signedOut: SessionData = { status: 'signed-out', accessToken: null, me: null };

async function fetchMe(): Promise<Me> {
  return unwrap(api.GET('/api/v1/me'));
}

let restoring: Promise<void> | null = null;

export const useSession = create<SessionState>()((set, get) => ({
  ...initialSession,

  async signIn(email, password) {
    const tokens = await unwrap(api.POST('/api/v1/auth/login', { params: { header: CSRF_HEADERS }, body: { email, password } }));
    set({ accessToken: tokens.access_token });
    try {
      const me = await fetchMe();
      set({ status: 'signed-in', me });
    } catch (e) {
      set(signedOut);
      throw e;
    }
  },

  restore() {
    restoring ??= (async () => {
      if (!(await refreshAccessToken())) return; // signed out by the refresh
      try {
        set({ status: 'signed-in', me: await fetchMe() });
      } catch {
        set(signedOut);
      }
    })().finally(() => {
      restoring = null;
    });
    return restoring;
  },

  async signOut() {
    if (get().accessToken) {
      try {
        await api.POST('/api/v1/auth/logout');
      } catch {
        // Offline: the access token still expires by itself; forget it here regardless.
      }
    }
    set(signedOut);
  },

  async signOutEverywhere() {
    await unwrap(api.POST('/api/v1/auth/logout-all'));
    set(signedOut);
  },

  setToken(token) {
    set(token ? { accessToken: token } : signedOut);
  },

  async reloadMe() {
    set({ me: await fetchMe() });
  },
}));

// The API client reads the token from here and hands over each refresh's outcome.
setTokenSource({
  getToken: () => useSession.getState().accessToken,
  setToken: (token) => useSession.getState().setToken(token),
});

/** Whether the signed-in user holds a permission. Hiding by it is cosmetic: the API decides. */
export const selectCan =
  (permission: string) =>
  (s: SessionData): boolean =>
    s.me?.permissions?.includes(permission) ?? false;

export const selectIsSignedIn = (s: SessionData): boolean => s.status === 'signed-in';
