/** Differences between a recorded tree (read from the cache) and a folder as it is now. */
import type { ObjectId } from '../core/id.js';
import { compareNames, type TreeEntry } from '../core/tree.js';
import type { BuiltFolder } from './folder-tree.js';
import type { TreeReader } from './tree-reader.js';

export interface FolderChanges {
  added: string[];
  deleted: string[];
  modified: string[];
  /** True when part of the recorded tree is not in the cache, so the lists may be incomplete. */
  incomplete: boolean;
}

export function diffFolder(reader: TreeReader, recordedId: ObjectId, now: BuiltFolder): FolderChanges {
  const changes: FolderChanges = { added: [], deleted: [], modified: [], incomplete: false };
  const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

  const allRecorded = (id: ObjectId, dir: string, into: string[]) => {
    const tree = reader.read(id);
    if (!tree) {
      changes.incomplete = true;
      into.push(dir + '/');
      return;
    }
    for (const e of tree) {
      if (e.kind === 'dir') allRecorded(e.id, join(dir, e.name), into);
      else into.push(join(dir, e.name));
    }
  };
  const allNow = (dir: string, into: string[]) => {
    for (const e of now.levels.get(dir) ?? []) {
      if (e.kind === 'dir') allNow(join(dir, e.name), into);
      else into.push(join(dir, e.name));
    }
  };

  const walk = (recordedTreeId: ObjectId, dir: string) => {
    const old = reader.read(recordedTreeId);
    const cur: TreeEntry[] = now.levels.get(dir) ?? [];
    if (!old) {
      changes.incomplete = true;
      return;
    }
    let i = 0;
    let j = 0;
    while (i < old.length || j < cur.length) {
      const o = old[i];
      const c = cur[j];
      const cmp = !o ? 1 : !c ? -1 : compareNames(o.name, c.name);
      if (cmp < 0) {
        const p = join(dir, o!.name);
        if (o!.kind === 'dir') allRecorded(o!.id, p, changes.deleted);
        else changes.deleted.push(p);
        i++;
      } else if (cmp > 0) {
        const p = join(dir, c!.name);
        if (c!.kind === 'dir') allNow(p, changes.added);
        else changes.added.push(p);
        j++;
      } else {
        const p = join(dir, o!.name);
        if (o!.kind === 'dir' && c!.kind === 'dir') {
          if (o!.id !== c!.id) walk(o!.id, p);
        } else if (o!.kind === 'file' && c!.kind === 'file') {
          if (o!.id !== c!.id || o!.exec !== c!.exec) changes.modified.push(p);
        } else if (o!.kind === 'dir') {
          allRecorded(o!.id, p, changes.deleted);
          changes.added.push(p);
        } else {
          changes.deleted.push(p);
          allNow(p, changes.added);
        }
        i++;
        j++;
      }
    }
  };
  if (recordedId !== now.id) walk(recordedId, '');
  return changes;
}
