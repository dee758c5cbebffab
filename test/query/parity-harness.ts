/** Clients of one backend in both modes (remote, local-first on the memory adapter), closed after the file. */
import { afterAll } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import type { useEmulator } from '../support/backend.js';

export const REMOTE = { mode: 'remote' } as const;
export const LOCAL = { mode: 'local-first', local: { adapter: 'memory' } } as const;

export function clients(emu: ReturnType<typeof useEmulator>) {
  const made: FeatClient[] = [];
  afterAll(async () => {
    await Promise.allSettled(made.map((c) => c.close()));
  });
  return function client(user: string, extra: Partial<FeatClientOptions> = {}, delay?: (line: string) => number): FeatClient & { lines: string[] } {
    const lines: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      const line = `${(init?.method ?? 'GET').toUpperCase()} ${url.pathname}${url.search}`;
      lines.push(line);
      const ms = delay?.(line) ?? 0;
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return fetch(input, init);
    };
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), fetch: recording, ...REMOTE, ...extra } as FeatClientOptions);
    made.push(c);
    return Object.assign(c, { lines });
  };
}
