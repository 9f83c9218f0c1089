import type { ComponentPropsWithRef } from 'react';

export type ButtonVariant = 'primary' | 'secondary' | 'danger' | 'quiet';

/** A <button>'s props, ref included (React 19 passes it as a prop): focus can return to it. */
export interface ButtonProps extends ComponentPropsWithRef<'button'> {
  variant?: ButtonVariant;
  /** Work in progress: disabled and announced as busy. */
  busy?: boolean;
}

/** A native button (type="button" unless told otherwise) in one of the console's styles. */
export function Button({ variant = 'primary', busy = false, type = 'button', className, disabled, children, ref, ...rest }: ButtonProps) {
  const classes = ['btn', `btn-${variant}`, className].filter(Boolean).join(' ');
  return (
    <button {...rest} ref={ref} type={type} className={classes} disabled={disabled || busy} aria-busy={busy || undefined}>
      {children}
    </button>
  );
}
