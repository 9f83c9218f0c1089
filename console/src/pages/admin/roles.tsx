export { default } from '@/features/admin/RolesPage';
