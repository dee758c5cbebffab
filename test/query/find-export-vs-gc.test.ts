/**
 * An export (or a find) reads a big value's manifest; before it reads the chunks, another device (remote or
 * local-first) replaces the value and collects the old chunks. The key is readable throughout: neither an export
 * `error` line nor a query's "left out" warning — the value is read again at its current revision.
 */
import { expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const couch = useFaultProxy(() => emu.couchUrl);

let delayNextChunkRead = false;
const slowChunks: typeof fetch = async (input, init) => {
  const body = typeof init?.body === 'string' ? init.body : '';
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (delayNextChunkRead && (body.includes('feat~chunk~') || /feat~chunk~/.test(decodeURIComponent(url)))) {
    delayNextChunkRead = false;
    await sleep(6_000);
  }
  return fetch(input as never, init);
};

const mk = (user: string, mode: 'remote' | 'local-first', viaProxy: boolean): FeatClient =>
  emu.track(
    createFeatClient({
      couchUrl: viaProxy ? couch.url : emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}),
      requestTimeout: 20_000,
      ...(viaProxy ? { fetch: slowChunks } : {}),
      maintenance: { enabled: false },
    } as FeatClientOptions),
  );

for (const collector of ['remote', 'local-first'] as const) {
  for (const call of ['export', 'find'] as const) {
    it(`${call === 'find' ? '' : ''}${call} (remote) vs a replace + chunk collection by a ${collector} device: never an error line / left out`, async () => {
      const user = uniqueUser('s24-gc');
      const a = mk(user, 'remote', true);
      await a.ready();
      await a.store.set('todo:a', { n: 1 });
      await a.store.set('todo:big', { n: 2, body: text(2_500_000, 3) });
      const b = mk(user, collector, false);
      await b.ready();
      const errors: FeatError[] = [];
      a.sync.on('error', (e) => void errors.push(e));
      // Delay the chunk read (POST _all_docs?include_docs) by 6 s.
      delayNextChunkRead = true;
      const warnings: string[] = [];
      const running =
        call === 'export'
          ? a.exportData()
          : a.store.find({ prefix: 'todo:' }, { onWarning: (w: string) => void warnings.push(w) } as never).then((r) => JSON.stringify(r.map((x) => x.key)));
      await sleep(800);
      await b.store.set('todo:big', { n: 3, body: text(2_500_000, 4) });
      await b.store.flush();
      if (collector === 'local-first') await b.sync.waitForPush({ timeout: 30_000 });
      await b.maintenance.run({ chunkGraceMs: 0 } as never);
      await b.maintenance.run({ chunkGraceMs: 0 } as never);
      if (collector === 'local-first') await b.sync.waitForPush({ timeout: 30_000 });
      const out = await running;
      const lines = out.split('\n').filter((l) => l.includes('"error"'));
      expect(lines).toEqual([]);
      expect(warnings.filter((w) => /left out/.test(w))).toEqual([]);
      if (call === 'find') expect(JSON.parse(out)).toEqual(['todo:a', 'todo:big']);
      expect(errors.map((e) => e.code)).toEqual([]);
    }, 120_000);
  }
}
