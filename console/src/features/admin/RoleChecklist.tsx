import type { Schemas } from '@/api/client';
import styles from './admin.module.css';

type Role = Schemas['RoleOut'];

export interface RoleChecklistProps {
  legend: string;
  roles: readonly Role[];
  checked: readonly string[];
  onChange: (names: string[]) => void;
  hint?: string;
}

/** One checkbox per role, with its description. */
export function RoleChecklist({ legend, roles, checked, onChange, hint }: RoleChecklistProps) {
  return (
    <fieldset className={styles.checklist}>
      <legend>{legend}</legend>
      {hint && <p className="field-hint">{hint}</p>}
      {roles.map((r) => (
        <label key={r.name} className={styles.check}>
          <input
            type="checkbox"
            name="roles"
            value={r.name}
            checked={checked.includes(r.name)}
            onChange={(e) =>
              onChange(e.target.checked ? [...checked, r.name].sort() : checked.filter((n) => n !== r.name))
            }
          />
          <span>
            <strong>{r.name}</strong>
            {r.description && <span className="muted"> — {r.description}</span>}
          </span>
        </label>
      ))}
    </fieldset>
  );
}
