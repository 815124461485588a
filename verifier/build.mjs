// Bundles the verifier (src/main.ts, lib/core and zod) into one file with no runtime dependency:
// dist/iot-notary-verify.mjs, the package's bin. Run from the repository: `npm run build:verifier`.
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
await build({
  entryPoints: [`${here}src/main.ts`],
  outfile: `${here}dist/iot-notary-verify.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  legalComments: 'none',
  logLevel: 'warning',
});
