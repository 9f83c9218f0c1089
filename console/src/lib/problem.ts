/** Turns any failure into one sentence a person can act on (see the console design). */
import { ApiError } from '@/api/client';

export const NETWORK_MESSAGE = 'The platform did not answer. Check your connection and try again.';
export const SESSION_ENDED = 'Your session has ended; sign in again.';

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return '';
  const first = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/**
 * @param action what the person tried, as a verb phrase ("create the user"), used in 403 messages.
 */
export function describeError(err: unknown, action: string): string {
  if (!(err instanceof ApiError)) {
    if (err instanceof TypeError) return NETWORK_MESSAGE; // fetch rejects with TypeError when offline
    return sentence(err instanceof Error ? err.message : String(err)) || 'Something went wrong.';
  }
  if (err.status === 0 || err.kind === 'network') return NETWORK_MESSAGE;
  if (err.status === 401) return SESSION_ENDED;
  if (err.status === 403) {
    const base = `You do not have permission to ${action}.`;
    return err.detail ? `${base} ${sentence(err.detail)}` : base;
  }
  if (err.status === 422 && err.errors.length) {
    return err.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).map(sentence).join(' ');
  }
  return [sentence(err.title), sentence(err.detail)].filter(Boolean).join(' ') || `Could not ${action}.`;
}

/** The 422 messages for one field (for TextField's error), or undefined. */
export function fieldError(err: unknown, field: string): string | undefined {
  if (!(err instanceof ApiError) || err.status !== 422) return undefined;
  const msgs = err.errors.filter((e) => e.field === field).map((e) => e.message);
  return msgs.length ? msgs.join('; ') : undefined;
}
