/**
 * A `watch` or `watchQuery` listener that throws (an app bug): as for `sync.on` listeners, the throw is an `error`
 * event and the other listeners still hear every change. It escaped as an uncaught exception, which ends a Node process.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const options = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  apiUrl: emu.apiUrl,
  auth: emu.bearerFor(user),
  local: { adapter: 'memory' },
  ...extra,
});

function catchUncaught() {
  const seen: unknown[] = [];
  const on = (e: unknown) => seen.push(e);
  process.on('uncaughtException', on);
  process.on('unhandledRejection', on);
  return { seen, off: () => (process.off('uncaughtException', on), process.off('unhandledRejection', on)) };
}

describe.each(['remote', 'local-first'] as const)('a watch listener that throws (%s)', (mode) => {
  it('a watch listener that throws: the other listeners still get every event; the error reaches the error event rather than uncaughtException', async () => {
    const c = emu.track(createFeatClient(options(uniqueUser('throw'), { mode })));
    await c.ready();
    const errors: unknown[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const u = catchUncaught();
    const got: unknown[] = [];
    try {
      c.store.watch('k', () => {
        throw new Error('listener bug');
      });
      c.store.watch('k', (e) => got.push(e.value));
      await c.store.set('k', 1);
      await c.store.set('k', 2);
      await waitFor(() => got.length >= 2, 10_000, 'both events');
      await sleep(100);
    } finally {
      u.off();
    }
    expect(got).toEqual([1, 2]);
    expect({ uncaught: u.seen.map(String), errorEvents: errors.length }).toEqual({ uncaught: [], errorEvents: 2 });
    await c.close();
  });
});

describe('a watchQuery listener that throws', () => {
  it.each(['remote', 'local-first'] as const)('%s: an error event per throw, never uncaught', async (mode) => {
    const c = emu.track(createFeatClient(options(uniqueUser('wq-throw'), { mode })));
    await c.ready();
    const errors: unknown[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const onError: unknown[] = [];
    const u = catchUncaught();
    let calls = 0;
    try {
      c.store.watchQuery({ prefix: 'k' }, () => {
        calls++;
        throw new Error('query listener bug');
      }, { onError: (e) => onError.push(e) });
      await c.store.set('k', 1);
      await waitFor(() => calls >= 1, 10_000, 'a result set');
      await c.store.set('k2', 2);
      await sleep(1_000);
      await sleep(100);
    } finally {
      u.off();
    }
    expect({ uncaught: u.seen.map(String), calls, errorEvents: errors.length + onError.length }).toEqual({ uncaught: [], calls, errorEvents: calls });
    await c.close();
  });
});
