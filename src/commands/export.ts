/**
 * `mlv export`: tracked data as of a revision, as a deterministic tar archive (sorted entries,
 * fixed owners, the commit's time on every entry, a manifest first).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { MlvError, wrapFsError } from '../core/errors.js';
import { gitRemoteUrl } from '../git/read-at-commit.js';
import { ObjectAccess } from '../history/objects.js';
import { refuseInsideProject } from '../history/output-guard.js';
import { expandNode, selectPath, type DataNode } from '../history/select.js';
import { normaliseRepoPath, openSource } from '../history/source.js';
import { TarWriter, type ArchiveSink } from '../history/tar-writer.js';
import { writeAll } from '../storage/fd-io.js';
import type { CommandContext } from './context.js';

export const MANIFEST_NAME = '.mlv-export.json';

export interface ExportOptions {
  /** Relative to the root of the repository read. */
  paths: string[];
  rev?: string;
  repo?: string;
  /** A file path, or '-' for `stdout`. */
  out: string;
  stdout?: Writable;
  force?: boolean;
  remote?: string;
  jobs?: number;
}

export interface ExportResult {
  output: string;
  commit: string;
  files: number;
  /** Bytes of file content. */
  bytes: number;
  /** Size of the archive. */
  archiveBytes: number;
}

export interface ExportManifest {
  format: 'mlv-export 1';
  repository: string | null;
  commit: string;
  paths: string[];
  files: Array<{ path: string; id: string; size: number; executable: boolean }>;
}

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export async function exportArchive(ctx: CommandContext, opts: ExportOptions): Promise<ExportResult> {
  if (opts.paths.length === 0) throw new MlvError('USAGE', 'name at least one path to export', { hint: 'mlv export data -o data.tar' });
  const rels = [...new Set(opts.paths.map(normaliseRepoPath))].sort(utf8Order);
  const toStdout = opts.out === '-';
  if (toStdout && !opts.stdout) throw new MlvError('USAGE', 'no output stream for -o -');
  const source = await openSource({ cwd: ctx.cwd, rev: opts.rev ?? 'HEAD', ...(opts.repo !== undefined ? { repo: opts.repo } : {}) });
  const access = new ObjectAccess(source, { remote: opts.remote, jobs: opts.jobs, onProgress: ctx.onProgress });
  let temp: string | undefined;
  let fd: number | undefined;
  try {
    const output = toStdout ? '-' : path.resolve(ctx.cwd, opts.out);
    if (!toStdout) {
      refuseInsideProject(output, source.repo, source.gitRoot);
      const st = fs.lstatSync(output, { throwIfNoEntry: false });
      if (st?.isDirectory()) throw new MlvError('USAGE', `${opts.out} is a folder; give the archive's file name`, { hint: `mlv export ... -o ${path.join(opts.out, 'data.tar')}` });
      if (st && !opts.force) throw new MlvError('CONFLICT', `${output} already exists`, { hint: 'use --force to replace it, or choose another name' });
    }
    // Everything below the paths, once, with the folders leading to them.
    const entries = new Map<string, DataNode>();
    const dirs = new Set<string>();
    for (const rel of rels) {
      const selection = await selectPath(access, source.tracked, rel);
      for (const top of selection.nodes) {
        for (const n of await expandNode(access, top)) {
          if (n.kind === 'dir') dirs.add(n.path);
          else entries.set(n.path, n);
          for (let i = n.path.indexOf('/'); i > 0; i = n.path.indexOf('/', i + 1)) dirs.add(n.path.slice(0, i));
        }
      }
    }
    const files = [...entries.values()].sort((a, b) => utf8Order(a.path, b.path));
    await access.fetchMissing(files.map((f) => ({ id: f.id, size: f.size, path: f.path })));

    const manifest: ExportManifest = {
      format: 'mlv-export 1',
      repository: opts.repo ?? (source.repo ? ((await gitRemoteUrl(source.gitRoot, 'origin')) ?? null) : null),
      commit: source.commit!,
      paths: rels,
      files: files.map((f) => ({ path: f.path, id: f.id, size: f.size, executable: f.exec })),
    };
    if (!toStdout) {
      fs.mkdirSync(path.dirname(output), { recursive: true });
      temp = `${output}.mlv-tmp-${process.pid}`;
      fd = fs.openSync(temp, 'w', 0o644);
    }
    const out: ArchiveSink = fd === undefined ? opts.stdout! : { write: (chunk: Buffer) => writeAll(fd!, chunk) };
    const tar = new TarWriter(out, new Date(source.committedAt! * 1000));
    try {
      tar.bytesEntry(MANIFEST_NAME, Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
      const all = [...[...dirs].map((d) => ({ path: d, dir: true })), ...files.map((f) => ({ path: f.path, dir: false }))].sort((a, b) => utf8Order(a.path, b.path));
      for (const e of all) {
        if (e.dir) {
          tar.directory(e.path);
          continue;
        }
        const f = entries.get(e.path)!;
        const cache = access.cacheWith(f.id);
        if (!cache) throw new MlvError('MISSING_OBJECTS', `object ${f.id} (${f.path}) is not in the cache`);
        const packed = cache.packedOnly(f.id);
        await tar.objectEntry(f.path, cache.objectPath(f.id), f.id, f.size, f.exec, packed && cache.readPacked(packed, f.id));
      }
      await tar.finish();
    } catch (err) {
      tar.abort(err as Error);
      throw err;
    }
    if (temp && fd !== undefined) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
      try {
        fs.renameSync(temp, output);
      } catch (err) {
        wrapFsError(err, `write ${output}`);
      }
      temp = undefined;
    }
    return { output, commit: source.commit!, files: files.length, bytes: files.reduce((s, f) => s + f.size, 0), archiveBytes: tar.bytes };
  } catch (err) {
    return wrapFsError(err, `write ${opts.out}`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    if (temp) fs.rmSync(temp, { force: true });
    access.close();
    source.dispose();
  }
}
