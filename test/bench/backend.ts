/**
 * The backend the benchmarks run on: the emulator, or with `FEAT_BACKEND=real` Apache CouchDB 3.4 behind the
 * deployment's nginx (`../support/real-emulator.ts`, issue #22), behind the same interface. Loading it prints which.
 */
import type { startEmulator as StartEmulator } from '@feat/emulator';

export const ON_REAL = process.env.FEAT_BACKEND === 'real';

const backend = (ON_REAL ? await import('../support/real-emulator.js') : await import('@feat/emulator')) as {
  startEmulator: typeof StartEmulator;
};

/** `startEmulator` of the chosen backend (on the real one, emulator-only options such as `profile` are ignored). */
export const startEmulator = backend.startEmulator;

// What the figures below were measured on.
console.log(`backend: ${ON_REAL ? 'Apache CouchDB 3.4 behind nginx (FEAT_BACKEND=real)' : 'the emulator (FEAT_BACKEND=real for the real server)'}`);

const RUN = Date.now().toString(36);
/** A user name of this run: a real server keeps its users and databases, so every run starts from empty ones. */
export const runUser = (name: string): string => `${name}-${RUN}`;
