/**
 * Reading another repository over HTTP(S): isomorphic-git fetches only the commits a revision
 * needs (a shallow fetch of the named branch or tag, deep enough for `~N` and `^N` steps) into a
 * temporary folder, without checking anything out.
 */
import * as fs from 'node:fs';
import { MlvError } from '../core/errors.js';
import { isoGit } from './read-at-commit.js';

let httpClient: Promise<unknown> | undefined;
function http(): Promise<unknown> {
  httpClient ??= import('isomorphic-git/http/node').then((m) => (m as { default?: unknown }).default ?? m);
  return httpClient;
}

/** `main~2^2` → base `main`, 3 generations back at most. */
export function splitRevision(rev: string): { base: string; generations: number } {
  const m = /^([^~^]*)((?:[~^][0-9]*)*)$/.exec(rev);
  if (!m) return { base: rev, generations: 0 };
  let generations = 0;
  for (const step of m[2]!.matchAll(/([~^])([0-9]*)/g)) {
    const n = step[2] === '' ? 1 : Number(step[2]);
    generations += step[1] === '~' ? n : 1;
  }
  return { base: m[1] || 'HEAD', generations };
}

function remoteFailure(url: string, err: unknown): MlvError {
  const message = (err as Error).message ?? String(err);
  return new MlvError('REMOTE', `could not read the Git repository ${url}: ${message.split('\n')[0]}`, {
    hint: 'check the URL and that the server is reachable (mlv reads public repositories; for private ones clone locally and use --repo <path>)',
    cause: err,
  });
}

/**
 * Clones `url` into `dir` (created, empty) with just enough history for `rev`. Commit ids and
 * names the server does not advertise need the full history of every branch.
 */
export async function cloneForRevision(url: string, dir: string, rev: string): Promise<void> {
  const g = await isoGit();
  const client = (await http()) as Parameters<typeof g.clone>[0]['http'];
  const { base, generations } = splitRevision(rev);
  let refs: Array<{ ref: string; oid: string }>;
  try {
    refs = await g.listServerRefs({ http: client, url, protocolVersion: 1, symrefs: true });
  } catch (err) {
    throw remoteFailure(url, err);
  }
  const names = new Set(refs.map((r) => r.ref));
  const named = ['refs/heads/', 'refs/tags/', ''].map((p) => (base === 'HEAD' ? 'HEAD' : p + base)).find((r) => names.has(r));
  const depth = generations + 1;
  fs.mkdirSync(dir, { recursive: true });
  const common = { fs, http: client, dir, url, noCheckout: true, cache: {} };
  try {
    if (named === 'HEAD') {
      await g.clone({ ...common, singleBranch: true, depth, noTags: true });
    } else if (named?.startsWith('refs/heads/')) {
      await g.clone({ ...common, ref: base, singleBranch: true, depth, noTags: true });
    } else if (named?.startsWith('refs/tags/')) {
      // isomorphic-git checks out branches only: fetch the tag itself into a fresh repository.
      await g.init({ fs, dir });
      await g.addRemote({ fs, dir, remote: 'origin', url });
      await g.fetch({ fs, http: client, dir, url, remote: 'origin', ref: named, singleBranch: true, depth, tags: false, cache: {} });
      const tag = refs.find((r) => r.ref === named)!;
      await g.writeRef({ fs, dir, ref: named, value: tag.oid, force: true });
    } else {
      await g.clone({ ...common, singleBranch: false });
    }
  } catch (err) {
    throw remoteFailure(url, err);
  }
}
