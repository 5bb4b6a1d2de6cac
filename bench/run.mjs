#!/usr/bin/env node
// mlv benchmark: times mlv add / status / checkout against cp -r and git status (and, where
// installed, git lfs and git annex) on a generated dataset, and checks the targets from the spec.
// Usage: see `node bench/run.mjs --help` and bench/README.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { datasetSpec, ensureDataset } from './lib/dataset.mjs';
import { machineInfo } from './lib/machine.mjs';
import { renderMachine, renderResults } from './lib/report.mjs';
import { copyTree, elapsedSeconds, failureOf, log, makeEnv, median, rmTree, run, syncFs, timed, warmTree, which } from './lib/util.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

// Targets (from the issue). 300 MB is read as 300,000,000 bytes (286.1 MiB), the stricter reading.
const MEM_LIMIT_BYTES = 300e6;
const ADD_MAX_RATIO = 3;
const STATUS_MAX_RATIO = 3;

const MEM = 'mem < 300 MB';
const ROWS = {
  'add-cold': {
    title: 'mlv add, cold cache',
    baseline: '`cp -r`',
    target: `≤ ${ADD_MAX_RATIO}× cp -r, ${MEM}`,
    ratioLimit: ADD_MAX_RATIO,
    needs: [],
    run: rowAddCold,
  },
  'add-noop': {
    title: 'mlv add again, nothing changed',
    baseline: null,
    target: `0 files hashed, ${MEM}`,
    needs: ['prepared'],
    run: rowAddNoop,
  },
  'status-clean': {
    title: 'mlv status, nothing changed',
    baseline: '`git status`',
    target: `≤ ${STATUS_MAX_RATIO}× git status, ${MEM}`,
    ratioLimit: STATUS_MAX_RATIO,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowStatus(ctx, row, false),
  },
  'status-change': {
    title: 'mlv status, 1 small file changed',
    baseline: '`git status`',
    target: `change reported, ${MEM}`,
    needs: ['prepared', 'gitrepo'],
    run: (ctx, row) => rowStatus(ctx, row, true),
  },
  checkout: {
    title: 'mlv checkout data, after rm -rf data',
    baseline: '`cp -r`',
    target: `data restored, ${MEM}`,
    needs: ['prepared'],
    run: rowCheckout,
  },
  'lfs-add': {
    title: 'mlv add, cold cache (vs git lfs)',
    baseline: '`git add data` (git lfs)',
    target: 'info only',
    info: true,
    needs: [],
    run: (ctx, row) => rowOtherTool(ctx, row, 'lfs'),
  },
  'annex-add': {
    title: 'mlv add, cold cache (vs git annex)',
    baseline: '`git annex add data`',
    target: 'info only',
    info: true,
    needs: [],
    run: (ctx, row) => rowOtherTool(ctx, row, 'annex'),
  },
};
const ROW_IDS = Object.keys(ROWS);

const USAGE = `usage: node bench/run.mjs [options]     (or: npm run bench -- [options])

  --small-files N      small files in the dataset (default 20000)
  --folders N          folders the small files are spread over (default 20)
  --small-size BYTES   size of each small file (default 4096)
  --large-files N      large files (default 2)
  --large-size-mib N   size of each large file in MiB (default 256)
  --runs N             timed runs per row; the median is reported (default 5)
  --rows LIST          comma-separated rows to run (default: all):
                       ${ROW_IDS.join(', ')}
  --dir DIR            work dir (default: ${path.join(os.tmpdir(), 'mlv-bench')})
  --keep               keep the work dir (the dataset is then reused by the next run)
  --json FILE          also write the results as JSON to FILE
  --quick              smoke-test preset: --small-files 2000 --large-files 1
                       --large-size-mib 16 --runs 3 (explicit options still win)
  --strict             exit 1 when a row FAILs its target (default: only on errors)
  -h, --help           show this help
`;

class RowError extends Error {}

// ---------------------------------------------------------------------------------------------
// options

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'small-files': { type: 'string' },
        folders: { type: 'string' },
        'small-size': { type: 'string' },
        'large-files': { type: 'string' },
        'large-size-mib': { type: 'string' },
        runs: { type: 'string' },
        rows: { type: 'string' },
        dir: { type: 'string' },
        json: { type: 'string' },
        keep: { type: 'boolean' },
        quick: { type: 'boolean' },
        strict: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const int = (name, min, def, quickDef) => {
    const raw = values[name];
    if (raw === undefined) return quick && quickDef !== undefined ? quickDef : def;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) usageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  // npm run changes the working directory to the package root; INIT_CWD is where the user was.
  const userCwd = process.env.INIT_CWD ?? process.cwd();
  let rows = ROW_IDS;
  if (values.rows !== undefined) {
    rows = values.rows.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = rows.filter((r) => !ROW_IDS.includes(r));
    if (unknown.length || rows.length === 0) usageError(`unknown row(s) ${unknown.join(', ') || '(none given)'}; rows are: ${ROW_IDS.join(', ')}`);
    rows = ROW_IDS.filter((r) => rows.includes(r));
  }
  return {
    smallFiles: int('small-files', 1, 20000, 2000),
    folders: int('folders', 1, 20),
    smallSize: int('small-size', 1, 4096),
    largeFiles: int('large-files', 0, 2, 1),
    largeSizeMiB: int('large-size-mib', 1, 256, 16),
    runs: int('runs', 1, 5, 3),
    rows,
    dir: path.resolve(userCwd, values.dir ?? path.join(os.tmpdir(), 'mlv-bench')),
    json: values.json === undefined ? undefined : path.resolve(userCwd, values.json),
    keep: values.keep === true,
    strict: values.strict === true,
  };
}

function usageError(msg) {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// running mlv and the baselines

/** Runs mlv (timed) with MLV_STATS_FILE set; returns seconds, parsed --json output, peak RSS. */
function mlvTimed(ctx, args, cwd, tag) {
  const statsFile = path.join(ctx.work.stats, `${tag}.json`);
  fs.rmSync(statsFile, { force: true });
  const r = timed(process.execPath, [ctx.mlvBin, ...args], { cwd, env: { ...ctx.env, MLV_STATS_FILE: statsFile } });
  noteDisturbance(ctx, r);
  const what = `mlv ${args.join(' ')}`;
  const bad = failureOf(r);
  if (bad) throw new RowError(`${what} failed: ${bad}`);
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new RowError(`${what}: stdout is not JSON: ${JSON.stringify(r.stdout.slice(0, 300))}`);
  }
  let peakBytes;
  try {
    peakBytes = JSON.parse(fs.readFileSync(statsFile, 'utf8')).maxRssKiB * 1024;
  } catch (err) {
    throw new RowError(`${what}: could not read peak memory from MLV_STATS_FILE (${err.message})`);
  }
  if (!Number.isFinite(peakBytes)) throw new RowError(`${what}: MLV_STATS_FILE has no maxRssKiB`);
  return { seconds: r.seconds, json, peakBytes, stderr: r.stderr };
}

/** Untimed mlv command (setup). */
function mlvRun(ctx, args, cwd) {
  return run(process.execPath, [ctx.mlvBin, ...args], { cwd, env: ctx.env });
}

/** A timed baseline command; a failure is an error of the row. */
function baseTimed(ctx, cmd, args, cwd) {
  const r = timed(cmd, args, { cwd, env: ctx.env });
  noteDisturbance(ctx, r);
  const bad = failureOf(r);
  if (bad) throw new RowError(`${cmd} ${args.join(' ')} failed: ${bad}`);
  return r;
}

/**
 * Adds up wall time and the CPU time other processes used during timed commands: on a shared
 * machine, work running at the same time shows up here (and as noisy timings).
 */
function noteDisturbance(ctx, r) {
  if (r.otherCpuSeconds === undefined) return;
  for (const acc of [ctx.rows.at(-1)?.disturbance, ctx.disturbance]) {
    if (!acc) continue;
    acc.wall += r.seconds;
    acc.otherCpu += r.otherCpuSeconds;
  }
}

/** Average number of cores other processes kept busy while timed commands ran. */
const otherCores = (d) => (d && d.wall > 0 ? d.otherCpu / d.wall : undefined);

function recordMlv(row, r) {
  row.mlv.runs.push(r.seconds);
  row.mlv.peakBytes.push(r.peakBytes);
}

/** Alternate which side goes first so slow drift (writeback, other load) hits both equally. */
const order = (i) => (i % 2 === 0 ? ['mlv', 'base'] : ['base', 'mlv']);

const tick = () => new Promise((resolve) => setImmediate(resolve));

const fmt = (s) => s.toFixed(3);
const fmtMem = (b) => `${(b / MiB).toFixed(1)} MiB`;

/**
 * Copies the built CLI (bin/, dist/, package.json; node_modules linked) into the work dir and
 * returns its entry point, so a rebuild of dist/ while the benchmark runs cannot change the code
 * being measured halfway through.
 */
function snapshotMlv(dir) {
  rmTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return path.join(dir, 'bin', 'mlv.js');
}

function makeMlvRepo(ctx, dir) {
  fs.mkdirSync(dir, { recursive: true });
  run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env: ctx.env });
  mlvRun(ctx, ['init', '-q'], dir);
}

function addSummary(t) {
  if (!t) return 'no target in the output';
  return `status ${t.status}, ${t.hashedFiles} files hashed, ${t.files} files`;
}

/** The repository the add-noop, status and checkout rows work on: data already added. */
function ensurePrepared(ctx) {
  if (ctx.preparedReady) return;
  const dir = ctx.work.prepared;
  log('setup: mlv repository with the data added (add-noop, status, checkout rows)');
  rmTree(dir);
  makeMlvRepo(ctx, dir);
  copyTree(ctx.ds.dataDir, path.join(dir, 'data'), ctx.env);
  const r = mlvTimed(ctx, ['add', '--json', 'data'], dir, 'prepare-add');
  const t = r.json.targets?.[0];
  if (!t || t.hashedFiles !== ctx.ds.files || t.files !== ctx.ds.files) {
    throw new RowError(`setup: mlv add data gave an unexpected result (${addSummary(t)}, expected ${ctx.ds.files} files)`);
  }
  log(`setup: mlv add took ${fmt(r.seconds)} s`);
  ctx.preparedReady = true;
}

/** A plain Git repository with the same tree committed: the git status baseline. */
function ensureGitRepo(ctx) {
  if (ctx.gitRepoReady) return;
  const dir = ctx.work.gitrepo;
  const marker = path.join(dir, '.git', 'mlv-bench-dataset.json');
  const id = JSON.stringify(ctx.ds.spec);
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === id) {
    const st = timed('git', ['status', '--porcelain'], { cwd: dir, env: ctx.env });
    if (!failureOf(st) && st.stdout.trim() === '') {
      log(`setup: reusing the git repository ${dir}`);
      ctx.gitRepoReady = true;
      return;
    }
  }
  log('setup: plain git repository with the data committed (git add + commit, once; this takes a while)');
  const t0 = elapsedSeconds();
  rmTree(dir);
  fs.mkdirSync(dir, { recursive: true });
  run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env: ctx.env });
  copyTree(ctx.ds.dataDir, path.join(dir, 'data'), ctx.env);
  run('git', ['add', 'data'], { cwd: dir, env: ctx.env });
  run('git', ['commit', '-q', '-m', 'bench data'], { cwd: dir, env: ctx.env });
  fs.writeFileSync(marker, id);
  log(`setup: git repository ready (${(elapsedSeconds() - t0).toFixed(1)} s)`);
  ctx.gitRepoReady = true;
}

// ---------------------------------------------------------------------------------------------
// rows

async function rowAddCold(ctx, row) {
  const { ds } = ctx;
  const runs = ctx.opts.runs;
  for (let i = 0; i < runs; i++) {
    await tick();
    const repo = path.join(ctx.work.scratch, `add-${i}`);
    const dest = path.join(ctx.work.scratch, `cp-${i}`);
    const data = path.join(repo, 'data');
    // Setup: fresh git repo + mlv init, data copied in, empty cache.
    makeMlvRepo(ctx, repo);
    copyTree(ds.dataDir, data, ctx.env);
    const sides = {
      mlv: () => {
        warmTree(data);
        syncFs();
        const r = mlvTimed(ctx, ['add', '--json', 'data'], repo, `add-cold-${i}`);
        recordMlv(row, r);
        const t = r.json.targets?.[0];
        if (!t || t.status !== 'added' || t.hashedFiles !== ds.files || t.files !== ds.files) {
          row.checks.push(`run ${i + 1}: expected status added with all ${ds.files} files hashed, got ${addSummary(t)}`);
        }
      },
      base: () => {
        warmTree(data);
        syncFs();
        const r = baseTimed(ctx, 'cp', ['-r', data, dest], ctx.work.scratch);
        row.baseline.runs.push(r.seconds);
        rmTree(dest);
      },
    };
    for (const side of order(i)) sides[side]();
    log(`add-cold run ${i + 1}/${runs}: mlv add ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), cp -r ${fmt(row.baseline.runs.at(-1))} s`);
    // The last repository becomes the prepared one (data added) for the following rows.
    if (i === runs - 1 && ctx.needPrepared && row.checks.length === 0 && !ctx.preparedReady) {
      rmTree(ctx.work.prepared);
      fs.renameSync(repo, ctx.work.prepared);
      ctx.preparedReady = true;
    } else {
      rmTree(repo);
    }
  }
}

async function rowAddNoop(ctx, row) {
  ensurePrepared(ctx);
  const hashed = [];
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    syncFs();
    const r = mlvTimed(ctx, ['add', '--json', 'data'], ctx.work.prepared, `add-noop-${i}`);
    recordMlv(row, r);
    const t = r.json.targets?.[0];
    hashed.push(t?.hashedFiles);
    if (!t || t.status !== 'unchanged' || t.hashedFiles !== 0) {
      row.checks.push(`run ${i + 1}: expected status unchanged with 0 files hashed, got ${addSummary(t)}`);
    }
    log(`add-noop run ${i + 1}/${ctx.opts.runs}: mlv add ${fmt(r.seconds)} s (${fmtMem(r.peakBytes)}), ${t?.hashedFiles} files hashed`);
  }
  row.notes.push(`files hashed per run: ${hashed.join(', ')}`);
}

async function rowStatus(ctx, row, change) {
  ensurePrepared(ctx);
  ensureGitRepo(ctx);
  const { ds } = ctx;
  const mlvRepo = ctx.work.prepared;
  const gitRepo = ctx.work.gitrepo;
  const rel = ds.sampleRel;
  const original = fs.readFileSync(path.join(ctx.work.dataset, rel));
  const tag = change ? 'status-change' : 'status-clean';

  const checkMlv = (json, i, changed = change) => {
    const t = json.targets?.[0];
    if (changed) {
      const c = t?.changes;
      if (!t || t.state !== 'modified' || !c || c.modified !== 1 || c.added !== 0 || c.deleted !== 0) {
        row.checks.push(`run ${i}: expected data modified with 1 file modified, got ${JSON.stringify(t ? { state: t.state, changes: t.changes } : json)}`);
      }
    } else if (json.clean !== true) {
      row.checks.push(`run ${i}: expected clean, got ${JSON.stringify(json.targets?.map((x) => ({ path: x.path, state: x.state, changes: x.changes })))}`);
    }
  };
  const checkGit = (stdout, i, changed = change) => {
    const ok = changed ? stdout.includes('modified:') && stdout.includes(rel) : stdout.includes('nothing to commit');
    if (!ok) throw new RowError(`git status (run ${i}) did not report what was expected: ${JSON.stringify(stdout.slice(0, 300))}`);
  };

  // One untimed warm-up run of each side on the unchanged tree (git refreshes its index, mlv its
  // stat cache).
  checkMlv(mlvTimed(ctx, ['status', '--json'], mlvRepo, `${tag}-warmup`).json, 'warm-up', false);
  checkGit(baseTimed(ctx, 'git', ['status'], gitRepo).stdout, 'warm-up', false);
  try {
    for (let i = 0; i < ctx.opts.runs; i++) {
      await tick();
      const sides = {
        mlv: () => {
          if (change) fs.appendFileSync(path.join(mlvRepo, rel), `appended by bench run ${i + 1}\n`);
          syncFs();
          const r = mlvTimed(ctx, ['status', '--json'], mlvRepo, `${tag}-${i}`);
          recordMlv(row, r);
          checkMlv(r.json, i + 1);
        },
        base: () => {
          if (change) fs.appendFileSync(path.join(gitRepo, rel), `appended by bench run ${i + 1}\n`);
          syncFs();
          const r = baseTimed(ctx, 'git', ['status'], gitRepo);
          row.baseline.runs.push(r.seconds);
          checkGit(r.stdout, i + 1);
        },
      };
      for (const side of order(i)) sides[side]();
      log(`${tag} run ${i + 1}/${ctx.opts.runs}: mlv status ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), git status ${fmt(row.baseline.runs.at(-1))} s`);
    }
  } finally {
    if (change) {
      fs.writeFileSync(path.join(mlvRepo, rel), original);
      fs.writeFileSync(path.join(gitRepo, rel), original);
    }
  }
}

async function rowCheckout(ctx, row) {
  ensurePrepared(ctx);
  const { ds } = ctx;
  const repo = ctx.work.prepared;
  const data = path.join(repo, 'data');
  const strategies = {};
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    const dest = path.join(ctx.work.scratch, `checkout-cp-${i}`);
    const sides = {
      mlv: () => {
        rmTree(data);
        warmTree(path.join(repo, '.mlv', 'cache'));
        syncFs();
        const r = mlvTimed(ctx, ['checkout', '--json', 'data'], repo, `checkout-${i}`);
        recordMlv(row, r);
        const j = r.json;
        for (const [k, v] of Object.entries(j.strategies ?? {})) strategies[k] = (strategies[k] ?? 0) + v;
        if (j.written !== ds.files || j.missing?.length || j.corrupt?.length) {
          row.checks.push(`run ${i + 1}: expected ${ds.files} files written, got written ${j.written}, missing ${j.missing?.length}, corrupt ${j.corrupt?.length}`);
        }
      },
      base: () => {
        warmTree(ds.dataDir);
        syncFs();
        const r = baseTimed(ctx, 'cp', ['-r', ds.dataDir, dest], ctx.work.scratch);
        row.baseline.runs.push(r.seconds);
        rmTree(dest);
      },
    };
    for (const side of order(i)) sides[side]();
    log(`checkout run ${i + 1}/${ctx.opts.runs}: mlv checkout ${fmt(row.mlv.runs.at(-1))} s (${fmtMem(row.mlv.peakBytes.at(-1))}), cp -r ${fmt(row.baseline.runs.at(-1))} s`);
  }
  row.notes.push(`files placed by: ${Object.entries(strategies).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing'} (over all runs)`);
  // The restored tree must be byte-for-byte the dataset.
  const diff = timed('diff', ['-rq', ds.dataDir, data], { cwd: ctx.work.root, env: ctx.env });
  if (diff.code !== 0) row.checks.push(`restored data differs from the dataset: ${(diff.stdout + diff.stderr).trim().split('\n').slice(0, 3).join('; ')}`);
  else row.notes.push('restored data verified identical to the dataset (diff -r)');
}

async function rowOtherTool(ctx, row, tool) {
  const program = tool === 'lfs' ? 'git-lfs' : 'git-annex';
  if (!ctx.tools[tool === 'lfs' ? 'gitLfs' : 'gitAnnex']) {
    row.skip = `${program} is not installed (\`which ${program}\` found nothing): skipped`;
    return;
  }
  const { ds } = ctx;
  for (let i = 0; i < ctx.opts.runs; i++) {
    await tick();
    const repo = path.join(ctx.work.scratch, `${tool}-${i}`);
    fs.mkdirSync(repo, { recursive: true });
    run('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: ctx.env });
    if (tool === 'lfs') {
      run('git', ['lfs', 'install', '--local'], { cwd: repo, env: ctx.env });
      run('git', ['lfs', 'track', 'data/**'], { cwd: repo, env: ctx.env });
      run('git', ['add', '.gitattributes'], { cwd: repo, env: ctx.env });
    } else {
      run('git', ['annex', 'init', 'mlv-bench'], { cwd: repo, env: ctx.env });
    }
    copyTree(ds.dataDir, path.join(repo, 'data'), ctx.env);
    warmTree(path.join(repo, 'data'));
    syncFs();
    const args = tool === 'lfs' ? ['add', 'data'] : ['annex', 'add', 'data'];
    const r = baseTimed(ctx, 'git', args, repo);
    row.baseline.runs.push(r.seconds);
    log(`${row.id} run ${i + 1}/${ctx.opts.runs}: git ${args.join(' ')} ${fmt(r.seconds)} s`);
    rmTree(repo);
  }
  const addCold = ctx.rows.find((r) => r.id === 'add-cold');
  if (addCold && addCold.mlv.runs.length > 0) {
    row.mlv = addCold.mlv;
    row.notes.push('mlv column: the add-cold measurement');
  } else {
    row.notes.push('mlv column empty: include add-cold in --rows to compare');
  }
}

// ---------------------------------------------------------------------------------------------
// results

const CORES = os.availableParallelism?.() ?? os.cpus().length;

function newRow(id) {
  const def = ROWS[id];
  return {
    id,
    title: def.title,
    baselineName: def.baseline,
    target: def.target,
    mlv: { runs: [], peakBytes: [] },
    baseline: def.baseline ? { runs: [] } : null,
    checks: [],
    notes: [],
    disturbance: { wall: 0, otherCpu: 0 },
    failures: [],
  };
}

function finalize(row) {
  const def = ROWS[row.id];
  row.mlv.median = median(row.mlv.runs);
  row.mlv.peakMiB = row.mlv.peakBytes.length ? Math.max(...row.mlv.peakBytes) / MiB : undefined;
  if (row.baseline) row.baseline.median = median(row.baseline.runs);
  if (row.mlv.median !== undefined && row.baseline?.median) row.ratio = row.mlv.median / row.baseline.median;
  const other = otherCores(row.disturbance);
  if (other !== undefined && other >= 0.2) {
    row.notes.push(`while this row's commands were timed, other processes kept on average ${other.toFixed(2)} of ${CORES} cores busy: timings are disturbed`);
  }
  if (row.skip) {
    row.result = 'SKIP';
    row.notes.unshift(row.skip);
    return row;
  }
  if (def.info) {
    row.result = row.error ? 'ERROR' : 'info';
    return row;
  }
  row.failures.push(...row.checks);
  if (def.ratioLimit !== undefined && row.ratio !== undefined && row.ratio > def.ratioLimit) {
    row.failures.push(`mlv took ${row.ratio.toFixed(2)}× as long as the baseline (limit ${def.ratioLimit}×)`);
  }
  const peak = row.mlv.peakBytes.length ? Math.max(...row.mlv.peakBytes) : undefined;
  if (peak !== undefined && peak >= MEM_LIMIT_BYTES) {
    row.failures.push(`peak memory ${(peak / MiB).toFixed(1)} MiB (${(peak / 1e6).toFixed(0)} MB) is not under 300 MB`);
  }
  row.result = row.error ? 'ERROR' : row.failures.length ? 'FAIL' : 'PASS';
  return row;
}

function toJson(ctx, startedAt) {
  return {
    benchmark: 'mlv',
    startedAt,
    durationSeconds: +elapsedSeconds().toFixed(1),
    machine: ctx.machine,
    dataset: { ...ctx.ds.spec, files: ctx.ds.files, bytes: ctx.ds.bytes },
    runs: ctx.opts.runs,
    otherProcessesAvgCores: otherCores(ctx.disturbance) ?? null,
    targets: { addMaxRatioVsCp: ADD_MAX_RATIO, statusMaxRatioVsGit: STATUS_MAX_RATIO, peakMemoryLimitBytes: MEM_LIMIT_BYTES },
    rows: ctx.rows.map((r) => ({
      id: r.id,
      title: r.title,
      result: r.result,
      target: r.target,
      mlv: {
        medianSeconds: r.mlv.median ?? null,
        seconds: r.mlv.runs,
        peakMiB: r.mlv.peakMiB ?? null,
        peakBytes: r.mlv.peakBytes,
      },
      baseline: r.baseline
        ? { name: r.baselineName.replace(/`/g, ''), medianSeconds: r.baseline.median ?? null, seconds: r.baseline.runs }
        : null,
      ratio: r.ratio ?? null,
      otherProcessesAvgCores: otherCores(r.disturbance) ?? null,
      failures: r.failures,
      error: r.error ?? null,
      notes: r.notes,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('bench: dist/ is missing; build first (npm run bench builds, or: npx tsc -p .)\n');
    process.exit(2);
  }
  const createdWorkDir = !fs.existsSync(opts.dir);
  const root = opts.dir;
  const work = {
    root,
    dataset: path.join(root, 'dataset'),
    home: path.join(root, 'home'),
    scratch: path.join(root, 'scratch'),
    stats: path.join(root, 'stats'),
    prepared: path.join(root, 'prepared'),
    gitrepo: path.join(root, 'gitrepo'),
    mlv: path.join(root, 'mlv'),
  };
  const ours = [work.dataset, work.home, work.scratch, work.stats, work.prepared, work.gitrepo, work.mlv];
  let cleanedUp = false;
  const cleanup = () => {
    if (cleanedUp) return;
    cleanedUp = true;
    rmTree(work.scratch);
    if (opts.keep) {
      log(`keeping the work dir ${root} (--keep)`);
      return;
    }
    log(`removing the work dir ${root}`);
    if (createdWorkDir) rmTree(root);
    else {
      // A --dir that existed before: remove only what the benchmark put there.
      for (const p of ours) rmTree(p);
      try {
        fs.rmdirSync(root);
      } catch {
        // not empty: other content, left alone
      }
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      log(`${sig}: stopping`);
      try {
        cleanup();
      } finally {
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
    });
  }

  fs.mkdirSync(root, { recursive: true });
  for (const p of [work.scratch, work.stats, work.prepared]) rmTree(p); // leftovers of an interrupted run
  for (const p of [work.home, work.scratch, work.stats]) fs.mkdirSync(p, { recursive: true });

  const spec = datasetSpec(opts);
  const datasetBytes = spec.smallFiles * spec.smallSize + spec.largeFiles * spec.largeSizeMiB * MiB;
  // dataset + prepared (data + cache) + git repo (data + objects) + one fresh repo + cache + cp copy
  const needBytes = 8 * datasetBytes;
  try {
    const sfs = fs.statfsSync(root);
    const free = sfs.bavail * sfs.bsize;
    if (free < needBytes) {
      process.stderr.write(`bench: ${root} has ${(free / 1024 ** 3).toFixed(1)} GiB free; about ${(needBytes / 1024 ** 3).toFixed(1)} GiB are needed. Use --dir elsewhere or a smaller dataset.\n`);
      process.exit(2);
    }
  } catch {
    // statfs unavailable: go ahead
  }

  const env = makeEnv(work.home);
  const tools = { gitLfs: which('git-lfs'), gitAnnex: which('git-annex') };
  const mlvBin = snapshotMlv(work.mlv);
  const ctx = { opts, work, env, tools, mlvBin, rows: [], preparedReady: false, gitRepoReady: false, disturbance: { wall: 0, otherCpu: 0 } };
  ctx.needPrepared = opts.rows.some((id) => ROWS[id].needs.includes('prepared'));
  ctx.machine = machineInfo(root, { repoRoot: ROOT, env, tools });
  const m = ctx.machine;
  log(`machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, work dir on ${m.fsType}`);
  log(`rows: ${opts.rows.join(', ')}; ${opts.runs} runs each`);

  let exitCode = 0;
  try {
    ctx.ds = ensureDataset(work.dataset, spec);
    for (const id of opts.rows) {
      const row = newRow(id);
      ctx.rows.push(row);
      log(`row ${id}: ${row.title}${row.baselineName ? ` vs ${row.baselineName.replace(/`/g, '')}` : ''}`);
      try {
        await ROWS[id].run(ctx, row);
      } catch (err) {
        row.error = err instanceof RowError ? err.message : `${err.stack ?? err}`;
        log(`row ${id}: ERROR: ${row.error}`);
      }
      finalize(row);
      // Nothing of a row survives in scratch/ (disk space).
      rmTree(work.scratch);
      fs.mkdirSync(work.scratch, { recursive: true });
      log(`row ${id}: ${row.result}`);
    }

    const md = [`# mlv benchmark (${startedAt})`, '', renderMachine(m, ctx.ds, opts, otherCores(ctx.disturbance)), '', renderResults(ctx.rows), ''].join('\n');
    process.stdout.write(md);
    if (opts.json) {
      fs.mkdirSync(path.dirname(opts.json), { recursive: true });
      fs.writeFileSync(opts.json, JSON.stringify(toJson(ctx, startedAt), null, 2) + '\n');
      log(`wrote ${opts.json}`);
    }
    if (ctx.rows.some((r) => r.result === 'ERROR')) exitCode = 1;
    else if (opts.strict && ctx.rows.some((r) => r.result === 'FAIL')) exitCode = 1;
  } finally {
    cleanup();
  }
  log(`done in ${elapsedSeconds().toFixed(0)} s`);
  process.exitCode = exitCode;
}

await main();
