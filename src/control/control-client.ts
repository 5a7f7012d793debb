/** The calling end of the local control channel (see control-protocol.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import {
  type ControlResponse,
  controlSocketPath,
  decodeError,
  readFrames,
  serverInfoPath,
  writeFrame,
} from './control-protocol.ts';
import type { ServerInfo } from './control-server.ts';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onEvent: ((e: unknown) => void) | undefined;
}

export class ControlClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  readonly info: ServerInfo | null;

  private constructor(socket: Socket, info: ServerInfo | null) {
    this.#socket = socket;
    this.info = info;
    readFrames(socket, (frame) => {
      const res = frame as ControlResponse;
      const p = this.#pending.get(res.id);
      if (!p) return;
      if ('event' in res) {
        p.onEvent?.(res.event);
        return;
      }
      this.#pending.delete(res.id);
      if (res.ok) p.resolve(res.value);
      else p.reject(decodeError(res.error));
    });
    const fail = (err?: Error): void => {
      const e = new Error(
        `the tickline server holding the data folder went away during the call${err ? ` (${err.message})` : ''}`,
      );
      for (const p of this.#pending.values()) p.reject(e);
      this.#pending.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  /**
   * Connects to the process holding `dataDir`, or null when none does (no
   * socket, or a stale one left by a process that died).
   */
  static async connect(dataDir: string): Promise<ControlClient | null> {
    const path = controlSocketPath(dataDir);
    if (!existsSync(path)) return null;
    let info: ServerInfo | null = null;
    try {
      info = JSON.parse(readFileSync(serverInfoPath(dataDir), 'utf8')) as ServerInfo;
    } catch {
      info = null;
    }
    return await new Promise<ControlClient | null>((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket, info));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(null);
        else if (err.code === 'EACCES')
          reject(
            new Error(
              `${path}: another user's tickline server holds this data folder (permission denied)`,
            ),
          );
        else reject(err);
      });
    });
  }

  /** Calls `service.method(...args)` in the serving process. */
  call<T>(
    service: string,
    method: string,
    args: unknown[] = [],
    onEvent?: (event: unknown) => void,
  ): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      writeFrame(this.#socket, { id, service, method, args });
    });
  }

  close(): void {
    this.#socket.end();
    this.#socket.unref();
  }
}
