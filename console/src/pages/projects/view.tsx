export { default } from '@/features/projects/ProjectPage';
