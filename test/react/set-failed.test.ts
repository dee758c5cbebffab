// @vitest-environment jsdom
/**
 * `useValue().set()` that fails where the stored value cannot be read back: the hook must show what is stored again,
 * with the error (README, React: "once they settled, the hook shows what is stored"). It kept the value that was never
 * stored on screen — for good after close()/logout(), and in remote mode with the server out of reach until another
 * change of the key came (found by a black-box attack of the hooks).
 */
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { useValue, type ValueState } from '@feat/sdk/react';
import { clientIn, sleep, uniqueUser, useEmulator, valueOnServer } from '../support/backend.js';
import { inAct, mount, until } from './harness.js';

const emu = useEmulator();

function client(user: string, mode: 'local-first' | 'remote', down: () => boolean = () => false): FeatClient {
  return clientIn(emu, user, mode, {
    requestTimeout: 2_000,
    fetch: (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      return down() && url.startsWith(emu.couchUrl) ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
    },
  });
}

function view() {
  const out: { state?: ValueState<string> } = {};
  function Value() {
    const state = useValue<string>('doc');
    out.state = state;
    return h('p', { 'data-testid': 'v' }, `${state.status}:${state.value ?? '-'}`);
  }
  return { out, element: h(Value) };
}

const outcome = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`);

describe.each(['local-first', 'remote'] as const)('useValue().set() that fails (%s)', (mode) => {
  it.each(['close', 'logout'] as const)('after %s(): rejects `closed`, and the stored value is shown again with the error', async (how) => {
    const user = uniqueUser('setfail');
    const c = client(user, mode);
    await inAct(() => c.store.set('doc', 'stored'));
    const { out, element } = view();
    const screen = await mount(c, element);
    await until(() => screen.text('v') === 'ready:stored', 'loaded');
    await inAct(() => (how === 'close' ? c.close() : c.logout()));
    await until(() => screen.text('v')!.startsWith('error:'), 'closed');
    expect(await inAct(() => outcome(out.state!.set('never stored')))).toBe('rejected closed');
    await inAct(() => sleep(300));
    expect(screen.text('v')).toBe('error:stored');
    expect(out.state!.error?.code).toBe('closed');
    expect(await valueOnServer(emu, user, 'doc')).toBe('stored');
    await screen.unmount();
  });
});

describe('useValue().set() with the server out of reach (remote)', () => {
  it('rejects `network`, and the stored value is shown again at once (the screen equals get() once the server is back)', async () => {
    const user = uniqueUser('setfail');
    let down = false;
    const c = client(user, 'remote', () => down);
    await inAct(() => c.store.set('doc', 'stored'));
    const { out, element } = view();
    const screen = await mount(c, element);
    await until(() => screen.text('v') === 'ready:stored', 'loaded');
    down = true;
    expect(await inAct(() => outcome(out.state!.set('typed offline')))).toBe('rejected network');
    await inAct(() => sleep(300));
    expect(screen.text('v')).toBe('error:stored');
    down = false;
    await inAct(() => sleep(1_000));
    expect(out.state!.value).toBe(await inAct(() => c.store.get('doc')));
    await screen.unmount();
  }, 30_000);
});
