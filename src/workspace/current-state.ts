/**
 * What is in the workspace at and below a path, for checkout to compare with what should be there,
 * and the guards that keep checkout from writing through symbolic links.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, wrapFsError } from '../core/errors.js';
import type { ObjectId } from '../core/id.js';
import type { ProgressListener } from '../core/progress.js';
import type { Repo } from './repo.js';
import { cacheObjectIdOfLink, scanFolder } from './scan.js';
import { pathList } from './hash-pool.js';
import { snapshotFiles } from './snapshot.js';
import type { StatCache } from './stat-cache.js';

export type Current =
  | { kind: 'file'; id: ObjectId; exec: boolean }
  | { kind: 'dir' }
  | { kind: 'link' | 'other' }
  /** A folder whose name mlv cannot track: never entered, never deleted. */
  | { kind: 'foreign-dir' };

/** Everything at and below `targetRel` in the workspace, with file ids (stat cache first). */
export async function readCurrent(repo: Repo, targetRel: string, stats: StatCache, opts: { jobs?: number; onProgress?: ProgressListener }): Promise<Map<string, Current>> {
  const current = new Map<string, Current>();
  const abs = repo.abs(targetRel);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch {
    return current;
  }
  const snapOpts = { mode: 'hash' as const, stats, jobs: opts.jobs ?? repo.config.jobs, onProgress: opts.onProgress };
  if (st.isDirectory()) {
    const scan = scanFolder(abs, repo.cache.dir);
    for (const d of scan.dirs) current.set(d === '' ? targetRel : `${targetRel}/${d}`, { kind: 'dir' });
    // Files with names mlv cannot track are still files: hashed, so their content is saved, not lost.
    const fileRels = [...scan.files, ...scan.unsupported.filter((u) => u.kind === 'file').map((u) => u.path)];
    for (const u of scan.unsupported) {
      if (u.kind === 'link' || u.kind === 'special') current.set(`${targetRel}/${u.path}`, { kind: u.kind === 'link' ? 'link' : 'other' });
      else if (u.kind === 'dir') current.set(`${targetRel}/${u.path}`, { kind: 'foreign-dir' });
    }
    const files = fileRels.map((f) => path.join(abs, ...f.split('/')));
    const results = await snapshotFiles(repo, pathList(files), scan.cacheLinks, pathList(fileRels), snapOpts);
    fileRels.forEach((f, i) => current.set(`${targetRel}/${f}`, { kind: 'file', id: results.id(i), exec: results.exec(i) }));
  } else if (st.isFile() || st.isSymbolicLink()) {
    const cacheLinks = new Map<string, ObjectId>();
    if (st.isSymbolicLink()) {
      const linked = cacheObjectIdOfLink(abs, repo.cache.dir);
      if (!linked) {
        current.set(targetRel, { kind: 'link' });
        return current;
      }
      cacheLinks.set(targetRel, linked);
    }
    const r = (await snapshotFiles(repo, pathList([abs]), cacheLinks, pathList([targetRel]), snapOpts)).get(0);
    current.set(targetRel, { kind: 'file', id: r.id, exec: r.exec });
  } else {
    current.set(targetRel, { kind: 'other' });
  }
  return current;
}

/** Refuses to write below a symbolic link: the data would land outside the workspace. */
export function assertParentsReal(repo: Repo, rel: string): void {
  const parent = repo.symlinkOnPath(rel);
  if (parent !== undefined) {
    throw new MlvError('INVALID_PATH', `${rel} is below the symbolic link ${parent}; mlv does not write through links`, {
      hint: `replace ${parent} with a real folder`,
    });
  }
}

/** Creates a folder (and parents) inside the workspace, never following a symbolic link. */
export function ensureRealDir(repo: Repo, rel: string, known: Set<string>): void {
  if (rel === '' || known.has(rel)) return;
  let sofar = '';
  for (const part of rel.split('/')) {
    sofar = sofar === '' ? part : `${sofar}/${part}`;
    const abs = repo.abs(sofar);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(abs);
    } catch {
      st = undefined;
    }
    if (!st) {
      try {
        fs.mkdirSync(abs);
      } catch (err) {
        wrapFsError(err, `create the folder ${sofar}`);
      }
    } else if (!st.isDirectory()) {
      throw new MlvError('CONFLICT', `${sofar} is in the way (expected a folder)`, { hint: 'move it aside and run checkout again' });
    }
  }
  known.add(rel);
}
