/**
 * Black-box scaffolding for the attack suite: clients of one backend in both modes, through the public entry points only.
 *
 * The suite (test/attack/) was written from outside, from API.md, the README and seed 003 alone, the way an acceptance
 * suite checks the product on the emulator and on a real CouchDB 3.4 behind nginx; every finding it made was fixed in
 * src/ (or, for the engine differences it found, documented in the README's "Where the two modes differ").
 */
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import type { useEmulator } from '../support/backend.js';

export const REMOTE = { mode: 'remote' } as const;
export const LOCAL = { mode: 'local-first', local: { adapter: 'memory' } } as const;
export const MODES = [
  { name: 'remote', options: REMOTE },
  { name: 'local-first', options: LOCAL },
] as const;

export type Emu = ReturnType<typeof useEmulator>;

/** A client of `user` on `emu`, counting its requests; closed after the file. */
export function clientFor(emu: Emu, user: string, options: Partial<FeatClientOptions> = {}): FeatClient & { requests: string[] } {
  const requests: string[] = [];
  const counting: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    requests.push(`${(init?.method ?? 'GET').toUpperCase()} ${url}`);
    return fetch(input, init);
  };
  const c = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    fetch: counting,
    ...options,
  } as FeatClientOptions);
  emu.track(c);
  return Object.assign(c, { requests });
}

/** Settles a promise into `{ ok, value | error }` within `ms` (a hang is a failure, not a stuck test). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}
