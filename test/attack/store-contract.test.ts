/**
 * The store contract from outside: odd keys, parts, big and deep values, through the deployment's proxy, and across
 * devices in both modes (what one device writes, another reads the same).
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor, text } from '../support/backend.js';
import { LOCAL, MODES, REMOTE, clientFor, within } from './helpers.js';

const emu = useEmulator();

const ODD_KEYS = [
  'plain',
  'with space',
  'per%cent',
  '%25',
  'slash/inside',
  '/lead',
  'trail/',
  'q?x=1',
  'hash#frag',
  'plus+sign',
  'amp&eq=',
  '.',
  '..',
  '%2E',
  'é中😀',
  'tab\tnewline\n',
  'back\\slash',
  '"quoted"',
  'colon:',
  ':lead',
  'a::b',
  'UPPER',
  'upper',
  '~tilde',
  'x'.repeat(2_900),
  '中'.repeat(320),
];

describe.each(MODES)('odd keys: $name', (mode) => {
  it('every odd key round-trips (set, get, keys, getItem, remove, re-set) and another device reads it', async () => {
    const user = uniqueUser('keys');
    const a = clientFor(emu, user, mode.options);
    await a.ready();
    for (const [i, key] of ODD_KEYS.entries()) await a.store.set(key, { i, key });
    for (const [i, key] of ODD_KEYS.entries()) expect(await a.store.get(key), key).toEqual({ i, key });
    expect(await a.store.keys()).toEqual([...ODD_KEYS].sort());
    await a.store.flush();
    await a.sync.waitForPush({ timeout: 20_000 });
    // Another device of the other mode.
    const b = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await b.ready();
    await waitFor(async () => (await b.store.keys()).length === ODD_KEYS.length, 20_000, 'the other device to see every key');
    for (const [i, key] of ODD_KEYS.entries()) expect(await b.store.get(key), key).toEqual({ i, key });
    // Remove and re-set every other one, from the other device.
    for (const [i, key] of ODD_KEYS.entries()) if (i % 2 === 0) await b.store.remove(key);
    for (const [i, key] of ODD_KEYS.entries()) if (i % 4 === 0) await b.store.set(key, `again ${i}`);
    await b.sync.waitForPush({ timeout: 20_000 });
    const expected = ODD_KEYS.filter((_, i) => i % 2 === 1 || i % 4 === 0).sort();
    await waitFor(async () => JSON.stringify(await a.store.keys()) === JSON.stringify(expected), 20_000, 'removals to reach the first device');
    for (const [i, key] of ODD_KEYS.entries()) {
      const want = i % 4 === 0 ? `again ${i}` : i % 2 === 0 ? undefined : { i, key };
      expect(await a.store.get(key), key).toEqual(want);
      expect(await a.store.getItem(key), key).toBe(want === undefined ? null : typeof want === 'string' ? want : JSON.stringify(want));
    }
  });

  it('keys(prefix) is exact: case, regex metacharacters, %, and a prefix that is a whole key', async () => {
    const a = clientFor(emu, uniqueUser('prefix'), mode.options);
    await a.ready();
    const all = ['A', 'Ab', 'a', 'ab', 'aB', 'a.b', 'a*b', 'a%', 'a%25', 'b', 'é', 'e', 'E', 'a\uffff', 'a😀'];
    for (const k of all) await a.store.set(k, 1);
    const keys = async (p: string) => a.store.keys(p);
    expect(await keys('a')).toEqual(all.filter((k) => k.startsWith('a')).sort());
    expect(await keys('A')).toEqual(['A', 'Ab']);
    expect(await keys('a.')).toEqual(['a.b']);
    expect(await keys('a%')).toEqual(['a%', 'a%25']);
    expect(await keys('e')).toEqual(['e']);
    expect(await keys('a😀')).toEqual(['a😀']);
    expect(await keys('a\uffff')).toEqual(['a\uffff']);
    expect(await keys('zz')).toEqual([]);
  });

  it('parts: getParts/setParts(replace)/removeParts with odd subkeys; a plain key of the same id reads as the part', async () => {
    const user = uniqueUser('parts');
    const a = clientFor(emu, user, mode.options);
    await a.ready();
    const parts = { 'x:y': 1, '100%': 2, 'a b': 3, '😀': 4, '%3A': 5, '.': 6, 'q?': 7 };
    await a.store.setParts('doc', parts);
    await a.store.set('doc', 'the key itself');
    await a.store.setParts('doc:x', { inner: true });
    expect(await a.store.getParts('doc')).toEqual(parts);
    expect(await a.store.get('doc')).toBe('the key itself');
    await a.store.setParts('doc', { 'a b': 30, new: 8 }, { replace: true });
    expect(await a.store.getParts('doc')).toEqual({ 'a b': 30, new: 8 });
    expect(await a.store.getParts('doc:x')).toEqual({ inner: true });
    await a.sync.waitForPush({ timeout: 20_000 });
    const b = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await b.ready();
    await waitFor(async () => JSON.stringify(await b.store.getParts('doc')) === JSON.stringify({ 'a b': 30, new: 8 }), 20_000, 'parts on device b');
    await b.store.removeParts('doc');
    expect(await b.store.getParts('doc')).toEqual({});
    expect(await b.store.get('doc')).toBe('the key itself');
    expect(await b.store.getParts('doc:x')).toEqual({ inner: true });
    await b.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => Object.keys(await a.store.getParts('doc')).length === 0, 20_000, 'removal on device a');
  });

  it('deep nesting and every JSON scalar round-trip exactly', async () => {
    const a = clientFor(emu, uniqueUser('deep'), mode.options);
    await a.ready();
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200; i++) deep = i % 2 ? { [`k${i}`]: deep } : [deep];
    const scalars = { n: -0.000001, big: 1.7976931348623157e308, small: 1e-310, int: 2 ** 53 - 1, neg: -0, s: '\u2028\u2029\u0001"\\', e: '', t: true, f: false, z: null, arr: [], obj: {} };
    await a.store.set('deep', deep as never);
    await a.store.set('scalars', scalars);
    expect(await a.store.get('deep')).toEqual(deep);
    expect(await a.store.get('scalars')).toEqual({ ...scalars, neg: 0 });
    await a.store.setItem('str', '{"not":"parsed"}');
    expect(await a.store.getItem('str')).toBe('{"not":"parsed"}');
    expect(await a.store.get('str')).toBe('{"not":"parsed"}');
  });
});

describe.each(MODES)('big values through the 1 MiB proxy: $name', (mode) => {
  it('values just under and over 1 MiB, and ~7.9 MB, round-trip and reach the other device; no request body over 1 MiB', async () => {
    const user = uniqueUser('big');
    const bodies: number[] = [];
    const counting: typeof fetch = async (input, init) => {
      const body = init?.body;
      if (typeof body === 'string') bodies.push(new TextEncoder().encode(body).length);
      else if (body instanceof Uint8Array || body instanceof ArrayBuffer) bodies.push(body.byteLength);
      return fetch(input, init);
    };
    const a = clientFor(emu, user, { ...mode.options, fetch: counting });
    await a.ready();
    const values: Record<string, string> = {
      under: text(1_048_576 - 300, 1),
      over: text(1_048_576 + 10, 2),
      huge: text(7_900_000, 3),
    };
    for (const [k, v] of Object.entries(values)) await a.store.set(k, v);
    await a.store.setParts('bp', { one: text(900_000, 4), two: text(1_200_000, 5) });
    for (const [k, v] of Object.entries(values)) expect((await a.store.get<string>(k)) === v, k).toBe(true);
    await a.sync.waitForPush({ timeout: 60_000 });
    expect(Math.max(...bodies)).toBeLessThanOrEqual(1_048_576);
    const b = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await b.ready();
    await waitFor(async () => (await b.store.get<string>('huge'))?.length === values.huge!.length, 60_000, 'huge on device b');
    for (const [k, v] of Object.entries(values)) expect((await b.store.get<string>(k)) === v, k).toBe(true);
    const parts = await b.store.getParts<string>('bp');
    expect(parts.one === text(900_000, 4) && parts.two === text(1_200_000, 5)).toBe(true);
    // Overwrite the huge value with a small one, then remove: no torn reads.
    await b.store.set('huge', 'small now');
    await b.sync.waitForPush({ timeout: 60_000 });
    await waitFor(async () => (await a.store.get('huge')) === 'small now', 60_000, 'overwrite on device a');
    await a.store.remove('huge');
    expect(await a.store.get('huge')).toBeUndefined();
  }, 180_000);
});

describe.each(MODES)('many values: $name', (mode) => {
  it('1,200 parts: setParts, getParts, keys, find without limit (server pages of 1,000), sorted and windowed', async () => {
    const user = uniqueUser('many');
    const a = clientFor(emu, user, mode.options);
    await a.ready();
    const parts: Record<string, { i: number; odd: boolean }> = {};
    for (let i = 0; i < 1_200; i++) parts[`s${String(i).padStart(4, '0')}`] = { i, odd: i % 2 === 1 };
    await a.store.setParts('many', parts);
    expect(Object.keys(await a.store.getParts('many'))).toHaveLength(1_200);
    expect(await a.store.keys('many:')).toHaveLength(1_200);
    expect(await a.store.find({ prefix: 'many' })).toHaveLength(1_200);
    const desc = await a.store.find<{ i: number }>({ prefix: 'many', sort: [{ i: 'desc' }] });
    expect(desc.map((r) => r.value.i)).toEqual(Array.from({ length: 1_200 }, (_, k) => 1_199 - k));
    const odd = await a.store.find<{ i: number }>({ prefix: 'many', selector: { odd: true }, sort: ['i'], skip: 450, limit: 200 });
    expect(odd.map((r) => r.value.i)).toEqual(Array.from({ length: 150 }, (_, k) => 2 * (450 + k) + 1));
    await a.sync.waitForPush({ timeout: 60_000 });
    const b = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
    await b.ready();
    await waitFor(async () => (await b.store.keys('many:')).length === 1_200, 60_000, 'device b to see every part');
    expect(await b.store.find({ prefix: 'many', selector: { odd: false } })).toHaveLength(600);
    await b.store.removeParts('many');
    expect(await b.store.getParts('many')).toEqual({});
  }, 120_000);
});

describe('remote mode: a write over many values this client never read', () => {
  it('removeParts / setParts(replace) of 1,200 parts another device wrote: succeeds, in a bounded number of requests at once', async () => {
    const user = uniqueUser('fan');
    const a = clientFor(emu, user, REMOTE);
    await a.ready();
    const parts: Record<string, number> = {};
    for (let i = 0; i < 1_200; i++) parts[`s${String(i).padStart(4, '0')}`] = i;
    await a.store.setParts('fan', parts);
    let inFlight = 0;
    let most = 0;
    let total = 0;
    const counting: typeof fetch = async (input, init) => {
      inFlight++;
      total++;
      most = Math.max(most, inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const b = clientFor(emu, user, { ...REMOTE, fetch: counting });
    await b.ready();
    expect(await b.store.keys('fan:')).toHaveLength(1_200);
    const before = total;
    await within(b.store.setParts('fan', Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v + 1])), { replace: true }), 60_000, 'setParts');
    const afterSet = total;
    await within(b.store.removeParts('fan'), 60_000, 'removeParts');
    expect(await a.store.getParts('fan')).toEqual({});
    console.info(`[attack] setParts(replace): ${afterSet - before} requests; removeParts: ${total - afterSet}; most in flight: ${most}`);
    expect(most).toBeLessThanOrEqual(16);
    // Resolved together (a read per 50 parts and a write per batch), not a read and a write per part (2,404 before).
    expect(afterSet - before).toBeLessThanOrEqual(120);
    expect(total - afterSet).toBeLessThanOrEqual(120);
  }, 120_000);
});

describe('remote mode: removeParts of many parts this client only listed', () => {
  it('removeParts of 1,200 parts right after keys(): succeeds (no network error with the server up)', async () => {
    const user = uniqueUser('fan2');
    const a = clientFor(emu, user, REMOTE);
    await a.ready();
    const parts: Record<string, number> = {};
    for (let i = 0; i < 1_200; i++) parts[`s${String(i).padStart(4, '0')}`] = i;
    await a.store.setParts('fan', parts);
    const b = clientFor(emu, user, REMOTE);
    await b.ready();
    expect(await b.store.keys('fan:')).toHaveLength(1_200);
    const before = b.requests.length;
    const outcome = await within(
      b.store.removeParts('fan').then(
        () => 'resolved',
        (e: unknown) => String(e),
      ),
      90_000,
      'removeParts',
    );
    console.info(`[attack] removeParts after keys(): ${b.requests.length - before} requests`);
    expect(outcome).toBe('resolved');
    expect(await a.store.getParts('fan')).toEqual({});
  }, 120_000);
});
