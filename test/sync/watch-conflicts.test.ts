/**
 * A document with conflicting leaves (two devices wrote the key at about the same time; another app): CouchDB's (and
 * PouchDB's) winning leaf may be the older value, which the resolver (latest write wins) drops. A watch never shows
 * that leaf — not before the resolution is written, not after the newer value was shown — and neither does a watch
 * that starts with the current values, in both modes.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();

/** Writes leaves of `id` straight to the server: the newer value (by time) on the revision CouchDB lets lose. */
async function leaves(user: string, id: string, which: ('newer' | 'older')[]) {
  const token = await fetch(`${emu.accountsUrl.replace(/\/+$/, '')}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const { data } = (await token.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const now = Date.now();
  const all = {
    newer: { _id: id, _rev: '1-' + 'a'.repeat(32), doc: { kind: 'newer' }, feat: { updatedAt: now } },
    older: { _id: id, _rev: '1-' + 'f'.repeat(32), doc: { kind: 'older' }, feat: { updatedAt: now - 60_000 } },
  };
  const r = await fetch(`${emu.couchUrl.replace(/\/+$/, '')}/${data.dbname}/_bulk_docs`, {
    method: 'POST',
    headers: { ...data.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ docs: which.map((w) => all[w]), new_edits: false }),
  });
  expect(r.status).toBe(201);
}

type Seen = { key: string; kind: string; value: string | undefined; current?: true };

// Each case is its own user (its own database) and its own clients, closed after the file: they run side by side.
describe.concurrent.each(modes)('watch and conflicting leaves: $name', (mode) => {
  const client = clientsOf(emu, mode);

  const watching = async (user: string, current = false, extra: Parameters<typeof client>[1] = {}) => {
    const c = client(user, extra);
    await c.ready();
    const seen: Seen[] = [];
    const stop = c.store.watch(
      { prefix: 'c:' },
      (e) => seen.push({ key: e.key, kind: e.kind, value: (e.value as { kind: string } | undefined)?.kind, ...(e.current ? { current: e.current } : {}) }),
      { current },
    );
    return { c, seen, stop };
  };

  it('two leaves arriving together: the watch shows the resolution (the newer value), never the older leaf', async () => {
    const user = uniqueUser('wc');
    const { c, seen, stop } = await watching(user);
    await sleep(300);
    await leaves(user, 'c:1', ['newer', 'older']);
    await waitFor(() => seen.length > 0, 10_000, 'an event');
    await sleep(2_500);
    stop();
    expect(await c.store.get<{ kind: string }>('c:1')).toEqual({ kind: 'newer' });
    expect(seen[0]).toEqual({ key: 'c:1', kind: 'insert', value: 'newer' });
    expect(seen.map((e) => e.value)).toEqual(seen.map(() => 'newer'));
  });

  it('an older leaf arriving after the newer value was shown: the watch never goes back to it', async () => {
    const user = uniqueUser('wc');
    const { c, seen, stop } = await watching(user);
    await sleep(300);
    await leaves(user, 'c:1', ['newer']);
    await waitFor(() => seen.length > 0, 10_000, 'the newer value');
    await leaves(user, 'c:1', ['older']);
    await sleep(3_000);
    stop();
    expect(await c.store.get<{ kind: string }>('c:1')).toEqual({ kind: 'newer' });
    expect(seen.map((e) => e.value)).toEqual(seen.map(() => 'newer'));
  });

  it('watch({ current: true }) over a key with conflicting leaves starts with the resolution', async () => {
    const user = uniqueUser('wc');
    const first = client(user);
    await first.ready();
    await leaves(user, 'c:1', ['newer', 'older']);
    // (Local-first: the watching client is a new device, whose replica pulls the leaves on ready() and resolves them
    // after that batch: the current values are read from the replica meanwhile.)
    const { seen, stop } = await watching(user, true);
    await waitFor(() => seen.some((e) => e.key === 'c:1' && e.current), 10_000, 'the current values');
    await sleep(2_500);
    stop();
    expect(seen[0]).toEqual({ key: 'c:1', kind: 'insert', value: 'newer', current: true });
    expect(seen.map((e) => (e.key === 'c:1' ? e.value : 'newer'))).toEqual(seen.map(() => 'newer'));
  });

  it('a watch starting while the conflict is being resolved (a slow resolver) starts with the resolution', async () => {
    const user = uniqueUser('wc');
    // Latest write wins, slowly: the leaves stay that long on the server (remote: the read resolves them) or on the
    // new device's replica (local-first: the replicator resolves them after its first pull).
    const onConflict = async ({ local, remote }: { local: { value: unknown; updatedAt: number }; remote: { value: unknown; updatedAt: number } }) => {
      await sleep(1_500);
      return local.updatedAt >= remote.updatedAt ? local.value : remote.value;
    };
    const first = client(user, { onConflict });
    await first.ready();
    await leaves(user, 'c:1', ['newer', 'older']);
    const { seen, stop } = await watching(user, true, { onConflict });
    await waitFor(() => seen.some((e) => e.key === 'c:1' && e.current), 10_000, 'the current values');
    await sleep(2_500);
    stop();
    expect(seen[0]).toEqual({ key: 'c:1', kind: 'insert', value: 'newer', current: true });
    expect(seen.map((e) => (e.key === 'c:1' ? e.value : 'newer'))).toEqual(seen.map(() => 'newer'));
  });
});
