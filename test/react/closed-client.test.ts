// @vitest-environment jsdom
/**
 * A closed client (a component mounted after `close()` or `logout()`): `store.watch()` throws `closed` as
 * `watchQuery()` and every other call do (it returned a no-op, so a hook stayed `loading` forever); the hooks show
 * the error instead of throwing inside React's subscribe.
 */
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatError } from '@feat/sdk';
import { useKeys, useQuery, useValue } from '@feat/sdk/react';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';
import { mount, until } from './harness.js';

const emu = useEmulator();

const closedClient = async () => {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('closed')), local: { adapter: 'memory' } });
  await c.store.set('k', 1);
  await c.close();
  return c;
};

const show = (id: string, state: { status: string; error?: FeatError | undefined }) => h('p', { 'data-testid': id }, `${state.status}:${state.error?.code ?? '-'}`);
function Value() {
  return show('value', useValue('k'));
}
function Keys() {
  return show('keys', useKeys(''));
}
function Query() {
  return show('query', useQuery({ prefix: 'k' }));
}

describe('a closed client', () => {
  it('watch() and watchQuery() throw closed', async () => {
    const c = await closedClient();
    await expectCode(Promise.resolve().then(() => c.store.watch('k', () => {})), 'closed');
    await expectCode(Promise.resolve().then(() => c.store.watch({ prefix: '' }, () => {}, { current: true })), 'closed');
    await expectCode(Promise.resolve().then(() => c.store.watchQuery({ prefix: 'k' }, () => {})), 'closed');
  });

  it('useValue, useKeys and useQuery show status error with code closed', async () => {
    const c = await closedClient();
    const view = await mount(c, h('div', null, h(Value), h(Keys), h(Query)));
    try {
      await until(() => ['value', 'keys', 'query'].every((id) => view.text(id) === 'error:closed'), () => view.container.textContent ?? '');
      expect(view.text('value')).toBe('error:closed');
    } finally {
      await view.unmount();
    }
  });
});
