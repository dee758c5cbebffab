/**
 * A `_changes` read is of one moment of the database: CouchDB folds over a snapshot of its by-sequence index, so a
 * document updated while the read runs is listed once (at the sequence it had when the read began, or its newer one
 * when the read reached the end after it), never left out. PouchDB's adapters skip a row whose document has moved on
 * since, and read only up to where they started: such a document was in neither place, and a new device's first
 * pull, which reads everything once before the app reads its state, left it out (redux: a slice missing at rehydrate).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '@feat/emulator';
import { couch, signUp, tokenFor } from '../helpers.js';
import { uniqueUser } from '../../support/backend.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({});
});
afterAll(async () => {
  await emu.stop();
});

describe('a document updated while a _changes read runs', () => {
  it.each([
    ['normal', ''],
    ['normal, include_docs', '&include_docs=true'],
    ['longpoll, include_docs, style=all_docs', '&feed=longpoll&include_docs=true&style=all_docs'],
  ])('%s: listed in that read, every time', async (_name, query) => {
    const user = uniqueUser('snap');
    const db = await signUp(emu, user);
    const { headers } = await tokenFor(emu, user);
    const auth = { ...headers, 'Content-Type': 'application/json' };
    // The hot document first (lowest sequence), then enough others that a read takes a while.
    let rev = ((await couch(emu, user, `/${db}/hot`, { method: 'PUT', body: { n: 0 } })).json as { rev: string }).rev;
    const docs = Array.from({ length: 1500 }, (_, i) => ({ _id: `d${String(i).padStart(4, '0')}`, text: 'x'.repeat(200) }));
    for (let i = 0; i < docs.length; i += 500) await couch(emu, user, `/${db}/_bulk_docs`, { method: 'POST', body: { docs: docs.slice(i, i + 500) } });
    let missing = 0;
    for (let round = 0; round < 8; round += 1) {
      const reading = fetch(`${emu.couchUrl}/${db}/_changes?since=0${query}`, { headers: auth }).then(async (r) => (await r.json()) as { results: { id: string }[] });
      // Updates while the read runs.
      let stop = false;
      const writer = (async () => {
        while (!stop) {
          const res = await fetch(`${emu.couchUrl}/${db}/hot`, { method: 'PUT', headers: auth, body: JSON.stringify({ _rev: rev, n: round }) });
          rev = ((await res.json()) as { rev: string }).rev;
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      const page = await reading;
      stop = true;
      await writer;
      if (!page.results.some((r) => r.id === 'hot')) missing += 1;
      expect(page.results.length).toBeGreaterThanOrEqual(1500);
    }
    expect(missing, 'reads that left the updated document out (of 8)').toBe(0);
  }, 120_000);
});
