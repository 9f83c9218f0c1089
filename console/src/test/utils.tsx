/** Helpers for unit tests: fetch answers, a fresh session, a router stub, a query client. */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, type RenderOptions } from '@testing-library/react';
import type { ReactElement, ReactNode } from 'react';
import { onTestFinished, vi } from 'vitest';
import type { Me } from '@/api/client';
import { initialSession, useSession, type SessionData } from '@/store/session';

/** A JSON Response (problem+json when status >= 400 and the body has a title). */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  const isProblem = status >= 400 && typeof body === 'object' && body !== null && 'title' in body;
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': isProblem ? 'application/problem+json' : 'application/json', ...headers },
  });
}

export function problem(status: number, title: string, detail?: string, extra: Record<string, unknown> = {}): Response {
  return json({ type: 'about:blank', title, status, ...(detail ? { detail } : {}), ...extra }, status);
}

export interface Call {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

type Handler = (call: Call) => Response | Promise<Response>;

/**
 * Stubs global fetch with a route table "METHOD /path" -> handler (or Response factory).
 * Unmatched calls answer 404. Returns the recorded calls.
 */
export function stubFetch(routes: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const req = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init);
      const url = new URL(req.url, 'http://localhost');
      const call: Call = { method: req.method, path: url.pathname + url.search, headers: req.headers, body: req.body ? await req.text() : '' };
      calls.push(call);
      const handler = routes[`${call.method} ${url.pathname}`];
      return handler ? handler(call) : problem(404, 'Not Found');
    }),
  );
  return calls;
}

export const sampleMe = (permissions: string[] = [], overrides: Partial<Me> = {}): Me => ({
  id: '00000000-0000-4000-8000-000000000001',
  email: 'ada@example.com',
  display_name: 'Ada',
  is_disabled: false,
  created_at: '2026-01-01T00:00:00Z',
  roles: [],
  permissions,
  ...overrides,
});

/** Puts the session store in a known state. */
export function setSession(data: Partial<SessionData> = {}): void {
  useSession.setState({ ...initialSession, ...data });
}

export function signedInAs(permissions: string[] = []): void {
  setSession({ status: 'signed-in', accessToken: 'access-1', me: sampleMe(permissions) });
}

/** A next/router stub; pass it to vi.mock('next/router', ...) via mockRouter(). */
export function makeRouter(overrides: Record<string, unknown> = {}) {
  return {
    pathname: '/',
    asPath: '/',
    query: {},
    basePath: '/console',
    isReady: true,
    push: vi.fn(async () => true),
    replace: vi.fn(async () => true),
    prefetch: vi.fn(async () => undefined),
    back: vi.fn(),
    events: { on: vi.fn(), off: vi.fn(), emit: vi.fn() },
    ...overrides,
  };
}

export function renderWithQuery(ui: ReactElement, options?: RenderOptions) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const Wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>;
  return { client, ...render(ui, { wrapper: Wrapper, ...options }) };
}

/**
 * The forms holding a password field, each with the method it would submit by before the page's
 * script has run: it must be "post", or the password would land in the address (history, logs).
 */
export function passwordFormMethods(): string[] {
  return [...document.querySelectorAll('form')].filter((f) => f.querySelector('input[type="password"]')).map((f) => f.method);
}

/** Records the submit events of this test; each must be defaultPrevented (the script sends the data). */
export function recordSubmits(): Event[] {
  const seen: Event[] = [];
  const stop = new AbortController();
  document.addEventListener('submit', (e) => seen.push(e), { signal: stop.signal });
  onTestFinished(() => stop.abort());
  return seen;
}
