import { useEffect, useRef, useState } from 'react';
import { Button, type ButtonVariant } from '@/components/Button';
import { useReturnFocus } from './useReturnFocus';

export interface ConfirmButtonProps {
  /** The button's text, e.g. "Delete". */
  label: string;
  /** Its accessible name when the text alone is ambiguous in a list: "Delete report.pdf". */
  ariaLabel?: string;
  /** Asked before acting: "Delete report.pdf for good?" */
  question: string;
  /** The confirming button's text: "Yes, delete". */
  confirmLabel: string;
  onConfirm: () => void;
  busy?: boolean;
  variant?: ButtonVariant;
}

/**
 * A destructive action in two steps, without a modal: the button turns into a question with
 * "Yes" (focused) and "Cancel"; Escape cancels.
 */
export function ConfirmButton({ label, ariaLabel, question, confirmLabel, onConfirm, busy, variant = 'secondary' }: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  const trigger = useReturnFocus<HTMLButtonElement>(asking);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <Button ref={trigger} variant={variant} busy={busy} aria-label={ariaLabel} onClick={() => setAsking(true)}>
        {label}
      </Button>
    );
  }
  return (
    <span
      className="row"
      role="group"
      aria-label={question}
      onKeyDown={(e) => {
        if (e.key === 'Escape') setAsking(false);
      }}
    >
      <span>{question}</span>
      <Button
        ref={yes}
        variant="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </Button>
      <Button variant="quiet" onClick={() => setAsking(false)}>
        Cancel
      </Button>
    </span>
  );
}
