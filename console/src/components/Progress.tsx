import { useId } from 'react';

export interface ProgressProps {
  /** Says what is in progress ("Uploading report.pdf"); visible, and the bar's accessible name. */
  label: string;
  /** Omit for an indeterminate bar. */
  value?: number;
  max?: number;
}

/** A native <progress> with a visible label. */
export function Progress({ label, value, max = 100 }: ProgressProps) {
  const id = useId();
  return (
    <div className="progress">
      <label htmlFor={id}>{label}</label>
      <progress id={id} max={max} value={value}>
        {value === undefined ? '' : `${Math.round((value / max) * 100)} %`}
      </progress>
    </div>
  );
}
