/**
 * README "Conflicts": a local-first `get()` (or `getParts()`) of a key whose leaves a pull just brought answers their
 * resolution, never the leaf it drops — and a later removal beats an earlier concurrent write. A removal is a deleted
 * leaf, which a replica's `_conflicts` never lists: device A removed a key after device B edited it offline, and while
 * A's pull wrote B's edit and resolved it (80–380 ms), A's reads answered B's edit (found by an attack, 4–5 runs of 5).
 * An app that read it and wrote on it ("bump the item if it still exists") brought the removed value back on every
 * device. A read now looks for such a removal while the pull's resolution of the key is under way (store.ts
 * `#laterRemoval`), from the moment the pull starts writing the document (local-first.ts `#arriving`).
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';

const emu = useEmulator();
const T = 20_000;
const extra = { maintenance: { enabled: false } };

/** A holds v0 and B too; B edits offline, then A removes offline (later); B pushes, A comes back. */
async function removedAfterEdit(prefix: string, write: (d: Device, edit: boolean) => Promise<void>) {
  const user = uniqueUser(prefix);
  const a = device(emu, user, { name: 'A', extra });
  const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra });
  await Promise.all([a.ready(), b.ready()]);
  await write(a, false);
  await a.sync.waitForPush({ timeout: T });
  await waitFor(async () => JSON.stringify(await b.store.get('k')) === JSON.stringify(await a.store.get('k')) && JSON.stringify(await b.store.getParts('p')) === JSON.stringify(await a.store.getParts('p')), T, 'B has v0');
  a.sync.pause();
  b.sync.pause();
  await write(b, true);
  await sleep(30);
  if (prefix.startsWith('parts')) await a.store.removeParts('p');
  else await a.store.remove('k');
  b.sync.resume();
  await b.sync.waitForPush({ timeout: T });
  a.sync.resume();
  return { user, a, b };
}

describe('a removal made later than another device’s offline edit: the remover never reads the edit', () => {
  it('get() on the remover answers undefined all along, while its pull writes and resolves the edit (3 rounds)', async () => {
    const seen: unknown[][] = [];
    for (let round = 0; round < 3; round++) {
      const { user, a, b } = await removedAfterEdit('rm-read', (d, edit) => d.store.set('k', edit ? 'b-edit' : 'v0'));
      const reads = new Set<unknown>();
      for (const end = Date.now() + 2_000; Date.now() < end; await sleep(5)) reads.add(await a.store.get('k'));
      await a.sync.waitForPush({ timeout: T });
      await waitFor(async () => (await b.store.get('k')) === undefined, T, 'B has the removal');
      seen.push([...reads, (await (await raw(emu, user)).doc('k')).status]);
      await Promise.all([a.close(), b.close()]);
    }
    expect(seen, 'A read the value it removed').toEqual(Array(3).fill([undefined, 404]));
  }, 90_000);

  it('an app that reads, then writes on what it read, does not bring the removed value back (3 rounds)', async () => {
    const results: string[] = [];
    for (let round = 0; round < 3; round++) {
      const { user, a, b } = await removedAfterEdit('rm-bump', (d, edit) => d.store.set('k', edit ? 'b-edit' : 'v0'));
      for (const end = Date.now() + 2_000; Date.now() < end; await sleep(5)) {
        const v = await a.store.get<string>('k');
        if (v === undefined) continue;
        await a.store.set('k', `${v}+bump`);
        break;
      }
      await a.sync.waitForPush({ timeout: T });
      await waitFor(async () => (await b.store.get('k')) === (await a.store.get('k')), T, 'B agrees with A');
      results.push(JSON.stringify([await a.store.get('k'), await b.store.get('k'), (await (await raw(emu, user)).doc('k')).status]));
      await Promise.all([a.close(), b.close()]);
    }
    expect(results, 'the removed value came back').toEqual(Array(3).fill('[null,null,404]'));
  }, 90_000);

  it('getParts() on the remover (removeParts, later than the part edit) answers {} all along (2 rounds)', async () => {
    const seen: string[] = [];
    for (let round = 0; round < 2; round++) {
      const { a, b } = await removedAfterEdit('parts-rm', (d, edit) => d.store.setParts<unknown>('p', edit ? { x: 'b-edit' } : { x: 1, y: 2 }));
      for (const end = Date.now() + 2_000; Date.now() < end; await sleep(5)) {
        const s = JSON.stringify(await a.store.getParts('p'));
        if (!seen.includes(s)) seen.push(s);
      }
      await waitFor(async () => JSON.stringify(await b.store.getParts('p')) === '{}', T, 'B has the removal');
      await Promise.all([a.close(), b.close()]);
    }
    expect(seen, 'A read a part it removed').toEqual(['{}']);
  }, 90_000);
});
