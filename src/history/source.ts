/**
 * Where the history commands (ls, diff, get, export, the API) read tracked data from: the
 * pointer files of a commit (or of the working tree), the configuration of that commit, and the
 * local caches that may hold its objects. Nothing here writes to a work tree or a Git index.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MlvError } from '../core/errors.js';
import { badRelPathReason } from '../core/paths.js';
import { parsePointer, type Pointer } from '../core/pointer.js';
import { commitInfo, isGitRepository, listPointersAt, readFileAt } from '../git/read-at-commit.js';
import { cloneForRevision } from '../git/remote-clone.js';
import { resolveRevision } from '../git/revisions.js';
import { LocalCache } from '../storage/local-cache.js';
import { Config } from '../workspace/config.js';
import { ConfigFile } from '../workspace/config-file.js';
import { resolveRemoteIn, type RemoteSpec } from '../workspace/remotes.js';
import { findRepo, MLV_DIR, Repo } from '../workspace/repo.js';
import { discoverPointers, loadPointer } from '../workspace/targets.js';

export interface TrackedData {
  targetRel: string;
  pointerRel: string;
  pointer: Pointer;
}

export interface SourceOptions {
  cwd: string;
  /** A revision; null reads the working tree's pointer files (only without `repo`). */
  rev?: string | null;
  /** Another repository: a local path or an http(s) Git URL. */
  repo?: string;
}

export interface DataSource {
  /** How the repository is named in results: the --repo argument, else the project root. */
  repository: string;
  /** Project root (or bare repository) whose Git objects are read. */
  gitRoot: string;
  rev: string | null;
  commit: string | null;
  /** Committer time of the commit, seconds since the epoch. */
  committedAt: number | null;
  tracked: TrackedData[];
  /** Caches objects are read from, in order; the first is where fetched objects are stored. */
  caches: LocalCache[];
  /** The project the command runs in, when it reads its own data. */
  repo: Repo | undefined;
  /** The remote named in the revision's configuration (or -r). */
  remote(name?: string): RemoteSpec;
  /** Removes temporary folders (an HTTP clone, a scratch cache). */
  dispose(): void;
  /** A short description for messages: "HEAD (3f2a9c1d0e4b)" or "the working tree". */
  describe(): string;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

export async function openSource(opts: SourceOptions): Promise<DataSource> {
  const cleanups: Array<() => void> = [];
  const dispose = () => {
    for (const c of cleanups.splice(0).reverse()) c();
  };
  try {
    const source = await open(opts, cleanups, dispose);
    // Pack files read through these caches stay open until then (the API may run in a long-lived process).
    cleanups.push(() => {
      for (const c of source.caches) c.close();
    });
    return source;
  } catch (err) {
    dispose();
    throw err;
  }
}

function currentRepo(cwd: string): Repo | undefined {
  try {
    return findRepo(cwd);
  } catch {
    return undefined;
  }
}

function scratchCache(cleanups: Array<() => void>): LocalCache {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-scratch-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new LocalCache(dir);
}

async function open(opts: SourceOptions, cleanups: Array<() => void>, dispose: () => void): Promise<DataSource> {
  const here = currentRepo(opts.cwd);
  let repo: Repo | undefined;
  let gitRoot: string;
  let repository: string;
  let caches: LocalCache[];
  let localConfigDir: string | undefined;
  if (opts.repo === undefined || (here && !isUrl(opts.repo) && samePath(path.resolve(opts.cwd, opts.repo), here.root))) {
    if (!here) throw findRepo(opts.cwd); // throws NOT_A_REPO with its hint
    repo = here;
    gitRoot = here.root;
    repository = here.root;
    caches = [here.cache];
    localConfigDir = here.mlvDir;
  } else if (isUrl(opts.repo)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlv-clone-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    await cloneForRevision(opts.repo, dir, opts.rev ?? 'HEAD');
    gitRoot = dir;
    repository = opts.repo;
    caches = [scratchCache(cleanups), ...(here ? [here.cache] : [])];
  } else {
    const root = path.resolve(opts.cwd, opts.repo);
    if (!fs.existsSync(root)) throw new MlvError('USAGE', `--repo ${opts.repo}: no such folder`);
    if (!isGitRepository(root)) throw new MlvError('USAGE', `--repo ${opts.repo} is not the root of a Git repository`, { hint: 'give the folder that holds .git (or a bare repository), or an http(s) URL' });
    gitRoot = root;
    repository = opts.repo;
    const theirs = path.join(root, MLV_DIR);
    caches = [scratchCache(cleanups), ...(fs.existsSync(path.join(theirs, 'cache')) ? [new LocalCache(path.join(theirs, 'cache'))] : []), ...(here ? [here.cache] : [])];
    if (fs.existsSync(theirs)) localConfigDir = theirs;
  }

  const rev = opts.rev === undefined ? 'HEAD' : opts.rev;
  if (rev === null) {
    if (!repo) throw new MlvError('USAGE', 'another repository is read at a revision (default HEAD), not its working tree');
    return workspaceSource(repo, dispose);
  }
  if (!isGitRepository(gitRoot)) {
    throw new MlvError('NOT_IN_GIT', `${gitRoot} is not a Git repository, so it has no revision ${rev}`, { hint: 'revisions need Git; without --rev, mlv reads the working tree' });
  }
  const commit = await resolveRevision(gitRoot, rev);
  const [info, pointers, configText] = await Promise.all([commitInfo(gitRoot, commit), listPointersAt(gitRoot, commit), readFileAt(gitRoot, commit, `${MLV_DIR}/config`)]);
  const short = commit.slice(0, 12);
  const tracked = pointers.map((p) => ({
    targetRel: p.targetRel,
    pointerRel: p.pointerRel,
    pointer: parsePointer(p.bytes, `${p.pointerRel} at ${short}`, path.posix.basename(p.targetRel)),
  }));
  if (configText === undefined && !fs.existsSync(path.join(gitRoot, MLV_DIR)) && tracked.length === 0) {
    throw new MlvError('USAGE', `${repository} has no mlv data at ${rev} (no .mlv/config and no pointer files there)`);
  }
  const shared = ConfigFile.parse(configText?.toString('utf8') ?? '', `.mlv/config at ${short}`);
  const local = localConfigDir ? ConfigFile.load(path.join(localConfigDir, 'config.local')) : ConfigFile.parse('', 'config.local');
  let config: Config | undefined;
  const remote = (name?: string): RemoteSpec => {
    config ??= Config.of(shared, local);
    // A remote added after the commit was made: the project's current configuration knows it.
    const useCurrent = repo && config.remoteNames.length === 0;
    const spec = resolveRemoteIn(useCurrent ? repo!.config : config, gitRoot, name);
    if (isUrl(repository) && spec.location.kind === 'folder' && !path.isAbsolute(spec.url) && !/^file:/i.test(spec.url)) {
      throw new MlvError('USAGE', `the remote ${spec.name} of ${repository} is the folder ${spec.url}, relative to that repository`, {
        hint: 'clone the repository and use --repo <path>, or use a remote reachable from here with -r',
      });
    }
    return spec;
  };
  return {
    repository,
    gitRoot,
    rev,
    commit,
    committedAt: info.committedAt,
    tracked,
    caches,
    repo,
    remote,
    dispose,
    describe: () => (rev === commit ? short : `${rev} (${short})`),
  };
}

function workspaceSource(repo: Repo, dispose: () => void): DataSource {
  const tracked = discoverPointers(repo).map((t) => {
    const { pointer } = loadPointer(repo, t);
    return { targetRel: t.targetRel, pointerRel: t.pointerRel, pointer };
  });
  return {
    repository: repo.root,
    gitRoot: repo.root,
    rev: null,
    commit: null,
    committedAt: null,
    tracked,
    caches: [repo.cache],
    repo,
    remote: (name) => resolveRemoteIn(repo.config, repo.root, name),
    dispose,
    describe: () => 'the working tree',
  };
}

function samePath(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * A path as given for --repo or a revision: relative to the repository root, `/` separators;
 * `.`, `./x`, `x/` accepted; nothing escaping the root.
 */
export function normaliseRepoPath(userPath: string): string {
  const p = userPath.replace(/\\/g, '/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.') return '';
  if (p.startsWith('/')) throw new MlvError('INVALID_PATH', `${userPath}: give a path relative to the repository root`);
  const problem = badRelPathReason(p);
  if (problem) throw new MlvError('INVALID_PATH', `${userPath}: ${problem}`);
  return p;
}
