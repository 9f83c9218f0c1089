export { default } from '@/features/admin/AuditPage';
