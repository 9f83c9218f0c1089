export { default } from '@/features/status/StatusPage';
