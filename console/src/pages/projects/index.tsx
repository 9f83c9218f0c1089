export { default } from '@/features/projects/ProjectsPage';
