/**
 * Keys at the ends of the SDK's id ranges (src/store/ranges.ts: to eight U+10FFFF, and from U+E000 to eight U+FFFF).
 * A key whose leading run of U+FFFF and U+10FFFF holds U+10FFFF followed by U+E000–U+FFFF, or eight U+10FFFF or
 * eight U+FFFF followed by more, lay past both ranges:
 * stored and read by get(), but listed by no keys(), find() or export — and the chunk collector, which finds the
 * manifests it keeps that way, deleted the chunks of its big value (data loss). Such keys are now refused up front
 * (`invalid_key`, nothing sent); every key next to them (the same characters after any other one) is listed, and its
 * big value kept, also by a prefix query.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, text, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const REFUSED = ['\u{10FFFF}\uffff', '\u{10FFFF}\ue000note', '\uffff\u{10FFFF}\ue000', '\u{10FFFF}'.repeat(9), '\u{10FFFF}'.repeat(8) + 'x', '\uffff'.repeat(9), '\uffff'.repeat(8) + 'x', '\uffff' + '\u{10FFFF}'.repeat(8) + 'x'];
/** Next to them, and accepted. */
const EDGE = ['\u{10FFFF}', '\u{10FFFF}x', '\u{10FFFF}\u{10FFFE}', '\u{10FFFF}\ud7ff', '\u{10FFFF}\u{10FFFF}', '\u{10FFFF}\u{10FFFF}abc', '\u{10FFFF}'.repeat(8), '\uffff'.repeat(8), '\uffff\u{10FFFF}\u{10FFFF}', '\uffff'.repeat(7) + 'z', 'x\uffff', '\ue000\uffff', 'a\u{10FFFF}\u{10FFFF}', 'a\u{10FFFF}\ue000', 'x' + '\uffff'.repeat(9)];

const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
] as const;

describe.each(modes)('keys at the ends of the id ranges: $name', ({ options }) => {
  const open = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
    emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maintenance: { enabled: false }, ...options, ...extra } as FeatClientOptions),
    );

  it('a key past the ranges is refused up front (get and set); nothing is sent', async () => {
    let requests = 0;
    const c = open(uniqueUser('rek'), {
      fetch: (input: RequestInfo | URL, init?: RequestInit) => {
        requests++;
        return fetch(input, init);
      },
    });
    for (const key of REFUSED) {
      const error = await expectCode(c.store.set(key, 1), 'invalid_key');
      expect(error.message).toMatch(/starts with U\+FFFF\/U\+10FFFF characters holding U\+10FFFF followed by U\+E000–U\+FFFF, or eight U\+10FFFF or eight U\+FFFF followed by more/);
      await expectCode(c.store.get(key), 'invalid_key');
    }
    expect(requests).toBe(0);
  });

  it('every key next to them is listed by keys(), find() and exportData()', { timeout: 60_000 }, async () => {
    const c = open(uniqueUser('rek'));
    await Promise.all(EDGE.map((k) => c.store.set(k, { k })));
    const sorted = [...EDGE].sort();
    expect([...(await c.store.keys())].filter((k) => k !== 'doc').sort()).toEqual(sorted);
    expect((await c.store.find({})).filter((r) => r.key !== 'doc').map((r) => r.key).sort()).toEqual(sorted);
    // As subkeys (their part ids start with the key: within the ranges) the refused ones are parts like any other.
    await c.store.setParts('doc', Object.fromEntries(REFUSED.map((k, i) => [k, i])));
    expect(Object.keys(await c.store.getParts('doc')).sort()).toEqual([...REFUSED].sort());
    const exported = await c.exportData();
    expect(EDGE.filter((k) => !exported.includes(JSON.stringify(k)))).toEqual([]);
    for (const prefix of ['\u{10FFFF}', '\u{10FFFF}'.repeat(2), '\uffff', '\uffff'.repeat(3), '\uffff\u{10FFFF}', 'a\u{10FFFF}', 'x\uffff']) {
      const want = sorted.filter((k) => k.startsWith(prefix));
      expect([...(await c.store.keys(prefix))].sort(), `keys(${JSON.stringify(prefix)})`).toEqual(want);
      expect((await c.store.find({ prefix })).map((r) => r.key).sort(), `find({ prefix: ${JSON.stringify(prefix)} })`).toEqual(want);
    }
  });

  it('chunk collection keeps the big values stored under them', { timeout: 90_000 }, async () => {
    const c = open(uniqueUser('rek-gc'), { maxDocumentBytes: 200_000 });
    const big = text(400_000, 7);
    const keys = ['\u{10FFFF}\u{10FFFE}', '\uffff'.repeat(8), '\u{10FFFF}'.repeat(8)];
    for (const k of keys) await c.store.set(k, big);
    await c.sync.waitForPush({ timeout: 20_000 });
    const report = await c.maintenance.run({ chunkGraceMs: 0 });
    expect(report.chunksDeleted).toBe(0);
    for (const k of keys) expect(await c.store.get(k)).toBe(big);
  });
});
