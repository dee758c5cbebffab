// @vitest-environment jsdom
/**
 * `@feat/sdk/react` against the emulator: the fixes of a black-box attack on the hooks — a hook's own write racing
 * another device's, a write made just before unmount, a functional update while loading, a failed first read (keys,
 * parts, queries), what the hooks keep after unmount, and keys the store refuses.
 */
import { Activity, Component, createElement as h, type ReactNode } from 'react';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { useKeys, useParts, useQuery, useValue, type ValueState } from '@feat/sdk/react';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { inAct, mount, until } from './harness.js';

const emu = useEmulator();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }),
  );
}

async function proxied(user: string, extra: Partial<FeatClientOptions> = {}): Promise<{ c: FeatClient; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(emu.couchUrl);
  proxies.push(proxy);
  return { c: client(user, { couchUrl: proxy.url, ...extra }), proxy };
}

function Value({ k, out }: { k: string; out?: { state?: ValueState<unknown> } }) {
  const state = useValue(k);
  if (out) out.state = state;
  return h('p', { 'data-testid': 'v' }, `${state.status}:${JSON.stringify(state.value) ?? '-'}`);
}

class Boundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state = { error: undefined as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override render() {
    return this.state.error ? h('p', { 'data-testid': 'v' }, `thrown:${(this.state.error as { code?: string }).code ?? String(this.state.error)}`) : this.props.children;
  }
}

describe('useValue: its own write racing another device', () => {
  for (const mode of ['local-first', 'remote'] as const) {
    it(`${mode}: a write made as another device's value arrives shows the hook's own (stored) value, not the older one`, async () => {
      const user = uniqueUser('fix-race');
      const a = client(user, { mode });
      const b = client(user, { mode: 'remote' });
      await inAct(() => b.store.set('k', 'v0'));
      await inAct(() => a.ready());
      await inAct(() => waitFor(async () => (await a.store.get('k')) === 'v0', 10_000, 'a has v0'));
      const out: { state?: ValueState<unknown> } = {};
      let write: Promise<void> | undefined;
      // The user types exactly when the other device's change reaches this client (an app's own watch sees it first).
      const off = a.store.watch('k', (e) => {
        if (!write && e.origin === 'remote' && e.value === 'from-b') write = out.state!.set('from-a');
      });
      const view = await mount(a, h(Value, { k: 'k', out }));
      await until(() => view.text('v') === 'ready:"v0"', () => `loaded (shown ${view.text('v')})`);
      await inAct(() => b.store.set('k', 'from-b'));
      await until(() => write !== undefined, "the other device's change to arrive", 15_000);
      await inAct(() => write);
      await until(() => view.text('v') === 'ready:"from-a"', () => `its own value (shown ${view.text('v')})`, 5_000);
      await inAct(() => sleep(1000));
      expect({ stored: await inAct(() => a.store.get('k')), shown: view.text('v') }).toEqual({ stored: 'from-a', shown: 'ready:"from-a"' });
      off();
      await view.unmount();
    }, 30_000);
  }
});

describe('useValue after a write made just before unmount', () => {
  for (const writer of ['this client (store.set)', 'another device'] as const) {
    it(`the value changed meanwhile by ${writer}: the remounted hook shows the stored value`, async () => {
      const user = uniqueUser('fix-remount');
      const a = client(user);
      const b = client(user, { mode: 'remote' });
      await inAct(() => a.store.set('k', 'v0'));
      const out: { state?: ValueState<unknown> } = {};
      const view = await mount(a, h(Value, { k: 'k', out }));
      await until(() => view.text('v') === 'ready:"v0"', 'loaded');
      let write!: Promise<void>;
      // The hook writes and the component goes away at once (a form submitted, then closed).
      await view.rerender(h('p', null, 'away'));
      await inAct(() => {
        write = out.state!.set('x');
      });
      await inAct(() => write);
      if (writer === 'another device') {
        await inAct(() => a.sync.waitForPush({ timeout: 10_000 }));
        await inAct(() => waitFor(async () => (await b.store.get('k')) === 'x', 10_000, 'b sees x'));
        await inAct(() => b.store.set('k', 'z'));
        await inAct(() => waitFor(async () => (await a.store.get('k')) === 'z', 15_000, 'a pulls z'));
      } else {
        await inAct(() => a.store.set('k', 'z'));
      }
      await view.rerender(h(Value, { k: 'k', out }));
      await until(() => view.text('v') === 'ready:"z"', () => `the stored value (shown ${view.text('v')})`, 5_000);
      await inAct(() => sleep(500));
      expect({ stored: await inAct(() => a.store.get('k')), shown: view.text('v') }).toEqual({ stored: 'z', shown: 'ready:"z"' });
      await view.unmount();
    }, 40_000);
  }

  it('hidden by <Activity> right after its write (its subscription stops and starts again): it shows the stored value', async () => {
    const a = client(uniqueUser('fix-activity'));
    await inAct(() => a.store.set('k', 'v0'));
    const out: { state?: ValueState<unknown> } = {};
    const shown = (mode: 'visible' | 'hidden') => h(Activity, { mode, children: h(Value, { k: 'k', out }) });
    const view = await mount(a, shown('visible'));
    await until(() => view.text('v') === 'ready:"v0"', 'loaded');
    // Hidden (its subscription stops, the component and its source stay), then its setter writes.
    await view.rerender(shown('hidden'));
    await inAct(() => out.state!.set('x'));
    await inAct(() => a.store.set('k', 'z'));
    await inAct(() => sleep(300));
    await view.rerender(shown('visible'));
    await until(() => view.text('v') === 'ready:"z"', () => `the stored value (shown ${view.text('v')})`, 5_000);
    await inAct(() => sleep(500));
    expect(view.text('v')).toBe('ready:"z"');
    await view.unmount();
  }, 30_000);
});

it('useValue: a functional update made while the value loads is applied to the stored value', async () => {
  const user = uniqueUser('fix-fn');
  const { c: a, proxy } = await proxied(user, { mode: 'remote' });
  const b = client(user, { mode: 'remote' });
  await inAct(() => b.store.set('counter', 41));
  await inAct(() => a.ready());
  // The current read is slow.
  proxy.fault((r) => r.method !== 'PUT' && /_all_docs|_bulk_get/.test(r.path), 'delay', { delayMs: 800, times: 2 });
  const out: { state?: ValueState<number> } = {};
  const view = await mount(a, h(Value, { k: 'counter', out: out as { state?: ValueState<unknown> } }));
  expect(view.text('v')).toBe('loading:-');
  // Twice, as React's setState(n => n + 1) would be.
  const writes = [out.state!.set((n) => (n ?? 0) + 1), out.state!.set((n) => (n ?? 0) + 1)];
  await inAct(() => Promise.all(writes));
  await until(() => view.text('v') === 'ready:43', () => `43 (shown ${view.text('v')})`);
  expect(await inAct(() => a.store.get('counter'))).toBe(43);
  await view.unmount();
}, 30_000);

describe('a failed first read (remote mode)', () => {
  it('useKeys and useParts: an error, then, once the read is retried, every key — never ready with a part of them', async () => {
    const user = uniqueUser('fix-keys');
    const { c: a, proxy } = await proxied(user, { mode: 'remote' });
    const b = client(user, { mode: 'remote' });
    await inAct(() => Promise.all([b.store.set('list:a', 1), b.store.set('list:b', 2), b.store.set('list:c', 3)]));
    await inAct(() => a.ready());
    // The read of the current keys is cut (a network flap right at mount); everything else passes.
    proxy.fault((r) => /_all_docs/.test(r.path), 'reset', { times: 10 });
    const seen: string[] = [];
    function Keys() {
      const keys = useKeys('list:');
      const parts = useParts('list');
      const text = `${keys.status}:${keys.value.join(',')}|${parts.status}:${Object.keys(parts.value).join(',')}`;
      seen.push(text);
      return h('p', { 'data-testid': 'v' }, text);
    }
    const view = await mount(a, h(Keys));
    await until(() => view.text('v')!.startsWith('error'), () => `an error first (shown ${view.text('v')})`, 15_000);
    // A change while the read fails: it waits for the current values.
    await inAct(() => b.store.set('list:d', 4));
    await inAct(() => sleep(1000));
    proxy.clear();
    // No other change: the read is retried on its own.
    const all = 'ready:list:a,list:b,list:c,list:d|ready:a,b,c,d';
    await until(() => view.text('v') === all, () => `every key (shown ${view.text('v')})`, 15_000);
    // Whatever each hook showed ready held the keys stored before the mount.
    const partial = seen.flatMap((s) => s.split('|')).filter((s) => s.startsWith('ready') && !/^ready:(list:)?a,(list:)?b,(list:)?c(,|$)/.test(s));
    expect(partial).toEqual([]);
    await view.unmount();
  }, 40_000);

  it('watch { current: true }: a failed read goes to onError and is tried again; the current values come whole and first', async () => {
    const user = uniqueUser('fix-watch');
    const { c: a, proxy } = await proxied(user, { mode: 'remote' });
    const b = client(user, { mode: 'remote' });
    await inAct(() => Promise.all([b.store.set('w:a', 1), b.store.set('w:b', 2)]));
    await a.ready();
    proxy.fault((r) => /_all_docs/.test(r.path), 'reset', { times: 2 });
    const events: ChangeEvent[] = [];
    const errors: unknown[] = [];
    let ended: number[] = [];
    const stop = a.store.watch({ prefix: 'w:' }, (e) => events.push(e), { current: true, onError: (e) => errors.push(e), onCurrent: () => void (ended = [...ended, events.length]) });
    await waitFor(() => errors.length > 0, 10_000, 'the failed read');
    await b.store.set('w:c', 3);
    await waitFor(() => events.some((e) => e.key === 'w:c' && !e.current), 15_000, 'the change after the current values');
    const current = events.filter((e) => e.current).map((e) => e.key);
    expect(current).toEqual(['w:a', 'w:b', ...(current.includes('w:c') ? ['w:c'] : [])]);
    expect(events.findIndex((e) => !e.current)).toBe(current.length);
    // onCurrent once, right after the current values (the failed reads never called it).
    expect(ended).toEqual([current.length]);
    expect(errors[0]).toMatchObject({ code: 'network' });
    stop();
  }, 30_000);

  it('useQuery: the first run fails, the network comes back: the hook recovers without waiting for a change', async () => {
    const user = uniqueUser('fix-q');
    const { c: a, proxy } = await proxied(user, { mode: 'remote' });
    const b = client(user, { mode: 'remote' });
    await inAct(() => b.store.setParts('todos', { a: { done: false }, b: { done: true } }));
    await inAct(() => a.ready());
    proxy.fault((r) => /_find|_index/.test(r.path), 'reset', { times: 10 });
    function Q() {
      const q = useQuery<{ done: boolean }>({ prefix: 'todos', selector: { done: false } });
      return h('p', { 'data-testid': 'v' }, `${q.status}:${q.results.map((r) => r.subkey).join(',')}:${q.error?.code ?? ''}`);
    }
    const view = await mount(a, h(Q));
    await until(() => view.text('v')!.startsWith('error'), () => `an error first (shown ${view.text('v')})`, 15_000);
    proxy.clear();
    await until(() => view.text('v') === 'ready:a:', () => `recovered (shown ${view.text('v')})`, 15_000);
    // Unmounted: no retry left running.
    await view.unmount();
    proxy.fault((r) => /_find|_index/.test(r.path), 'reset');
    const before = proxy.log.length;
    await inAct(() => sleep(1500));
    expect(proxy.log.slice(before).filter((r) => /_find|_index|_all_docs/.test(r.path))).toEqual([]);
  }, 40_000);
});

it("values of unmounted hooks are not kept for the client's lifetime", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const c = client(uniqueUser('fix-leak'));
  const N = 20;
  await inAct(() => Promise.all(Array.from({ length: N }, (_, i) => c.store.set(`big${i}`, { i, blob: 'x'.repeat(50_000) }))));
  const refs: WeakRef<object>[] = [];
  function Holder({ k }: { k: string }) {
    const state = useValue<object>(k);
    const parts = useParts(k);
    const q = useQuery({ prefix: k });
    for (const [status, v] of [
      [state.status, state.value],
      [parts.status, parts.value],
      [q.status, q.results],
    ] as const) {
      if (status === 'ready' && v && !refs.some((r) => r.deref() === v)) refs.push(new WeakRef(v));
    }
    return h('p', { 'data-testid': 'v' }, `${state.status} ${q.status}`);
  }
  const view = await mount(c, h('p', null, 'start'));
  for (let i = 0; i < N; i++) {
    await view.rerender(h(Holder, { k: `big${i}` }));
    await until(() => view.text('v') === 'ready ready', 'ready');
  }
  await view.rerender(h('p', null, 'nothing mounted'));
  await inAct(() => sleep(300));
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
  await view.unmount();
}, 60_000);

it('useValue and useParts: a key the store refuses throws invalid_key while rendering, as set() rejects it', async () => {
  const c = client(uniqueUser('fix-bad'));
  const original = console.error;
  console.error = () => undefined;
  const outcomes: Record<string, string | undefined> = {};
  try {
    for (const key of ['', '_x', 'feat~x', 'a\u0000b']) {
      for (const [name, hook] of [
        ['useValue', useValue],
        ['useParts', useParts],
      ] as const) {
        function Probe() {
          const s = hook(key);
          return h('p', { 'data-testid': 'v' }, s.status);
        }
        const view = await mount(c, h(Boundary, null, h(Probe)));
        outcomes[`${name}(${JSON.stringify(key)})`] = view.text('v');
        await view.unmount();
      }
      await expect(c.store.set(key, 1)).rejects.toMatchObject({ code: 'invalid_key' });
    }
  } finally {
    console.error = original;
  }
  expect(Object.values(outcomes)).toEqual(Array(8).fill('thrown:invalid_key'));
}, 30_000);
