/**
 * Walks a tracked folder in the workspace. Regular files and folders are all mlv tracks; symbolic
 * links and special files are reported (and refused by `add`), never followed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { isObjectId, type ObjectId } from '../core/id.js';
import { badNameReason } from '../core/paths.js';

export interface ScanResult {
  /** Folders relative to the scanned root (POSIX), parents before children; '' is the root. */
  dirs: string[];
  /** Regular files relative to the scanned root (POSIX). */
  files: string[];
  /**
   * Files that are symbolic links to cache objects (placed by the symlink strategy): the id is
   * known from the link. They are listed in `files` too.
   */
  cacheLinks: Map<string, ObjectId>;
  /** Symbolic links, sockets, devices and badly named entries, with the reason. */
  unsupported: Array<{ path: string; reason: string }>;
}

export function scanFolder(absRoot: string, cacheDir?: string): ScanResult {
  const result: ScanResult = { dirs: [], files: [], cacheLinks: new Map(), unsupported: [] };
  const walk = (rel: string) => {
    result.dirs.push(rel);
    const abs = rel === '' ? absRoot : path.join(absRoot, rel);
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
      const nameProblem = name.includes('\uFFFD') ? 'the name is not valid UTF-8' : badNameReason(name);
      if (nameProblem) {
        result.unsupported.push({ path: childRel, reason: nameProblem });
        continue;
      }
      let kind: 'file' | 'dir' | 'link' | 'other';
      if (entry.isFile()) kind = 'file';
      else if (entry.isDirectory()) kind = 'dir';
      else if (entry.isSymbolicLink()) kind = 'link';
      else if (entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) kind = 'other';
      else {
        const st = fs.lstatSync(path.join(abs, name));
        kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'other';
      }
      if (kind === 'link' && cacheDir) {
        const id = cacheObjectIdOfLink(path.join(abs, name), cacheDir);
        if (id) {
          result.files.push(childRel);
          result.cacheLinks.set(childRel, id);
          continue;
        }
      }
      if (kind === 'file') result.files.push(childRel);
      else if (kind === 'dir') walk(childRel);
      else result.unsupported.push({ path: childRel, reason: kind === 'link' ? 'symbolic link' : 'special file (device, socket or FIFO)' });
    }
  };
  walk('');
  return result;
}

export function refuseUnsupported(scan: ScanResult, targetRel: string): void {
  if (scan.unsupported.length === 0) return;
  const first = scan.unsupported[0]!;
  const more = scan.unsupported.length > 1 ? ` (and ${scan.unsupported.length - 1} more)` : '';
  throw new MlvError('UNSUPPORTED_FILE', `${targetRel}/${first.path}: ${first.reason}; mlv tracks regular files and folders only${more}`, {
    hint: 'replace links with copies of their targets and remove special files, then run mlv add again (see docs/formats.md)',
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
