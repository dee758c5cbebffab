/**
 * README "Upgrading from 0.1.0": 0.1.0 stored a part whose subkey holds `:` verbatim (`setParts('a', { 'p:2': v })` →
 * the document `a:p:2`, shape `{ _id, doc, feat: { updatedAt } }`), which the key rule now reads as the part `2` of
 * `a:p`. The README's snippet moves such parts back under their key; this runs it as written, on both backends.
 */
import { expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

/** The README's snippet, verbatim. */
async function moveColonParts(client: FeatClient, key: string): Promise<void> {
  for (const id of await client.store.keys(`${key}:`)) {
    const subkey = id.slice(key.length + 1);
    if (!subkey.includes(':')) continue;
    await client.store.setParts(key, { [subkey]: await client.store.get(id) }); // now `a:p%3A2`
    await client.store.remove(id);
  }
}

it("the README's snippet moves 0.1.0's parts with `:` in their subkey back under their key", async () => {
  const user = uniqueUser('colon');
  const client = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
  const session = await client.ready();
  // What 0.1.0 left on the server for setParts('o-art', { title: 't', p1: 'uno', 'p:2': 'dos' }).
  const { headers } = await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })
    .then((r) => r.json() as Promise<{ data: { headers: Record<string, string> } }>)
    .then((b) => b.data);
  const at = Date.now();
  const docs = [
    { _id: 'o-art:title', doc: 't', feat: { updatedAt: at } },
    { _id: 'o-art:p1', doc: 'uno', feat: { updatedAt: at } },
    { _id: 'o-art:p:2', doc: 'dos', feat: { updatedAt: at } },
  ];
  const put = await fetch(`${emu.couchUrl}/${session.dbName}/_bulk_docs`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ docs }) });
  expect(put.status).toBe(201);
  expect(await client.store.getParts('o-art')).toEqual({ title: 't', p1: 'uno' }); // what the upgrade shows

  await moveColonParts(client, 'o-art');
  expect(await client.store.getParts('o-art')).toEqual({ title: 't', p1: 'uno', 'p:2': 'dos' });
  expect((await client.store.keys('o-art:')).sort()).toEqual(['o-art:p%3A2', 'o-art:p1', 'o-art:title']);
  expect(await client.store.getParts('o-art:p')).toEqual({});
});
