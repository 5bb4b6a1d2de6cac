/**
 * What every remote offers, whatever it is (a folder, an S3-compatible bucket): objects under the
 * same `ab/cdef...` layout as the local cache. Stores move bytes; verifying them is the transfer
 * layer's job (storage/transfer.ts), because a remote is never trusted.
 */
import type { ObjectId } from '../core/id.js';

export interface RemoteObject {
  id: ObjectId;
  size: number;
  /** When the object was last written (ms since the epoch), when the remote says. */
  modified?: number;
}

export interface ObjectStream {
  /** The body from `offset` to the end. */
  body: AsyncIterable<Uint8Array>;
  /** Where the body starts: the requested offset, or 0 when the remote ignored the range. */
  offset: number;
  /** Size of the whole object, when the remote says. */
  totalSize?: number;
}

export interface RemoteStore {
  /** For messages; never contains credentials. */
  readonly label: string;
  /** Size of the object, or undefined when the remote does not have it. */
  stat(id: ObjectId): Promise<number | undefined>;
  /** Every object on the remote (keys outside the layout are skipped). */
  list(): AsyncIterable<RemoteObject>;
  /**
   * Uploads a local file as object `id`. No partial object is ever visible under the final key.
   * `bytes`, when given, is the file's content already in memory (small objects), sent as is.
   */
  put(id: ObjectId, file: string, size: number, bytes?: Uint8Array): Promise<void>;
  /** Reads object `id` from byte `offset`. */
  get(id: ObjectId, offset: number): Promise<ObjectStream>;
  delete(id: ObjectId): Promise<void>;
  close(): void;
}
