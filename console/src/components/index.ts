export { Button, type ButtonProps, type ButtonVariant } from './Button';
export { EmptyState, type EmptyStateProps } from './EmptyState';
export { Layout, NAV, visibleNav, type NavItem } from './Layout';
export { ProblemMessage, type ProblemMessageProps } from './ProblemMessage';
export { Progress, type ProgressProps } from './Progress';
export { RequireAuth } from './RequireAuth';
export { Table, type Column, type TableProps } from './Table';
export { TextField, type TextFieldProps } from './TextField';
export { Title } from './Title';
