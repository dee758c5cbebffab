/**
 * Resolutions of one client's conflicts (its scope: the client's lifetime signal): which keys' `onConflict` call is
 * running, and one resolution of a document at a time.
 *
 * - While a key's resolver call runs (conflicts.ts `askResolver`), a read of that key starts no resolution of its
 *   own — a resolver that reads the key it resolves (through the client) would otherwise ask itself again, without
 *   end: the resolver's own read answers the stored winner, any other waits (bounded) for that resolution.
 * - The paths that resolve a replica's document (the sync after a pull, `get()`, `getParts()`, a watch's current
 *   values) take turns per document ({@link oneAtATime}): the second finds it resolved, asks no resolver, emits no
 *   event.
 */
const DEFAULT_SCOPE = {};

/**
 * How long a read of a key waits for a resolution of it under way (the sync's after a pull, or a running resolver's)
 * before it answers what is stored.
 */
export const SETTLE_WAIT_MS = 2_000;
const running = new WeakMap<object, Map<string, number>>();
const turns = new WeakMap<object, Map<string, Promise<void>>>();

function mapOf<V>(maps: WeakMap<object, Map<string, V>>, scope: object | undefined): Map<string, V> {
  const key = scope ?? DEFAULT_SCOPE;
  let map = maps.get(key);
  if (!map) maps.set(key, (map = new Map()));
  return map;
}

export function resolverRunning(scope: object | undefined, key: string): boolean {
  return mapOf(running, scope).has(key);
}

/** Marks `key`'s resolver call as running until the returned function is called. */
export function resolverStarted(scope: object | undefined, key: string): () => void {
  const map = mapOf(running, scope);
  map.set(key, (map.get(key) ?? 0) + 1);
  return () => {
    const n = (map.get(key) ?? 1) - 1;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  };
}

/** The resolutions of `id` under way in this scope (settled either way), if any. */
export function turnOf(scope: object | undefined, id: string): Promise<void> | undefined {
  return mapOf(turns, scope).get(id);
}

/** Runs `resolve` once the resolutions of `id` started before it in this scope have settled. */
export function oneAtATime<T>(scope: object | undefined, id: string, resolve: () => Promise<T>): Promise<T> {
  const map = mapOf(turns, scope);
  const before = map.get(id);
  const run = before ? before.then(resolve) : resolve();
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  map.set(id, settled);
  void settled.then(() => {
    if (map.get(id) === settled) map.delete(id);
  });
  return run;
}
