import { defineConfig } from 'vite';

// The dashboard builds to web/dist, which `tickline up` serves at /.
export default defineConfig({
  root: import.meta.dirname,
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:7070', ws: true },
      '/metrics': 'http://127.0.0.1:7070',
    },
  },
});
