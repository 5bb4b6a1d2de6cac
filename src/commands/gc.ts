/**
 * `mlv gc`: remove cache objects (and with --cloud, remote objects) that nothing in the chosen
 * scope references. Safety rules (docs/maintenance.md):
 *
 * - the working tree's pointers are always kept, whatever the scope;
 * - objects younger than the grace period are kept, and so is everything below a young tree;
 * - if a referenced tree cannot be read (cache, or with --cloud / -r the remote), nothing is
 *   removed: what lies below it is unknown;
 * - trees are removed before the objects below them, parents before children, so a cache or remote
 *   never holds a tree whose children are gone, even if gc is killed half-way;
 * - a dry run reads and lists, and changes nothing.
 */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import { parseTree } from '../core/tree.js';
import type { LocalCache } from '../storage/local-cache.js';
import { defaultJobs, openRemote } from '../storage/open-remote.js';
import { peekCached, peekLocal, peekRemote } from '../storage/object-check.js';
import { runPool } from '../storage/pool.js';
import type { RemoteObject, RemoteStore } from '../storage/remote-store.js';
import { DEFAULT_RETRY, classify, remoteError, withRetries } from '../storage/retry.js';
import { describeRemote, resolveRemote, type RemoteSpec } from '../workspace/remotes.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import { withLock, type CommandContext } from './context.js';
import { hasHistoryScope, scopePointers, type GcScope, type ScopeRoot } from './gc-scope.js';
import { parentsFirst, treeLookup, walkObjects, type WalkResult } from './maintenance-walk.js';
import { crashPoint } from '../core/crash-points.js';

export const DEFAULT_GRACE = '7d';

export interface GcOptions extends GcScope {
  /** Also remove unreferenced objects from the remote. */
  cloud?: boolean;
  /** The remote for --cloud; without --cloud, a remote to read missing tree objects from. */
  remote?: string;
  dryRun?: boolean;
  /** A duration such as 0, 30m, 2h, 7d (default: gc.grace, else 7d). */
  grace?: string;
  jobs?: number;
}

export interface GcListed {
  id: ObjectId;
  size: number;
  kind: 'file' | 'tree' | 'unknown';
  where: 'cache' | 'incomplete' | 'remote';
}

export interface GcSide {
  /** Objects there before gc. */
  objects: number;
  /** Of those, referenced by the scope (kept). */
  referenced: number;
  /** Unreferenced, but kept: younger than the grace period, or below a young tree. */
  young: number;
  /** Removed (in a dry run: would be removed). */
  removed: number;
  removedBytes: number;
  /** Dry run: what would be removed. */
  list?: GcListed[];
}

export interface GcRemoteSide extends GcSide {
  remote: string;
  /** Deletions that failed (after retries), and objects kept because a tree above them could not be deleted. */
  failed: Array<{ id: ObjectId; reason: string }>;
}

export interface GcResult {
  scope: string[];
  dryRun: boolean;
  grace: string;
  graceMs: number;
  /** Commits whose pointer files were read. */
  commits: number;
  /** Distinct pointer files read (working tree and commits). */
  pointerFiles: number;
  /** Objects the scope references (present or not). */
  referenced: number;
  warnings: string[];
  local: GcSide;
  remote?: GcRemoteSide;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `0`, or a whole number with a unit: `90s`, `30m`, `2h`, `7d`, `2w`. */
export function parseDuration(text: string): number {
  const m = /^(0|[0-9]{1,9})([smhdw])?$/.exec(text.trim());
  if (!m || (m[2] === undefined && m[1] !== '0')) {
    throw new MlvError('USAGE', `invalid grace period ${JSON.stringify(text)}`, { hint: 'use 0 or a number with a unit: 30m, 2h, 7d, 2w (s, m, h, d, w)' });
  }
  return m[2] === undefined ? 0 : Number(m[1]) * UNITS[m[2]]!;
}

export function scopeNames(s: GcScope): string[] {
  const names = ['workspace'];
  if (s.allBranches) names.push('all-branches');
  if (s.allTags) names.push('all-tags');
  if (s.allCommits) names.push('all-commits');
  return names;
}

export async function gc(ctx: CommandContext, opts: GcOptions = {}): Promise<GcResult> {
  const repo = findRepo(ctx.cwd);
  if (opts.cloud && !opts.workspace && !hasHistoryScope(opts)) {
    throw new MlvError('USAGE', 'gc --cloud needs an explicit scope: --workspace, --all-branches, --all-tags or --all-commits', {
      hint: 'a remote is shared: say what to keep, e.g. mlv gc --cloud --all-commits --dry-run',
    });
  }
  const graceText = opts.grace ?? repo.config.get('gc.grace') ?? DEFAULT_GRACE;
  const graceMs = parseDuration(graceText);
  // A misconfigured remote is a usage error before any work.
  const spec = opts.cloud || opts.remote ? resolveRemote(repo, opts.remote) : undefined;
  return withLock(repo, 'gc', () => gcLocked(repo, opts, spec, graceText, graceMs));
}

interface LocalEntry {
  id: ObjectId;
  size: number;
  mtimeMs: number;
  incomplete: boolean;
}

async function gcLocked(repo: Repo, opts: GcOptions, spec: RemoteSpec | undefined, graceText: string, graceMs: number): Promise<GcResult> {
  const scope = await scopePointers(repo, opts);
  const warnings = [...scope.warnings];
  let remote: RemoteStore | undefined;
  let remoteLabel = '';
  let jobs = opts.jobs ?? 16;
  if (spec) {
    remote = await openRemote(spec);
    remoteLabel = describeRemote(spec);
    jobs = opts.jobs ?? defaultJobs(spec);
  }
  try {
    const lookup = treeLookup(repo.cache, remote);
    const keep = await walkObjects(await resolveRoots(scope.roots, repo.cache, remote, jobs, warnings), lookup, jobs, undefined, { details: false });

    const now = Date.now();
    const isYoung = (modified: number | undefined) => modified === undefined ? graceMs > 0 : now - modified < graceMs;
    if (!opts.dryRun) repo.cache.cleanStaleShardTemps();
    // Only unreferenced objects are held (200,000 referenced ones would cost tens of MB as records).
    const localSide: GcSide = { objects: 0, referenced: 0, young: 0, removed: 0, removedBytes: 0 };
    const unreferenced: LocalEntry[] = [];
    for (const incomplete of [false, true]) {
      repo.cache.forEachObject({ incomplete }, (id, size, mtimeMs) => {
        localSide.objects++;
        if (keep.objects.has(id)) localSide.referenced++;
        else unreferenced.push({ id, size, mtimeMs, incomplete });
      });
    }
    let remoteObjects: RemoteObject[] = [];
    if (remote && opts.cloud) remoteObjects = await listRemote(remote);

    // Unreferenced objects: young ones stay, and so does everything below a young tree. Finding
    // the young trees costs a GET per young remote object the cache lacks, so it is skipped when
    // nothing is old enough to go anyway.
    const anyOld = unreferenced.some((o) => !isYoung(o.mtimeMs)) || remoteObjects.some((o) => !keep.objects.has(o.id) && !isYoung(o.modified));
    const youngTrees: Array<{ id: ObjectId; where: string }> = [];
    const youngLocal = anyOld ? unreferenced.filter((o) => isYoung(o.mtimeMs)) : [];
    for (const o of youngLocal) if (o.incomplete || peekCached(repo.cache, o.id)?.tree) youngTrees.push({ id: o.id, where: 'young cache object' });
    const youngRemote = anyOld ? remoteObjects.filter((o) => !keep.objects.has(o.id) && isYoung(o.modified)) : [];
    await runPool(youngRemote, jobs, async (o) => {
      if ((await kindOf(o.id, repo.cache, remote!)) === 'tree') youngTrees.push({ id: o.id, where: 'young remote object' });
    });
    // Trees the first walk went through have everything below them kept already, so they are not
    // walked again. (One it could not read is in keep.unreadable: then gc removes nothing at all,
    // below, if anything is old enough to go.)
    const protectedBelow: WalkResult = { objects: new Map(), unreadable: [], walked: keep.walked };
    await walkObjects(youngTrees.map((t) => ({ id: t.id, kind: 'dir' as const, path: `(tree ${t.id.slice(0, 12)})`, where: t.where })), lookup, jobs, protectedBelow, { details: false });
    for (const u of protectedBelow.unreadable) {
      warnings.push(`a young tree ${u.path} lists a folder ${u.id.slice(0, 12)} that cannot be read (${u.reason}); objects only it would protect are not protected`);
    }
    const kept = (id: ObjectId) => keep.objects.has(id) || protectedBelow.objects.has(id);

    const localGo: LocalEntry[] = [];
    for (const o of unreferenced) {
      if (isYoung(o.mtimeMs) || kept(o.id)) localSide.young++;
      else localGo.push(o);
    }
    let remoteSide: GcRemoteSide | undefined;
    const remoteGo: RemoteObject[] = [];
    if (remote && opts.cloud) {
      remoteSide = { remote: remoteLabel, objects: remoteObjects.length, referenced: 0, young: 0, removed: 0, removedBytes: 0, failed: [] };
      for (const o of remoteObjects) {
        if (keep.objects.has(o.id)) remoteSide.referenced++;
        else if (isYoung(o.modified) || kept(o.id)) remoteSide.young++;
        else remoteGo.push(o);
      }
    }

    if (keep.unreadable.length > 0 && localGo.length + remoteGo.length > 0) throw unreadableError(keep.unreadable, Boolean(remote), Boolean(opts.cloud));
    if (keep.unreadable.length > 0) {
      warnings.push(`${keep.unreadable.length} referenced folder listing(s) cannot be read, but nothing unreferenced is old enough to remove, so nothing depends on them`);
    }

    const result: GcResult = {
      scope: scopeNames(opts),
      dryRun: Boolean(opts.dryRun),
      grace: graceText,
      graceMs,
      commits: scope.commits,
      pointerFiles: scope.pointerFiles,
      referenced: keep.objects.size,
      warnings,
      local: localSide,
    };
    if (remoteSide) result.remote = remoteSide;

    if (opts.dryRun) {
      localSide.list = localGo.map((o) => ({ id: o.id, size: o.size, kind: o.incomplete ? 'tree' : peekCached(repo.cache, o.id)?.tree ? 'tree' : 'file', where: o.incomplete ? 'incomplete' : 'cache' }));
      localSide.removed = localGo.length;
      localSide.removedBytes = sum(localGo);
      if (remoteSide) {
        // Kinds only where the cache tells; a dry run sends no GET requests for them.
        remoteSide.list = remoteGo.map((o) => {
          const peek = repo.cache.has(o.id) ? peekCached(repo.cache, o.id) : undefined;
          return { id: o.id, size: o.size, kind: peek ? (peek.tree ? 'tree' : 'file') : 'unknown', where: 'remote' };
        });
        remoteSide.removed = remoteGo.length;
        remoteSide.removedBytes = sum(remoteGo);
      }
      return result;
    }

    removeLocal(repo.cache, localGo, localSide);
    repo.cache.consolidatePacks(MAX_PACKS);
    if (remote && remoteSide) await removeRemote(remote, repo.cache, remoteGo, remoteSide, jobs);
    return result;
  } finally {
    remote?.close();
  }
}

const sum = (list: Array<{ size: number }>) => list.reduce((s, o) => s + o.size, 0);

async function listRemote(remote: RemoteStore): Promise<RemoteObject[]> {
  try {
    return await withRetries(async () => {
      const all: RemoteObject[] = [];
      for await (const o of remote.list()) all.push(o);
      return all;
    }, DEFAULT_RETRY);
  } catch (err) {
    throw remoteError(err, remote.label);
  }
}

/** Tree or file, from the cache's copy when there is one, else from the remote object's first bytes. */
async function kindOf(id: ObjectId, cache: LocalCache, remote: RemoteStore): Promise<'file' | 'tree' | 'gone'> {
  const local = cache.has(id) ? peekCached(cache, id) : undefined;
  if (local) return local.tree ? 'tree' : 'file';
  try {
    const r = await withRetries(() => peekRemote(remote, id), DEFAULT_RETRY);
    return r === undefined ? 'gone' : r.tree ? 'tree' : 'file';
  } catch (err) {
    throw remoteError(err, remote.label);
  }
}

/**
 * Pointer targets to walk from. Roots named by invalid pointers (kind unknown) are looked at: a
 * tree is walked, anything else kept as a file; one found nowhere might be a folder whose contents
 * are unknown, so it counts as an unreadable tree.
 */
async function resolveRoots(roots: ScopeRoot[], cache: LocalCache, remote: RemoteStore | undefined, jobs: number, warnings: string[]) {
  const starts: Array<{ id: ObjectId; kind: 'file' | 'dir'; path: string; where: string }> = [];
  await runPool(roots, jobs, async (r) => {
    if (r.kind !== 'unknown') {
      starts.push({ id: r.id, kind: r.kind, path: r.path, where: r.where });
      return;
    }
    let kind: 'file' | 'tree' | 'gone' = 'gone';
    if (cache.has(r.id)) kind = peekCached(cache, r.id)?.tree ? 'tree' : 'file';
    else if (peekLocal(cache.incompletePath(r.id))) kind = 'tree';
    else if (remote) kind = await kindOf(r.id, cache, remote);
    if (kind === 'gone') {
      warnings.push(`${r.where}: ${r.path}: object ${r.id.slice(0, 12)} of an invalid pointer is nowhere to be found, so it is treated as a folder that cannot be read`);
    }
    starts.push({ id: r.id, kind: kind === 'file' ? 'file' : 'dir', path: r.path, where: r.where });
  });
  return starts;
}

function unreadableError(list: WalkResult['unreadable'], withRemote: boolean, cloud: boolean): MlvError {
  const first = list[0]!;
  const what = `${first.path} (tree ${first.id.slice(0, 12)}, ${first.where}): ${first.reason}`;
  const message =
    list.length === 1
      ? `cannot read the folder listing of ${what}; without it gc cannot tell which objects lie below it, so nothing was removed`
      : `cannot read ${list.length} folder listings (first: ${what}); without them gc cannot tell which objects lie below them, so nothing was removed`;
  const hint = cloud
    ? 'push the missing data from a machine that has it (git checkout <commit> && mlv push), or choose a narrower scope'
    : withRemote
      ? 'fetch the data from another remote (git checkout <commit> && mlv fetch -r <name>), or choose a narrower scope'
      : 'read the missing listings from a remote with -r <name> (or fetch them: git checkout <commit> && mlv fetch), or choose a narrower scope';
  return new MlvError('MISSING_OBJECTS', message, { hint, details: { unreadable: list } });
}

/** Trees are read whole to order them (the largest real trees are a few hundred MB). */
const WHOLE_TREE = 512 * 1024 * 1024;

/** The entries' ids of a tree object, [] when it does not parse; undefined when it is not a tree. */
function childrenOf(peek: { tree: boolean; bytes?: Buffer } | undefined): ObjectId[] | undefined {
  if (!peek?.tree) return undefined;
  try {
    return peek.bytes ? parseTree(peek.bytes).map((e) => e.id) : [];
  } catch {
    return []; // a damaged tree, or a file that looks like one: its children are unknown
  }
}

/** Parents-first waves of the trees among the items, then the files. */
function deletionOrder<T extends { id: ObjectId }>(items: T[], childrenOfItem: (item: T) => ObjectId[] | undefined): { waves: T[][]; files: T[]; parents: Map<ObjectId, ObjectId[]> } {
  const byId = new Map(items.map((i) => [i.id, i]));
  const trees = new Map<ObjectId, ObjectId[]>();
  const files: T[] = [];
  for (const item of items) {
    const children = childrenOfItem(item);
    if (children === undefined) files.push(item);
    else trees.set(item.id, children);
  }
  const parents = new Map<ObjectId, ObjectId[]>();
  for (const [id, children] of trees) {
    for (const c of new Set(children)) if (byId.has(c)) parents.set(c, [...(parents.get(c) ?? []), id]);
  }
  const waves = parentsFirst(trees).map((w) => w.map((id) => byId.get(id)!));
  return { waves, files, parents };
}

/** More packs than this are merged into one by gc (every lookup searches each pack's index). */
const MAX_PACKS = 32;

function removeLocal(cache: LocalCache, go: LocalEntry[], side: GcSide): void {
  // Incomplete trees carry no "trees last" promise; cache trees go parents first, then files.
  const proper = go.filter((o) => !o.incomplete);
  const { waves, files } = deletionOrder(proper, (o) => childrenOf(peekCached(cache, o.id, WHOLE_TREE)));
  const packed = new Map<ObjectId, LocalEntry>();
  for (const o of proper) if (cache.packed(o.id)) packed.set(o.id, o);
  for (const o of [...waves.flat(), ...files, ...go.filter((x) => x.incomplete)]) {
    crashPoint('gc:delete');
    if (cache.removeObject(o.id, { incomplete: o.incomplete }) && !packed.has(o.id)) {
      side.removed++;
      side.removedBytes += o.size;
    }
  }
  // Packed objects go last, pack by pack: the objects a pack still holds become plain files first.
  if (packed.size === 0) return;
  for (const id of cache.removePacked(new Set(packed.keys()))) {
    side.removed++;
    side.removedBytes += packed.get(id)!.size;
  }
}

async function removeRemote(remote: RemoteStore, cache: LocalCache, go: RemoteObject[], side: GcRemoteSide, jobs: number): Promise<void> {
  // Kinds (and children of trees) from the cache's copy when it verifies, else from the remote.
  const children = new Map<ObjectId, ObjectId[] | undefined>();
  const unknown = new Set<ObjectId>();
  await runPool(go, jobs, async (o) => {
    const local = cache.has(o.id) ? peekCached(cache, o.id, WHOLE_TREE) : undefined;
    if (local) {
      children.set(o.id, childrenOf(local));
      return;
    }
    try {
      children.set(o.id, childrenOf(await withRetries(() => peekRemote(remote, o.id, WHOLE_TREE), DEFAULT_RETRY)));
    } catch (err) {
      if (classify(err).fatal) throw remoteError(err, remote.label);
      unknown.add(o.id);
      side.failed.push({ id: o.id, reason: `could not read its first bytes to tell whether it is a tree, so it was kept: ${classify(err).reason}` });
    }
  });
  const inspected = go.filter((o) => !unknown.has(o.id));
  const { waves, files, parents } = deletionOrder(inspected, (o) => children.get(o.id));
  /** Deletions that failed, and what is kept because a tree above it stays. */
  const stays = new Set<ObjectId>(unknown);
  const remove = async (o: RemoteObject) => {
    const above = (parents.get(o.id) ?? []).find((p) => stays.has(p));
    if (above) {
      stays.add(o.id);
      side.failed.push({ id: o.id, reason: `kept: the tree ${above.slice(0, 12)} above it could not be deleted` });
      return;
    }
    try {
      crashPoint('gc:delete-remote');
      await withRetries(() => remote.delete(o.id), DEFAULT_RETRY);
      side.removed++;
      side.removedBytes += o.size;
    } catch (err) {
      if (classify(err).fatal) throw remoteError(err, remote.label);
      stays.add(o.id);
      side.failed.push({ id: o.id, reason: err instanceof MlvError ? err.message : classify(err).reason });
    }
  };
  for (const wave of waves) await runPool(wave, jobs, remove);
  await runPool(files, jobs, remove);
}
