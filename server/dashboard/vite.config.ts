// Builds the dashboard into dist/: index.html plus hashed files under dist/assets/,
// which the server serves at / and /assets/ (server/routes_dashboard.py).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
  },
  server: {
    // `npm run dev` talks to a modeldeck on its default port.
    proxy: {
      '/api': 'http://127.0.0.1:3002',
      '/socket.io': { target: 'http://127.0.0.1:3002', ws: true },
    },
  },
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
  },
});
