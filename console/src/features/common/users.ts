import { api, unwrap } from '@/api/client';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The user id the API needs for "who": an id as typed, or (for holders of users:read, who may
 * look accounts up) the account with exactly that email.
 */
export async function resolveUserId(who: string, canLookUp: boolean): Promise<string> {
  const text = who.trim();
  if (UUID.test(text)) return text.toLowerCase();
  if (!text.includes('@')) throw new Error('Enter the person’s user ID or their email address.');
  if (!canLookUp) {
    throw new Error('Enter the person’s user ID: finding an account by email needs the users:read permission.');
  }
  const email = text.toLowerCase();
  const found = await unwrap(api.GET('/api/v1/admin/users', { params: { query: { email, limit: 100 } } }));
  const match = found.items.find((u) => u.email === email);
  if (!match) throw new Error(`No account has the email ${email}.`);
  return match.id;
}
