/**
 * storage.flush() sends a failed write again. When the app wrote the key again meanwhile (a newer value, or a
 * removal, still on its way), the resend must not land over it: last write wins, never an older value resurrected.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { expectCode, sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy, type FaultRequest } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions));
const isWrite = (r: FaultRequest) => r.method === 'PUT' || r.method === 'DELETE' || /_bulk_docs$/.test(r.path);

const P = JSON.stringify({ version: -1, rehydrated: true });
const state = (a: string) => JSON.stringify({ a: JSON.stringify(a), _persist: P });

/**
 * A write of `key` fails; then flush() is asked while another write (started before it) is slow, and the app writes
 * `key` again (`next`) just after: that write is still on its way when flush() sends the failed one again.
 */
async function scenario(user: string, next: (storage: ReturnType<typeof createPersistStorage>) => Promise<void>, fail: (storage: ReturnType<typeof createPersistStorage>) => Promise<void>) {
  proxy.clear();
  const c = client(user, { couchUrl: proxy.url, requestTimeout: 3_000 });
  const storage = createPersistStorage(c.store);
  await storage.setItem('plain', 'v1');
  await storage.setItem('persist:root', state('v1'));
  const off = proxy.fault(isWrite, 'reset');
  await fail(storage);
  off();
  // The write flush() waits for (started before it), then the app's newer write, slower.
  proxy.fault(isWrite, 'delay', { delayMs: 400, times: 1 });
  proxy.fault(isWrite, 'delay', { delayMs: 1_500, times: 1 });
  const other = storage.setItem('other', 'x');
  const flushed = storage.flush().then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`);
  await sleep(60);
  const newer = next(storage);
  await other;
  await newer;
  await flushed;
  await storage.flush();
  proxy.clear();
  return c;
}

describe('flush() resending a failed write does not land over a newer write of the app', () => {
  it('plain key: v2 failed, the app wrote v3 (on its way while flush() resends): v3 stays stored', async () => {
    const user = uniqueUser('fx2-plain');
    await scenario(
      user,
      (s) => s.setItem('plain', 'v3'),
      async (s) => void (await expectCode(s.setItem('plain', 'v2'), 'network')),
    );
    const reader = client(user);
    expect(await reader.store.getItem('plain')).toBe('v3');
  }, 30_000);

  it('plain key: v2 failed, the app removed the key (on its way while flush() resends): it stays removed', async () => {
    const user = uniqueUser('fx2-plainrm');
    await scenario(
      user,
      (s) => s.removeItem('plain'),
      async (s) => void (await expectCode(s.setItem('plain', 'v2'), 'network')),
    );
    const reader = client(user);
    expect(await reader.store.getItem('plain')).toBe(null);
  }, 30_000);

  it('persist slice: a=v2 failed, the app wrote a=v3 (on its way while flush() resends): v3 stays stored', async () => {
    const user = uniqueUser('fx2-slice');
    await scenario(
      user,
      (s) => s.setItem('persist:root', state('v3')),
      async (s) => void (await s.setItem('persist:root', state('v2')).catch(() => undefined)),
    );
    const reader = client(user);
    expect(await createPersistStorage(reader.store).getItem('persist:root')).toBe(state('v3'));
  }, 30_000);
});
