// @vitest-environment jsdom
/**
 * `@feat/sdk/react` with react-dom in jsdom, against the emulator: live values (this device's and another device's
 * writes), parts and keys, the sync status and the pending count — and renders only for what a component reads.
 */
import { StrictMode, createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { useFeatClient, useKeys, useParts, usePending, useSyncStatus, useValue, type ValueState } from '@feat/sdk/react';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { inAct, mount, until } from './harness.js';

const emu = useEmulator();

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }),
  );
}

/** Shows a value and counts its renders; hands its state out for the test to call `set`. */
function Value({ k, renders, out }: { k: string; renders?: { n: number }; out?: { state?: ValueState<unknown> } }) {
  const state = useValue(k);
  if (renders) renders.n++;
  if (out) out.state = state;
  return h('p', { 'data-testid': k }, `${state.status}:${JSON.stringify(state.value) ?? '-'}`);
}

describe('useValue', () => {
  it('loads the stored value, then follows this device and another device', async () => {
    const user = uniqueUser('react');
    const a = client(user);
    const b = client(user);
    await inAct(() => a.store.set('draft', { text: 'stored' }));
    await inAct(() => a.sync.waitForPush({ timeout: 10_000 }));
    const out: { state?: ValueState<unknown> } = {};
    const view = await mount(b, h(Value, { k: 'draft', out }));
    expect(view.text('draft')).toMatch(/^loading:|^ready:/);
    await until(() => view.text('draft') === 'ready:{"text":"stored"}', 'the stored value');

    // This device, through the hook: shown at once.
    let write: Promise<void> | undefined;
    await inAct(() => {
      write = out.state!.set({ text: 'typed on b' });
    });
    expect(view.text('draft')).toBe('ready:{"text":"typed on b"}');
    await inAct(() => write);
    expect(await b.store.get('draft')).toEqual({ text: 'typed on b' });
    // Another device (once it has this device's write: no conflict here).
    await inAct(() => waitFor(async () => JSON.stringify(await a.store.get('draft')) === '{"text":"typed on b"}', 20_000, 'a to receive'));
    await inAct(() => a.store.set('draft', { text: 'from a' }));
    await until(() => view.text('draft') === 'ready:{"text":"from a"}', "the other device's write", 20_000);
    // Removed (set(undefined)).
    await inAct(() => out.state!.set(undefined));
    await until(() => view.text('draft') === 'ready:-', () => `the removal (shown: ${view.text('draft')})`);
    expect(await b.store.get('draft')).toBeUndefined();
    await view.unmount();
  }, 40_000);

  it('fast typing never flashes back to an older value of its own', async () => {
    const c = client(uniqueUser('react'));
    const seen: string[] = [];
    const out: { state?: ValueState<unknown> } = {};
    function Recorder() {
      const state = useValue<string>('text');
      out.state = state as ValueState<unknown>;
      seen.push(state.value ?? '');
      return null;
    }
    const view = await mount(c, h(Recorder));
    await until(() => out.state?.status === 'ready', 'loaded');
    let typed = '';
    for (const ch of 'hello world') {
      typed += ch;
      await inAct(() => {
        void out.state!.set(typed);
        return new Promise((r) => setTimeout(r, 5));
      });
    }
    await inAct(() => c.store.flush());
    await until(() => out.state?.value === 'hello world', 'the last value');
    await inAct(() => new Promise((r) => setTimeout(r, 300)));
    // What was shown only ever grew: no older write came back on screen.
    const shown = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
    for (let i = 1; i < shown.length; i++) expect(shown[i]!.startsWith(shown[i - 1]!), `${shown[i - 1]} → ${shown[i]}`).toBe(true);
    expect(await c.store.get('text')).toBe('hello world');
    await view.unmount();
  });

  it('a component renders only for its own key', async () => {
    const c = client(uniqueUser('react'));
    const renders = { n: 0 };
    const view = await mount(c, h('div', null, h(Value, { k: 'mine', renders }), h(Value, { k: 'other' })));
    await until(() => view.text('mine') === 'ready:-' && view.text('other') === 'ready:-', 'both loaded');
    const before = renders.n;
    for (let i = 0; i < 5; i++) await inAct(() => c.store.set('other', i));
    await until(() => view.text('other') === 'ready:4', 'the other key');
    expect(renders.n).toBe(before);
    await view.unmount();
  });

  it('shares one subscription between the components reading a key', async () => {
    const c = client(uniqueUser('react'));
    await inAct(() => c.store.set('shared', 1));
    const view = await mount(c, h('div', null, h(Value, { k: 'shared' }), h(Value, { k: 'shared' })));
    await until(() => view.container.textContent === 'ready:1ready:1', 'both');
    await inAct(() => c.store.set('shared', 2));
    await until(() => view.container.textContent === 'ready:2ready:2', 'both updated');
    await view.unmount();
  });

  it('in StrictMode (subscribe, unsubscribe, subscribe again) it loads and follows changes', async () => {
    const c = client(uniqueUser('react'));
    await inAct(() => c.store.set('strict', 'one'));
    const view = await mount(c, h(StrictMode, null, h(Value, { k: 'strict' })));
    await until(() => view.text('strict') === 'ready:"one"', 'the value');
    await inAct(() => c.store.set('strict', 'two'));
    await until(() => view.text('strict') === 'ready:"two"', 'the change');
    // Unmounted and mounted again later: the client forgot the source (nothing kept for unmounted hooks): it loads
    // again and shows what changed meanwhile.
    await view.rerender(h('p', null, 'away'));
    await inAct(() => c.store.set('strict', 'three'));
    await view.rerender(h(StrictMode, null, h(Value, { k: 'strict' })));
    expect(view.text('strict')).toMatch(/^loading:-$|^ready:"three"$/);
    await until(() => view.text('strict') === 'ready:"three"', 'the change made while unmounted');
    await view.unmount();
  });

  it('a write the store refuses: the setter rejects and the stored value comes back with the error', async () => {
    const c = client(uniqueUser('react'));
    await inAct(() => c.store.set('bad', 'kept'));
    const out: { state?: ValueState<unknown> } = {};
    const view = await mount(c, h(Value, { k: 'bad', out }));
    await until(() => view.text('bad') === 'ready:"kept"', 'loaded');
    const rejected = await inAct(() => out.state!.set({ n: Number.NaN }).then(() => undefined, (e: unknown) => e));
    expect(rejected).toMatchObject({ code: 'invalid_value' });
    await until(() => view.text('bad') === 'error:"kept"', 'the stored value, with the error');
    expect(out.state!.error?.code).toBe('invalid_value');
    await view.unmount();
  });

  it('reports a failed read as status error', async () => {
    const c = createFeatClient({ couchUrl: 'http://127.0.0.1:9', accountsUrl: 'http://127.0.0.1:9', auth: 'Bearer x', mode: 'remote' });
    function Failing() {
      const state = useValue('k');
      return h('p', { 'data-testid': 'k' }, `${state.status}:${state.error?.code ?? ''}`);
    }
    const view = await mount(c, h(Failing));
    await until(() => view.text('k') === 'error:network', 'the error');
    await view.unmount();
    await c.close();
  });

  it('outside a FeatProvider: a clear error', async () => {
    function Lost() {
      useFeatClient();
      return null;
    }
    const { renderToString } = await import('react-dom/server');
    expect(() => renderToString(h(Lost))).toThrow(expect.objectContaining({ code: 'invalid_argument', message: expect.stringContaining('FeatProvider') }));
  });
});

describe('useParts and useKeys', () => {
  it('follow the parts of a key and the keys of a prefix', async () => {
    const c = client(uniqueUser('react'));
    await inAct(() => c.store.setParts('board', { a: 1, b: 2 }));
    function Board() {
      const parts = useParts<number>('board');
      const keys = useKeys('board');
      return h('p', { 'data-testid': 'board' }, `${parts.status} ${JSON.stringify(parts.value)} ${keys.value.join(',')}`);
    }
    const view = await mount(c, h(Board));
    await until(() => view.text('board') === 'ready {"a":1,"b":2} board:a,board:b', 'the parts');
    await inAct(() => c.store.setParts('board', { c: 3 }, { replace: true }));
    await until(() => view.text('board') === 'ready {"c":3} board:c', 'the replaced parts');
    await inAct(() => c.store.set('board', 'itself'));
    await until(() => view.text('board') === 'ready {"c":3} board,board:c', 'the key itself');
    await view.unmount();
  });
});

describe('useSyncStatus and usePending', () => {
  it('follow the network: offline with pending writes, then idle with 0', async () => {
    const c = client(uniqueUser('react'));
    await inAct(() => c.ready());
    function Status() {
      const status = useSyncStatus();
      const pending = usePending();
      return h('p', { 'data-testid': 'status' }, `${status} ${pending ?? '?'}`);
    }
    const view = await mount(c, h(Status));
    await until(() => view.text('status') === 'idle 0', 'idle 0');
    await emu.suspend();
    try {
      await inAct(() => Promise.all([c.store.set('x', 1), c.store.set('y', 2)]));
      await until(() => view.text('status') === 'offline 2', 'offline with 2 pending', 20_000);
    } finally {
      await emu.resume();
    }
    await until(() => view.text('status') === 'idle 0', 'idle 0 again', 30_000);
    await view.unmount();
  }, 60_000);
});

describe('server rendering', () => {
  it('renders the loading state without any I/O', async () => {
    const { renderToString } = await import('react-dom/server');
    const { FeatProvider } = await import('@feat/sdk/react');
    const c = createFeatClient({ couchUrl: 'http://127.0.0.1:9', accountsUrl: 'http://127.0.0.1:9', auth: 'Bearer x' });
    function Page() {
      const value = useValue('draft');
      const keys = useKeys('d');
      const parts = useParts('d');
      return h('p', null, `${value.status} ${useSyncStatus()} ${usePending() ?? '?'} ${keys.value.length} ${Object.keys(parts.value).length}`);
    }
    expect(renderToString(h(FeatProvider, { client: c }, h(Page)))).toBe('<p>loading connecting ? 0 0</p>');
    expect(c.session).toBeUndefined();
    expect(c.sync.status).toBe('paused');
    await c.close();
  });
});

