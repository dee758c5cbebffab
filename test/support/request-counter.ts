/** A counting `fetch` for the client's `fetch` option: every request's method, path (db name cut) and duration. */
export interface Req { method: string; path: string; ms: number; status: number; t: number }
export function counter() {
  const log: Req[] = [];
  let t0 = performance.now();
  const f: typeof fetch = async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const u = new URL(req.url);
    const path = (u.pathname.replace(/\/userdb-[0-9a-f]+/, '/DB') + (u.search ? '?' + u.searchParams.toString().slice(0, 80) : ''));
    const s = performance.now();
    const entry: Req = { method: req.method, path, ms: -1, status: 0, t: Math.round(s - t0) };
    log.push(entry);
    try {
      const r = await fetch(input as RequestInfo, init);
      entry.status = r.status;
      entry.ms = Math.round(performance.now() - s);
      return r;
    } catch (e) {
      entry.ms = Math.round(performance.now() - s);
      throw e;
    }
  };
  return {
    fetch: f,
    log,
    reset() { log.length = 0; t0 = performance.now(); },
    /** requests since reset, long-lived feeds excluded */
    count(exclude = /feed=continuous|feed=longpoll/) { return log.filter((r) => !exclude.test(r.path)).length; },
    show(label: string) { console.log(`--- ${label}: ${log.length} requests\n` + log.map((r) => `  +${r.t}ms ${r.method} ${r.path} ${r.status} ${r.ms}ms`).join('\n')); },
  };
}
