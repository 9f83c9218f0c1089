// Next's ambient types (CSS modules, images) without next-env.d.ts, which `next build` writes and
// git ignores: `npm run typecheck` works in a fresh clone too.
/// <reference types="next" />
/// <reference types="next/image-types/global" />
