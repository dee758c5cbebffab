/**
 * Listener semantics of `store.watch` and `sync.on`, as an app or a framework binding (zustand/TinyBase style) uses them:
 * unsubscribe twice / from inside, subscribe from inside, the same function twice, throwing and rejecting listeners.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError, type ChangeEvent, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../../support/backend.js';
import { counted, escaped, modes } from './helpers.js';

const emu = useEmulator();

describe.each(modes)('watch listener semantics: %s', (mode) => {
  it('unsubscribe twice is harmless; unsubscribing the last watch and watching again still reports', async () => {
    const c = counted(emu, uniqueUser('w2'), mode);
    await c.ready();
    const a: unknown[] = [];
    const offA = c.store.watch('k', (e) => a.push(e.value));
    offA();
    expect(() => offA()).not.toThrow();
    const b: unknown[] = [];
    const offB = c.store.watch('k', (e) => b.push(e.value));
    await c.store.set('k', 1);
    await waitFor(() => b.length === 1, 10_000, 'the second watch');
    await sleep(200);
    expect(a).toEqual([]);
    offB();
    offB();
    await c.store.set('k', 2);
    await sleep(300);
    expect(b).toEqual([1]);
  });

  it('unsubscribing itself inside the callback: no further event; unsubscribing another one during the same emit', async () => {
    const c = counted(emu, uniqueUser('w3'), mode);
    await c.ready();
    const self: unknown[] = [];
    const other: unknown[] = [];
    const third: unknown[] = [];
    const offSelf: () => void = c.store.watch('k', (e) => {
      self.push(e.value);
      offSelf();
      offOther();
    });
    const offOther = c.store.watch('k', (e) => other.push(e.value));
    const offThird = c.store.watch('k', (e) => third.push(e.value));
    await c.store.set('k', 1);
    await c.store.set('k', 2);
    await waitFor(() => third.length === 2, 10_000, 'both events in the third watch');
    await sleep(200);
    expect(self).toEqual([1]);
    // Not documented either way; record what it does (a Set-snapshot emitter would still deliver 1 here).
    expect(other.includes(2)).toBe(false);
    offThird();
  });

  it('subscribing from inside a callback: the new watch gets later changes, never an earlier one', async () => {
    const c = counted(emu, uniqueUser('w4'), mode);
    await c.ready();
    const inner: unknown[] = [];
    let made = false;
    const off = c.store.watch('k', () => {
      if (made) return;
      made = true;
      c.store.watch('k', (e) => inner.push(e.value));
    });
    await c.store.set('k', 1);
    await waitFor(() => made, 10_000, 'the first event');
    await c.store.set('k', 2);
    await waitFor(() => inner.includes(2), 10_000, 'the inner watch to see 2');
    expect(inner).toEqual([2]);
    off();
  });

  it('the same function watched twice is called twice, and each unsubscribe removes one', async () => {
    const c = counted(emu, uniqueUser('w5'), mode);
    await c.ready();
    const got: unknown[] = [];
    const f = (e: ChangeEvent) => got.push(e.value);
    const off1 = c.store.watch('k', f);
    const off2 = c.store.watch('k', f);
    await c.store.set('k', 1);
    await waitFor(() => got.length >= 2, 10_000, 'two calls');
    off1();
    await c.store.set('k', 2);
    await waitFor(() => got.includes(2), 10_000, 'the event of the remaining subscription');
    await sleep(200);
    expect(got).toEqual([1, 1, 2]);
    off2();
  });

  it('a throwing watch listener: the others still hear it, the write resolves, the error goes to `error`, nothing escapes', async () => {
    const c = counted(emu, uniqueUser('w6'), mode);
    await c.ready();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const good: unknown[] = [];
    const seen = await escaped(async () => {
      c.store.watch('k', () => {
        throw new TypeError('listener bug');
      });
      c.store.watch('k', (e) => good.push(e.value));
      await c.store.set('k', 1);
      await c.store.set('k', 2);
      await waitFor(() => good.length === 2, 10_000, 'the good listener');
      await waitFor(() => errors.length >= 2, 10_000, 'the error events');
    });
    expect(seen).toEqual([]);
    expect(good).toEqual([1, 2]);
    expect(errors.every((e) => isFeatError(e))).toBe(true);
    expect(errors[0]!.message).toMatch(/listener bug/);
    // Sync goes on: the value reaches the server.
    await c.sync.waitForPush({ timeout: 10_000 });
  });

  it('an async watch listener that rejects: nothing escapes to the process (README: "nothing escapes")', async () => {
    const c = counted(emu, uniqueUser('w7'), mode);
    await c.ready();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    let called = 0;
    const seen = await escaped(async () => {
      c.store.watch('k', async () => {
        called++;
        await Promise.resolve();
        throw new Error('async listener bug');
      });
      await c.store.set('k', 1);
      await waitFor(() => called === 1, 10_000, 'the listener');
    });
    expect(seen).toEqual([]);
  });
});

describe.each(modes)('sync.on listener semantics: %s', (mode) => {
  it('unsubscribe twice, and unsubscribe itself inside the callback', async () => {
    const c = counted(emu, uniqueUser('s1'), mode);
    const statuses: string[] = [];
    const off = c.sync.on('status', (s) => {
      statuses.push(s);
      off();
    });
    await c.ready();
    c.sync.pause();
    c.sync.resume();
    await sleep(200);
    expect(statuses.length).toBe(1);
    expect(() => off()).not.toThrow();
  });

  it('the same function subscribed twice to sync.on: off() of one subscription keeps the other', async () => {
    const c = counted(emu, uniqueUser('s2'), mode);
    await c.ready();
    const errs: string[] = [];
    const f = (e: FeatError) => errs.push(e.message);
    const off1 = c.sync.on('error', f);
    const off2 = c.sync.on('error', f);
    // A throwing watch listener is the easiest background error to make.
    c.store.watch('k', () => {
      throw new Error('boom1');
    });
    await c.store.set('k', 1);
    await waitFor(() => errs.length > 0, 10_000, 'the error');
    await sleep(200);
    const afterFirst = errs.length;
    off1();
    await c.store.set('k', 2);
    await sleep(1_000);
    // zustand/TinyBase/Node EventEmitter: the second subscription still holds after the first's unsubscribe.
    expect(errs.length - afterFirst).toBeGreaterThan(0);
    off2();
  });

  it('an `error` listener that throws: nothing escapes to the process, the other `error` listeners still hear it', async () => {
    const c = counted(emu, uniqueUser('s3'), mode);
    await c.ready();
    const other: string[] = [];
    const seen = await escaped(async () => {
      c.sync.on('error', () => {
        throw new Error('error-listener bug');
      });
      c.sync.on('error', (e) => other.push(e.message));
      c.store.watch('k', () => {
        throw new Error('watch listener bug');
      });
      await c.store.set('k', 1);
      await waitFor(() => other.length > 0, 10_000, 'the other error listener');
    });
    expect(other[0]).toMatch(/watch listener bug/);
    expect(seen).toEqual([]);
  });

  it('a throwing `status` listener: the others hear it, and it is reported as an `error` event', async () => {
    const c = counted(emu, uniqueUser('s4'), mode);
    const statuses: string[] = [];
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const seen = await escaped(async () => {
      c.sync.on('status', () => {
        throw new Error('status listener bug');
      });
      c.sync.on('status', (s) => statuses.push(s));
      await c.ready();
      await c.store.set('x', 1);
      await c.sync.waitForPush({ timeout: 10_000 });
    });
    expect(seen).toEqual([]);
    expect(statuses.length).toBeGreaterThan(0);
    expect(errors.some((e) => /status listener bug/.test(e.message))).toBe(true);
  });

  it('an async `status` listener that rejects: nothing escapes to the process', async () => {
    const c = counted(emu, uniqueUser('s5'), mode);
    const seen = await escaped(async () => {
      const off = c.sync.on('status', async () => {
        await Promise.resolve();
        throw new Error('async status listener bug');
      });
      await c.ready();
      await sleep(100);
      off();
    });
    expect(seen).toEqual([]);
  });

  it("a watch listener's own error is reported with a code that says so, not as the server's or the network's", async () => {
    const c = counted(emu, uniqueUser('s7'), mode);
    await c.ready();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const thrown = [
      new Error('WebSocket is closed'), // an app's own socket code
      Object.assign(new Error('Request failed with status code 401'), { status: 401 }), // an app's own HTTP client (axios-like)
      new TypeError("Cannot read properties of undefined (reading 'title')"),
    ];
    let i = 0;
    c.store.watch({ prefix: 'k' }, () => {
      throw thrown[i++];
    });
    for (let n = 0; n < thrown.length; n++) await c.store.set(`k${n}`, n);
    await waitFor(() => errors.length === thrown.length, 10_000, 'the error events');
    const codes = errors.map((e) => e.code);
    // None of them is the server's (`bad_response`, `unauthorized`) nor the network's: `listener`, its error the cause.
    expect(codes).toEqual(['listener', 'listener', 'listener']);
    expect(errors.map((e) => e.cause)).toEqual(thrown);
  });

  it('a watch listener whose error message mentions a socket, with no `error` listener: logged (README: never swallowed)', async () => {
    const c = counted(emu, uniqueUser('s8'), mode);
    await c.ready();
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warned.push(a.map(String).join(' '));
    try {
      let called = false;
      c.store.watch('k', () => {
        called = true;
        throw new Error('WebSocket is closed');
      });
      await c.store.set('k', 1);
      await waitFor(() => called, 10_000, 'the listener');
      await sleep(200);
    } finally {
      console.warn = warn;
    }
    expect(warned.some((w) => /WebSocket is closed/.test(w))).toBe(true);
  });

  it('sync.on with an unknown event or a non-function: invalid_argument, synchronously', () => {
    const c = counted(emu, uniqueUser('s6'), mode);
    for (const bad of [() => c.sync.on('nope' as never, () => undefined), () => c.sync.on('status', 5 as never)]) {
      let error: unknown;
      try {
        bad();
      } catch (e) {
        error = e;
      }
      expect(isFeatError(error, 'invalid_argument')).toBe(true);
    }
  });
});

describe('a listener that throws something whose text cannot be read', () => {
  it('is reported as `listener` all the same, nothing escapes', async () => {
    const c = counted(emu, uniqueUser('s9'), 'remote');
    await c.ready();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const hostile = new Proxy({}, { get: () => { throw new Error('no reading me'); }, getPrototypeOf: () => { throw new Error('no'); } });
    const seen = await escaped(async () => {
      c.store.watch('k', () => {
        throw hostile;
      });
      await c.store.set('k', 1);
      await waitFor(() => errors.length > 0, 10_000, 'the error event');
    });
    expect(seen).toEqual([]);
    expect(errors[0]).toMatchObject({ code: 'listener' });
    expect(errors[0]!.cause).toBe(hostile);
  });
});
