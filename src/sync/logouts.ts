/**
 * The logouts under way in this page or process. A local-first client starting meanwhile opens its replica once they
 * are done: `logout({ destroyLocal: true })` not awaited, then a new client (the same account signing in again, or
 * another on a replica the app named) opened the replica the logout was deleting — its writes were lost with it, or it
 * was closed as "another tab", or waited on a replica closed under it.
 */
const underWay = new Set<Promise<unknown>>();

/** Registers a logout until it settles (its failure is the caller's to handle). */
export function logoutStarted(run: Promise<unknown>): void {
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  underWay.add(settled);
  void settled.then(() => underWay.delete(settled));
}

/**
 * The logouts under way now (each settles, never rejects). A client takes them when it is created and its start waits
 * only for those: a logout called later — its own, or one of a client that waits for this client's start — would
 * make two starts wait for each other.
 */
export function logoutsUnderWay(): Promise<unknown>[] {
  return [...underWay];
}
