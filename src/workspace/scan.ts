/**
 * Walks a tracked folder in the workspace. Regular files and folders are all mlv tracks; symbolic
 * links and special files are reported (and refused by `add`), never followed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { isObjectId, type ObjectId } from '../core/id.js';
import { badNameReason, displayPath } from '../core/paths.js';
import { processAlive } from '../storage/local-cache.js';

export type EntryKind = 'file' | 'dir' | 'link' | 'special';

export interface UnsupportedEntry {
  path: string;
  /** What the entry is; a `file` or `dir` here has a name mlv cannot track. */
  kind: EntryKind;
  reason: string;
}

export interface ScanResult {
  /** Folders relative to the scanned root (POSIX), parents before children; '' is the root. */
  dirs: string[];
  /** Regular files relative to the scanned root (POSIX). */
  files: string[];
  /** For each of `files`, the index in `dirs` of the folder it is in. */
  fileDirs: number[];
  /**
   * Files that are symbolic links to cache objects (placed by the symlink strategy): the id is
   * known from the link. They are listed in `files` too.
   */
  cacheLinks: Map<string, ObjectId>;
  /** Symbolic links, sockets, devices, FIFOs, and entries whose names mlv cannot track. */
  unsupported: UnsupportedEntry[];
}

function kindOf(entry: fs.Dirent, abs: string): EntryKind {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'link';
  if (entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) return 'special';
  const st = fs.lstatSync(abs);
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'special';
}

export function scanFolder(absRoot: string, cacheDir?: string): ScanResult {
  const result: ScanResult = { dirs: [], files: [], fileDirs: [], cacheLinks: new Map(), unsupported: [] };
  const walk = (rel: string) => {
    const dirIndex = result.dirs.length;
    result.dirs.push(rel);
    const abs = rel === '' ? absRoot : absRoot + path.sep + (path.sep === '/' ? rel : rel.split('/').join(path.sep));
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return;
      throw err;
    }
    for (const entry of entries) {
      const name = entry.name;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = abs + path.sep + name;
      const kind = kindOf(entry, childAbs);
      // A temp file of a checkout (Linker) or a probe: not data. Those of dead processes are removed.
      if (name.startsWith('.mlv-tmp-') || name.startsWith('.mlv-probe-')) {
        const pid = Number(/^\.mlv-(?:tmp|probe)-(\d+)-/.exec(name)?.[1]);
        if (pid > 0 && !processAlive(pid)) fs.rmSync(childAbs, { force: true });
        continue;
      }
      const nameProblem = name.includes('\uFFFD') ? 'the name is not valid UTF-8' : badNameReason(name);
      if (nameProblem) {
        result.unsupported.push({ path: childRel, kind, reason: `unsupported name: ${nameProblem}` });
        continue;
      }
      if (kind === 'link' && cacheDir) {
        const id = cacheObjectIdOfLink(childAbs, cacheDir);
        if (id) {
          result.files.push(childRel);
          result.fileDirs.push(dirIndex);
          result.cacheLinks.set(childRel, id);
          continue;
        }
      }
      if (kind === 'file') {
        result.files.push(childRel);
        result.fileDirs.push(dirIndex);
      } else if (kind === 'dir') walk(childRel);
      else result.unsupported.push({ path: childRel, kind, reason: kind === 'link' ? 'symbolic link' : 'special file (device, socket or FIFO)' });
    }
  };
  walk('');
  return result;
}

export function refuseUnsupported(scan: ScanResult, targetRel: string): void {
  if (scan.unsupported.length === 0) return;
  const first = scan.unsupported[0]!;
  const more = scan.unsupported.length > 1 ? ` (and ${scan.unsupported.length - 1} more)` : '';
  throw new MlvError('UNSUPPORTED_FILE', `${displayPath(`${targetRel}/${first.path}`)}: ${first.reason}; mlv tracks regular files and folders with portable names only${more}`, {
    hint: 'replace links with copies of their targets, remove special files, rename files with unsupported names, then run mlv add again (see docs/formats.md)',
    details: { unsupported: scan.unsupported.map((u) => `${targetRel}/${u.path}`) },
  });
}

/** The object id when `linkPath` is a symbolic link to an object in `cacheDir`. */
export function cacheObjectIdOfLink(linkPath: string, cacheDir: string): ObjectId | undefined {
  let target: string;
  try {
    target = fs.readlinkSync(linkPath);
  } catch {
    return undefined;
  }
  const rel = path.relative(cacheDir, path.resolve(path.dirname(linkPath), target));
  const parts = rel.split(path.sep);
  if (parts.length !== 2 || parts[0]!.length !== 2) return undefined;
  const id = parts[0]! + parts[1]!;
  return isObjectId(id) ? id : undefined;
}
