/**
 * Names and paths that come from pointer files, tree objects or the command line are hostile
 * input: these checks keep every one of them inside the repository and away from `.git` / `.mlv`.
 */

import { hasLoneSurrogate } from './quoted.js';

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const RESERVED_NAMES = new Set(['.git', '.mlv']);

/** Why a single path segment (a file or folder name) is unacceptable, or undefined if it is fine. */
/** Names made only of these need no further checks (the common case, kept fast). */
const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9 ._+=,@%~()-]{0,84}$/;

export function badNameReason(name: string): string | undefined {
  if (PLAIN_NAME.test(name)) return undefined;
  if (name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `"${name}" is not allowed as a name`;
  if (name.includes('/')) return 'a name must not contain "/"';
  if (name.includes('\\')) return 'a name must not contain "\\" (it is a path separator on Windows)';
  if (CONTROL_CHARS.test(name)) return 'a name must not contain control characters';
  if (hasLoneSurrogate(name)) return 'a name must be valid Unicode (it has an unpaired surrogate)';
  if (name.charCodeAt(0) === 0x2e && RESERVED_NAMES.has(name.toLowerCase())) return `"${name}" is reserved`;
  if (name.length > 85 && Buffer.byteLength(name) > 255) return 'a name must be at most 255 bytes';
  return undefined;
}

/**
 * Why a repository-relative POSIX path is unacceptable (absolute, drive letter, `..`, empty or `.`
 * segments, reserved names), or undefined if it is fine.
 */
export function badRelPathReason(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.startsWith('/')) return 'absolute paths are not allowed';
  if (/^[A-Za-z]:/.test(path)) return 'drive letters are not allowed';
  for (const segment of path.split('/')) {
    if (segment === '..') return 'the path escapes the repository ("..")';
    const reason = badNameReason(segment);
    if (reason) return reason;
  }
  return undefined;
}

/**
 * Converts an OS path relative to the repository into the POSIX form used in pointers and output.
 * Only on Windows is `\` a separator; elsewhere it is an ordinary (if unportable) name character.
 */
export function toPosix(relPath: string, separator: string = process.platform === 'win32' ? '\\' : '/'): string {
  return separator === '/' ? relPath : relPath.split(separator).join('/');
}

/** A path as shown in messages: quoted when it contains control characters or line breaks. */
export function displayPath(p: string): string {
  return /[\u0000-\u001f\u007f\u2028\u2029]/.test(p) ? JSON.stringify(p) : p;
}
