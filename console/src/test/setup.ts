import { cleanup } from '@testing-library/react';
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

afterEach(() => {
  cleanup();
  localStorage.clear();
});
