/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/**
 * A pulled change the SDK cannot use because the server's answer for it lied once (a `_bulk_get` with no result for
 * the asked doc, or one `{error}` entry of an unknown name; a change whose rev is malformed). Expected: either an
 * error (`bad_response`) or the change fetched again once the server behaves — the document's leaves are asked
 * for, or the batch pulled again. (It was skipped: the checkpoint moved past it, the document never arrived.)
 */
import { expect, it } from 'vitest';
import { waitFor } from '../../support/backend.js';
import { onChanges, sleep, useLiar } from './kit.js';

const { box, remote, device, uniqueUser } = useLiar();

for (const [name, lie] of [
  ['_bulk_get answering no result for the asked doc', 'bulkget-empty'],
  ['_bulk_get answering an {error} of an unknown name', 'bulkget-error'],
  ['a change with a malformed rev', 'bad-rev'],
  ['_bulk_get answering not_found/missing for the listed rev (a cluster node that has not got it yet)', 'bulkget-missing'],
] as const) {
  it(`${name} (once): the document still arrives once the server behaves, or an error is reported`, async () => {
    const user = uniqueUser('skip');
    const dev = device(user);
    await dev.ready();
    let lied = 0;
    if (lie === 'bad-rev') {
      onChanges(box.mitm, (r) => (r.id === 'k' && r.doc && !lied++ ? { ...r, changes: [{ rev: 'banana' }], doc: { ...r.doc, _rev: 'banana' } } : undefined));
    } else {
      onChanges(box.mitm, (r) => (r.id === 'k' ? { ...r, doc: null } : undefined));
      const base = box.mitm.hooks.rewrite!;
      box.mitm.hooks.rewrite = (req, res) => {
        if (/_bulk_get$/.test(req.path) && res.json && !lied++) {
          return { json: lie === 'bulkget-empty' ? { results: [] } : { results: res.json.results.map((r: any) => ({ id: r.id, docs: [{ error: { id: r.id, rev: r.docs[0]?.ok?._rev, error: lie === 'bulkget-missing' ? 'not_found' : 'weird', reason: lie === 'bulkget-missing' ? 'missing' : 'odd' } }] })) } };
        }
        return base(req, res);
      };
    }
    const other = remote(user);
    await other.store.set('k', 'v1');
    await waitFor(() => lied > 0, 10000, 'the lie told');
    await sleep(2000);
    box.mitm.reset();
    await other.store.set('poke', 1);
    await waitFor(async () => (await dev.store.get('poke')) === 1, 10000, 'poke pulled');
    const arrived = await waitFor(async () => (await dev.store.get('k')) === 'v1', 30000, 'k').then(() => true, () => false);
    expect(arrived || dev.errors.some((e) => e.code === 'bad_response')).toBe(true);
    expect(arrived).toBe(true);
  }, 60000);
}
