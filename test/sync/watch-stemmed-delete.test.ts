/**
 * A removal that meets a live value on another branch: a device kept an old value offline while another removed the
 * key after editing past the history the server keeps (`_revs_limit`), or two devices removed and wrote at about the
 * same time. The removal is a deleted leaf, which CouchDB never lists in `_conflicts` and never picks over a live leaf:
 * its winner is the stale value, which the resolution ("a later removal beats an earlier concurrent write") drops.
 * A watch never shows that value — neither the device holding it, nor a remote-mode client — and still shows a live
 * value at once when the removal is the older write.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { ON_REAL } from '../support/target.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();

const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const ADMIN = process.env.COUCH_ADMIN ?? 'admin:adminpass';

/** The server keeps `limit` revisions of each document's history (the user is a database admin; on real, the server admin). */
async function setRevsLimit(user: string, limit: number): Promise<void> {
  const { url, headers } = await rawDatabase(emu, user);
  let r = await fetch(`${url}/_revs_limit`, { method: 'PUT', headers, body: JSON.stringify(limit) });
  if (!r.ok && ON_REAL) {
    const admin = { Authorization: `Basic ${Buffer.from(ADMIN).toString('base64')}`, 'Content-Type': 'application/json' };
    r = await fetch(`${COUCH}/${url.slice(url.lastIndexOf('/') + 1)}/_revs_limit`, { method: 'PUT', headers: admin, body: JSON.stringify(limit) });
  }
  expect(r.ok, `PUT _revs_limit: ${r.status}`).toBe(true);
}

/** `kind/origin/value` of each event of `key` on `d`. */
function events(d: Device, key: string): string[] {
  const seen: string[] = [];
  d.store.watch(key, (e) => seen.push(`${e.kind}/${e.origin}/${JSON.stringify(e.value)}`));
  return seen;
}

/** Until every device and the server have no value of `k` (bounded), then a while for late events. */
async function removedEverywhere(user: string, devices: Device[]): Promise<void> {
  const server = await raw(emu, user);
  await waitFor(
    async () => (await Promise.all(devices.map((d) => d.store.get('k')))).every((v) => v === undefined) && (await server.doc('k')).status === 404,
    60_000,
    'removed everywhere',
  );
  await sleep(1_500);
}

describe('a removal past the kept history meets the old value an offline device holds', () => {
  it('the device holding it and a remote-mode client see the removal, never the old value again', async () => {
    const user = uniqueUser('wsd');
    const a = device(emu, user, { name: 'A' });
    const b = device(emu, user, { name: 'B' });
    const r = device(emu, user, { name: 'R', mode: 'remote' });
    await a.ready();
    await setRevsLimit(user, 5);
    await a.store.set('k', 'v0');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
    b.sync.pause();
    const onB = events(b, 'k');
    const onR = events(r, 'k');
    await r.ready();
    for (let i = 1; i <= 20; i++) {
      await a.store.set('k', `a${i}`);
      await a.sync.waitForPush({ timeout: 20_000 });
    }
    await a.store.remove('k');
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(() => onR.includes('delete/remote/undefined'), 20_000, 'R saw the removal');
    b.sync.resume();
    await removedEverywhere(user, [a, b, r]);
    expect(onB).toEqual(['delete/remote/undefined']);
    // (B pushes v0, whose history the server no longer holds: a live leaf next to the removal there as well.)
    expect(onR.slice(onR.indexOf('delete/remote/undefined'))).toEqual(['delete/remote/undefined']);
  }, 170_000);

  it('the offline device removes after the other edited past the kept history: its watch never shows that edit', async () => {
    const user = uniqueUser('wsd');
    const a = device(emu, user, { name: 'A' });
    const b = device(emu, user, { name: 'B' });
    await a.ready();
    await setRevsLimit(user, 5);
    await a.store.set('k', 'v0');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.ready();
    await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
    b.sync.pause();
    for (let i = 1; i <= 20; i++) {
      await a.store.set('k', `a${i}`);
      await a.sync.waitForPush({ timeout: 20_000 });
    }
    await sleep(20);
    const onB = events(b, 'k');
    await b.store.remove('k');
    b.sync.resume();
    await removedEverywhere(user, [a, b]);
    expect(onB.filter((e) => !e.startsWith('delete/'))).toEqual([]);
  }, 170_000);
});

describe.concurrent.each(modes)('a live leaf next to a removal on another branch: $name', (mode) => {
  const client = clientsOf(emu, mode);

  /** A live leaf of `id` and a removal on another branch (a higher generation), at the times given, in one request. */
  async function liveAndRemoved(user: string, id: string, liveAt: number, removedAt: number) {
    const { url, headers } = await rawDatabase(emu, user);
    const docs = [
      { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { kind: 'live' }, feat: { updatedAt: liveAt } },
      { _id: id, _rev: `2-${'b'.repeat(32)}`, _deleted: true, feat: { updatedAt: removedAt }, _revisions: { start: 2, ids: ['b'.repeat(32), 'c'.repeat(32)] } },
    ];
    const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ docs, new_edits: false }) });
    expect(r.status).toBe(201);
  }

  const watching = async (user: string) => {
    const c = client(user);
    await c.ready();
    const seen: { kind: string; value: unknown }[] = [];
    c.store.watch('k', (e) => seen.push({ kind: e.kind, value: e.value }));
    await sleep(300);
    return { c, seen };
  };

  it('the removal is the later write: the watch shows it, never the live leaf CouchDB picks', async () => {
    const user = uniqueUser('wsd');
    const { c, seen } = await watching(user);
    await liveAndRemoved(user, 'k', Date.now() - 60_000, Date.now());
    await waitFor(async () => (await c.store.get('k')) === undefined && seen.length > 0, 10_000, 'the removal');
    await sleep(2_500);
    expect(seen).toEqual(seen.map(() => ({ kind: 'delete', value: undefined })));
  });

  it('the removal is the older write: the live value is shown', async () => {
    const user = uniqueUser('wsd');
    const { c, seen } = await watching(user);
    await liveAndRemoved(user, 'k', Date.now(), Date.now() - 60_000);
    await waitFor(() => seen.length > 0, 10_000, 'the live value');
    await sleep(1_000);
    expect(seen).toEqual([{ kind: 'insert', value: { kind: 'live' } }]);
    expect(await c.store.get('k')).toEqual({ kind: 'live' });
  });
});
