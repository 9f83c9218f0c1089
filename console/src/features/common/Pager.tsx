import { Button } from '@/components/Button';

export interface PagerProps {
  /** What is paged, for the navigation's name: "Users" gives "Users pages". */
  label: string;
  total: number;
  limit: number;
  offset: number;
  onChange: (offset: number) => void;
}

/** "Showing 21–40 of 95" with Previous and Next; nothing when everything fits on one page. */
export function Pager({ label, total, limit, offset, onChange }: PagerProps) {
  if (total <= limit && offset === 0) return null;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return (
    <nav className="row" aria-label={`${label} pages`}>
      <p className="muted" aria-live="polite">
        Showing {first}–{last} of {total}
      </p>
      <Button variant="secondary" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        Previous
      </Button>
      <Button variant="secondary" disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>
        Next
      </Button>
    </nav>
  );
}
