import { FeatConflictError, toFeatError } from '../errors.js';
import { decode, encode, isExpired, sameJson, type StoredDoc, type WriteOp } from './codec.js';
import type { Conflict, ConflictResolver, ConflictSide } from './conflicts.js';
import type { Db } from './db.js';
import type { ConflictEvent } from './store.js';
import { snapshotValue } from './validate.js';

export interface ResolveWriteDeps {
  read(db: Db, id: string): Promise<StoredDoc | undefined>;
  valueOf(db: Db, raw: StoredDoc): Promise<unknown>;
  chunkIfLarge(db: Db, id: string, op: WriteOp): Promise<string[] | undefined>;
  stored(id: string, rev: string, op: WriteOp): void;
  resolver: ConflictResolver;
  retries: number;
  isOwn(id: string, rev: string): boolean;
  emit(event: ConflictEvent): void;
}

/**
 * A write met another version (409): read that version, let the resolver decide, write the result on top of it.
 * A version this client wrote itself is no conflict (its revision was only forgotten): the write goes on top.
 * Bounded retries while the document keeps changing, then `conflict`.
 */
export async function resolveWrite(db: Db, id: string, op: WriteOp, deps: ResolveWriteDeps): Promise<void> {
  for (let attempt = 0; attempt <= deps.retries; attempt++) {
    const raw = await deps.read(db, id);
    const decoded = raw ? decode(raw) : undefined;
    const remoteDeleted = !decoded || decoded.deleted || isExpired(decoded);
    let next = op;
    if (!raw || !decoded?.rev || !deps.isOwn(id, decoded.rev)) {
      const remote: ConflictSide = {
        value: remoteDeleted || !raw ? undefined : await deps.valueOf(db, raw),
        deleted: remoteDeleted,
        updatedAt: decoded?.updatedAt ?? 0,
        rev: decoded?.rev,
      };
      const local: ConflictSide = { value: op.deleted ? undefined : op.value, deleted: op.deleted, updatedAt: op.at, rev: undefined };
      const conflict: Conflict = { key: id, local, remote };
      let resolved: unknown;
      try {
        resolved = await deps.resolver(conflict);
      } catch (error) {
        throw new FeatConflictError('conflict', `The conflict resolver failed for "${id}"; nothing was written`, { key: id, cause: error });
      }
      if (resolved !== undefined) resolved = snapshotValue(resolved, id);
      deps.emit({ ...conflict, resolved, source: 'write' });
      const keepsRemote = resolved === undefined ? remote.deleted : !remote.deleted && sameJson(resolved, remote.value);
      if (keepsRemote) return;
      const at = Math.max(op.at, remote.updatedAt);
      next =
        resolved === undefined
          ? { deleted: true, value: undefined, at }
          : { deleted: false, value: resolved, at, expiresAt: op.expiresAt };
    }
    try {
      const chunks = await deps.chunkIfLarge(db, id, next);
      const r = await db.put(encode(id, next, raw && !raw._deleted ? raw._rev : undefined, chunks));
      deps.stored(id, r.rev, next);
      return;
    } catch (error) {
      if ((error as { status?: number }).status !== 409) throw toFeatError(error, { key: id });
    }
  }
  throw new FeatConflictError(
    'conflict',
    `"${id}" kept changing on the server while its conflict was resolved (${deps.retries + 1} attempts); try again`,
    { key: id },
  );
}
