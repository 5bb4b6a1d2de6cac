/** `mlv status --remote`: which referenced objects are missing on the remote, and which only there. */
import type { ObjectId } from '../core/id.js';
import { remotePresence } from '../storage/sync.js';
import { findRepo } from '../workspace/repo.js';
import type { CommandContext } from './context.js';
import { graphFor, localThenRemoteTrees, setUpSync } from './sync-context.js';

export interface RemoteStatusResult {
  remote: string;
  /** Objects the pointers reference, in all. */
  objects: number;
  /** In the local cache but not on the remote: `mlv push` uploads them. */
  notOnRemote: Array<{ id: ObjectId; path: string }>;
  /** On the remote but not in the local cache: `mlv fetch` downloads them. */
  onlyOnRemote: Array<{ id: ObjectId; path: string }>;
  /** Neither here nor there: lost unless someone else still has them. */
  missingEverywhere: Array<{ id: ObjectId; path: string }>;
  /** Folders whose listing is unavailable, so their contents could not be checked. */
  unreadable: Array<{ id: ObjectId; path: string }>;
  inSync: boolean;
}

export async function remoteStatus(ctx: CommandContext, opts: { targets?: string[]; remote?: string; jobs?: number } = {}): Promise<RemoteStatusResult> {
  const repo = findRepo(ctx.cwd);
  const setup = await setUpSync(repo, ctx.cwd, opts);
  try {
    const graph = await graphFor(setup, localThenRemoteTrees(repo, setup.remote));
    const nodes = [...graph.nodes.values()];
    const present = await remotePresence(setup.remote, nodes.map((n) => n.id), setup.jobs);
    const result: RemoteStatusResult = {
      remote: setup.remoteLabel,
      objects: nodes.length,
      notOnRemote: [],
      onlyOnRemote: [],
      missingEverywhere: [],
      unreadable: graph.unreadable.map((u) => ({ id: u.id, path: u.path })),
      inSync: false,
    };
    for (const n of nodes) {
      const local = repo.cache.has(n.id);
      // A copy of the wrong size (an interrupted or mangled upload) does not count: push replaces it.
      const expected = n.kind === 'file' ? n.size : local ? repo.cache.sizeOf(n.id) : undefined;
      const remoteSize = present.get(n.id);
      const remote = remoteSize !== undefined && (expected === undefined || remoteSize === expected);
      const entry = { id: n.id, path: n.path };
      if (local && !remote) result.notOnRemote.push(entry);
      else if (!local && remote) result.onlyOnRemote.push(entry);
      else if (!local && !remote) result.missingEverywhere.push(entry);
    }
    result.inSync = result.notOnRemote.length + result.onlyOnRemote.length + result.missingEverywhere.length + result.unreadable.length === 0;
    return result;
  } finally {
    setup.remote.close();
  }
}
