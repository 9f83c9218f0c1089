/** react-query keys, one place, so that invalidations match what the pages cache. */
export const keys = {
  me: () => ['me'] as const,
  authOptions: () => ['auth', 'options'] as const,
  sessions: () => ['auth', 'sessions'] as const,
  projects: () => ['projects'] as const,
  project: (id: string) => ['projects', id] as const,
  members: (projectId: string) => ['projects', projectId, 'members'] as const,
  files: (projectId: string) => ['projects', projectId, 'files'] as const,
  file: (projectId: string, fileId: string) => ['projects', projectId, 'files', fileId] as const,
  users: (query?: Record<string, unknown>) => (query ? (['admin', 'users', query] as const) : (['admin', 'users'] as const)),
  user: (id: string) => ['admin', 'users', id] as const,
  roles: () => ['admin', 'roles'] as const,
  audit: (filters?: Record<string, unknown>) => (filters ? (['admin', 'audit', filters] as const) : (['admin', 'audit'] as const)),
  status: () => ['status'] as const,
};
