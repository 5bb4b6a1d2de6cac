/**
 * `mlv fsck`: re-hash every cache object (and with --remote, every remote object, streamed), check
 * that tree objects parse and that every tree in the cache has its children there (the trees-last
 * rule), and that the workspace's pointers have their objects. Corrupt cache objects are moved to
 * `.mlv/cache/corrupt/`, never deleted; the remote is never modified.
 *
 * The result separates problems found (corrupt, truncated, missing: exit 6) from what could not be
 * checked (local I/O errors: exit 8; an unreachable remote or unreadable remote objects: exit 9).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode, MlvError, errnoCode } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parseTree, type TreeEntry } from '../core/tree.js';
import { readRemoteObject } from '../storage/download.js';
import { hashLocalFile, hashObjectBytes, hashRemoteObject, type HashedObject } from '../storage/object-check.js';
import type { PackEntry } from '../storage/packs.js';
import { defaultJobs, openRemote } from '../storage/open-remote.js';
import { runPool } from '../storage/pool.js';
import type { RemoteObject, RemoteStore } from '../storage/remote-store.js';
import { DEFAULT_RETRY, classify, withRetries } from '../storage/retry.js';
import { describeRemote, resolveRemote } from '../workspace/remotes.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { discoverPointers, loadPointer } from '../workspace/targets.js';
import { withLock, type CommandContext } from './context.js';
import { walkObjects, type Referenced, type TreeLookup, type WalkResult, type WalkStart } from './maintenance-walk.js';

export interface FsckOptions {
  /** Also check the remote (every object on it, streamed). */
  remote?: boolean;
  /** The remote to check (implies `remote`). */
  remoteName?: string;
  /** Concurrent reads: cache files, or remote downloads. */
  jobs?: number;
}

export type FsckProblemKind = 'corrupt' | 'truncated' | 'invalid-tree' | 'missing' | 'missing-below-tree';

export interface FsckProblem {
  id: ObjectId;
  problem: FsckProblemKind;
  where: 'cache' | 'incomplete' | 'remote';
  /** A workspace path that uses the object, when the workspace's pointers reference it. */
  path?: string;
  detail: string;
  /** Corrupt cache objects: where they were moved (relative to the project root). */
  movedTo?: string;
}

export interface FsckUnchecked {
  id?: ObjectId;
  path?: string;
  reason: string;
}

export interface FsckSide {
  /** Objects re-hashed. */
  checked: number;
  checkedBytes: number;
  problems: FsckProblem[];
  /** Objects that could not be read, so their state is unknown. */
  unchecked: FsckUnchecked[];
}

export interface FsckResult {
  local: FsckSide & { invalidPointers: Array<{ pointer: string; error: string }> };
  remote?: FsckSide & { remote: string; error?: string };
  /** Nothing wrong found, and everything could be checked. */
  healthy: boolean;
}

export function fsckExitCode(r: FsckResult): number {
  const problems = r.local.problems.length + r.local.invalidPointers.length + (r.remote?.problems.length ?? 0);
  if (problems > 0) return ExitCode.corrupt;
  if (r.local.unchecked.length > 0) return ExitCode.io;
  if (r.remote && (r.remote.error !== undefined || r.remote.unchecked.length > 0)) return ExitCode.transferFailed;
  return ExitCode.ok;
}

interface Hashed {
  id: ObjectId;
  size: number;
  incomplete?: boolean;
  result?: HashedObject;
  /** Parsed entries, for objects that hash right and parse as trees. */
  entries?: TreeEntry[];
  /** Hashes right and looks like a tree, but was too large to keep while hashing: parsed afterwards. */
  big?: boolean;
  /** Where it is when it is packed. */
  packed?: PackEntry;
}

/** What the local check learned that the remote check reuses. */
interface LocalKnowledge {
  starts: Array<WalkStart & { size?: number }>;
  trees: Map<ObjectId, TreeEntry[]>;
}

export async function fsck(ctx: CommandContext, opts: FsckOptions = {}): Promise<FsckResult> {
  const repo = findRepo(ctx.cwd);
  const wantRemote = Boolean(opts.remote || opts.remoteName);
  // Resolve the remote first: a misconfigured one is a usage error before any work.
  const spec = wantRemote ? resolveRemote(repo, opts.remoteName) : undefined;
  const localJobs = opts.jobs ?? Math.max(4, Math.min(16, os.availableParallelism() * 2));
  // Moving corrupt objects aside changes the cache, so the local part runs under the lock; the
  // remote part only reads, and does not hold up other commands.
  const { side, knowledge } = await withLock(repo, 'fsck', () => checkLocal(repo, ctx, localJobs));
  const result: FsckResult = { local: side, healthy: false };
  if (spec) {
    const remote = await openRemote(spec);
    try {
      result.remote = await checkRemote(remote, describeRemote(spec), knowledge, opts.jobs ?? defaultJobs(spec), ctx);
    } finally {
      remote.close();
    }
  }
  result.healthy = fsckExitCode(result) === ExitCode.ok;
  return result;
}

function workspaceStarts(repo: Repo, invalid: Array<{ pointer: string; error: string }>): Array<WalkStart & { size?: number }> {
  const starts: Array<WalkStart & { size?: number }> = [];
  for (const t of discoverPointers(repo)) {
    try {
      const { pointer } = loadPointer(repo, t);
      starts.push({ id: pointer.id, kind: pointer.kind, path: t.targetRel, where: 'workspace', ...(pointer.kind === 'file' ? { size: pointer.size } : {}) });
    } catch (err) {
      if (!(err instanceof MlvError) || (err.code !== 'INVALID_POINTER' && err.code !== 'NOT_FOUND')) throw err;
      if (err.code === 'INVALID_POINTER') invalid.push({ pointer: t.pointerRel, error: err.message });
    }
  }
  return starts;
}

/** Entries of the trees the check verified (cache or remote); anything else is unreadable. */
function lookupIn(...sources: Array<Map<ObjectId, TreeEntry[]>>): TreeLookup {
  return async (id) => {
    for (const s of sources) {
      const e = s.get(id);
      if (e) return { entries: e };
    }
    return { reason: 'not available' };
  };
}

/** Classifies an object whose bytes do not hash to its id. */
function damage(got: HashedObject, ref: Referenced | undefined): { problem: FsckProblemKind; detail: string } {
  const expected = ref?.size;
  if (expected !== undefined && got.size < expected) return { problem: 'truncated', detail: `${got.size} of ${expected} bytes (content hashes to ${got.actual.slice(0, 12)}...)` };
  if (expected !== undefined && got.size > expected) return { problem: 'corrupt', detail: `${got.size} bytes, ${expected} expected (content hashes to ${got.actual.slice(0, 12)}...)` };
  return { problem: 'corrupt', detail: `content hashes to ${got.actual}` };
}

function parseEntries(h: HashedObject): TreeEntry[] | undefined {
  if (!h.looksLikeTree || !h.bytes) return undefined;
  try {
    return parseTree(h.bytes);
  } catch {
    return undefined;
  }
}

/** Trees there whose children are not: the trees-last rule is broken. */
function invariantProblems(where: 'cache' | 'remote', refs: WalkResult, trees: Iterable<Hashed>, present: (id: ObjectId) => boolean, reported: Set<ObjectId>): FsckProblem[] {
  const problems: FsckProblem[] = [];
  const place = where === 'cache' ? 'the cache' : 'the remote';
  for (const h of trees) {
    // An object some tree uses as a file's content may merely look like a tree.
    if (!h.entries || h.incomplete || refs.objects.get(h.id)?.kind === 'file') continue;
    const treePath = refs.objects.get(h.id)?.path;
    for (const e of h.entries) {
      if (present(e.id) || reported.has(e.id)) continue;
      reported.add(e.id);
      const used = refs.objects.get(e.id)?.path ?? (treePath ? `${treePath}/${e.name}` : undefined);
      problems.push({
        id: e.id,
        problem: 'missing-below-tree',
        where,
        ...(used ? { path: used } : {}),
        detail: `not ${where === 'cache' ? 'in' : 'on'} ${place}, though the tree ${h.id.slice(0, 12)} listing it${treePath ? ` (${treePath})` : ''} is: ${place} holds a folder with missing contents`,
      });
    }
  }
  return problems;
}

/** Referenced objects that are absent, and objects used as folders that are not tree objects. */
function referenceProblems(where: 'cache' | 'remote', refs: WalkResult, hashed: Map<ObjectId, Hashed>, present: (id: ObjectId) => boolean, reported: Set<ObjectId>): FsckProblem[] {
  const problems: FsckProblem[] = [];
  for (const [id, ref] of refs.objects) {
    if (reported.has(id)) continue;
    const h = hashed.get(id);
    if (ref.kind === 'tree' && h?.result && h.result.actual === id && !h.entries) {
      reported.add(id);
      problems.push({ id, problem: 'invalid-tree', where, path: ref.path, detail: 'used as a folder, but the object is not a valid tree object' });
    } else if (!present(id)) {
      reported.add(id);
      problems.push({ id, problem: 'missing', where, path: ref.path, detail: where === 'cache' ? 'not in the cache' : 'not on the remote' });
    }
  }
  return problems;
}

async function checkLocal(repo: Repo, ctx: CommandContext, jobs: number): Promise<{ side: FsckResult['local']; knowledge: LocalKnowledge }> {
  const invalidPointers: Array<{ pointer: string; error: string }> = [];
  const starts = workspaceStarts(repo, invalidPointers);
  const side: FsckResult['local'] = { checked: 0, checkedBytes: 0, problems: [], unchecked: [], invalidPointers };
  const cache = repo.cache;
  cache.cleanStaleShardTemps();
  const items: Array<Hashed & { file: string; regular: boolean }> = [
    ...cache.listObjects({ all: true }).map((o) => ({ id: o.id, size: o.size, file: o.path, regular: o.regular, ...(o.packed ? { packed: o.packed } : {}) })),
    ...cache.listObjects({ incomplete: true, all: true }).map((o) => ({ id: o.id, size: o.size, file: o.path, regular: o.regular, incomplete: true })),
  ];
  const totalBytes = items.reduce((s, o) => s + o.size, 0);
  const proper = new Map<ObjectId, Hashed>();
  const incomplete = new Map<ObjectId, Hashed>();
  await runPool(items, jobs, async (item) => {
    try {
      // Something else than a file under an object's name (a folder, a link) cannot be verified.
      if (!item.regular) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
      item.result = item.packed ? hashObjectBytes(cache.readPacked(item.packed)) : await hashLocalFile(item.file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return; // removed meanwhile (only by hand: fsck holds the lock)
      side.unchecked.push({ id: item.id, reason: `cannot read ${path.relative(repo.root, item.file).split(path.sep).join('/')}: ${errnoCode(err) ?? (err as Error).message}` });
      (item.incomplete ? incomplete : proper).set(item.id, item);
      return;
    }
    side.checked++;
    side.checkedBytes += item.result.size;
    if (item.result.actual === item.id) {
      const entries = parseEntries(item.result);
      if (entries) item.entries = entries;
      else if (item.result.looksLikeTree && !item.result.bytes) item.big = true;
    }
    delete item.result.bytes;
    (item.incomplete ? incomplete : proper).set(item.id, item);
    ctx.onProgress?.({ phase: 'fsck', done: side.checked, total: items.length, bytes: side.checkedBytes, totalBytes });
  });

  // Very large tree objects, one at a time.
  for (const item of items) {
    if (!item.big) continue;
    try {
      item.entries = parseTree(await fs.promises.readFile(item.file));
    } catch {
      // not a tree after all, or unreadable now: left as it is
    }
  }
  const goodTrees = new Map<ObjectId, TreeEntry[]>();
  for (const h of [...proper.values(), ...incomplete.values()]) if (h.entries) goodTrees.set(h.id, h.entries);
  const refs = await walkObjects(starts, lookupIn(goodTrees), jobs);

  const reported = new Set<ObjectId>();
  // Damaged objects: reported, then moved aside (bytes kept). A damaged packed object is copied
  // aside and its pack replaced by plain files for the rest of what it holds.
  const damagedPacked = new Set<ObjectId>();
  for (const h of [...proper.values(), ...incomplete.values()]) {
    if (!h.result || h.result.actual === h.id) continue;
    const ref = refs.objects.get(h.id);
    const { problem, detail } = damage(h.result, ref);
    if (h.packed) damagedPacked.add(h.id);
    const moved = h.packed ? cache.keepAside(h.id, cache.readPacked(h.packed)) : cache.moveAside(h.id, { incomplete: h.incomplete ?? false });
    reported.add(h.id);
    side.problems.push({
      id: h.id,
      problem,
      where: h.incomplete ? 'incomplete' : 'cache',
      ...(ref ? { path: ref.path } : {}),
      detail,
      ...(moved ? { movedTo: path.relative(repo.root, moved).split(path.sep).join('/') } : {}),
    });
  }
  if (damagedPacked.size > 0) cache.removePacked(damagedPacked, { onlyDamaged: true });
  for (const d of cache.packs.damaged) {
    side.unchecked.push({ reason: `pack index .mlv/cache/packs/${d.name}.idx is damaged (${d.reason}), so the objects it lists are not used: delete it and its .pack, then re-add or fetch what is missing` });
  }
  for (const u of side.unchecked) if (u.id) reported.add(u.id);
  const isGood = (h: Hashed | undefined) => Boolean(h && (h.result ? h.result.actual === h.id : true));
  // In the cache proper, for the trees-last rule; referenced trees may also be kept as incomplete.
  const inProper = (id: ObjectId) => isGood(proper.get(id));
  const inCacheAtAll = (id: ObjectId) => inProper(id) || (refs.objects.get(id)?.kind === 'tree' && isGood(incomplete.get(id)));
  const hashedAll = new Map<ObjectId, Hashed>([...incomplete, ...proper]);
  side.problems.push(...invariantProblems('cache', refs, proper.values(), inProper, reported));
  side.problems.push(...referenceProblems('cache', refs, hashedAll, inCacheAtAll, reported));
  for (const u of side.unchecked) {
    const ref = u.id ? refs.objects.get(u.id) : undefined;
    if (ref) u.path = ref.path;
  }
  sortProblems(side.problems);
  return { side, knowledge: { starts, trees: goodTrees } };
}

function sortProblems(list: FsckProblem[]): void {
  list.sort((a, b) => (a.path ?? '\uffff').localeCompare(b.path ?? '\uffff') || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

class Mismatch extends MlvError {
  constructor(
    id: ObjectId,
    readonly got: HashedObject,
  ) {
    super('CORRUPT_OBJECT', `object ${id} hashes to ${got.actual}`);
  }
}

async function checkRemote(remote: RemoteStore, label: string, local: LocalKnowledge, jobs: number, ctx: CommandContext): Promise<NonNullable<FsckResult['remote']>> {
  const side: NonNullable<FsckResult['remote']> = { remote: label, checked: 0, checkedBytes: 0, problems: [], unchecked: [] };
  let listed: RemoteObject[];
  try {
    listed = await withRetries(async () => {
      const all: RemoteObject[] = [];
      for await (const o of remote.list()) all.push(o);
      return all;
    }, DEFAULT_RETRY);
  } catch (err) {
    if (err instanceof MlvError && err.code === 'USAGE') throw err; // no credentials or region: fix the setup
    side.error = `cannot list the remote ${label}: ${err instanceof MlvError ? err.message : classify(err).reason}`;
    return side;
  }
  const totalBytes = listed.reduce((s, o) => s + o.size, 0);
  const hashed = new Map<ObjectId, Hashed>();
  let fatal: unknown;
  await runPool(
    listed,
    jobs,
    async (o) => {
      const h: Hashed = { id: o.id, size: o.size };
      try {
        h.result = await withRetries(async () => {
          const got = await hashRemoteObject(remote, o.id);
          if (got.actual !== o.id) throw new Mismatch(o.id, got);
          return got;
        }, DEFAULT_RETRY);
      } catch (err) {
        if (err instanceof Mismatch) h.result = err.got;
        else if (err instanceof MlvError && err.code === 'MISSING_OBJECTS') return; // deleted since the listing
        else if (classify(err).fatal) {
          fatal ??= err;
          return;
        } else {
          side.unchecked.push({ id: o.id, reason: err instanceof MlvError ? err.message : classify(err).reason });
          return;
        }
      }
      side.checked++;
      side.checkedBytes += h.result.size;
      if (h.result.actual === h.id) {
        const entries = parseEntries(h.result);
        if (entries) h.entries = entries;
        else if (h.result.looksLikeTree && !h.result.bytes) h.big = true;
      }
      delete h.result.bytes;
      hashed.set(o.id, h);
      ctx.onProgress?.({ phase: 'fsck remote', done: side.checked, total: listed.length, bytes: side.checkedBytes, totalBytes });
    },
    () => fatal !== undefined,
  );
  if (fatal !== undefined) {
    side.error = `stopped reading the remote ${label}: ${fatal instanceof MlvError ? fatal.message : classify(fatal).reason}`;
  }

  // Very large tree objects, one at a time (read again, verified).
  for (const h of hashed.values()) {
    if (!h.big || fatal !== undefined) continue;
    try {
      const bytes = await readRemoteObject(remote, h.id);
      if (bytes) h.entries = parseTree(bytes);
    } catch {
      // not a tree after all, or unreadable now: left as it is
    }
  }
  const remoteTrees = new Map<ObjectId, TreeEntry[]>();
  for (const h of hashed.values()) if (h.entries) remoteTrees.set(h.id, h.entries);
  const refs = await walkObjects(local.starts, lookupIn(local.trees, remoteTrees), jobs);
  const listedIds = new Set(listed.map((o) => o.id));
  const reported = new Set<ObjectId>();
  for (const h of hashed.values()) {
    if (!h.result || h.result.actual === h.id) continue;
    const ref = refs.objects.get(h.id);
    reported.add(h.id);
    side.problems.push({ id: h.id, problem: damage(h.result, ref).problem, where: 'remote', ...(ref ? { path: ref.path } : {}), detail: damage(h.result, ref).detail });
  }
  for (const u of side.unchecked) {
    if (!u.id) continue;
    reported.add(u.id);
    const ref = refs.objects.get(u.id);
    if (ref) u.path = ref.path;
  }
  // A read that stopped half-way leaves objects unchecked, not missing.
  const present = (id: ObjectId) => listedIds.has(id) && (hashed.has(id) ? hashed.get(id)!.result!.actual === id : true);
  if (fatal === undefined) {
    side.problems.push(...invariantProblems('remote', refs, hashed.values(), present, reported));
    side.problems.push(...referenceProblems('remote', refs, hashed, present, reported));
  }
  // Referenced folders whose listing is not available for another reason: their contents are unknown.
  for (const u of refs.unreadable) {
    if (reported.has(u.id)) continue;
    reported.add(u.id);
    side.unchecked.push({ id: u.id, path: u.path, reason: 'folder listing not available, so what is below it was not checked' });
  }
  sortProblems(side.problems);
  return side;
}
