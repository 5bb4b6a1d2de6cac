/** `mlv get`: tracked data as of a revision, written to a file or folder outside the workspace. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { planOutput, writeOutput } from '../history/materialize.js';
import { ObjectAccess } from '../history/objects.js';
import { selectPath } from '../history/select.js';
import { normaliseRepoPath, openSource } from '../history/source.js';
import { refuseInsideProject } from '../history/output-guard.js';
import type { CommandContext } from './context.js';

export interface GetOptions {
  /** Relative to the root of the repository read. */
  path: string;
  rev?: string;
  repo?: string;
  /** Output file or folder (default: the last component of `path`, in the current folder). */
  out?: string;
  remote?: string;
  jobs?: number;
}

export interface GetResult {
  repository: string;
  rev: string;
  commit: string;
  path: string;
  output: string;
  files: number;
  bytes: number;
  /** Files whose object was already in a local cache. */
  fromCache: number;
  /** Objects downloaded from the remote. */
  fetched: number;
}

export async function get(ctx: CommandContext, opts: GetOptions): Promise<GetResult> {
  const rel = normaliseRepoPath(opts.path);
  const source = await openSource({ cwd: ctx.cwd, rev: opts.rev ?? 'HEAD', ...(opts.repo !== undefined ? { repo: opts.repo } : {}) });
  const access = new ObjectAccess(source, { remote: opts.remote, jobs: opts.jobs, onProgress: ctx.onProgress });
  try {
    const selection = await selectPath(access, source.tracked, rel);
    const output = outputPath(ctx.cwd, opts.out, selection.rel);
    refuseInsideProject(output, source.repo, source.gitRoot);
    const single = !selection.plainFolder;
    const plan = await planOutput(access, selection.nodes, selection.rel, single);
    fs.mkdirSync(path.dirname(output), { recursive: true });
    const { fromCache } = await writeOutput(access, plan, output);
    return {
      repository: source.repository,
      rev: source.rev!,
      commit: source.commit!,
      path: selection.rel,
      output,
      files: plan.files.length,
      bytes: plan.bytes,
      fromCache,
      fetched: access.fetched.transferred,
    };
  } finally {
    access.close();
    source.dispose();
  }
}

function outputPath(cwd: string, out: string | undefined, rel: string): string {
  const name = rel === '' ? undefined : rel.slice(rel.lastIndexOf('/') + 1);
  if (out === undefined) {
    if (!name) throw new MlvError('USAGE', 'getting everything needs an output folder', { hint: 'mlv get . -o <folder>' });
    out = name;
  }
  let output = path.resolve(cwd, out);
  const st = fs.statSync(output, { throwIfNoEntry: false });
  if (st?.isDirectory()) {
    if (!name) {
      if (fs.readdirSync(output).length > 0) throw new MlvError('CONFLICT', `${out} exists and is not empty`, { hint: 'give a new folder with -o' });
      fs.rmdirSync(output); // an empty folder is replaced by the data
      return output;
    }
    output = path.join(output, name);
  }
  if (fs.lstatSync(output, { throwIfNoEntry: false })) {
    throw new MlvError('CONFLICT', `${output} already exists; mlv get never overwrites`, { hint: 'remove it first, or choose another output with -o' });
  }
  return output;
}
