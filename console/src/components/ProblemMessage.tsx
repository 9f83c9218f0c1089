import { ApiError } from '@/api/client';
import { describeError } from '@/lib/problem';

export interface ProblemMessageProps {
  /** Anything thrown; nothing is rendered when it is null/undefined. */
  error: unknown;
  /** What was tried, as a verb phrase: "create the user". */
  action: string;
  /** Own words for some statuses, e.g. {401: 'The email or password is wrong.'} on the sign-in form. */
  overrides?: Partial<Record<number, string>>;
  /** Fields that show their own 422 errors (TextField error): a 422 about these only is not repeated here. */
  shownFields?: readonly string[];
  id?: string;
}

/** The readable sentence for an error, with role="alert"; put it next to what caused it. */
export function ProblemMessage({ error, action, overrides, shownFields, id }: ProblemMessageProps) {
  if (error === null || error === undefined) return null;
  if (
    shownFields &&
    error instanceof ApiError &&
    error.status === 422 &&
    error.errors.length > 0 &&
    error.errors.every((e) => shownFields.includes(e.field))
  ) {
    return null;
  }
  const own = error instanceof ApiError ? overrides?.[error.status] : undefined;
  return (
    <p className="problem" role="alert" id={id}>
      {own ?? describeError(error, action)}
    </p>
  );
}
