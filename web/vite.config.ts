import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

/**
 * The API reference (/api/docs) is Redoc's standalone bundle, served from
 * web/dist/vendor like the dashboard: no CDN, nothing fetched at view time.
 */
function redocBundle(): Plugin {
  return {
    name: 'tickline-redoc',
    generateBundle() {
      const file = createRequire(import.meta.url).resolve('redoc/bundles/redoc.standalone.js');
      this.emitFile({
        type: 'asset',
        fileName: 'vendor/redoc.standalone.js',
        source: readFileSync(file),
      });
    },
  };
}

// The dashboard builds to web/dist, which `tickline up` serves at /.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [redocBundle()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:7070', ws: true },
      '/metrics': 'http://127.0.0.1:7070',
    },
  },
});
