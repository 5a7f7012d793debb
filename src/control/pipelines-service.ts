/** Pipelines over the control channel: the server's PipelineService, called by other commands. */
import type { PipelineService, PipelinesApi } from '../pipelines/pipeline-service.ts';
import type { ControlClient } from './control-client.ts';
import type { ControlService } from './control-server.ts';

const METHODS = [
  'list',
  'run',
  'wait',
  'runs',
  'show',
  'logs',
  'retry',
  'cancel',
  'alerts',
  'audit',
  'auditLog',
] as const;

export function pipelinesService(svc: PipelineService): ControlService {
  const out: ControlService = {
    backfill: async (args, emit) =>
      svc.backfill(args[0] as string, args[1] as number, args[2] as number, (done, total) =>
        emit({ done, total }),
      ),
  };
  for (const m of METHODS) {
    out[m] = async (args) => (svc[m] as (...a: unknown[]) => Promise<unknown>).apply(svc, args);
  }
  return out;
}

export function remotePipelines(client: ControlClient): PipelinesApi & {
  backfill(
    name: string,
    from: number,
    to: number,
    onProgress?: (done: number, total: number) => void,
  ): ReturnType<PipelinesApi['backfill']>;
} {
  const call =
    (m: string) =>
    (...args: unknown[]) =>
      client.call(
        'pipelines',
        m,
        args.filter((a) => a !== undefined),
      );
  const api: Record<string, unknown> = {};
  for (const m of METHODS) api[m] = call(m);
  api.backfill = (
    name: string,
    from: number,
    to: number,
    onProgress?: (done: number, total: number) => void,
  ) =>
    client.call('pipelines', 'backfill', [name, from, to], (e) => {
      const p = e as { done: number; total: number };
      onProgress?.(p.done, p.total);
    });
  return api as unknown as ReturnType<typeof remotePipelines>;
}
