/**
 * Scaffolding for the key-space tests: both storage modes, clients of one emulator, and a log of every request line.
 */
import { afterAll } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import type { useEmulator } from '../support/backend.js';

export const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first (memory)', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const satisfies readonly { name: string; options: Partial<FeatClientOptions> }[];

export type Mode = (typeof modes)[number];

/** The request lines (`METHOD path?query`) a client sent, as nginx would count them. */
export interface Wire {
  lines: string[];
}

/** Makes clients of `emu` in `mode`, closed after the file; each records the request lines it sends. */
export function clientsOf(emu: ReturnType<typeof useEmulator>, mode: Mode) {
  const clients: FeatClient[] = [];
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
  });
  /** `delay(line)`: ms to hold a request back before sending it (a slow server for some requests). */
  return function client(user: string, extra: Partial<FeatClientOptions> = {}, delay?: (line: string) => number): FeatClient & { wire: Wire } {
    const wire: Wire = { lines: [] };
    const recording: typeof fetch = async (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      const line = `${(init?.method ?? 'GET').toUpperCase()} ${url.pathname}${url.search}`;
      wire.lines.push(line);
      const ms = delay?.(line) ?? 0;
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return fetch(input, init);
    };
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      fetch: recording,
      ...mode.options,
      ...extra,
    } as FeatClientOptions);
    clients.push(c);
    return Object.assign(c, { wire });
  };
}

/** Waits until the client's writes are where other clients read them (the server). */
export async function settle(...cs: FeatClient[]): Promise<void> {
  for (const c of cs) await c.sync.waitForPush({ timeout: 10_000 });
}

/** The README's id rule: the part `s` of `key` is `key + ':' + s` with `%` → `%25`, `:` → `%3A`. */
export const escapeSubkey = (s: string) => s.replace(/%/g, '%25').replace(/:/g, '%3A');
export const partIdOf = (key: string, s: string) => `${key}:${escapeSubkey(s)}`;
/** The key and subkey `id` names as a part (its last `:` splits, the subkey spelled as above); `undefined`: no part. */
export function partOf(id: string): { key: string; subkey: string } | undefined {
  const at = id.lastIndexOf(':');
  if (at <= 0 || at === id.length - 1) return undefined;
  const rest = id.slice(at + 1);
  const subkey = rest.replace(/%(25|3A)/g, (m) => (m === '%25' ? '%' : ':'));
  return escapeSubkey(subkey) === rest ? { key: id.slice(0, at), subkey } : undefined;
}
