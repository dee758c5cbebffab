/**
 * Random Mango selectors over a random data set (seeded, repeatable), for the differential test: each selector is run
 * by CouchDB itself (`_find` on a database of the same documents, as the SDK stores them) and by the SDK's `find` in
 * remote mode on the emulator and in local-first mode on the replica.
 */
export function mangoCases(seed: number, options: { missing: boolean }) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;

  const A = [0, 1, 2, 3, 5, 'x', 'xy', 'y', true, false, [1, 2], { e: 1 }];
  const B = ['ab', 'abc', 'b', '', 'ba', 'a.b', 'zz'];
  const TAGS = [[], ['a'], ['a', 'b'], [1, 'a'], ['b', 'c', 'd'], [2, 3]];
  const docs: Record<string, unknown> = {};
  const MISSING = options.missing;
  for (let i = 0; i < 40; i++) {
    const d: Record<string, unknown> = { a: pick(A), b: pick(B), c: { d: Math.floor(rnd() * 5) }, tags: pick(TAGS) };
    if (MISSING) {
      for (const f of ['a', 'b', 'c', 'tags']) {
        const r = rnd();
        if (r < 0.15) delete d[f];
        else if (r < 0.25) d[f] = null;
        else if (r < 0.3 && f === 'c') d[f] = 'str';
      }
    }
    docs[`k${String(i).padStart(2, '0')}`] = d;
  }

  const FIELDS = ['a', 'b', 'c.d', 'tags'];
  function cond(depth: number): unknown {
    const op = pick(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$type', '$size', '$regex', '$beginsWith', '$elemMatch', '$all', '$mod', '$not', 'lit', 'multi']);
    const val = () => pick([...A.slice(0, 9), ...B.slice(0, 5)]);
    switch (op) {
      case 'lit': return pick([1, 'ab', true, 3]);
      case '$in': case '$nin': return { [op]: [val(), val()] };
      case '$all': return { [op]: [pick(['a', 'b', 1])] };
      case '$exists': return { [op]: rnd() < 0.5 };
      case '$type': return { [op]: pick(['number', 'string', 'array', 'object', 'boolean']) };
      case '$size': return { [op]: Math.floor(rnd() * 3) };
      case '$regex': return { [op]: pick(['^a', 'b$', 'y', '^$']) };
      case '$beginsWith': return { [op]: pick(['a', 'x', '', 'ab']) };
      case '$mod': return { [op]: [2, pick([0, 1])] };
      case '$elemMatch': return { [op]: pick([{ $eq: 'a' }, { $gt: 1 }, { $beginsWith: 'b' }, { $in: ['c', 2] }]) };
      case '$not': return depth > 2 ? { $eq: 1 } : { [op]: cond(depth + 1) };
      case 'multi': return { $gt: val(), $lt: val() };
      default: return { [op]: val() };
    }
  }
  function sel(depth: number): Record<string, unknown> {
    const r = rnd();
    if (depth < 2 && r < 0.3) {
      const comb = pick(['$and', '$or', '$nor']);
      const out: Record<string, unknown> = { [comb]: [sel(depth + 1), sel(depth + 1)] };
      if (rnd() < 0.5) out[pick(FIELDS)] = cond(depth + 1);
      return out;
    }
    if (depth < 2 && r < 0.4) return { $not: sel(depth + 1) };
    const out: Record<string, unknown> = {};
    const n = 1 + Math.floor(rnd() * 2);
    for (let i = 0; i < n; i++) out[pick(FIELDS)] = cond(depth + 1);
    return out;
  }
  // Under doc., as the SDK stores values (field names only; operators' arguments kept).
  function underDoc(x: unknown, inField = false): unknown {
    if (Array.isArray(x)) return x.map((y) => underDoc(y, inField));
    if (typeof x !== 'object' || x === null) return x;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) {
      if (k.startsWith('$')) out[k] = ['$and', '$or', '$nor', '$not'].includes(k) && !inField ? underDoc(v) : v;
      else out[inField ? k : `doc.${k}`] = v;
    }
    return out;
  }
  return { docs, selector: () => sel(0), underDoc: (x: unknown) => underDoc(x) };
}
