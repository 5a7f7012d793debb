/**
 * Real servers from Debian packages (Prometheus, Alertmanager, aiosmtpd) run
 * as children on 127.0.0.1 ports, and one-shot tools (promtool, amtool) run
 * to their exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface Ran {
  code: number;
  out: string;
}

/** Runs a tool to its exit; stdout and stderr together. */
export function run(cmd: string, args: string[], input?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
    child.stdin.end(input ?? '');
  });
}

export interface Service {
  child: ChildProcess;
  /** Output so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts a long-running server; `stop()` sends SIGTERM and waits for the exit. */
export function startService(cmd: string, args: string[]): Service {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A port free on 127.0.0.1 right now (for servers that cannot report the one they picked). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
