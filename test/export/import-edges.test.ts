/**
 * Import edges: how a failing or stalled source is reported (the import's own abort → `aborted`, a FeatError keeps its
 * code, anything else → `invalid_argument`), an abort while the source stalls, the requests a page of defaults opens
 * at once, and a default that lost to a value stored between the import's read and its write (counted `skipped`).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, FeatError, isFeatError, type FeatClient, type FeatClientOptions, type ProgressEvent } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      maintenance: { enabled: false },
      ...extra,
    } as FeatClientOptions),
  );
}

const HEADER = (n: number) =>
  JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys: n, parts: 0 } });
const line = (key: string, value: unknown, extra: object = {}) => JSON.stringify({ key, value, ...extra });
/** The settled outcome, without waiting past `ms`. */
const outcome = (p: Promise<unknown>, ms = 3_000) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((resolve) => setTimeout(resolve, ms, 'still pending')),
  ]);

describe('a failing source', () => {
  it('fails because the import was aborted (its read tied to the same signal): aborted, with what was written', async () => {
    const c = client(uniqueUser('ie-ab'));
    await c.ready();
    const ac = new AbortController();
    async function* source() {
      yield HEADER(101);
      for (let i = 0; i < 100; i++) yield line(`k${i}`, i);
      // The next chunk of a stream read with the import's signal: it fails with the signal's AbortError.
      await new Promise((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }));
      yield line('k100', 100);
    }
    // Aborted once the first page (100 keys) is written, when the source waits for its next chunk: the pages are read
    // one after the other, and a timer runs after the microtasks that take the import to that read.
    const onProgress = (e: ProgressEvent) => void (e.phase === 'write' && e.done === 100 && setTimeout(() => ac.abort(), 0));
    const p = c.importData(source(), { signal: ac.signal, onProgress });
    const error = await expectCode(p, 'aborted');
    expect(error.message).toMatch(/^The import was aborted; 100 key\(s\) were written before it/);
    // As for an import aborted before it began: the cause is the signal's reason.
    expect(error.cause).toBe(ac.signal.reason);
  });

  it('throws a FeatError (another client’s export failing): its code is kept, with what was written', async () => {
    const c = client(uniqueUser('ie-fe'));
    await c.ready();
    async function* source() {
      yield HEADER(101);
      for (let i = 0; i < 100; i++) yield line(`k${i}`, i);
      throw new FeatError('timeout', 'The server did not answer in time');
    }
    const error = await expectCode(c.importData(source()), 'timeout');
    expect(error.message).toBe('The import source failed: The server did not answer in time; 100 key(s) were written before it (running the same import again is safe)');
    expect((error.cause as FeatError).code).toBe('timeout');

    async function* early() {
      yield HEADER(1);
      throw new FeatError('network', 'The server could not be reached');
    }
    const e2 = await expectCode(c.importData(early()), 'network');
    expect(e2.message).toMatch(/^The import source failed: The server could not be reached; nothing was written/);
  });

  it('throws something else: invalid_argument "The import source failed", its error as the cause', async () => {
    const c = client(uniqueUser('ie-x'));
    await c.ready();
    const cause = new Error('disk read failed');
    async function* source() {
      yield HEADER(2);
      throw cause;
    }
    const error = await expectCode(c.importData(source(), { signal: new AbortController().signal }), 'invalid_argument');
    expect(error.message).toBe('The import source failed: disk read failed');
    expect(error.cause).toBe(cause);
  });

  it('a bad line closes the source (its return() is called) before the import rejects', async () => {
    const c = client(uniqueUser('ie-bl'));
    await c.ready();
    let closed = false;
    async function* source() {
      try {
        yield HEADER(3);
        yield line('a', 1);
        yield '{not json';
        yield line('c', 3);
      } finally {
        closed = true;
      }
    }
    await expectCode(c.importData(source()), 'invalid_argument');
    expect(closed).toBe(true);
  });
});

describe('a stalled source', () => {
  it('an abort ends the import at once (aborted) and the source is told to stop (return())', async () => {
    const c = client(uniqueUser('ie-st'));
    await c.ready();
    const ac = new AbortController();
    let returned = 0;
    let n = 0;
    const items = [HEADER(2), line('a', 1)];
    // An app's stream that stops yielding: its next() never settles.
    const source: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => (n < items.length ? Promise.resolve({ value: items[n++]!, done: false }) : new Promise<IteratorResult<string>>(() => undefined)),
        return: () => {
          returned++;
          return new Promise<IteratorResult<string>>(() => undefined); // its return() hangs too: not waited for
        },
      }),
    };
    const p = c.importData(source, { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const r = await outcome(p);
    expect(isFeatError(r) && r.code).toBe('aborted');
    expect((r as FeatError).message).toMatch(/^The import was aborted; nothing was written/);
    expect(returned).toBe(1);
  });

  it('an async generator that stalls: aborted at once', async () => {
    const c = client(uniqueUser('ie-sg'));
    await c.ready();
    const ac = new AbortController();
    async function* source() {
      yield HEADER(1);
      await new Promise(() => undefined);
    }
    const p = c.importData(source(), { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const r = await outcome(p);
    expect(isFeatError(r) && r.code).toBe('aborted');
  });
});

describe('defaults (updatedAt 0)', () => {
  it('a page of 100 defaults opens a few requests at once, not 100', async () => {
    let open = 0;
    let peak = 0;
    const c = client(uniqueUser('ie-burst'), {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        peak = Math.max(peak, ++open);
        try {
          return await fetch(input, init);
        } finally {
          open--;
        }
      },
    });
    await c.ready();
    await c.store.set('d7', 'mine');
    peak = 0;
    const n = 100;
    const ndjson = [HEADER(n), ...Array.from({ length: n }, (_, i) => line(`d${i}`, i, { updatedAt: 0 }))].join('\n') + '\n';
    expect(await c.importData(ndjson)).toEqual({ imported: n - 1, skipped: 1 });
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(6);
    expect(await c.store.get('d7')).toBe('mine');
    expect(await c.store.get('d99')).toBe(99);
  }, 60_000);

  it('a value another client stores between the check and the write wins, and the default counts as skipped', async () => {
    const user = uniqueUser('ie-race');
    const other = client(user);
    let injected = false;
    const c = client(user, {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
        // The default's write: the other client's value lands first (after the import read the key as absent).
        if (!injected && method !== 'GET' && /\/(k|_bulk_docs)$/.test(url.pathname)) {
          injected = true;
          await other.store.set('k', 'real');
        }
        return fetch(input, init);
      },
    });
    await c.ready();
    await other.ready();
    const r = await c.importData([HEADER(2), line('k', 'default', { updatedAt: 0 }), line('fresh', 'default', { updatedAt: 0 })].join('\n'));
    expect(injected).toBe(true);
    expect(r).toEqual({ imported: 1, skipped: 1 });
    expect(await client(user).store.get('k')).toBe('real');
    expect(await client(user).store.get('fresh')).toBe('default');
  }, 30_000);
});
