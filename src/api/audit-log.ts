/**
 * The audit log of admin actions over the API: every call of a route that
 * names an `audit` action (keys, replays, runs, retries, cancels, backfills)
 * is written with who made it (the key id, also behind a session), what it
 * acted on, when, and how it ended; refused attempts (401, 403) included.
 * Readable by admins: GET /api/audit, `tickline audit`.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.ts';
import type { RouteDef } from './route-def.ts';

export function registerAuditLog(
  app: FastifyInstance,
  routes: readonly RouteDef[],
  ctx: ApiContext,
): void {
  // Admin actions, refused ones included, go to the audit log: who, what, when, how it ended.
  const audited = new Map<string, string>(
    [...routes].filter((r) => r.audit).map((r) => [`${r.method} ${r.path}`, r.audit!] as const),
  );
  app.addHook('onSend', async (req, reply, payload) => {
    if (!audited.has(`${req.method} ${req.routeOptions.url}`) || typeof payload !== 'string') {
      return payload;
    }
    // What the answer says: the created thing's id, or why it was refused.
    try {
      const body = JSON.parse(payload) as { id?: unknown; message?: unknown };
      const facts = req as unknown as { auditTarget?: string; auditDetail?: string };
      if (reply.statusCode >= 400 && typeof body.message === 'string')
        facts.auditDetail = body.message;
      else if (typeof body.id === 'string') facts.auditTarget = body.id;
    } catch {
      // Not JSON: nothing to add.
    }
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const action = audited.get(`${req.method} ${req.routeOptions.url}`);
    if (!action) return;
    const facts = req as unknown as { keyId?: string; auditTarget?: string; auditDetail?: string };
    const params = (req.params ?? {}) as Record<string, string>;
    const ok = reply.statusCode < 400;
    await ctx.pipelines
      .audit({
        actor: facts.keyId ? `key:${facts.keyId}` : 'anonymous',
        action,
        target: params.id ?? params.name ?? facts.auditTarget ?? null,
        outcome: ok ? 'ok' : 'failed',
        detail: ok
          ? (facts.auditDetail ?? null)
          : `HTTP ${reply.statusCode}${facts.auditDetail ? `: ${facts.auditDetail}` : ''}`,
      })
      .catch((err: Error) => process.stderr.write(`tickline: audit log: ${err.message}\n`));
  });
}
