/**
 * The serving end of the local control channel (see control-protocol.ts):
 * a process that holds the data folder answers other commands' calls on
 * its services (the store, the pipelines) over a 0600 unix socket.
 */
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import {
  type ControlRequest,
  controlSocketPath,
  encodeError,
  ensureControlDir,
  readFrames,
  serverInfoPath,
  writeFrame,
} from './control-protocol.ts';

/** A method a service offers: the call's arguments, and a way to push events while it runs. */
export type ControlMethod = (args: unknown[], emit: (event: unknown) => void) => Promise<unknown>;

/** A service: the methods callers may use, by name (nothing else is reachable). */
export type ControlService = Record<string, ControlMethod>;

export interface ServerInfo {
  pid: number;
  /** The HTTP address of the API and dashboard, when the process serves them. */
  url: string | null;
  socket: string;
  startedAt: number;
}

export class ControlServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #dataDir: string;
  readonly info: ServerInfo;

  private constructor(server: Server, dataDir: string, info: ServerInfo) {
    this.#server = server;
    this.#dataDir = dataDir;
    this.info = info;
  }

  /**
   * Listens on `<dataDir>/run/control.sock` (a stale socket of a process that
   * died is replaced: the caller holds the data folder's lock by now).
   */
  static async listen(
    dataDir: string,
    services: Record<string, ControlService>,
    url: string | null,
  ): Promise<ControlServer> {
    ensureControlDir(dataDir);
    const path = controlSocketPath(dataDir);
    if (existsSync(path)) rmSync(path, { force: true });
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      readFrames(socket, (frame) => {
        const req = frame as ControlRequest;
        void answer(socket, req, services);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    const info: ServerInfo = { pid: process.pid, url, socket: path, startedAt: Date.now() };
    writeFileSync(serverInfoPath(dataDir), `${JSON.stringify(info)}\n`, { mode: 0o600 });
    const control = new ControlServer(server, dataDir, info);
    for (const s of sockets) control.#sockets.add(s);
    server.on('connection', (s: Socket) => {
      control.#sockets.add(s);
      s.on('close', () => control.#sockets.delete(s));
    });
    return control;
  }

  /** Stops answering: open calls' sockets are closed, the socket and address files removed. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(controlSocketPath(this.#dataDir), { force: true });
    rmSync(serverInfoPath(this.#dataDir), { force: true });
  }
}

async function answer(
  socket: Socket,
  req: ControlRequest,
  services: Record<string, ControlService>,
): Promise<void> {
  const reply = (value: unknown): void => {
    if (!socket.destroyed) writeFrame(socket, value);
  };
  try {
    const service = Object.hasOwn(services, req.service) ? services[req.service] : undefined;
    const method = service && Object.hasOwn(service, req.method) ? service[req.method] : undefined;
    if (!method) throw new Error(`the server offers no ${req.service}.${req.method}`);
    const value = await method(Array.isArray(req.args) ? req.args : [], (event) =>
      reply({ id: req.id, event }),
    );
    reply({ id: req.id, ok: true, value });
  } catch (err) {
    reply({ id: req.id, ok: false, error: encodeError(err) });
  }
}
