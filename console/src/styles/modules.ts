/*
 * Every CSS module of the console, imported by _app so that all CSS ships in _app's stylesheet,
 * loaded by <link>. CSS that only a page imports is injected by Next's client router as <style>
 * tags on client-side navigation, which the CSP (style-src 'self') blocks, and the page would lose
 * its styles. scripts/check-export.mjs fails the build when a page still has CSS of its own:
 * add any new *.module.css here.
 */
import '@/components/Layout.module.css';
import '@/features/admin/admin.module.css';
import '@/features/projects/projects.module.css';
import '@/features/status/status.module.css';
import './account.module.css';
import './auth.module.css';
