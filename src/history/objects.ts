/**
 * Objects for the history commands: looked up in the source's caches, tree objects read from the
 * remote when no cache has them (verified, then kept as incomplete trees), file objects fetched
 * in bulk into the first cache. Every object is verified before use.
 */
import { MlvError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import type { ProgressListener } from '../core/progress.js';
import { parseTree, type TreeEntry } from '../core/tree.js';
import { readRemoteObject } from '../storage/download.js';
import type { LocalCache } from '../storage/local-cache.js';
import { defaultJobs, openRemote } from '../storage/open-remote.js';
import type { RemoteStore } from '../storage/remote-store.js';
import { DEFAULT_RETRY, remoteError, withRetries } from '../storage/retry.js';
import { fetchGraph, type TransferSummary } from '../storage/sync.js';
import type { GraphNode, ObjectGraph } from '../workspace/object-graph.js';
import { describeRemote } from '../workspace/remotes.js';
import { TreeReader } from '../workspace/tree-reader.js';
import type { DataSource } from './source.js';

export interface AccessOptions {
  /** A remote name from the revision's configuration, instead of its default. */
  remote?: string;
  jobs?: number;
  onProgress?: ProgressListener;
}

export interface FileToFetch {
  id: ObjectId;
  size: number;
  path: string;
}

export class ObjectAccess {
  private readonly readers: TreeReader[];
  private readonly memory = new Map<ObjectId, TreeEntry[]>();
  private remote: Promise<{ store: RemoteStore; label: string; jobs: number }> | undefined;
  /** Trees and files fetched or found missing, for the summary. */
  fetched: TransferSummary = { transferred: 0, transferredBytes: 0, skipped: 0, failed: [] };

  constructor(
    readonly source: DataSource,
    private readonly opts: AccessOptions = {},
  ) {
    this.readers = source.caches.map((c) => new TreeReader(c));
  }

  /** Trees that exist only in memory (the workspace side of a diff). */
  addMemoryTrees(trees: Map<ObjectId, TreeEntry[]>): void {
    for (const [id, entries] of trees) this.memory.set(id, entries);
  }

  private readonly holder = new Map<ObjectId, LocalCache | null>();

  /** The cache holding file object `id`, if any (remembered until something is fetched). */
  cacheWith(id: ObjectId): LocalCache | undefined {
    let hit = this.holder.get(id);
    if (hit === undefined) this.holder.set(id, (hit = this.source.caches.find((c) => c.has(id)) ?? null));
    return hit ?? undefined;
  }

  /** Whether a tree object (complete, not just a listing kept on the way down) is in a cache. */
  hasTree(id: ObjectId): boolean {
    return this.source.caches.some((c) => c.has(id));
  }

  private openRemote() {
    this.remote ??= (async () => {
      const spec = this.source.remote(this.opts.remote);
      const store = await openRemote(spec);
      return { store, label: describeRemote(spec), jobs: this.opts.jobs ?? defaultJobs(spec) };
    })();
    return this.remote;
  }

  /** The remote, for data the caches lack (`missing` says what); no usable remote means missing data. */
  private async remoteFor(missing: string) {
    try {
      return await this.openRemote();
    } catch (err) {
      if (err instanceof MlvError && err.code === 'USAGE') {
        throw new MlvError('MISSING_OBJECTS', `${missing}, and no remote can be used: ${err.message}`, { hint: err.hint ?? 'configure a remote, or run this where the data was added' });
      }
      throw err;
    }
  }

  /** The entries of a tree: from memory, a cache, else the remote. */
  async readTree(id: ObjectId, where: string): Promise<TreeEntry[]> {
    const hit = this.memory.get(id);
    if (hit) return hit;
    for (const reader of this.readers) {
      const entries = reader.read(id);
      if (entries) return entries;
    }
    const remote = await this.remoteFor(`the listing of ${where} (tree ${id}) is not in the cache`);
    let bytes: Buffer | null;
    try {
      bytes = await readRemoteObject(remote.store, id);
    } catch (err) {
      throw remoteError(err, remote.label);
    }
    if (!bytes) throw new MlvError('MISSING_OBJECTS', `the listing of ${where} (tree ${id}) is neither in the cache nor on ${remote.label}`, { hint: 'it was probably never pushed: run mlv push where it was added' });
    const entries = parseTree(bytes, id);
    this.memory.set(id, entries);
    this.source.caches[0]!.storeIncompleteTree(bytes, id);
    return entries;
  }

  /** Downloads the file objects no cache has into the first cache; failures stop the command. */
  async fetchMissing(files: FileToFetch[]): Promise<void> {
    const nodes = new Map<ObjectId, GraphNode>();
    for (const f of files) if (!nodes.has(f.id) && !this.cacheWith(f.id)) nodes.set(f.id, { id: f.id, kind: 'file', size: f.size, path: f.path });
    if (nodes.size === 0) return;
    const remote = await this.remoteFor(`${nodes.size} object(s) are not in the cache (${[...nodes.values()][0]!.path} first)`);
    this.source.caches[0]!.cleanStaleTemps();
    const graph: ObjectGraph = { nodes, pathTrees: [], unreadable: [] };
    for (const id of nodes.keys()) this.holder.delete(id);
    // No resumable partial files: get, export and the API run without the repository lock.
    const summary = await fetchGraph(this.source.caches[0]!, remote.store, graph, { jobs: remote.jobs, onProgress: this.opts.onProgress, resume: false });
    this.fetched.transferred += summary.transferred;
    this.fetched.transferredBytes += summary.transferredBytes;
    if (summary.failed.length > 0) {
      const f = summary.failed[0]!;
      throw new MlvError('REMOTE', `${summary.failed.length} object(s) could not be fetched from ${remote.label}; first: ${f.path} (${f.id.slice(0, 12)}): ${f.reason}`, {
        hint: 'run the command again to retry; objects already fetched are kept',
        details: { failed: summary.failed },
      });
    }
  }

  /** The bytes of object `id` straight from the remote (not verified here: the caller hashes them). */
  async remoteBody(id: ObjectId, where: string): Promise<{ body: AsyncIterable<Uint8Array>; label: string }> {
    const remote = await this.openRemote();
    try {
      return { body: (await withRetries(() => remote.store.get(id, 0), DEFAULT_RETRY)).body, label: remote.label };
    } catch (err) {
      if (err instanceof MlvError && err.code === 'MISSING_OBJECTS') {
        throw new MlvError('MISSING_OBJECTS', `${where} (object ${id}) is neither in the cache nor on ${remote.label}`, { hint: 'it was probably never pushed: run mlv push where it was added' });
      }
      throw remoteError(err, remote.label);
    }
  }

  close(): void {
    void this.remote?.then((r) => r.store.close()).catch(() => {});
  }
}
