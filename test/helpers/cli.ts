/** Runs the real `tickline` binary in a child process. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'tickline.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** Starts the CLI and returns the child (to signal it) and its result. */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ReturnType<typeof spawn>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, done };
}

/** A running `tickline up`: its child, result, and the URL it printed. */
export interface RunningServer {
  child: ReturnType<typeof spawn>;
  done: Promise<CliResult>;
  url: string;
  /** Output so far. */
  stdout(): string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<CliResult>;
}

/** Starts `tickline up …` and resolves once it prints its address (or rejects if it exits first). */
export async function startServer(
  args: string[],
  env: Record<string, string> = {},
): Promise<RunningServer> {
  // The simulator keeps to trading hours by default; tests run on any day, so it trades always.
  const hours = args.includes('--hours') ? [] : ['--hours', 'always'];
  const run = startCli(['up', ...hours, ...args], { FINNHUB_TOKEN: '', ...env });
  let out = '';
  run.child.stdout?.on('data', (d) => {
    out += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (): void => {
      const m = /dashboard: (https?:\/\/\S+)\/ /.exec(out);
      if (m) {
        run.child.stdout?.off('data', onData);
        resolve(m[1]!);
      }
    };
    run.child.stdout?.on('data', onData);
    void run.done.then((r) =>
      reject(new Error(`tickline up exited ${r.code} before serving:\n${r.stdout}\n${r.stderr}`)),
    );
  });
  return {
    ...run,
    url,
    stdout: () => out,
    stop: async () => {
      run.child.kill('SIGTERM');
      return run.done;
    },
  };
}
