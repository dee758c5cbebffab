/**
 * Shared test scaffolding: one emulator per test file (started before, stopped after), the clients a file creates
 * (closed after), unique user names, polling waits and deterministic test data.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { startEmulator, type Emulator, type EmulatorOptions } from '@feat/emulator';

/**
 * Starts an emulator for the current test file. Returns a stand-in that forwards to it once started, so files can keep
 * a top-level `emu`; clients passed to `track` are closed before the emulator stops.
 */
export function useEmulator(options: EmulatorOptions = {}): Emulator & { track<C extends FeatClient>(client: C): C } {
  let real: Emulator | undefined;
  const clients: FeatClient[] = [];
  beforeAll(async () => {
    real = await startEmulator({ port: 0, ...options });
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await real?.stop();
  });
  const track = <C extends FeatClient>(client: C): C => {
    clients.push(client);
    return client;
  };
  return new Proxy({} as Emulator & { track: typeof track }, {
    get(_, property) {
      if (property === 'track') return track;
      if (!real) throw new Error('The emulator is not started yet (use it inside tests or hooks)');
      const value = (real as unknown as Record<PropertyKey, unknown>)[property];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
  });
}

let counter = 0;
/** A user name no other test uses (the emulator keeps every user's database for its lifetime). */
export const uniqueUser = (prefix = 'user') => `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `predicate` until it holds; fails with `what` after `timeout` ms. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeout = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Expects `promise` to reject with a FeatError of `code`; returns it. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<FeatError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFeatError(error), `expected a FeatError with code ${code}, got ${String(error)}`).toBe(true);
  expect((error as FeatError).code).toBe(code);
  return error as FeatError;
}

/** Deterministic text of about `bytes` UTF-8 bytes, with multi-byte characters and JSON escapes. */
const ALPHABET = Array.from('abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,"\\é中😀\n');
const SIZES = ALPHABET.map((ch) => new TextEncoder().encode(ch).length);

export function text(bytes: number, seed = 1): string {
  let x = seed;
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const i = x % ALPHABET.length;
    out.push(ALPHABET[i]!);
    n += SIZES[i]!;
  }
  return out.join('');
}

/**
 * A client of `emu` for `user`: remote, or local-first on a memory replica; scheduled maintenance off; `extra` on top;
 * closed after the file.
 */
export function clientIn(emu: ReturnType<typeof useEmulator>, user: string, mode: 'remote' | 'local-first', extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}),
      maintenance: { enabled: false },
      ...extra,
    } as FeatClientOptions),
  );
}

/** What the server holds for `key` of `user` (a remote-mode client of its own, closed after). */
export async function valueOnServer(emu: Emulator, user: string, key: string): Promise<unknown> {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  try {
    return await c.store.get(key);
  } finally {
    await c.close();
  }
}
