/** `mlv diff`: tracked files added, deleted, modified and renamed between revisions or the workspace. */
import * as fs from 'node:fs';
import { MlvError } from '../core/errors.js';
import { resolveRevision } from '../git/revisions.js';
import { compareSides, type Changes, type Side } from '../history/compare.js';
import { ObjectAccess } from '../history/objects.js';
import { nodeOfTarget } from '../history/select.js';
import { openSource, type DataSource } from '../history/source.js';
import { workspaceTargets } from '../history/workspace-side.js';
import { findRepo, type Repo } from '../workspace/repo.js';
import type { CommandContext } from './context.js';

export interface DiffOptions {
  /** Revisions then paths, as typed; those after `--` (`paths`) are paths only. */
  args?: string[];
  paths?: string[];
  remote?: string;
  jobs?: number;
}

export interface DiffResult extends Changes {
  a: { rev: string; commit: string | null };
  b: { rev: string; commit: string | null };
  counts: { added: number; deleted: number; modified: number; renamed: number };
  bytes: { added: number; deleted: number; modified: number };
}

export async function diff(ctx: CommandContext, opts: DiffOptions = {}): Promise<DiffResult> {
  const repo = findRepo(ctx.cwd);
  const { revs, paths, firstPathRevError } = await splitArgs(repo, ctx.cwd, opts.args ?? []);
  const filters = [...paths, ...(opts.paths ?? [])].map((p) => repo.relFromUser(p, ctx.cwd));
  const revA = revs[0] ?? 'HEAD';
  const revB = revs[1] ?? null;
  const sources: DataSource[] = [];
  const accesses: ObjectAccess[] = [];
  try {
    const open = async (rev: string | null): Promise<Side> => {
      const source = await openSource({ cwd: ctx.cwd, rev });
      sources.push(source);
      const access = new ObjectAccess(source, { remote: opts.remote, jobs: opts.jobs });
      accesses.push(access);
      if (rev !== null) return { access, targets: new Map(source.tracked.map((t) => [t.targetRel, nodeOfTarget(t)])) };
      const ws = await workspaceTargets(repo, source.tracked, { jobs: opts.jobs, onProgress: ctx.onProgress });
      access.addMemoryTrees(ws.trees);
      return { access, targets: ws.targets };
    };
    const a = await open(revA);
    const b = await open(revB);
    // A path that is tracked on neither side and not on disk was most likely a mistyped revision.
    for (const [k, f] of filters.entries()) {
      const known = [...a.targets.keys(), ...b.targets.keys()].some((t) => f === '' || t === f || t.startsWith(f + '/') || f.startsWith(t + '/'));
      if (!known && !fs.existsSync(repo.abs(f))) {
        if (k === 0 && paths.length > 0 && firstPathRevError) throw firstPathRevError;
        throw new MlvError('NOT_FOUND', `${f} is not tracked in ${a.access.source.describe()} or ${b.access.source.describe()}`, { hint: 'list tracked data with mlv ls' });
      }
    }
    const changes = await compareSides(a, b, filters);
    const sum = (xs: Array<{ size: number }>) => xs.reduce((s, x) => s + x.size, 0);
    return {
      a: { rev: revA, commit: sources[0]!.commit },
      b: { rev: revB ?? 'workspace', commit: sources[1]!.commit },
      ...changes,
      counts: { added: changes.added.length, deleted: changes.deleted.length, modified: changes.modified.length, renamed: changes.renamed.length },
      bytes: { added: sum(changes.added), deleted: sum(changes.deleted), modified: changes.modified.reduce((s, m) => s + m.newSize, 0) },
    };
  } finally {
    for (const x of accesses) x.close();
    for (const s of sources) s.dispose();
  }
}

/**
 * The leading arguments that name revisions (at most two), and the paths after them. A name that
 * is both a revision and an existing path is ambiguous, as in git.
 */
async function splitArgs(repo: Repo, cwd: string, args: string[]): Promise<{ revs: string[]; paths: string[]; firstPathRevError: unknown }> {
  const revs: string[] = [];
  let firstPathRevError: unknown;
  let i = 0;
  for (; i < args.length && revs.length < 2; i++) {
    const arg = args[i]!;
    let isRev = true;
    let revError: unknown;
    try {
      await resolveRevision(repo.root, arg);
    } catch (err) {
      if (!(err instanceof MlvError) || err.code !== 'USAGE') throw err;
      isRev = false;
      revError = err;
    }
    const existsAsPath = fs.existsSync(`${cwd}/${arg}`) || fs.existsSync(`${cwd}/${arg}.mlv`);
    if (isRev && existsAsPath) {
      throw new MlvError('USAGE', `"${arg}" is both a revision and a path`, { hint: `put -- before the paths: mlv diff ${revs.join(' ')}${revs.length ? ' ' : ''}${isRev ? arg + ' -- ' : '-- '}<paths>` });
    }
    if (!isRev) {
      firstPathRevError = revError;
      break;
    }
    revs.push(arg);
  }
  return { revs, paths: args.slice(i), firstPathRevError };
}
