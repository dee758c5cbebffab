/**
 * Lineage marks (src/store/lineage.ts): a write's writer, run and count marks, and which leaves descend from others
 * when the revision history no longer says so. One writer's run is ordered by its count, not its clock. Marks not of the SDK's shape (another app, an attacker) never
 * make a leaf superseded: such a document is compared as before.
 */
import { describe, expect, it } from 'vitest';
import { encode, storedPrint, type StoredDoc, type WriteOp } from '../../src/store/codec.js';
import { marksOf, stamp, supersededRevs } from '../../src/store/lineage.js';

const W = '0123456789abcdef';
const X = 'fedcba9876543210';
const op = (at: number, by: string | undefined = W): WriteOp => ({ deleted: false, value: 1, at, seq: 1, by });
const leaf = (rev: string, feat?: Record<string, unknown>, deleted = false): StoredDoc =>
  ({ _id: 'k', _rev: rev, ...(deleted ? { _deleted: true } : { doc: rev }), ...(feat ? { feat: { updatedAt: 1, ...feat } } : {}) }) as StoredDoc;

describe('stamp', () => {
  it('a write keeps its own time on top of a revision stamped ahead (marks, not time, drop that one); a default carries no marks', () => {
    const ahead = op(1_000);
    stamp(ahead, { rev: '3-a' });
    expect({ at: ahead.at, from: ahead.from }).toEqual({ at: 1_000, from: '3-a' });
    const def = op(0);
    stamp(def, { rev: '3-a' });
    expect(def.at).toBe(0);
    // No marks either: devices storing the same default write the very same revision, as before.
    expect(def.from).toBeUndefined();
  });

  it('continues the writer\'s run on its own revision, starts one on another writer\'s (or an unknown) revision', () => {
    const own = op(1);
    stamp(own, { rev: '3-a', by: W, from: '1-z', mine: true });
    expect(own.from).toBe('1-z');
    // Marks naming this writer on a revision it did not write (another app copied the document's `feat`): a new run.
    const copied = op(1);
    stamp(copied, { rev: '3-a', by: W, from: '1-z', n: 4 });
    expect({ from: copied.from, anc: copied.anc }).toEqual({ from: '3-a', anc: [`${W}:4:1-z`] });
    const other = op(1);
    stamp(other, { rev: '3-a', by: X, from: '1-z' });
    expect(other.from).toBe('3-a');
    const unknown = op(1);
    stamp(unknown, { rev: '3-a' });
    expect(unknown.from).toBe('3-a');
    const first = op(1);
    stamp(first, undefined);
    expect(first.from).toMatch(/^~[0-9a-f]{16}$/);
  });

  it('counts every write it marks, whatever the clock says (set back, or the same millisecond); a retry counts anew', () => {
    const ops = [op(5_000), op(1_000), op(1_000), op(3_000)];
    for (const o of ops) stamp(o, { rev: '3-a', by: W, from: '1-z' });
    const ns = ops.map((o) => o.n!);
    expect(ns.every((n, i) => Number.isSafeInteger(n) && n > 0 && (i === 0 || n > ns[i - 1]!))).toBe(true);
    // Another writer's write counts on the same count (one for the process): still increasing for each writer.
    const other = op(1, X);
    stamp(other, undefined);
    expect(other.n).toBeGreaterThan(ns[3]!);
    const retried = ops[0]!;
    stamp(retried, { rev: '4-b', by: W, from: '1-z' });
    expect(retried.n).toBeGreaterThan(other.n!);
    // A default carries none.
    const def = op(0);
    def.n = 7;
    stamp(def, { rev: '3-a', by: W, from: '1-z' });
    expect(def.n).toBeUndefined();
  });

  it('the marks reach the stored document (encode), and only with a writer and an origin', () => {
    const o = op(1);
    stamp(o, undefined);
    const doc = encode('k', o, undefined);
    expect(doc.feat).toEqual({ updatedAt: 1, by: W, from: o.from, n: o.n, h: storedPrint(doc) });
    expect(encode('k', op(0), undefined).feat).toEqual({ updatedAt: 0 });
  });

  it("the marks vouch for the content they were written with (`h`): another app's edit keeping `feat` is not dropped by them", () => {
    // W's run: the revision at generation 3 (n 5), edited by another app keeping its feat (generation 4), and W's own
    // later edits on the other branch (n 6, 7: generation 5).
    const mine = (value: unknown, n: number, deleted = false, expiresAt?: number): StoredDoc => {
      const o: WriteOp = { deleted, value, at: n, seq: 1, by: W, ...(expiresAt === undefined ? {} : { expiresAt }) };
      stamp(o, { rev: '2-r', by: W, from: '1-z', mine: true });
      o.n = n;
      return encode('k', o, undefined);
    };
    const original = { ...mine({ note: 'v', list: [1, 2] }, 5), _rev: '3-p' };
    const edited = { ...original, _rev: '4-app', doc: { note: 'edited by the app', list: [1, 2] } };
    const later = { ...mine({ note: 'mine' }, 7), _rev: '5-q' };
    expect(supersededRevs([edited, later]).has('4-app')).toBe(false);
    // The SDK's own revision (its content as written) is still an ancestor of the run's later edit.
    expect(supersededRevs([original, later]).has('3-p')).toBe(true);
    // The same content after a round trip (JSON text), a deletion, a chunked value and an expiry are recognised.
    expect(supersededRevs([JSON.parse(JSON.stringify(original)) as StoredDoc, later]).has('3-p')).toBe(true);
    expect(supersededRevs([{ ...mine(undefined, 5, true), _rev: '3-d' }, later]).has('3-d')).toBe(true);
    expect(supersededRevs([{ ...mine({ note: 'v' }, 5, false, 99), _rev: '3-e' }, later]).has('3-e')).toBe(true);
    // Another expiry set on the value by another app, or the value removed from the document: not the marks' content.
    const expiring = mine({ note: 'v' }, 5, false, 99);
    expect(supersededRevs([{ ...expiring, _rev: '3-e', feat: { ...expiring.feat!, expiresAt: 100 } }, later]).has('3-e')).toBe(false);
    expect(supersededRevs([{ _id: 'k', _rev: '3-x', feat: original.feat! }, later]).has('3-x')).toBe(false);
    // Marks without a fingerprint (an earlier version's) are taken as before; a fingerprint not a string is no match.
    const { h: _h, ...old } = original.feat!;
    expect(supersededRevs([{ ...edited, feat: old }, later]).has('4-app')).toBe(true);
    expect(supersededRevs([{ ...original, feat: { ...original.feat!, h: 5 as never } }, later]).has('3-p')).toBe(false);
    // A revision held without its value (too deep for the replica: `unheld`) keeps the marks it came with.
    expect(supersededRevs([{ _id: 'k', _rev: '3-u', unheld: true, feat: original.feat! } as StoredDoc, later]).has('3-u')).toBe(true);
  });
});

describe('supersededRevs', () => {
  it('the same run of one writer: the lower generation, written earlier, is superseded (a removal included)', () => {
    const run = { by: W, from: '~0000000000000001' };
    expect([...supersededRevs([leaf('1-a', { ...run, updatedAt: 1 }), leaf('1500-b', { ...run, updatedAt: 2 })])]).toEqual(['1-a']);
    expect([...supersededRevs([leaf('1-a', { ...run, updatedAt: 1 }), leaf('22-b', { ...run, updatedAt: 2 }, true)])]).toEqual(['1-a']);
  });

  it('a higher generation claiming the run with an older time (another app kept the document\'s feat): no descendant', () => {
    const run = { by: W, from: '~0000000000000001' };
    expect(supersededRevs([leaf('2-a', { ...run, updatedAt: 50 }), leaf('3-b', { ...run, updatedAt: 10 })]).size).toBe(0);
  });

  it('with counts, one run is ordered by them, not by the clock: a later edit stamped an hour earlier supersedes', () => {
    const run = { by: W, from: '~0000000000000001' };
    const hour = 3_600_000;
    expect([...supersededRevs([leaf('1-a', { ...run, n: 1, updatedAt: 2 * hour }), leaf('21-b', { ...run, n: 21, updatedAt: hour })])]).toEqual(['1-a']);
    // The same millisecond: the count still tells which came later.
    expect([...supersededRevs([leaf('1-a', { ...run, n: 4, updatedAt: 9 }), leaf('8-b', { ...run, n: 5, updatedAt: 9 })])]).toEqual(['1-a']);
    // A removal made after the clock went back, too.
    expect([...supersededRevs([leaf('1-a', { ...run, n: 1, updatedAt: 2 * hour }), leaf('22-b', { ...run, n: 22, updatedAt: hour }, true)])]).toEqual(['1-a']);
  });

  it('with counts, a higher generation keeping an older count (another app kept the feat) is no descendant, whatever its time', () => {
    const run = { by: W, from: '~0000000000000001' };
    expect(supersededRevs([leaf('2-a', { ...run, n: 6, updatedAt: 10 }), leaf('3-b', { ...run, n: 5, updatedAt: 50 })]).size).toBe(0);
    expect(supersededRevs([leaf('2-a', { ...run, n: 6 }), leaf('3-b', { ...run, n: 6 })]).size).toBe(0);
  });

  it('a count on one leaf only, or not a positive integer: the run is ordered by time, as before', () => {
    const run = { by: W, from: '~0000000000000001' };
    for (const n of [undefined, 0, -3, 1.5, '9', Number.MAX_SAFE_INTEGER + 2]) {
      const leaves = [leaf('1-a', { ...run, n: 1, updatedAt: 50 }), leaf('9-b', { ...run, n, updatedAt: 10 })];
      expect(supersededRevs(leaves).size, String(n)).toBe(0);
      leaves[1] = leaf('9-b', { ...run, n, updatedAt: 60 });
      expect([...supersededRevs(leaves)], String(n)).toEqual(['1-a']);
    }
  });

  it('a run that started from a leaf supersedes it, whatever wrote that leaf (another app\'s document too)', () => {
    expect([...supersededRevs([leaf('1-a'), leaf('21-b', { by: W, from: '1-a' })])]).toEqual(['1-a']);
  });

  it('two writers, or two runs of one writer, or equal generations: nothing superseded (a real conflict)', () => {
    expect(supersededRevs([leaf('5-a', { by: W, from: '1-z' }), leaf('9-b', { by: X, from: '1-z' })]).size).toBe(0);
    expect(supersededRevs([leaf('5-a', { by: W, from: '1-z' }), leaf('9-b', { by: W, from: '2-y' })]).size).toBe(0);
    expect(supersededRevs([leaf('5-a', { by: W, from: '1-z' }), leaf('5-b', { by: W, from: '1-z' })]).size).toBe(0);
    expect(supersededRevs([leaf('5-a'), leaf('9-b')]).size).toBe(0);
  });

  it('marks not of the SDK\'s shape, or claiming a later leaf as origin, supersede nothing', () => {
    for (const bad of [{ by: 'x', from: '1-a' }, { by: W, from: 'nope' }, { by: 7, from: '1-a' }, { by: W, from: ['1-a'] }, { from: '1-a' }]) {
      expect(supersededRevs([leaf('1-a'), leaf('9-b', bad)]).size, JSON.stringify(bad)).toBe(0);
    }
    // Each naming the other: only the lower generation can be an ancestor; the highest leaf always stays.
    const cycle = supersededRevs([leaf('3-a', { by: W, from: '9-b' }), leaf('9-b', { by: X, from: '3-a' })]);
    expect([...cycle]).toEqual(['3-a']);
  });

  it('marksOf: a writer without a valid origin counts as no marks', () => {
    expect(marksOf({ updatedAt: 1, by: W })).toEqual({ by: undefined, from: undefined, n: undefined, anc: undefined });
    expect(marksOf({ updatedAt: 1, by: W, from: '12-abc' })).toEqual({ by: W, from: '12-abc', n: undefined, anc: undefined });
    expect(marksOf({ updatedAt: 1, by: W, from: '12-abc', n: 3 })).toEqual({ by: W, from: '12-abc', n: 3, anc: undefined });
    // A count without a valid writer and origin counts for nothing.
    expect(marksOf({ updatedAt: 1, by: 'x', from: '12-abc', n: 3 })).toEqual({ by: undefined, from: undefined, n: undefined, anc: undefined });
  });
});

describe('a key handed over between writers (anc: the runs a run went on top of)', () => {
  it('a new run names the place it started on (writer, count, run), then that run\'s own; at most 4; its own run carries them on', () => {
    const first = op(1, X);
    stamp(first, undefined);
    const second = op(2);
    stamp(second, { rev: '7-a', by: X, from: first.from, n: first.n, anc: undefined });
    expect(second.from).toBe('7-a');
    expect(second.anc).toEqual([`${X}:${first.n}:${first.from}`]);
    const own = op(3);
    stamp(own, { rev: '8-b', by: W, from: '7-a', n: second.n, anc: second.anc, mine: true });
    expect({ from: own.from, anc: own.anc }).toEqual({ from: '7-a', anc: second.anc });
    const many = op(4, X);
    stamp(many, { rev: '9-c', by: W, from: '7-a', n: 5, anc: ['a'.repeat(16) + ':1:1-a', 'b'.repeat(16) + ':2:2-b', 'c'.repeat(16) + ':3:3-c', 'd'.repeat(16) + ':4:4-d'] });
    expect(many.anc).toEqual([`${W}:5:7-a`, 'a'.repeat(16) + ':1:1-a', 'b'.repeat(16) + ':2:2-b', 'c'.repeat(16) + ':3:3-c']);
    // A parent without a count (an earlier version's marks) or without marks: no place to name.
    const legacy = op(5, X);
    stamp(legacy, { rev: '9-c', by: W, from: '7-a' });
    expect(legacy.anc).toBeUndefined();
    expect(encode('k', second, undefined).feat?.anc).toEqual(second.anc);
  });

  it('supersedes where an earlier run started, and that run\'s revisions up to the place it was left — not a later one', () => {
    // The tablet holds v0 (1-v); the laptop (X) ran from it, the phone (W) went on top of the laptop's edit n=10.
    const phone = leaf('30-p', { by: W, from: '20-l', n: 50, anc: [`${X}:10:1-v`] });
    expect([...supersededRevs([leaf('1-v'), phone])]).toEqual(['1-v']);
    expect([...supersededRevs([leaf('15-m', { by: X, from: '1-v', n: 7 }), phone])]).toEqual(['15-m']);
    expect([...supersededRevs([leaf('20-l', { by: X, from: '1-v', n: 10 }), phone])]).toEqual(['20-l']);
    // Another app's edit on top of the place, keeping its `feat` (the same count): not the place itself.
    expect(supersededRevs([leaf('21-o', { by: X, from: '1-v', n: 10 }), phone]).size).toBe(0);
    // Two hand-overs back: the place of the second is where the first run started (1-v here).
    const third = leaf('40-t', { by: 'e'.repeat(16), from: '30-p', n: 9, anc: [`${W}:50:20-l`, `${X}:10:1-v`] });
    expect([...supersededRevs([leaf('1-v'), third])]).toEqual(['1-v']);
    expect([...supersededRevs([leaf('20-l', { by: X, from: '1-v', n: 10 }), third])]).toEqual(['20-l']);
    expect([...supersededRevs([leaf('25-q', { by: W, from: '20-l', n: 40 }), third])]).toEqual(['25-q']);
    expect(supersededRevs([leaf('25-q', { by: W, from: '20-l', n: 50 }), third]).size).toBe(0);
    // The laptop went on editing after the phone took over: a real conflict.
    expect(supersededRevs([leaf('22-n', { by: X, from: '1-v', n: 12 }), phone]).size).toBe(0);
    // Another run of the laptop's, or a leaf without a count: not named.
    expect(supersededRevs([leaf('15-m', { by: X, from: '2-w', n: 7 }), phone]).size).toBe(0);
    expect(supersededRevs([leaf('15-m', { by: X, from: '1-v' }), phone]).size).toBe(0);
  });

  it('a list not of the SDK\'s shape (too long, malformed places) names nothing', () => {
    const place = `${X}:10:1-v`;
    for (const anc of [place, [place, 7], [`${X}:0:1-v`], ['x:10:1-v'], [`${X}:10:nope`], Array(5).fill(place)]) {
      expect(supersededRevs([leaf('1-v'), leaf('30-p', { by: W, from: '20-l', n: 50, anc })]).size, JSON.stringify(anc)).toBe(0);
    }
    // Without a count of its own, the list is not read either.
    expect(supersededRevs([leaf('1-v'), leaf('30-p', { by: W, from: '20-l', anc: [place] })]).size).toBe(0);
  });
});
