/**
 * A `fetch` that plays a server rule refusing some documents (what a `validate_doc_update` answers to a
 * `_bulk_docs` with `new_edits: false`: a per-document `forbidden`, the others stored), and counts requests.
 */
const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname.replace(/^\/[^/]+/, '') + u.search;
};

export interface Gate {
  fetch: typeof fetch;
  on: boolean;
  /** Bulk requests that carried a refused document. */
  refused: number;
  /** Every request made (method + path), with a timestamp. */
  log: { t: number; method: string; path: string; bytes: number }[];
  /** Called (and awaited) before a bulk carrying a refused document is answered. */
  hold?: ((ids: string[]) => Promise<void>) | undefined;
}

/** Refuses (forbidden) every live revision whose id matches `refuse` (deletions pass), until `gate.on = false`. */
export function forbidGate(refuse: (id: string, doc: Record<string, unknown>) => boolean): Gate {
  const gate: Gate = {
    on: true,
    refused: 0,
    log: [],
    fetch: async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? 'GET';
      const bytes = typeof init?.body === 'string' ? Buffer.byteLength(init.body) : 0;
      gate.log.push({ t: Date.now(), method, path: pathOf(url), bytes });
      if (!gate.on || method !== 'POST' || !/\/_bulk_docs(\?|$)/.test(url) || typeof init?.body !== 'string') return fetch(input, init);
      const body = JSON.parse(init.body) as { docs: ({ _id: string; _rev?: string; _deleted?: boolean } & Record<string, unknown>)[] };
      const bad = body.docs.filter((d) => !d._deleted && refuse(d._id, d));
      if (!bad.length) return fetch(input, init);
      gate.refused++;
      const rest = body.docs.filter((d) => !bad.includes(d));
      const answer = rest.length ? ((await (await fetch(input, { ...init, body: JSON.stringify({ ...body, docs: rest }) })).json()) as unknown[]) : [];
      await gate.hold?.(bad.map((d) => d._id));
      const denied = bad.map((d) => ({ id: d._id, rev: d._rev, error: 'forbidden', reason: 'read-only key' }));
      return new Response(JSON.stringify([...answer, ...denied]), { status: 201, headers: { 'Content-Type': 'application/json' } });
    },
  };
  return gate;
}

/** Counts requests and lets a test delay the answer to a `_bulk_docs` (the server's answer is already made). */
export function slowGate(): Gate {
  const gate: Gate = {
    on: true,
    refused: 0,
    log: [],
    fetch: async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = init?.method ?? 'GET';
      const bytes = typeof init?.body === 'string' ? Buffer.byteLength(init.body) : 0;
      gate.log.push({ t: Date.now(), method, path: pathOf(url), bytes });
      const response = await fetch(input, init);
      if (method === 'POST' && /\/_bulk_docs(\?|$)/.test(url) && response.status === 413) {
        gate.refused++;
        await gate.hold?.([]);
      }
      return response;
    },
  };
  return gate;
}
