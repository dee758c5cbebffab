/**
 * The claim of a replica that names no account (README "Upgrading from 0.1.0"; found by the attack of this fix): the
 * first proof sent only the NEWEST and the OLDEST revision of each sampled document. A server that
 * keeps fewer revisions than the replica (`_revs_limit` lowered by an operator — README: "an operator may lower it";
 * or a draft autosaved past 1,000 edits) has stemmed the oldest away; if the device also edited the document offline,
 * the newest is unknown too, although the server holds the revision in between that this very device pushed.
 * A's own v0.1.0 replica was then refused `forbidden` ("sign in as the account that wrote it … or discard it"): A
 * IS that account, and the only way out offered discarded A's offline write. The whole history is asked now, and a
 * known earlier revision counts once the server shows its content stamped by a writer (not a shareable one).
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { sharedReplicas } from '../support/shared-replica.js';
import { openLevel, pushDocs, sessionOf } from '../support/legacy-replica.js';
import { setRevsLimit } from '../sync/revs-limit.js';

const emu = useEmulator();
const { replicaPath, clientOf, serverKeys } = sharedReplicas(emu);

describe('A\'s own v0.1.0 replica, server history stemmed', () => {
  it('A (server _revs_limit 2) claims its own replica whose only document it edited offline after syncing 3 revisions', async () => {
    const alice = uniqueUser('r2s-a');
    await sessionOf(emu, alice);
    await setRevsLimit(emu, alice, 2);
    const path = replicaPath();
    const db = await openLevel(path);
    try {
      // v0.1.0 on A's device: a draft saved three times, synced; then one more save offline. 
      let rev: string | undefined;
      for (const text of ['d1', 'd2', 'd3']) {
        const r = await db.put({ _id: 'draft', ...(rev ? { _rev: rev } : {}), doc: text, feat: { updatedAt: Date.now() } } as never);
        rev = r.rev;
      }
      await db.put({ _id: '_local/feat-synced', at: Date.now() } as never);
      const synced = await db.get('draft', { revs: true });
      await pushDocs(emu, alice, [synced]);
      await db.put({ _id: 'draft', _rev: rev, doc: 'd4 offline', feat: { updatedAt: Date.now() } } as never);
    } finally {
      await db.close();
    }
    const a = clientOf(alice, path);
    a.sync.on('error', () => undefined);
    const outcome = await a.ready().then(
      () => 'ok',
      (e: unknown) => (isFeatError(e) ? e.code : String(e)),
    );
    let draft: unknown;
    if (outcome === 'ok') {
      draft = await a.store.get('draft');
      await a.sync.waitForPush({ timeout: 30_000 }).catch(() => undefined);
    }
    await a.close();
    expect({ outcome, draft, onServer: await serverKeys(alice) }).toEqual({ outcome: 'ok', draft: 'd4 offline', onServer: ['draft'] });
  }, 120_000);
});
