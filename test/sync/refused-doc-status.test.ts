/** A refused document keeps local-first status `denied` while it stays refused, also after another refused document went through (an attack of this session's status fix found it stuck at `active`). */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ profile: 'couchdb' });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('local-first: a second refused document after a first one that then went through', () => {
  it('status is denied (not active) while bad2 is refused', async () => {
    const user = uniqueUser('dd');
    const couch = await startFaultProxy(emu.couchUrl);
    cleanups.push(() => couch.close());
    const refused = new Set<string>();
    let bulks = 0;
    const vdu: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (init?.method === 'POST' && url.includes('/_bulk_docs') && typeof init.body === 'string') {
        bulks++;
        const body = JSON.parse(init.body) as { docs: { _id: string }[] };
        const bad = body.docs.filter((d) => refused.has(d._id));
        if (bad.length) {
          const rest = body.docs.filter((d) => !refused.has(d._id));
          const answer = rest.length ? ((await (await fetch(input, { ...init, body: JSON.stringify({ ...body, docs: rest }) })).json()) as unknown[]) : [];
          return new Response(JSON.stringify([...answer, ...bad.map((d) => ({ id: d._id, error: 'forbidden', reason: 'read-only field' }))]), { status: 201, headers: { 'Content-Type': 'application/json' } });
        }
      }
      return fetch(input, init);
    };
    const statuses: string[] = [];
    const errors: string[] = [];
    const c = createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, fetch: vdu, requestTimeout: 3_000, maintenance: { enabled: false } });
    cleanups.push(() => c.close().catch(() => undefined));
    c.sync.on('status', (s) => statuses.push(`${Date.now() % 100000}:${s}`));
    c.sync.on('error', (e) => errors.push(`${e.code}(${(e as { key?: string }).key})`));
    await c.ready();
    await c.sync.waitForPush({ timeout: 10_000 });
    const refuse = (id: string) => refused.add(id);
    const off = () => refused.delete('bad');
    refuse('bad');
    await c.store.set('bad', 1);
    await waitFor(() => errors.length > 0, 15_000, 'first forbidden');
    off();
    refuse('bad2');
    await c.store.set('bad2', 2);
    const samples: string[] = [];
    for (let i = 0; i < 14; i++) {
      await sleep(1_500);
      samples.push(`${c.sync.status}/${await c.sync.pending()}`);
    }
    console.log(samples.join(' '), '|', statuses.join(' '), '|', errors.join(' '), '|', bulks);
    expect(samples.at(-1)!.startsWith('denied')).toBe(true);
  }, 60_000);
});

