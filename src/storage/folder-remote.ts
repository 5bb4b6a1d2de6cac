/**
 * A remote that is a plain folder (a mounted share, a USB disk, the demo's default remote), with the
 * cache's layout. Uploads go through a temp file and a rename, so a reader never sees half an
 * object.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError, errnoCode, wrapFsError } from '../core/errors.js';
import { isObjectId, objectRelPath, type ObjectId } from '../core/id.js';
import type { ObjectStream, RemoteObject, RemoteStore } from './remote-store.js';

let counter = 0;

export class FolderRemote implements RemoteStore {
  readonly label: string;

  constructor(private readonly root: string) {
    this.label = root;
  }

  private objectPath(id: ObjectId): string {
    return path.join(this.root, objectRelPath(id));
  }

  private ensureRoot(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.root);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw new MlvError('NOT_FOUND', `the remote folder ${this.root} does not exist`, {
          hint: 'create it (mkdir -p) or mount the share, then run the command again',
        });
      }
      throw err;
    }
    if (!st.isDirectory()) throw new MlvError('USAGE', `the remote ${this.root} is not a folder`);
  }

  async stat(id: ObjectId): Promise<number | undefined> {
    try {
      return (await fs.promises.stat(this.objectPath(id))).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        this.ensureRoot();
        return undefined;
      }
      throw err;
    }
  }

  async *list(): AsyncIterable<RemoteObject> {
    this.ensureRoot();
    for (const shard of (await fs.promises.readdir(this.root)).sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      let names: string[];
      try {
        names = await fs.promises.readdir(path.join(this.root, shard));
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        const id = shard + name;
        if (!isObjectId(id)) continue;
        let st: fs.Stats;
        try {
          st = await fs.promises.stat(path.join(this.root, shard, name));
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') continue; // removed while listing (another machine's gc)
          throw err;
        }
        yield { id, size: st.size, modified: st.mtimeMs };
      }
    }
  }

  async put(id: ObjectId, file: string, size: number, bytes?: Uint8Array): Promise<void> {
    this.ensureRoot();
    const final = this.objectPath(id);
    const dir = path.dirname(final);
    await fs.promises.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.tmp-${process.pid}-${counter++}-${id.slice(0, 8)}`);
    try {
      // Bytes in memory (small or packed objects) are written as they are; files are copied.
      if (bytes && bytes.length === size) await fs.promises.writeFile(temp, bytes, { flag: 'wx' });
      else await fs.promises.copyFile(file, temp);
      const st = await fs.promises.stat(temp);
      if (st.size !== size) throw new MlvError('CORRUPT_OBJECT', `copy of ${id} to ${this.root} has ${st.size} bytes, expected ${size}`);
      await fs.promises.chmod(temp, 0o444);
      await fs.promises.rename(temp, final);
    } catch (err) {
      await fs.promises.rm(temp, { force: true });
      wrapFsError(err, `upload to ${this.root}`);
    }
  }

  async get(id: ObjectId, offset: number): Promise<ObjectStream> {
    const p = this.objectPath(id);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        this.ensureRoot();
        throw new MlvError('MISSING_OBJECTS', `object ${id} is not on the remote ${this.root}`);
      }
      throw err;
    }
    return { body: fs.createReadStream(p, { start: offset, highWaterMark: 1 << 20 }), offset, totalSize: st.size };
  }

  async delete(id: ObjectId): Promise<void> {
    await fs.promises.rm(this.objectPath(id), { force: true });
  }

  close(): void {}
}
