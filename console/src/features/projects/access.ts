/** What the signed-in user may do in one project: cosmetic (the API decides), from the same rules. */
export type ProjectRole = 'owner' | 'editor' | 'viewer';

const RANK: Record<ProjectRole, number> = { viewer: 1, editor: 2, owner: 3 };

export interface ProjectAbilities {
  /** Rename, upload and delete files (editor). */
  edit: boolean;
  /** Members and deleting the project (owner). */
  own: boolean;
}

/** The membership role, or the global overrides projects:manage_all (any role) and projects:read_all (viewer). */
export function abilitiesOf(role: ProjectRole | null | undefined, permissions: readonly string[]): ProjectAbilities {
  const rank = role ? RANK[role] : 0;
  const manageAll = permissions.includes('projects:manage_all');
  return { edit: rank >= RANK.editor || manageAll, own: rank >= RANK.owner || manageAll };
}

export const PROJECT_ROLES: readonly ProjectRole[] = ['viewer', 'editor', 'owner'];
