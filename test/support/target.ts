/**
 * Which backend the integration tests run on (issue #22). `FEAT_BACKEND=real` runs every test that imports the
 * emulator against Apache CouchDB 3.4 behind the deployment's nginx instead (see `./real-emulator.ts`); without it,
 * everything runs on the emulator.
 */
import { it } from 'vitest';

/** True when the suite runs against the real CouchDB stack. */
export const ON_REAL = process.env.FEAT_BACKEND === 'real';

/**
 * A test that needs something only the emulator has (a fault it injects, an option a real server cannot honour). On
 * the real backend it is skipped, and its name says why: `emulatorOnly('dataDir')('keeps data across restarts', …)`
 * reports "keeps data across restarts [emulator only: dataDir]".
 */
export function emulatorOnly(reason: string): typeof it {
  if (!ON_REAL) return it;
  const skip = ((name: string, ...rest: unknown[]) =>
    (it.skip as (...a: unknown[]) => void)(`${name} [emulator only: ${reason}]`, ...rest)) as unknown as typeof it;
  return skip;
}
