import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// Browsers resolve a relative URL in new Request() against the page; Node's Request does not.
// The API client uses same-origin relative paths, so give tests the browser's behaviour.
const NodeRequest = globalThis.Request;
class PageRequest extends NodeRequest {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === 'string' && input.startsWith('/') ? new URL(input, globalThis.location.href) : input, init);
  }
}
globalThis.Request = PageRequest as typeof Request;

// findBy*/waitFor wait up to 5 s, not 1: `make test` runs this suite beside the e2e on a busy
// machine, where a render after a fetch can take over a second. A passing wait ends at once.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
});
