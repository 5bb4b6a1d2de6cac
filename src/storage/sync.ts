/**
 * Moving objects between the local cache and a remote. Push uploads files first and publishes a
 * tree only once everything below it is confirmed on the remote. Fetch re-hashes every byte as it
 * streams in and lets an object into the cache only when it matches its id; large downloads that
 * break off resume where they stopped. Failures are collected, never fatal to the other objects
 * (except bad credentials or a full disk, which stop the run).
 */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import type { ProgressListener } from '../core/progress.js';
import type { GraphNode, ObjectGraph } from '../workspace/object-graph.js';
import { treesBottomUp } from '../workspace/object-graph.js';
import type { LocalCache } from './local-cache.js';
import { runPool } from './pool.js';
import type { RemoteStore } from './remote-store.js';
import { downloadObject } from './download.js';
import { DEFAULT_RETRY, classify, remoteError, withRetries, type RetryOptions } from './retry.js';
import { crashPoint } from '../core/crash-points.js';

/** Objects up to this size are pushed from memory (at most jobs x this much held at once). */
const SEND_FROM_MEMORY = 1 << 20;

export interface TransferOptions {
  jobs: number;
  onProgress?: ProgressListener;
  retry?: RetryOptions;
  /**
   * Keep partial downloads of large objects for the next run, and write small downloads into a
   * pack (both only under the repository lock: gc and fsck may remove a pack without an index).
   */
  resume?: boolean;
}

export interface TransferFailure {
  id: ObjectId;
  path: string;
  reason: string;
}

export interface TransferSummary {
  transferred: number;
  transferredBytes: number;
  /** Objects that were already where they had to go. */
  skipped: number;
  failed: TransferFailure[];
}

/** Above this many ids, one listing of the remote beats a HEAD request per object. */
const LIST_THRESHOLD = 500;
/** Up to this many ids are checked with HEAD requests straight away. */
const FEW = 8;
const LIST_PAGE = 1000;

/** Which of `ids` the remote holds, with their sizes. */
export async function remotePresence(remote: RemoteStore, ids: ObjectId[], jobs: number, retry = DEFAULT_RETRY): Promise<Map<ObjectId, number>> {
  const found = new Map<ObjectId, number>();
  if (ids.length === 0) return found;
  try {
    if (ids.length > FEW) {
      // Start listing: a remote that fits in one page (a new bucket, a small project) is answered
      // by that one request. A bigger remote is listed to the end only when many ids are asked for.
      const wanted = new Set(ids);
      const complete = await withRetries(async () => {
        found.clear();
        let seen = 0;
        for await (const o of remote.list()) {
          if (wanted.has(o.id)) found.set(o.id, o.size);
          if (++seen >= LIST_PAGE && ids.length <= LIST_THRESHOLD) return false;
        }
        return true;
      }, retry);
      if (complete) return found;
      found.clear();
    }
    await runPool(ids, jobs, async (id) => {
      const size = await withRetries(() => remote.stat(id), retry);
      if (size !== undefined) found.set(id, size);
    });
  } catch (err) {
    throw remoteError(err, remote.label);
  }
  return found;
}

class Fatal extends Error {
  constructor(readonly original: unknown) {
    super('fatal');
  }
}

function failureOf(node: GraphNode, err: unknown): TransferFailure {
  const c = classify(err);
  return { id: node.id, path: node.path, reason: err instanceof MlvError ? err.message : c.reason };
}

function rethrowFatal(err: unknown): void {
  if (classify(err).fatal) throw new Fatal(err);
}

export async function pushGraph(cache: LocalCache, remote: RemoteStore, graph: ObjectGraph, opts: TransferOptions): Promise<TransferSummary> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const summary: TransferSummary = { transferred: 0, transferredBytes: 0, skipped: 0, failed: [] };
  const nodes = [...graph.nodes.values()];
  const localSize = new Map<ObjectId, number>();
  for (const n of nodes) {
    // Not in the local cache is fine if the remote has it already (checked below).
    const size = cache.sizeOf(n.id);
    if (size !== undefined) localSize.set(n.id, size);
  }
  for (const u of graph.unreadable) summary.failed.push({ id: u.id, path: u.path, reason: `tree not in the local cache (${u.reason})` });
  const onRemote = await remotePresence(remote, nodes.map((n) => n.id), opts.jobs, retry);
  /** Objects known to be complete on the remote. */
  const confirmed = new Set<ObjectId>();
  for (const n of nodes) {
    const size = onRemote.get(n.id);
    if (size === undefined) continue;
    const expected = localSize.get(n.id) ?? (n.kind === 'file' ? n.size : undefined);
    if (expected === undefined || expected === size) confirmed.add(n.id);
  }
  for (const n of nodes) {
    if (!localSize.has(n.id) && !confirmed.has(n.id)) summary.failed.push({ id: n.id, path: n.path, reason: 'not in the local cache, nor on the remote' });
  }

  const files = nodes.filter((n) => n.kind === 'file' && localSize.has(n.id) && !confirmed.has(n.id));
  summary.skipped = nodes.filter((n) => confirmed.has(n.id)).length;
  const totalBytes = files.reduce((s, n) => s + localSize.get(n.id)!, 0);
  let done = 0;
  let sentBytes = 0;
  const progress = () => opts.onProgress?.({ phase: 'push', done, total: files.length, bytes: sentBytes, totalBytes });

  const uploaded: GraphNode[] = [];
  try {
    await runPool(files, opts.jobs, async (node) => {
      try {
        // A damaged cache object is never spread to the remote (read-only is not proof). Small
        // objects are read once, verified, and sent from memory.
        const size = localSize.get(node.id)!;
        let bytes: Uint8Array | undefined;
        if (size <= SEND_FROM_MEMORY) bytes = cache.readVerified(node.id);
        else cache.verifyObject(node.id);
        await withRetries(() => remote.put(node.id, cache.objectPath(node.id), size, bytes), retry);
        crashPoint('push:object');
        uploaded.push(node);
        sentBytes += localSize.get(node.id)!;
      } catch (err) {
        rethrowFatal(err);
        summary.failed.push(failureOf(node, err));
      }
      done++;
      progress();
    });
  } catch (err) {
    if (err instanceof Fatal) throw remoteError(err.original, remote.label);
    throw err;
  }

  // Read back what was written: a server that stored something else (such as aws-chunked
  // framing) is caught here, and its object removed, before any tree points at it.
  // An object that reads back wrong gets one more upload; if it is still wrong it is reported, and
  // no tree will point at it. (It is not deleted: on a server that overwrites in place, another
  // push may be rewriting it at this very moment, and fetch never trusts a copy anyway.)
  let check = await remotePresence(remote, uploaded.map((n) => n.id), opts.jobs, retry);
  const wrong = uploaded.filter((n) => check.get(n.id) !== localSize.get(n.id));
  if (wrong.length > 0) {
    await runPool(wrong, opts.jobs, async (node) => {
      try {
        const size = localSize.get(node.id)!;
        const bytes = cache.packedOnly(node.id) ? cache.readVerified(node.id) : undefined;
        await withRetries(() => remote.put(node.id, cache.objectPath(node.id), size, bytes), retry);
      } catch {
        // reported below from the second read-back
      }
    });
    const again = await remotePresence(remote, wrong.map((n) => n.id), opts.jobs, retry);
    check = new Map([...check, ...again]);
    for (const n of wrong) if (!again.has(n.id)) check.delete(n.id);
  }
  for (const node of uploaded) {
    const size = check.get(node.id);
    if (size !== undefined && size === localSize.get(node.id)) {
      confirmed.add(node.id);
      summary.transferred++;
      summary.transferredBytes += size;
    } else {
      summary.failed.push({ id: node.id, path: node.path, reason: size === undefined ? 'not found on the remote after upload' : `the remote stored ${size} bytes instead of ${localSize.get(node.id)}` });
    }
  }

  // Trees go up level by level (all trees of one height at once): a tree is published only when
  // everything below it is confirmed.
  for (const level of treeLevels(graph)) {
    await runPool(level, opts.jobs, async (tree) => {
      if (confirmed.has(tree.id) || !localSize.has(tree.id)) return;
      const missing = (tree.children ?? []).filter((c) => !confirmed.has(c));
      if (missing.length > 0) {
        summary.failed.push({ id: tree.id, path: tree.path, reason: `folder not published: ${missing.length} object(s) below it are not on the remote` });
        return;
      }
      try {
        crashPoint('push:tree');
        cache.verifyObject(tree.id);
        await withRetries(() => remote.put(tree.id, cache.objectPath(tree.id), localSize.get(tree.id)!), retry);
        const size = await withRetries(() => remote.stat(tree.id), retry);
        if (size !== localSize.get(tree.id)) throw new MlvError('CORRUPT_OBJECT', `the remote stored ${size ?? 'no'} bytes for tree ${tree.id}`);
        confirmed.add(tree.id);
        summary.transferred++;
        summary.transferredBytes += size ?? 0;
      } catch (err) {
        if (classify(err).fatal) throw remoteError(err, remote.label);
        summary.failed.push(failureOf(tree, err));
      }
    });
  }
  return summary;
}

export async function fetchGraph(cache: LocalCache, remote: RemoteStore, graph: ObjectGraph, opts: TransferOptions): Promise<TransferSummary> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const summary: TransferSummary = { transferred: 0, transferredBytes: 0, skipped: 0, failed: [] };
  for (const u of graph.unreadable) summary.failed.push({ id: u.id, path: u.path, reason: `folder listing unavailable: ${u.reason}` });
  const files = [...graph.nodes.values()].filter((n) => n.kind === 'file');
  const missing = files.filter((n) => !cache.has(n.id));
  summary.skipped = files.length - missing.length;
  const totalBytes = missing.reduce((s, n) => s + n.size, 0);
  let done = 0;
  // Small downloads go into a pack (published below, also after a failure: they are verified).
  const packing = opts.resume !== false;
  if (packing) cache.startPacking();
  try {
    await runPool(missing, opts.jobs, async (node) => {
      try {
        const bytes = await withRetries(() => downloadObject(cache, remote, node.id, node.size, { resume: opts.resume !== false }), retry);
        crashPoint('fetch:object');
        summary.transferred++;
        summary.transferredBytes += bytes;
      } catch (err) {
        rethrowFatal(err);
        summary.failed.push(failureOf(node, err));
      }
      done++;
      opts.onProgress?.({ phase: 'fetch', done, total: missing.length, bytes: summary.transferredBytes, totalBytes });
    });
  } catch (err) {
    if (packing) publishPackAfterFailure(cache);
    if (err instanceof Fatal) throw remoteError(err.original, remote.label);
    throw err;
  }
  if (packing) cache.finishPacking();
  // Trees enter the cache bottom-up, only when everything below them is there.
  const stored = new Set<ObjectId>();
  for (const tree of treesBottomUp(graph)) {
    const complete = (tree.children ?? []).every((c) => stored.has(c) || (graph.nodes.get(c)?.kind === 'file' && cache.has(c)));
    if (cache.has(tree.id)) {
      if (complete) stored.add(tree.id);
      cache.dropIncompleteTree(tree.id);
      continue;
    }
    const bytes = tree.bytes ?? incompleteTreeBytes(cache, tree.id);
    if (!bytes) continue;
    crashPoint('fetch:tree');
    if (complete) {
      cache.storeHashed(bytes, tree.id);
      cache.dropIncompleteTree(tree.id);
      stored.add(tree.id);
    } else {
      cache.storeIncompleteTree(bytes, tree.id);
    }
  }
  // The trees on the way down to a requested part, so checkout can find that part.
  for (const t of graph.pathTrees) if (t.bytes && !cache.has(t.id)) cache.storeIncompleteTree(t.bytes, t.id);
  return summary;
}

function publishPackAfterFailure(cache: LocalCache): void {
  try {
    cache.finishPacking();
  } catch {
    cache.abortPacking();
  }
}

function incompleteTreeBytes(cache: LocalCache, id: ObjectId): Buffer | undefined {
  try {
    return cache.readVerified(id, { incomplete: true });
  } catch {
    return undefined;
  }
}

/** Trees grouped by height (leaves' parents first), so each group only depends on earlier ones. */
function treeLevels(graph: ObjectGraph): GraphNode[][] {
  const height = new Map<ObjectId, number>();
  const levels: GraphNode[][] = [];
  for (const tree of treesBottomUp(graph)) {
    let h = 0;
    for (const c of tree.children ?? []) {
      const ch = height.get(c);
      if (ch !== undefined && ch + 1 > h) h = ch + 1;
    }
    height.set(tree.id, h);
    (levels[h] ??= []).push(tree);
  }
  return levels.filter(Boolean);
}
