/** How a REST route is declared (routes.ts, pipeline-routes.ts): once, for the server and the OpenAPI document. */
import type { z } from 'zod';
import type { ApiContext } from './context.ts';

export interface RouteReply {
  status?: number;
  body: unknown;
  /** A non-JSON body's content type (CSV, Parquet, Arrow). */
  contentType?: string;
  headers?: Record<string, string>;
}

/** What a handler may know of the request beyond its parameters. */
export interface RequestFacts {
  /** The caller's scope: `public` when it sent no key (or one that is not enough for more). */
  caller: 'public' | 'read' | 'admin';
  /** The Cookie header. */
  cookie: string | undefined;
  /** Whether the request came over HTTPS (cookies get Secure). */
  secure: boolean;
  /** The client's address (failed sign-ins are limited per address). */
  ip: string;
}

export interface RouteDef<
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
> {
  method: 'GET' | 'POST';
  /** Fastify syntax: `/api/jobs/:id`. */
  path: string;
  summary: string;
  /**
   * Who may call it: `public` (anyone: liveness, sign-in), `read` (any key or
   * session, or none on a loopback bind) or `admin`.
   */
  scope?: 'public' | 'read' | 'admin';
  /**
   * An admin action written to the audit log under this name (who, what, when, outcome),
   * refused attempts included.
   */
  audit?: string;
  /** When it answers 409: the state that does not allow it (documented in the OpenAPI document). */
  conflict?: string;
  /** The store capability it needs (a store without it answers 501). */
  capability?: 'quarantine' | 'keys' | 'export' | 'sql' | 'analytics';
  query: Q;
  params?: P;
  body?: B;
  /** A request body as a user would send it (shown in the API reference). */
  bodyExample?: unknown;
  response: z.ZodType;
  /** The status of a success (default 200). */
  status?: number;
  /** Other content types it answers with (the `format` parameter). */
  formats?: string[];
  handler: (
    ctx: ApiContext,
    query: z.output<Q>,
    extra: { params: z.output<P>; body: z.output<B>; http: RequestFacts },
  ) => Promise<RouteReply>;
}

export const route = <
  Q extends z.ZodType,
  B extends z.ZodType = z.ZodType,
  P extends z.ZodType = z.ZodType,
>(
  r: RouteDef<Q, B, P>,
): RouteDef => r as unknown as RouteDef;

/** Thrown by a handler for a parameter that parsed but makes no sense (e.g. a foreign cursor). */
export class BadParameter extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

/** An answer other than success, with its status: 404 for what does not exist, 409 for a wrong state. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503,
    message: string,
    readonly parameter?: string,
  ) {
    super(message);
  }

  get kind(): string {
    return {
      400: 'bad_parameter',
      401: 'unauthorized',
      403: 'forbidden',
      404: 'not_found',
      409: 'conflict',
      422: 'unprocessable',
      429: 'rate_limited',
      503: 'unavailable',
    }[this.status];
  }
}
