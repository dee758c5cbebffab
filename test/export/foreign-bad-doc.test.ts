/**
 * Documents another app wrote straight to the user's database, which the SDK did not shape:
 *
 * - a manifest whose value cannot be read (its chunks missing, changed, or not forming JSON): the export still takes out
 *   every other key, writes that key as an `error` line (no value), reports it to the client's `error` event, and an
 *   import of the file skips that line (counted `skipped`);
 * - a value nested deeper than `JSON.stringify` reaches (5,000 levels; CouchDB 3.4 stores it, the emulator at most
 *   2,000): remote export writes it (README: "A deeper document another app wrote still reads and exports, but an
 *   import refuses that file, naming its line").
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type ExportHeader, type ExportLine, type FeatClient, type FeatError } from '@feat/sdk';
import { clientIn, expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { ON_REAL } from '../support/target.js';
import { stringify } from '../../src/util/json.js';

const emu = useEmulator();

const client = (user: string, mode: 'remote' | 'local-first'): FeatClient => clientIn(emu, user, mode, { requestTimeout: 20_000 });

/** A raw `_bulk_docs` body written straight to the user's database, as another app would. */
const writeForeign = async (user: string, body: string) => (await rawDatabase(emu, user)).bulk(body);

const parse = (ndjson: string) => {
  const [head, ...rest] = ndjson.trimEnd().split('\n');
  return { header: JSON.parse(head!) as ExportHeader, lines: rest.map((l) => JSON.parse(l) as ExportLine) };
};

/** A chunk whose content is not what its address says (another app changed it). */
const changedChunk = () => ({ _id: 'feat~chunk~' + createHash('sha256').update('"original"').digest('hex'), data: '"changed"' });

for (const mode of ['remote', 'local-first'] as const) {
  describe(`${mode}: an export with a value that cannot be read`, () => {
    it('exports every other key, the broken ones as "error" lines (reported); an import skips them', async () => {
      const user = uniqueUser(`xbd-${mode}`);
      const writer = client(user, 'remote');
      await writer.ready();
      const chunk = changedChunk();
      await writeForeign(user, JSON.stringify({
          docs: [
            { _id: 'todo:a', doc: { n: 1 } },
            { _id: 'todo:b', doc: { n: 2 }, feat: { updatedAt: 5, chunks: [] } },
            chunk,
            { _id: 'todo:c', feat: { updatedAt: 6, chunks: [chunk._id] } },
            { _id: 'todo:d', doc: { n: 4 } },
          ],
        }),
      );
      const c = mode === 'remote' ? writer : client(user, 'local-first');
      const reported: FeatError[] = [];
      c.sync.on('error', (e) => void reported.push(e));
      await c.ready();

      const { header, lines } = parse(await c.exportData());
      expect(header.counts.keys).toBe(4);
      expect(lines).toEqual([
        { key: 'todo:a', value: { n: 1 } },
        { key: 'todo:b', error: { code: 'bad_response', message: 'The chunks of "todo:b" do not form a JSON value' }, updatedAt: 5 },
        { key: 'todo:c', error: { code: 'bad_response', message: expect.stringMatching(/does not hold what its address/) }, updatedAt: 6 },
        { key: 'todo:d', value: { n: 4 } },
      ]);
      expect(reported.map((e) => [e.code, e.key])).toEqual([
        ['bad_response', 'todo:b'],
        ['bad_response', 'todo:c'],
      ]);
      expect(reported[0]!.message).toMatch(/^Exported "todo:b" as an "error" line: The chunks of "todo:b" do not form a JSON value/);
      // Streamed, the same lines.
      const streamed: string[] = [];
      for await (const line of await c.exportData({ format: 'lines' })) streamed.push(line);
      expect(streamed.slice(1).map((l) => (JSON.parse(l) as ExportLine).key)).toEqual(['todo:a', 'todo:b', 'todo:c', 'todo:d']);

      const other = client(uniqueUser(`xbd-in-${mode}`), mode);
      const text = await c.exportData();
      expect(await other.importData(text)).toEqual({ imported: 2, skipped: 2 });
      expect(await other.store.get('todo:a')).toEqual({ n: 1 });
      expect(await other.store.get('todo:b')).toBeUndefined();
      expect(await other.store.keys()).toEqual(['todo:a', 'todo:d']);
    }, 60_000);
  });
}

describe("the export's JSON writer (src/util/json.ts)", () => {
  it('writes what JSON.stringify writes, also at depths where JSON.stringify overflows the stack', () => {
    const values: unknown[] = [1, -0, 1e300, 'a"\\\u2028\ud83d\ude00', null, true, [], {}, [1, [2, {}], { a: [null, { b: 'x' }], 'c"': 0 }], { a: undefined, b: 1 }];
    for (const v of values) expect(stringify(v)).toBe(JSON.stringify(v));
    const text = '['.repeat(20_000) + '{"a":1,"b":[2,"x"],"c":{}}' + ']'.repeat(20_000);
    expect(() => JSON.stringify(JSON.parse(text))).toThrow(RangeError);
    expect(stringify(JSON.parse(text))).toBe(text);
  });

  it('sorted (the canonical text two values are compared by): the same key order at any depth', () => {
    const obj = { b: 1, 10: 2, 9: 3, a: { z: 0, y: [{ d: 1, c: 2 }] }, A: null };
    const shallow = stringify(obj, true);
    expect(shallow).toBe('{"9":3,"10":2,"A":null,"a":{"y":[{"c":2,"d":1}],"z":0},"b":1}');
    const deep = JSON.parse('['.repeat(20_000) + JSON.stringify(obj) + ']'.repeat(20_000)) as unknown;
    expect(stringify(deep, true)).toBe('['.repeat(20_000) + shallow + ']'.repeat(20_000));
  });
});

describe.runIf(ON_REAL)('a value nested 5,000 levels deep (real CouchDB: the emulator stores at most 2,000)', () => {
  const DEPTH = 5_000;
  const deep = '['.repeat(DEPTH) + ']'.repeat(DEPTH);

  it('remote: get() reads it, an export writes it whole, and an import refuses the file naming its line', async () => {
    const user = uniqueUser('xbd-deep');
    const c = client(user, 'remote');
    await c.ready();
    await writeForeign(user, `{"docs":[{"_id":"deep","doc":${deep}},{"_id":"good","doc":"ok"}]}`);
    let depth = 0;
    for (let v = await c.store.get('deep'); Array.isArray(v); v = v[0]) depth++;
    expect(depth).toBe(DEPTH);

    const text = await c.exportData();
    const rows = text.trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toBe(`{"key":"deep","value":${deep}}`);
    expect(JSON.parse(rows[2]!)).toEqual({ key: 'good', value: 'ok' });

    const error = await expectCode(client(uniqueUser('xbd-deep-in'), 'remote').importData(text), 'invalid_argument');
    expect(error.message).toMatch(/^Import input, line 2: .*nested deeper than 500 levels/);
  }, 60_000);

  it('remote: watch() delivers it and getItem() returns its JSON text (no RangeError from a copy or a stringify)', async () => {
    const user = uniqueUser('xbd-deep-watch');
    const c = client(user, 'remote');
    await c.ready();
    const events: unknown[] = [];
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const stop = c.store.watch('deep', (e) => events.push(e.value));
    await new Promise((r) => setTimeout(r, 500));
    await writeForeign(user, `{"docs":[{"_id":"deep","doc":${deep}}]}`);
    await waitFor(() => events.length > 0, 20_000, 'the watch event');
    stop();
    let depth = 0;
    for (let v = events[0]; Array.isArray(v); v = v[0]) depth++;
    expect(depth).toBe(DEPTH);
    expect(await c.store.getItem('deep')).toBe(deep);
    expect(errors).toEqual([]);
  }, 60_000);
});
