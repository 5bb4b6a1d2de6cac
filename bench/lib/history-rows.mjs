// The rows over Git history: `mlv diff HEAD~1 HEAD` (vs `git diff --name-status`) and `mlv gc
// --all-commits --grace 0`. Both work in the prepared repository (data added), which gets three
// commits: the dataset, one file changed, the dataset again (HEAD). Its workspace and pointers are
// the dataset's again after each row, so the rows that follow (push/pull) see what they expect.
// The helpers of bench/run.mjs come in as ctx.h.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log, median, run, syncFs } from './util.mjs';

/** The file the diff row changes: a small file that the status rows leave alone (index 1). */
function diffFile(ds) {
  return ds.spec.smallFiles >= 2 ? ds.rels[1] : ds.rels[0];
}

/** 1% of the files (every 100th, from index 50; at least one): those the gc row replaces. */
function gcFiles(ds) {
  const rels = ds.rels.filter((_, i) => i % 100 === 50);
  return rels.length ? rels : [ds.rels.at(-1)];
}

/** Appends `text` to each file; returns a function putting the old sizes (the old content) back. */
function appendTo(repo, rels, text) {
  const sizes = rels.map((rel) => fs.statSync(path.join(repo, rel)).size);
  for (const rel of rels) fs.appendFileSync(path.join(repo, rel), text);
  return () => rels.forEach((rel, i) => fs.truncateSync(path.join(repo, rel), sizes[i]));
}

function mlvAdd(ctx, repo) {
  const r = ctx.h.mlvRun(ctx, ['add', '--json', 'data'], repo);
  return JSON.parse(r.stdout).targets?.[0];
}

/** Commits in the prepared repository: dataset, one file changed, the dataset again (HEAD). */
function ensureMlvHistory(ctx) {
  if (ctx.mlvHistoryReady) return;
  ctx.h.ensurePrepared(ctx);
  const repo = ctx.work.prepared;
  const rel = diffFile(ctx.ds);
  log(`setup: three commits in the mlv repository (the middle one changes ${rel})`);
  const commit = (msg) => run('git', ['commit', '-q', '--allow-empty', '-m', msg], { cwd: repo, env: ctx.env });
  commit('bench: dataset');
  const undo = appendTo(repo, [rel], 'changed by the diff row\n');
  mlvAdd(ctx, repo);
  commit('bench: one file changed');
  undo();
  mlvAdd(ctx, repo);
  commit('bench: the dataset again');
  ctx.mlvHistoryReady = true;
}

/** The same three commits in the plain Git repository of the git status baseline. */
function ensureGitHistory(ctx) {
  if (ctx.gitHistoryReady) return;
  ctx.h.ensureGitRepo(ctx);
  const repo = ctx.work.gitrepo;
  const rel = diffFile(ctx.ds);
  const marker = path.join(repo, '.git', 'mlv-bench-history');
  const git = (args) => run('git', args, { cwd: repo, env: ctx.env });
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === rel) {
    ctx.gitHistoryReady = true;
    return;
  }
  log(`setup: two more commits in the git repository (the first changes ${rel})`);
  const undo = appendTo(repo, [rel], 'changed by the diff row\n');
  git(['commit', '-q', '-a', '-m', 'bench: one file changed']);
  undo();
  git(['commit', '-q', '-a', '-m', 'bench: the dataset again']);
  fs.writeFileSync(marker, rel);
  ctx.gitHistoryReady = true;
}

export async function rowDiff(ctx, row) {
  const { h, ds } = ctx;
  ensureMlvHistory(ctx);
  const rel = diffFile(ds);
  // Committing a changed multi-GiB file to Git takes minutes: no baseline without small files.
  const withGit = ds.spec.smallFiles >= 2;
  if (withGit) ensureGitHistory(ctx);
  else {
    row.baseline = null;
    row.baselineName = '—';
    row.notes.push('no git baseline: the dataset has no small file to change (the git diff of one changed multi-GiB file means committing it first)');
  }
  const mlvRepo = ctx.work.prepared;
  const args = ['diff', '--json', 'HEAD~1', 'HEAD'];
  const checkMlv = (json, i) => {
    const c = json.counts ?? {};
    if (c.modified !== 1 || c.added !== 0 || c.deleted !== 0 || c.renamed !== 0 || json.modified?.[0]?.path !== rel) {
      row.checks.push(`run ${i}: expected 1 modified file (${rel}), got ${JSON.stringify({ counts: json.counts, modified: json.modified?.slice(0, 2) })}`);
    }
  };
  const gitArgs = ['diff', '--name-status', 'HEAD~1', 'HEAD'];
  const checkGit = (stdout, i) => {
    if (stdout.trim() !== `M\t${rel}`) throw new h.RowError(`git diff (run ${i}) printed ${JSON.stringify(stdout.slice(0, 200))}, expected M ${rel}`);
  };
  // One untimed warm-up of each side.
  checkMlv(h.mlvTimed(ctx, args, mlvRepo, 'diff-warmup').json, 'warm-up');
  if (withGit) checkGit(h.baseTimed(ctx, 'git', gitArgs, ctx.work.gitrepo).stdout, 'warm-up');
  for (let i = 0; i < ctx.opts.runs; i++) {
    await h.tick();
    const sides = {
      mlv: () => {
        syncFs();
        const r = h.mlvTimed(ctx, args, mlvRepo, `diff-${i}`);
        h.recordMlv(row, r);
        checkMlv(r.json, i + 1);
      },
      base: () => {
        syncFs();
        const r = h.baseTimed(ctx, 'git', gitArgs, ctx.work.gitrepo);
        h.recordBase(row, r);
        checkGit(r.stdout, i + 1);
      },
    };
    for (const side of h.order(i)) if (side === 'mlv' || withGit) sides[side]();
    log(`diff run ${i + 1}/${ctx.opts.runs}: mlv diff ${h.fmt(row.mlv.runs.at(-1))} s (${h.fmtMem(row.mlv.peakBytes.at(-1))})${withGit ? `, git diff ${h.fmt(row.baseline.runs.at(-1))} s` : ''}`);
  }
}

export async function rowGc(ctx, row) {
  const { h, ds } = ctx;
  ensureMlvHistory(ctx);
  const repo = ctx.work.prepared;
  const rels = gcFiles(ds);
  const n = rels.length;
  row.notes.push(
    `each run: ${n} files replaced twice (mlv add after each, not committed), then put back (mlv add): the ${2 * n} replaced file versions and their trees are referenced by no commit`,
  );
  const gcArgs = ['gc', '--all-commits', '--grace', '0', '--json'];
  const dry = [];
  for (let i = 0; i < ctx.opts.runs; i++) {
    await h.tick();
    // Setup: two versions of the files that no commit references, then the dataset again.
    for (const v of ['A', 'B']) {
      const undo = appendTo(repo, rels, `gc run ${i + 1} version ${v}\n`);
      const t = mlvAdd(ctx, repo);
      if (t?.hashedFiles !== n) throw new h.RowError(`setup: mlv add hashed ${t?.hashedFiles} files, expected ${n}`);
      undo();
    }
    mlvAdd(ctx, repo);
    syncFs();
    const d = h.mlvTimed(ctx, [...gcArgs, '--dry-run'], repo, `gc-dry-${i}`);
    dry.push(d.seconds);
    syncFs();
    const r = h.mlvTimed(ctx, gcArgs, repo, `gc-${i}`);
    h.recordMlv(row, r);
    const removed = r.json.local?.removed;
    if (!(removed >= 2 * n) || removed !== d.json.local?.removed) {
      row.checks.push(`run ${i + 1}: expected at least ${2 * n} objects removed (as the dry run said), gc removed ${removed}, the dry run listed ${d.json.local?.removed}`);
    }
    row.details.lastRun = { objects: r.json.local?.objects, referenced: r.json.local?.referenced, removed, removedBytes: r.json.local?.removedBytes, commits: r.json.commits };
    log(`gc run ${i + 1}/${ctx.opts.runs}: mlv gc --dry-run ${h.fmt(d.seconds)} s, mlv gc ${h.fmt(r.seconds)} s (${h.fmtMem(r.peakBytes)}), ${removed} objects removed`);
  }
  const st = JSON.parse(h.mlvRun(ctx, ['status', '--json'], repo).stdout);
  if (st.clean !== true) row.checks.push('after gc, mlv status is not clean');
  const last = row.details.lastRun;
  row.details.dryRunSeconds = dry;
  row.notes.push(
    `gc --dry-run (same scope) median ${h.fmt(median(dry))} s; per gc: ${last.objects} cache objects, ${last.referenced} referenced over ${last.commits} commits, ${last.removed} removed` +
      `${st.clean === true ? '; mlv status clean afterwards' : ''}`,
  );
}
