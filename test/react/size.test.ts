/**
 * Size budget of `@feat/sdk/react`: what the subpath adds to an app that already loads `@feat/sdk` — its own code,
 * minified and gzipped, with react and the core modules it shares external.
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const BUDGET = 2 * 1024;
const entry = fileURLToPath(new URL('../../src/react/index.ts', import.meta.url));

it(`@feat/sdk/react adds at most ${BUDGET / 1024} kB min+gz`, async () => {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
    plugins: [
      {
        name: 'shared-with-core',
        setup(b) {
          // react, and the SDK modules outside src/react (the app loads them with @feat/sdk anyway).
          b.onResolve({ filter: /.*/ }, (args) =>
            args.kind === 'entry-point' || args.path.startsWith('./') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  const code = result.outputFiles[0]!.contents;
  const gz = gzipSync(code, { level: 9 }).byteLength;
  console.log(`@feat/sdk/react: ${code.byteLength} B min, ${gz} B min+gz (budget ${BUDGET} B)`);
  expect(gz).toBeLessThanOrEqual(BUDGET);
});
