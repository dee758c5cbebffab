/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/** More `_changes` lies: phantom revisions, `{error}` entries, missing docs, junk entries, `pending` out of range. */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../support/backend.js';
import { onChanges, sleep, useLiar } from './kit.js';

const { box, remote, device, uniqueUser } = useLiar();

describe('_changes lies (2)', () => {
  for (const [name, fn] of [
    ['a phantom leaf rev the server does not have', (r: any) => r.id === 'k' ? { ...r, changes: [...r.changes, { rev: '7-' + 'a'.repeat(32) }] } : undefined],
    ['an {error} entry beside the real one', (r: any) => r.id === 'k' ? [{ id: 'k', error: 'not_found', reason: 'missing' }, r] : undefined],
    ['the doc missing (doc: null)', (r: any) => r.id === 'k' ? { ...r, doc: null } : undefined],
    ['junk entries (null, 42, "x", [])', (r: any) => r.id === 'k' ? [null, 42, 'x', [], r] : undefined],
    ['a doc with a malformed _rev', (r: any) => r.id === 'k' && r.doc ? { ...r, changes: [{ rev: 'banana' }], doc: { ...r.doc, _rev: 'banana' } } : undefined],
  ] as const) {
    it(`${name}: no storm, local value intact, converges after`, async () => {
      const user = uniqueUser('lie2');
      const dev = device(user);
      await dev.ready();
      await dev.store.set('mine', 'device');
      await dev.sync.waitForPush({ timeout: 5000 });
      onChanges(box.mitm, fn as any);
      const other = remote(user);
      const t0 = box.mitm.log.length;
      await other.store.set('k', 'v1');
      await sleep(5000);
      const reqs = box.mitm.log.slice(t0);
      expect(await dev.store.get('mine')).toBe('device');
      expect(reqs.length).toBeLessThan(60);
      box.mitm.reset();
      await other.store.set('k', 'v2');
      await dev.store.set('mine', 'device2');
      await waitFor(async () => (await dev.store.get('k')) === 'v2', 15000, 'k converged');
      await dev.sync.waitForPush({ timeout: 10000 });
    }, 40000);
  }

  it('initialSync progress with `pending` negative / huge / a string', async () => {
    const user = uniqueUser('pend');
    const other = remote(user);
    for (let i = 0; i < 3; i++) await other.store.set('p' + i, i);
    const pend = [-5, 1e300, 'lots'];
    let n = 0;
    onChanges(box.mitm, () => undefined, (json) => ({ ...json, pending: pend[n++ % 3] }));
    const dev = device(user);
    const events: any[] = [];
    dev.sync.on('initialSync' as any, (e: any) => events.push(e));
    await dev.ready();
    expect(await dev.store.get('p2')).toBe(2);
    for (const e of events) if (e.pending !== undefined) expect(typeof e.pending === 'number' && e.pending >= 0 && Number.isFinite(e.pending)).toBe(true);
    box.mitm.reset();
  });
});
