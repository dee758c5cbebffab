/**
 * README "Watch": a subscription reports every change made after watch() returned — the client's own writes are never
 * missed, each revision once, in order, with the right `kind` — in both modes. A local replica's changes feed carries
 * only a document's latest revision when it reads: two awaited writes of one key made between two of its reads came as
 * one event (the insert of set-then-remove was lost, set(1)-then-set(2) read as one `update`).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, type Mode } from './helpers.js';

const emu = useEmulator();

/** Both modes, and the replica on disk (LevelDB) too: its writes and its feed's reads take their own time. */
const setups: { name: string; mode: Mode; extra: () => Partial<FeatClientOptions> }[] = [
  ...modes.map((mode) => ({ name: mode.name, mode, extra: () => ({}) })),
  {
    name: 'local-first (leveldb)',
    mode: modes[1],
    extra: () => ({ local: { adapter: 'leveldb', name: join(mkdtempSync(join(tmpdir(), 'feat-watch-own-')), 'replica') } }),
  },
];

const brief = (e: ChangeEvent) => `${e.kind} ${e.key}${e.subkey === undefined ? '' : `[${e.subkey}]`}=${JSON.stringify(e.value)} ${e.origin}`;

describe.each(setups)("watch reports the client's own writes: $name", (setup) => {
  const client = clientsOf(emu, setup.mode);
  const ready = async (prefix: string) => {
    const c = client(uniqueUser(prefix), setup.extra());
    await c.ready();
    return c;
  };

  it('set() then remove(), each awaited: an insert and a delete, five times in a row', async () => {
    const c = await ready('own-sr');
    const events: ChangeEvent[] = [];
    const stop = c.store.watch({ prefix: 'draft:' }, (e) => events.push(e));
    const rounds: string[][] = [];
    for (let r = 0; r < 5; r++) {
      events.length = 0;
      await c.store.set(`draft:${r}`, { r });
      await c.store.remove(`draft:${r}`);
      await waitFor(() => events.some((e) => e.kind === 'delete'), 10_000, `round ${r}: the delete`);
      await sleep(200); // nothing more comes (no revision twice)
      rounds.push(events.map(brief));
    }
    stop();
    expect(rounds).toEqual(Array.from({ length: 5 }, (_, r) => [`insert draft:${r}={"r":${r}} local`, `delete draft:${r}=undefined local`]));
  });

  it('set(1) then set(2), each awaited: insert 1, then update 2', async () => {
    const c = await ready('own-ss');
    await c.store.set('warm', 0);
    const events: ChangeEvent[] = [];
    const stop = c.store.watch('note', (e) => events.push(e));
    await c.store.set('note', 1);
    await c.store.set('note', 2);
    await waitFor(() => events.some((e) => e.value === 2), 10_000, 'value 2');
    await sleep(300);
    stop();
    expect(events.map(brief)).toEqual(['insert note=1 local', 'update note=2 local']);
  });

  it('a run of awaited writes of one key, a deletion and a re-creation among them: every one, in order, each once', async () => {
    const c = await ready('own-run');
    const events: ChangeEvent[] = [];
    const stop = c.store.watch({ key: 'doc' }, (e) => events.push(e));
    await c.store.set('doc', 'a');
    await c.store.set('doc', 'b');
    await c.store.remove('doc');
    await c.store.set('doc', 'c');
    await c.store.setParts('doc', { p: 1 });
    await c.store.setParts('doc', { p: 2 });
    await c.store.removeParts('doc');
    await c.store.set('doc', 'd');
    await waitFor(() => events.some((e) => e.value === 'd'), 10_000, 'the last write');
    await sleep(300);
    stop();
    expect(events.map(brief)).toEqual([
      'insert doc="a" local',
      'update doc="b" local',
      'delete doc=undefined local',
      'insert doc="c" local',
      'insert doc[p]=1 local',
      'update doc[p]=2 local',
      'delete doc[p]=undefined local',
      'update doc="d" local',
    ]);
  });

  it("another client's change between the client's own writes still comes, with origin remote, in order", async () => {
    const user = uniqueUser('own-mixed');
    const a = client(user, setup.extra());
    const b = client(user, setup.extra());
    await Promise.all([a.ready(), b.ready()]);
    const events: ChangeEvent[] = [];
    const stop = a.store.watch({ prefix: 'm:' }, (e) => events.push(e));
    await a.store.set('m:1', 'a1');
    await b.store.set('m:2', 'b');
    await b.sync.waitForPush({ timeout: 10_000 });
    await waitFor(() => events.some((e) => e.key === 'm:2'), 20_000, "the other client's change");
    await a.store.set('m:1', 'a2');
    await a.store.remove('m:1');
    await waitFor(() => events.some((e) => e.kind === 'delete'), 10_000, 'the delete');
    await sleep(300);
    stop();
    expect(events.map(brief)).toEqual(['insert m:1="a1" local', 'insert m:2="b" remote', 'update m:1="a2" local', 'delete m:1=undefined local']);
  });
});
