/**
 * The pipelines a command talks to: the running server's (over the control
 * socket), or, with no server, a PipelineService in this process (runs
 * happen here, alerts included; nothing is scheduled).
 */

import type { Config } from '../core/config.ts';
import type { PipelinesApi } from '../pipelines/pipeline-service.ts';
import { connectServer, openLocalStore } from './context.ts';

export type PipelinesHandle = PipelinesApi & {
  backfill(
    name: string,
    from: number,
    to: number,
    onProgress?: (done: number, total: number) => void,
  ): Promise<Awaited<ReturnType<PipelinesApi['backfill']>>>;
};

export async function withPipelines<T>(
  cfg: Config,
  fn: (api: PipelinesHandle, where: 'server' | 'here') => Promise<T>,
  opts: { work?: boolean } = {},
): Promise<T> {
  const client = await connectServer(cfg);
  if (client) {
    const { remotePipelines } = await import('../control/pipelines-service.ts');
    try {
      return await fn(remotePipelines(client), 'server');
    } finally {
      client.close();
    }
  }
  // Loaded when needed: the scheduler, run store and task runners are a large part of startup.
  const { PipelineService } = await import('../pipelines/pipeline-service.ts');
  const store = await openLocalStore(cfg);
  try {
    const svc = await PipelineService.open({ cfg, store, work: opts.work ?? false });
    try {
      return await fn(svc, 'here');
    } finally {
      await svc.close();
    }
  } finally {
    await store.close();
  }
}
