/** Shared scaffolding of the listener and lifecycle tests. */
import type { FeatClientOptions } from '@feat/sdk';
import { clientIn, type useEmulator } from '../../support/backend.js';

export const modes = ['remote', 'local-first'] as const;
export type Mode = (typeof modes)[number];

/** A client counting its requests (`wire`), scheduled maintenance off, closed after the file by `emu.track`. */
export function counted(emu: ReturnType<typeof useEmulator>, user: string, mode: Mode, extra: Partial<FeatClientOptions> = {}) {
  const wire: string[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    wire.push(`${(init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()} ${url.pathname}`);
    return fetch(input, init);
  };
  return Object.assign(clientIn(emu, user, mode, { fetch: f, ...extra }), { wire });
}

/**
 * Runs `body` with the process's `uncaughtException` and `unhandledRejection` handlers replaced by recorders, for
 * `settleMs` after it; returns what escaped.
 */
export async function escaped(body: () => Promise<void>, settleMs = 300): Promise<string[]> {
  const kinds = ['uncaughtException', 'unhandledRejection'] as const;
  const saved = kinds.map((k) => process.listeners(k as 'uncaughtException') as ((...a: unknown[]) => void)[]);
  const seen: string[] = [];
  for (const k of kinds) process.removeAllListeners(k);
  const on = (k: string) => (e: unknown) => seen.push(`${k}: ${String(e)}`);
  const handlers = kinds.map((k) => on(k));
  kinds.forEach((k, i) => process.on(k, handlers[i] as never));
  try {
    await body();
    await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    kinds.forEach((k, i) => {
      process.removeAllListeners(k);
      for (const l of saved[i]!) process.on(k, l as never);
    });
  }
  return seen;
}
