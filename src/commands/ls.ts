/** `mlv ls`: tracked data at a revision (or in the working tree), down into tracked folders. */
import { ObjectAccess } from '../history/objects.js';
import { childrenOf, expandNode, selectPath, type DataNode } from '../history/select.js';
import { openSource } from '../history/source.js';
import type { CommandContext } from './context.js';

export interface LsOptions {
  path?: string;
  /** A revision; absent = the working tree's pointer files. */
  rev?: string;
  recursive?: boolean;
  /** Remote to read folder listings from when the cache lacks them. */
  remote?: string;
}

export interface LsEntry {
  path: string;
  kind: 'file' | 'dir';
  size: number;
  id: string;
  files?: number;
  executable?: boolean;
  /** The object (for a folder, its tree and so everything below it) is in the local cache. */
  cached: boolean;
}

export interface LsResult {
  rev: string | null;
  commit: string | null;
  entries: LsEntry[];
}

export async function ls(ctx: CommandContext, opts: LsOptions = {}): Promise<LsResult> {
  const source = await openSource({ cwd: ctx.cwd, rev: opts.rev ?? null });
  const access = new ObjectAccess(source, { remote: opts.remote });
  try {
    const rel = source.repo!.relFromUser(opts.path ?? '.', ctx.cwd);
    const selection = await selectPath(access, source.tracked, rel);
    const nodes: DataNode[] = [];
    for (const node of selection.nodes) {
      const partOfFolder = selection.target !== undefined && node.path !== selection.target.targetRel;
      if (node.kind === 'file') nodes.push(node);
      else if (opts.recursive) nodes.push(...(await expandNode(access, node)).filter((n) => n.kind === 'file'));
      else if (partOfFolder) nodes.push(...(await childrenOf(access, node)));
      else nodes.push(node);
    }
    const entries = nodes.map((n): LsEntry => {
      const e: LsEntry = { path: n.path, kind: n.kind, size: n.size, id: n.id, cached: n.kind === 'dir' ? access.hasTree(n.id) : access.cacheWith(n.id) !== undefined };
      if (n.files !== undefined) e.files = n.files;
      if (n.kind === 'file') e.executable = n.exec;
      return e;
    });
    return { rev: source.rev, commit: source.commit, entries };
  } finally {
    access.close();
    source.dispose();
  }
}
