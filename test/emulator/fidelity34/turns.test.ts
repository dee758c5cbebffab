/**
 * A write beside a long `_changes` read of its database is answered at once, as CouchDB's (its reads fold over a
 * snapshot): a first version of the emulator's consistent reads had writes wait their turn (the attack of session 34);
 * and the emulator's own bookkeeping is no document of the user's (it was a `_local` document they could delete).
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
  await emu?.stop();
});

describe('writes during a long _changes read', () => {
  it('a one-document PUT is not held up until a long normal _changes read of the same database ends', async () => {
    const user = uniqueUser('turns');
    const db = await signUp(emu, user);
    const { headers } = await tokenFor(emu, user);
    const h = { ...headers, 'Content-Type': 'application/json' };
    const docs = Array.from({ length: 6000 }, (_, i) => ({ _id: `d${String(i).padStart(5, '0')}`, pad: 'z'.repeat(1000) }));
    for (let i = 0; i < docs.length; i += 500) {
      const r = await fetch(`${emu.couchUrl}/${db}/_bulk_docs`, { method: 'POST', headers: h, body: JSON.stringify({ docs: docs.slice(i, i + 500) }) });
      expect(r.status).toBe(201);
    }
    const results: { read: number; put: number; putDoneFirst: boolean }[] = [];
    for (let round = 0; round < 3; round++) {
      const t0 = performance.now();
      let readEnd = 0;
      const read = fetch(`${emu.couchUrl}/${db}/_changes?since=0&include_docs=true`, { headers: h, signal: AbortSignal.timeout(60_000) })
        .then((r) => r.arrayBuffer())
        .then(() => (readEnd = performance.now()));
      await new Promise((r) => setTimeout(r, 60));
      const p0 = performance.now();
      const put = await fetch(`${emu.couchUrl}/${db}/hot-${round}`, { method: 'PUT', headers: h, body: '{"n":1}', signal: AbortSignal.timeout(60_000) });
      const putEnd = performance.now();
      expect(put.status).toBe(201);
      await read;
      results.push({ read: Math.round(readEnd - t0), put: Math.round(putEnd - p0), putDoneFirst: putEnd < readEnd });
    }
    // The real server: the PUT answers in ~10 ms while the read goes on (measured 10–111 ms during 765–1,050 ms reads).
    for (const r of results) expect(r.put, JSON.stringify(r)).toBeLessThan(r.read / 4);
  }, 120_000);
});

describe('the emulator’s own bookkeeping document', () => {
  it('GET /{db}/_local/feat-emulator-created → 404 as on CouchDB (it is no document of the user)', async () => {
    const user = uniqueUser('mark');
    const db = await signUp(emu, user);
    const r = await couch(emu, user, `/${db}/_local/feat-emulator-created`);
    await couch(emu, user, `/${db}/_local_docs`);
    expect(r.status).toBe(404);
  });
});
