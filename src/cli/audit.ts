/** Admin actions taken from the CLI, written to the audit log as `cli:<os user>`. */
import { userInfo } from 'node:os';
import type { Config } from '../core/config.ts';
import type { PipelinesApi } from '../pipelines/pipeline-service.ts';
import { withPipelines } from './pipelines-access.ts';

/** Who runs this command: the operating system's user. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/**
 * Runs an admin action and records it, ok or failed (then rethrown), on the
 * pipelines it went through (the server's, or this process's run history).
 */
export async function audited<T>(
  api: Pick<PipelinesApi, 'audit'>,
  action: string,
  target: string | null,
  fn: () => Promise<T>,
  detail?: (result: T) => string | null,
): Promise<T> {
  try {
    const result = await fn();
    await api.audit({
      actor: cliActor(),
      action,
      target,
      outcome: 'ok',
      detail: detail?.(result) ?? null,
    });
    return result;
  } catch (err) {
    await api
      .audit({
        actor: cliActor(),
        action,
        target,
        outcome: 'failed',
        detail: (err as Error).message,
      })
      .catch(() => {});
    throw err;
  }
}

/**
 * Records an action that was taken on the store directly (keys). The action
 * stands even when the log cannot be written: that is said on stderr.
 */
export async function recordAudit(
  cfg: Config,
  action: string,
  target: string | null,
  detail: string | null = null,
): Promise<void> {
  await withPipelines(cfg, (api) =>
    api.audit({ actor: cliActor(), action, target, outcome: 'ok', detail }),
  ).catch((err: Error) => {
    process.stderr.write(
      `tickline: ${action} ${target ?? ''} done, but not in the audit log: ${err.message}\n`,
    );
  });
}
