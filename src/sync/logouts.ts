/**
 * The logouts under way in this page or process. A local-first client starting meanwhile opens its replica once they
 * are done: `logout({ destroyLocal: true })` not awaited, then a new client (the same account signing in again, or
 * another on a replica the app named) opened the replica the logout was deleting — its writes were lost with it, or it
 * was closed as "another tab", or waited on a replica closed under it.
 */
const underWay = new Map<Promise<unknown>, object>();

/** Registers a logout of the client `owner` stands for until it settles (its failure is the caller's to handle). */
export function logoutStarted(run: Promise<unknown>, owner: object): void {
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  underWay.set(settled, owner);
  void settled.then(() => underWay.delete(settled));
}

/**
 * Settles once every logout under way now of another client than `owner`'s has (a client's own logout waits for its
 * start: waiting for it would wait for itself); undefined when there is none.
 */
export function logoutsDone(owner: object): Promise<unknown> | undefined {
  const others = [...underWay].filter(([, of]) => of !== owner).map(([run]) => run);
  return others.length ? Promise.all(others) : undefined;
}
