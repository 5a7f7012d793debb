/**
 * The local control channel: a process that holds the data folder (a
 * running `tickline up`) serves its store and services over a unix socket
 * inside the data folder, so other `tickline` commands on this machine go
 * through it instead of opening the DuckDB file (which one process holds).
 *
 * Authority comes from the file system: the socket lives in a folder only
 * the owner may enter (0700) and is itself 0600.
 *
 * Frames are a 4-byte big-endian length and a V8-serialized value (typed
 * arrays, bigints and dates travel as they are).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import {
  ConfigError,
  SourceError,
  SqlError,
  StoreConnectError,
  StoreError,
  TicklineError,
  UsageError,
  ValidationError,
} from '../core/errors.ts';
import { CapabilityError } from '../store/store.ts';

/** A call: `service.method(...args)`. */
export interface ControlRequest {
  id: number;
  service: string;
  method: string;
  args: unknown[];
}

export type ControlResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: EncodedError }
  /** Something the service pushes while a call runs (progress, log lines). */
  | { id: number; event: unknown };

export interface EncodedError {
  name: string;
  message: string;
  fields: Record<string, unknown>;
}

/** The folder (0700) holding the socket and the server's address. */
export function controlDir(dataDir: string): string {
  return join(dataDir, 'run');
}

export function controlSocketPath(dataDir: string): string {
  return join(controlDir(dataDir), 'control.sock');
}

/** `{ pid, url, socket }` of the server that holds the data folder. */
export function serverInfoPath(dataDir: string): string {
  return join(controlDir(dataDir), 'server.json');
}

export function ensureControlDir(dataDir: string): string {
  const dir = controlDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

const MAX_FRAME = 512 * 2 ** 20;

export function writeFrame(socket: Socket, value: unknown): void {
  const body = serialize(value);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  socket.write(head);
  socket.write(body);
}

/** Calls `onFrame` with each whole frame read from the socket. */
export function readFrames(socket: Socket, onFrame: (value: unknown) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len > MAX_FRAME) {
        socket.destroy(new Error(`control frame of ${len} bytes is over the ${MAX_FRAME} limit`));
        return;
      }
      if (buf.length < 4 + len) break;
      const body = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      onFrame(deserialize(body));
    }
  });
}

const CLASSES: Record<string, { prototype: object }> = {
  StoreConnectError,
  CapabilityError,
  UsageError,
  ConfigError,
  StoreError,
  SqlError,
  SourceError,
  ValidationError,
  TicklineError,
};

export function encodeError(err: unknown): EncodedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause' || typeof v === 'function') continue;
    try {
      serialize(v);
      fields[k] = v;
    } catch {
      fields[k] = String(v);
    }
  }
  return { name: err.name, message: err.message, fields };
}

/** The error as the serving process threw it: same class (for exit codes), message and fields. */
export function decodeError(e: EncodedError): Error {
  const proto = CLASSES[e.name]?.prototype ?? Error.prototype;
  const err = Object.create(proto) as Error;
  Object.defineProperty(err, 'message', { value: e.message, writable: true, configurable: true });
  Object.assign(err, e.fields);
  Object.defineProperty(err, 'name', { value: e.name, writable: true, configurable: true });
  err.stack = `${e.name}: ${e.message}\n    (thrown in the tickline server holding the data folder)`;
  return err;
}
