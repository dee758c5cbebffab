/**
 * Big objects, in every storage mode: `key:subkey` parts and values larger than one document or one request body,
 * through the proxy's default 1 MiB body limit and with the limit lifted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { text, uniqueUser as uniqueName, useEmulator } from '../support/backend.js';

const limited = useEmulator();
const unlimited = useEmulator({ maxRequestBytes: 0 });
const uniqueUser = () => uniqueName('big');

const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first (memory)', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const;

describe.each(modes)('big objects: $name', ({ options }) => {
  const clients: FeatClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
  });
  function client(emu: Emulator, user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options, ...extra } as FeatClientOptions);
    clients.push(c);
    return c;
  }
  /** Request bodies the emulator received, largest first. */
  const largestBody = (emu: Emulator) => Math.max(0, ...emu.requests.filter((r) => r.service === 'couch').map((r) => r.bytesIn));

  it('20 MB in 200 parts round-trips through the 1 MiB body limit, and another device reads it', async () => {
    const user = uniqueUser();
    const a = client(limited, user);
    const parts: Record<string, string> = {};
    for (let i = 0; i < 200; i++) parts[`block-${String(i).padStart(3, '0')}`] = text(100_000, i + 1);
    limited.resetRequests();
    await a.store.setParts('article', parts);
    await a.sync.waitForPush({ timeout: 60_000 });
    expect(largestBody(limited)).toBeLessThanOrEqual(1_048_576);
    expect(limited.requests.some((r) => r.status === 413)).toBe(false);
    const b = client(limited, user);
    await b.ready();
    const read = await b.store.getParts<string>('article');
    expect(Object.keys(read)).toHaveLength(200);
    expect(read).toEqual(parts);
  }, 120_000);

  it('a 12 MB object and a 30 MB string round-trip (chunked), with every body ≤ 1 MiB', async () => {
    const user = uniqueUser();
    const a = client(limited, user);
    const object = { title: 'big', blocks: Array.from({ length: 120 }, (_, i) => ({ id: i, text: text(100_000, 1000 + i) })) };
    const string = text(30_000_000, 7);
    limited.resetRequests();
    await Promise.all([a.store.set('object', object), a.store.set('string', string)]);
    expect(await a.store.get('object')).toEqual(object);
    expect(await a.store.get('string')).toBe(string);
    expect(await a.store.keys()).toEqual(['object', 'string']);
    await a.sync.waitForPush({ timeout: 60_000 });
    expect(largestBody(limited)).toBeLessThanOrEqual(1_048_576);
    const b = client(limited, user);
    await b.ready();
    expect(await b.store.get('object')).toEqual(object);
    expect(await b.store.get('string')).toBe(string);
  }, 120_000);

  it('with the body limit lifted, a 12 MB value is split only by the 8 MB document limit', async () => {
    const user = uniqueUser();
    const a = client(unlimited, user, { maxRequestBytes: 0 });
    const value = text(12_000_000, 3);
    unlimited.resetRequests();
    // Local-first: the push then finds every chunk at once and sends them in one batch (a live push that starts while
    // they are written may send them one by one, each below 1 MiB). Remote mode has nothing to pause.
    a.sync.pause();
    await a.store.set('big', value);
    a.sync.resume();
    await a.sync.waitForPush({ timeout: 60_000 });
    expect(unlimited.requests.some((r) => r.status === 413)).toBe(false);
    expect(largestBody(unlimited)).toBeGreaterThan(1_048_576);
    const b = client(unlimited, user, { maxRequestBytes: 0 });
    await b.ready();
    expect(await b.store.get('big')).toBe(value);
  }, 120_000);

  it('changing one block of a big value re-sends only the chunks around it', async () => {
    let sent = 0;
    const counting: typeof fetch = (input, init) => {
      if (typeof init?.body === 'string') sent += Buffer.byteLength(init.body);
      return fetch(input, init);
    };
    const user = uniqueUser();
    const a = client(limited, user, { fetch: counting });
    const original = text(6_000_000, 11);
    await a.store.set('doc', original);
    await a.sync.waitForPush({ timeout: 60_000 });
    sent = 0;
    const edited = original.slice(0, 3_000_000) + 'AN INSERTED SENTENCE.' + original.slice(3_000_000);
    await a.store.set('doc', edited);
    await a.sync.waitForPush({ timeout: 60_000 });
    expect(sent).toBeLessThan(2_500_000);
    expect(await a.store.get('doc')).toBe(edited);
  }, 120_000);

  it('garbage-collects chunks no value refers to, and keeps the referenced ones', async () => {
    const user = uniqueUser();
    const a = client(limited, user);
    const kept = text(2_500_000, 21);
    await a.store.set('kept', kept);
    await a.store.set('replaced', text(2_500_000, 22));
    await a.store.set('replaced', 'small now');
    const first = await (a.store as unknown as { collectGarbage(o: object): Promise<{ deleted: number; kept: number }> }).collectGarbage({ graceMs: 0 });
    expect(first.deleted).toBeGreaterThan(0);
    const second = await (a.store as unknown as { collectGarbage(o: object): Promise<{ deleted: number; kept: number }> }).collectGarbage({ graceMs: 0 });
    expect(second.deleted).toBe(0);
    expect(second.kept).toBe(first.kept);
    expect(await a.store.get('kept')).toBe(kept);
    expect(await a.store.get('replaced')).toBe('small now');
  }, 60_000);

  it('a part too big for one document is chunked like a value; a bad subkey is refused', async () => {
    const user = uniqueUser();
    const a = client(limited, user);
    const big = text(3_000_000, 31);
    await a.store.setParts('mixed', { small: 1, big });
    expect(await a.store.getParts('mixed')).toEqual({ small: 1, big });
    const error = await a.store.setParts('mixed', { ['\ud800']: 1 }).catch((e: unknown) => e);
    expect(isFeatError(error, 'invalid_key')).toBe(true);
  }, 60_000);
});

describe('a reader never sees a torn value', () => {
  it('another device reading while the chunks of a new value arrive sees the old or the new value, whole', async () => {
    const user = uniqueUser();
    const mk = () =>
      createFeatClient({ couchUrl: limited.couchUrl, accountsUrl: limited.accountsUrl, auth: limited.bearerFor(user), local: { adapter: 'memory' } });
    const a = mk();
    const b = mk();
    try {
      const v1 = text(4_000_000, 41);
      const v2 = text(4_000_000, 42);
      await a.store.set('doc', v1);
      await a.sync.waitForPush({ timeout: 60_000 });
      await b.ready();
      expect(await b.store.get('doc')).toBe(v1);
      await a.store.set('doc', v2);
      const deadline = Date.now() + 60_000;
      let reads = 0;
      for (;;) {
        const value = await b.store.get<string>('doc');
        reads++;
        expect(value === v1 || value === v2).toBe(true);
        if (value === v2 || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await b.store.get('doc')).toBe(v2);
      expect(reads).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 120_000);
});
