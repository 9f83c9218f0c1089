import type { NextConfig } from 'next';

// A static export served by the edge under /console on the API's origin (see the console design).
const config: NextConfig = {
  output: 'export',
  basePath: '/console',
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default config;
