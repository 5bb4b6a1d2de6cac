/**
 * mlv as a library. Every command of the CLI is a function taking a context (`{ cwd }`, and an
 * optional progress listener) and options, and returning the same result object the CLI prints
 * with --json; failures are thrown as `MlvError` (with `code` and `exitCode`). Tracked files can
 * be read at any revision, verified, without touching the workspace. See docs/api.md.
 */
export { MlvError, ExitCode, isMlvError } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export type { ProgressEvent, ProgressListener } from './core/progress.js';
export type { CommandContext } from './commands/context.js';

export { openFile, readFile, listFiles } from './api/files.js';
export type { ReadOptions, ListOptions, TrackedFile } from './api/files.js';

export { init } from './commands/init.js';
export type { InitOptions, InitResult } from './commands/init.js';
export { add } from './commands/add.js';
export type { AddOptions, AddResult } from './commands/add.js';
export { status } from './commands/status.js';
export type { StatusOptions, StatusResult, TargetStatus } from './commands/status.js';
export { checkout } from './commands/checkout.js';
export type { CheckoutOptions, CheckoutResult } from './commands/checkout.js';
export { untrack } from './commands/untrack.js';
export type { UntrackOptions, UntrackResult } from './commands/untrack.js';
export { config } from './commands/config.js';
export type { ConfigOptions, ConfigResult } from './commands/config.js';
export { remoteAdd, remoteList, remoteRemove, remoteModify, remoteDefault } from './commands/remote.js';
export type { RemoteResult } from './commands/remote.js';
export { push } from './commands/push.js';
export type { TransferOptionsCli as TransferOptions, TransferResult } from './commands/push.js';
export { fetchData as fetch } from './commands/fetch.js';
export { pull } from './commands/pull.js';
export type { PullOptions, PullResult } from './commands/pull.js';
export { remoteStatus } from './commands/remote-status.js';
export type { RemoteStatusResult } from './commands/remote-status.js';

export { ls } from './commands/ls.js';
export type { LsOptions, LsResult, LsEntry } from './commands/ls.js';
export { diff } from './commands/diff.js';
export type { DiffOptions, DiffResult } from './commands/diff.js';
export type { FileChange, Modification, Rename } from './history/compare.js';
export { get } from './commands/get.js';
export type { GetOptions, GetResult } from './commands/get.js';
export { exportArchive } from './commands/export.js';
export type { ExportOptions, ExportResult, ExportManifest } from './commands/export.js';

export { gc } from './commands/gc.js';
export { fsck } from './commands/fsck.js';
export { installHooks, uninstallHooks } from './commands/hooks.js';
