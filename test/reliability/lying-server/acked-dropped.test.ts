/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/**
 * A `_bulk_docs` the server (or a proxy) answers 201 but does not store — once. The SDK's `_revs_diff` check notices
 * (pending() stays 1) and the push side sends the write again (it was never sent again: pending 1 for ever).
 */
import { expect, it } from 'vitest';
import { waitFor } from '../../support/backend.js';
import { useLiar } from './kit.js';

const { box, remote, device, uniqueUser } = useLiar();

for (const [name, answer] of [
  ['201 []', () => '[]'],
  ['201 ok for each doc', (docs: any[]) => JSON.stringify(docs.map((d) => ({ id: d._id, rev: d._rev, ok: true })))],
] as const) {
  it(`one _bulk_docs answered ${name} without storing: the write still reaches the server once the server behaves`, async () => {
    const user = uniqueUser('acked');
    const dev = device(user);
    await dev.ready();
    let dropped = 0;
    box.mitm.hooks.respond = (req, res) => {
      if (req.method === 'POST' && /\/_bulk_docs$/.test(req.path) && dropped === 0) {
        dropped++;
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(answer(req.json?.docs ?? []));
        return true;
      }
      return false;
    };
    await dev.store.set('k', 'v');
    const arrived = await waitFor(async () => (await remote(user).store.get('k')) === 'v', 60_000, 'k on the server').then(() => true, () => false);
    expect(dropped).toBe(1);
    expect(arrived).toBe(true);
  }, 90_000);
}
