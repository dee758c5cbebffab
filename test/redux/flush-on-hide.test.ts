/** flushOnHide with a fake EventTarget: flushes on pagehide and on visibilitychange to hidden, in order. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import { createPersistStorage, flushOnHide } from '@feat/sdk/redux';
import { makeClient, persistedApp, uniqueUser, waitFor, type Emulator } from './helpers.js';

class FakePage extends EventTarget {
  visibilityState: 'visible' | 'hidden' = 'visible';
  hide(how: 'pagehide' | 'visibilitychange') {
    if (how === 'visibilitychange') this.visibilityState = 'hidden';
    this.dispatchEvent(new Event(how));
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('flushOnHide', () => {
  it('flushes every flushable, in order, on pagehide and on visibilitychange to hidden', async () => {
    const page = new FakePage();
    const calls: string[] = [];
    const flushable = (name: string) => ({
      flush: async () => {
        calls.push(`${name}:start`);
        await tick();
        calls.push(`${name}:end`);
      },
    });
    const stop = flushOnHide([flushable('persistor'), flushable('storage')], { target: page });
    page.dispatchEvent(new Event('visibilitychange')); // still visible: nothing
    await tick();
    expect(calls).toEqual([]);
    page.hide('pagehide');
    await waitFor(() => calls.length === 4);
    expect(calls).toEqual(['persistor:start', 'persistor:end', 'storage:start', 'storage:end']);
    calls.length = 0;
    page.hide('visibilitychange');
    await waitFor(() => calls.length === 4);
    expect(calls).toEqual(['persistor:start', 'persistor:end', 'storage:start', 'storage:end']);
    calls.length = 0;
    stop();
    page.hide('pagehide');
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([]);
  });

  it('reports a failed flush to onError and goes on with the next', async () => {
    const page = new FakePage();
    const errors: unknown[] = [];
    let flushed = false;
    flushOnHide(
      [{ flush: () => Promise.reject(new Error('boom')) }, { flush: () => void (flushed = true) }],
      { target: page, onError: (e) => errors.push(e) },
    );
    page.hide('pagehide');
    await waitFor(() => flushed);
    expect(errors).toEqual([new Error('boom')]);
    expect(flushed).toBe(true);
  });

  it('validates; does nothing outside a browser without a target', () => {
    expect(() => flushOnHide({} as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
    expect(() => flushOnHide([] as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
    expect(() => flushOnHide({ flush: () => undefined }, { target: {} as never })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => flushOnHide({ flush: () => undefined }, { onError: 1 as never, target: new FakePage() })).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }),
    );
    const stop = flushOnHide({ flush: () => undefined });
    expect(typeof stop).toBe('function');
    stop();
  });

  describe('with redux-persist and the engine', () => {
    let emu: Emulator;
    beforeAll(async () => {
      emu = await startEmulator({ port: 0 });
    });
    afterAll(async () => {
      await emu?.stop();
    });

    it('a throttled change is on the server once the hide flush resolves', async () => {
      const user = uniqueUser();
      const client = makeClient(emu, user, { mode: 'remote' });
      const storage = createPersistStorage(client.store);
      // A long throttle: without the flush, the change would sit in redux-persist's queue.
      const app = await persistedApp(storage, { throttle: 60_000 });
      const page = new FakePage();
      const done: Promise<void>[] = [];
      const persistor = { flush: () => { const p = app.persistor.flush().then(() => undefined); done.push(p); return p; } };
      flushOnHide([persistor, storage], { target: page });
      app.store.dispatch({ type: 'set', slice: 'b', text: 'typed just before closing' });
      page.hide('pagehide');
      await new Promise((r) => setTimeout(r, 0));
      await Promise.all(done);
      await storage.flush();
      const other = makeClient(emu, user, { mode: 'remote' });
      expect(await other.store.get('persist:root:b')).toEqual({ text: 'typed just before closing' });
      await Promise.all([client.close(), other.close()]);
    });
  });
});
