/**
 * Chunks are content-addressed (`feat~chunk~<sha-256>`): a chunk changed on the server outside the SDK makes the value
 * unreadable with `bad_response` — it was returned as the value, different content silently (server attack).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { text, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

describe('a chunk altered on the server', () => {
  it('reading the value rejects with bad_response (remote and a new local-first device), never different content', async () => {
    const user = uniqueUser('chunk-altered');
    const options = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maxDocumentBytes: 200_000 };
    const a = createFeatClient({ ...options, mode: 'remote' });
    const b = createFeatClient({ ...options, local: { adapter: 'memory' } });
    try {
      const { dbName } = await a.ready();
      await a.store.set('big', text(600_000, 3));
      const headers = { ...emu.couchHeadersFor(user), 'Content-Type': 'application/json' };
      const all = (await (await fetch(`${emu.couchUrl}/${dbName}/_all_docs?include_docs=true`, { headers })).json()) as { rows: { id: string; doc: { _id: string; data: string } }[] };
      const victim = all.rows.find((r) => r.id.startsWith('feat~chunk~'))!.doc;
      const data = victim.data.slice(0, 10) + (victim.data[10] === 'a' ? 'b' : 'a') + victim.data.slice(11);
      expect((await fetch(`${emu.couchUrl}/${dbName}/${encodeURIComponent(victim._id)}`, { method: 'PUT', headers, body: JSON.stringify({ ...victim, data }) })).status).toBe(201);
      await expect(a.store.get('big')).rejects.toMatchObject({ code: 'bad_response', key: 'big' });
      await b.ready();
      await expect(b.store.get('big')).rejects.toMatchObject({ code: 'bad_response', key: 'big' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});
