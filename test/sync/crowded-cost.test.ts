/**
 * A key with hundreds of branches (another writer's `new_edits: false`) is resolved on the server and only its live
 * leaves are pulled (src/sync/live-pull.ts MAX_LEAVES). Its deleted leaves stay listed in the feed: once resolved,
 * its later changes must be pulled as any other key's — not resolved and read whole (`open_revs=all`) again on every
 * edit, by every device.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();
const N = ON_REAL ? 600 : 300;

describe('a resolved crowded key, changed again later', () => {
  it('once resolved, its later set()s do not make every pulling device read all its leaves again (open_revs=all)', async () => {
    const user = uniqueUser('crowd-cost');
    const r = device(emu, user, { name: 'r', mode: 'remote' });
    await r.ready();
    await (await rawDatabase(emu, user)).branches('k', N, Date.now() - 60_000);
    const seen: string[] = [];
    let bytes = 0;
    const counting: typeof fetch = (input, init) => {
      const u = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      seen.push(decodeURIComponent(u));
      const answer = fetch(input, init);
      if (/open_revs=all/.test(u)) void answer.then(async (res) => void (bytes += (await res.clone().text()).length)).catch(() => undefined);
      return answer;
    };
    const extra = { initialSyncTimeout: 60_000, maintenance: { enabled: false } };
    const a = device(emu, user, { name: 'a', extra });
    const b = device(emu, user, { name: 'b', extra: { ...extra, fetch: counting } });
    await Promise.all([a.ready(), b.ready()]);
    expect(await b.store.get('k')).toEqual({ i: N - 1 });
    const { url, headers } = await rawDatabase(emu, user);
    await waitFor(async () => {
      const res = (await (await fetch(`${url}/k?conflicts=true`, { headers })).json()) as { _conflicts?: string[] };
      return !res._conflicts?.length;
    }, 120_000, 'resolved on the server');
    await new Promise((res) => setTimeout(res, 2_000));
    // One edit first: the resolution's own deletions (written by whichever device resolved, maybe after b read the
    // leaves) may reach b with it, and be read once more.
    await a.store.set('k', { edit: -1 });
    await a.sync.waitForPush({ timeout: 60_000 });
    await waitFor(async () => JSON.stringify(await b.store.get('k')) === JSON.stringify({ edit: -1 }), 60_000, 'b pulled the first edit');

    // Ordinary life afterwards: a few edits of the key on device a.
    seen.length = 0;
    bytes = 0;
    for (let n = 0; n < 3; n++) {
      await a.store.set('k', { edit: n });
      await a.sync.waitForPush({ timeout: 60_000 });
      await waitFor(async () => JSON.stringify(await b.store.get('k')) === JSON.stringify({ edit: n }), 60_000, `b pulled edit ${n}`);
    }
    const openRevs = seen.filter((u) => /\/k\?.*open_revs=all/.test(u));
    expect([...a.errors, ...b.errors].map((e) => e.code)).toEqual([]);
    expect(openRevs, `b fetched all ${N} leaves of k ${openRevs.length} times (${bytes} bytes) for 3 ordinary edits`).toEqual([]);
  }, 300_000);
});
