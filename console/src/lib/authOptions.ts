import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '@/api/client';
import { keys } from '@/api/keys';

/** How one may sign in here (registration, OpenID Connect providers); public, cached for the visit. */
export function useAuthOptions() {
  return useQuery({
    queryKey: keys.authOptions(),
    queryFn: () => unwrap(api.GET('/api/v1/auth/options')),
    staleTime: Infinity,
  });
}

/** Where the browser goes to sign in with a provider (a full page load, not fetch). */
export function oidcStartPath(provider: string): string {
  return `/api/v1/auth/oidc/${encodeURIComponent(provider)}/start`;
}
