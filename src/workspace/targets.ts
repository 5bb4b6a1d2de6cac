/** Finding pointer files in the workspace and resolving command-line targets to them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode } from '../core/errors.js';
import { POINTER_SUFFIX, parsePointer, type Pointer } from '../core/pointer.js';
import type { Repo } from './repo.js';

export interface Tracked {
  /** Pointer file, repository-relative POSIX path. */
  pointerRel: string;
  /** Tracked file or folder, repository-relative POSIX path. */
  targetRel: string;
  /** A part of a tracked folder (POSIX, relative to the target), when the argument named one. */
  subpath?: string;
}

export interface LoadedTarget extends Tracked {
  pointer: Pointer;
}

const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

export function targetOfPointer(pointerRel: string): string {
  return pointerRel.slice(0, -POINTER_SUFFIX.length);
}

/**
 * Every pointer file below `underRel`. Does not descend into tracked targets (a folder `x` beside
 * `x.mlv`), nor into `.git`, `.mlv` or nested Git repositories.
 */
export function discoverPointers(repo: Repo, underRel = ''): Tracked[] {
  const found: Tracked[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(repo.abs(rel), { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw err;
    }
    const names = new Set(entries.map((e) => e.name));
    if (rel !== '' && names.has('.git')) return;
    for (const e of entries) {
      const childRel = join(rel, e.name);
      if (e.isFile() && e.name.endsWith(POINTER_SUFFIX) && e.name.length > POINTER_SUFFIX.length) {
        found.push({ pointerRel: childRel, targetRel: targetOfPointer(childRel) });
      } else if (e.isDirectory()) {
        const lower = e.name.toLowerCase();
        if (lower === '.git' || lower === '.mlv') continue;
        if (names.has(e.name + POINTER_SUFFIX)) continue;
        walk(childRel);
      }
    }
  };
  walk(underRel);
  return found.sort((a, b) => (a.targetRel < b.targetRel ? -1 : a.targetRel > b.targetRel ? 1 : 0));
}

export function loadPointer(repo: Repo, t: Tracked): LoadedTarget {
  let text: Buffer;
  try {
    text = fs.readFileSync(repo.abs(t.pointerRel));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MlvError('NOT_FOUND', `${t.pointerRel} does not exist`);
    throw err;
  }
  const pointer = parsePointer(text, t.pointerRel, path.posix.basename(t.targetRel));
  return { ...t, pointer };
}

/**
 * Resolves user arguments (a target, its pointer file, or a folder containing pointers) to
 * tracked targets; no arguments means every pointer in the repository.
 */
export function resolveTargets(repo: Repo, args: string[], cwd: string, opts: { allowInside?: boolean } = {}): Tracked[] {
  if (args.length === 0) return discoverPointers(repo);
  const result = new Map<string, Tracked>();
  for (const arg of args) {
    const rel = repo.relFromUser(arg, cwd);
    for (const t of resolveOne(repo, rel, arg, opts.allowInside ?? false)) {
      const key = t.subpath ? `${t.pointerRel}:${t.subpath}` : t.pointerRel;
      result.set(key, t);
    }
  }
  // A whole target makes parts of it redundant.
  return [...result.values()].filter((t) => !t.subpath || !result.has(t.pointerRel));
}

function resolveOne(repo: Repo, rel: string, arg: string, allowInside: boolean): Tracked[] {
  if (rel.endsWith(POINTER_SUFFIX) && isFile(repo.abs(rel))) {
    return [{ pointerRel: rel, targetRel: targetOfPointer(rel) }];
  }
  if (rel !== '' && isFile(repo.abs(rel + POINTER_SUFFIX))) {
    return [{ pointerRel: rel + POINTER_SUFFIX, targetRel: rel }];
  }
  const container = enclosingTracked(repo, rel);
  if (container && allowInside) return [{ ...container, subpath: rel.slice(container.targetRel.length + 1) }];
  if (container) {
    throw new MlvError('USAGE', `${arg} is inside the tracked folder ${container.targetRel}; give ${container.targetRel} instead`, {
      hint: `mlv works on whole tracked targets here, e.g. mlv checkout ${container.targetRel}`,
    });
  }
  if (isDir(repo.abs(rel))) {
    const inside = discoverPointers(repo, rel);
    if (inside.length > 0) return inside;
    throw new MlvError('NOT_FOUND', `no tracked data in ${arg === '' ? '.' : arg}`, { hint: `start tracking with mlv add ${arg}` });
  }
  throw new MlvError('NOT_FOUND', `${arg} is not tracked by mlv (no ${path.basename(rel)}${POINTER_SUFFIX} beside it)`, {
    hint: fs.existsSync(repo.abs(rel)) ? `start tracking it with mlv add ${arg}` : 'check the path',
  });
}

/** The tracked target that strictly contains `rel`, if any (found by pointer files on its path). */
export function enclosingTracked(repo: Repo, rel: string): Tracked | undefined {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const candidate = parts.slice(0, i).join('/');
    if (isFile(repo.abs(candidate + POINTER_SUFFIX))) return { pointerRel: candidate + POINTER_SUFFIX, targetRel: candidate };
  }
  return undefined;
}

function isFile(abs: string): boolean {
  try {
    return fs.lstatSync(abs).isFile();
  } catch {
    return false;
  }
}

function isDir(abs: string): boolean {
  try {
    return fs.lstatSync(abs).isDirectory();
  } catch {
    return false;
  }
}
