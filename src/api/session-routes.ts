/** Sign-in for the dashboard (src/api/sessions.ts): who am I, sign in with a key, sign out. */
import { z } from 'zod';
import { ApiError, type RouteDef, route } from './route-def.ts';
import { sessionIdOf } from './sessions.ts';

const EmptyQuery = z.object({}).strict();

const SessionInfoSchema = z
  .object({
    keyRequired: z
      .boolean()
      .describe('Reads need a key or a session (the server is bound to a non-loopback address)'),
    signedIn: z.boolean(),
    scope: z.enum(['read', 'admin']).nullable().describe("The signed-in key's scope"),
    keyId: z.string().nullable(),
    csrf: z
      .string()
      .nullable()
      .describe('Send it back as the x-csrf-token header on requests that change something'),
  })
  .strict();

const SignInSchema = z
  .object({ key: z.string().min(1).max(200).describe('An API key: tk_<id>_<secret>') })
  .strict();

type SessionInfo = z.infer<typeof SessionInfoSchema>;

export const SESSION_ROUTES: RouteDef[] = [
  route({
    method: 'GET',
    path: '/api/session',
    summary: 'Who the caller is: signed in or not, the scope, and the CSRF token of its session',
    scope: 'public',
    query: EmptyQuery,
    response: SessionInfoSchema,
    handler: async (ctx, _q, { http }) => {
      const s = ctx.sessions.get(sessionIdOf(http.cookie));
      const auth = s ? await ctx.keys.checkId(s.keyId) : null;
      const body: SessionInfo = {
        keyRequired: ctx.requireKeyForReads,
        signedIn: Boolean(auth?.ok),
        scope: auth?.ok ? auth.scope : null,
        keyId: auth?.ok ? auth.id : null,
        csrf: auth?.ok && s ? s.csrf : null,
      };
      return { body };
    },
  }),
  route({
    method: 'POST',
    path: '/api/session',
    summary:
      'Signs in with an API key: sets an HttpOnly, SameSite=Strict session cookie (tickline_session)',
    scope: 'public',
    query: EmptyQuery,
    body: SignInSchema,
    bodyExample: { key: 'tk_0123456789ab_…' },
    response: SessionInfoSchema,
    handler: async (ctx, _q, { body, http }) => {
      const wait = ctx.failures.blockedFor(http.ip);
      if (wait > 0) throw new ApiError(429, `too many failed sign-ins; retry in ${wait} s`);
      const auth = await ctx.keys.check(`Bearer ${body.key.trim()}`);
      if (!auth.ok) {
        ctx.failures.fail(http.ip);
        throw new ApiError(
          401,
          auth.reason === 'revoked'
            ? 'this API key was revoked'
            : auth.reason === 'malformed'
              ? 'that is not a tickline API key (tk_<id>_<secret>; tickline keys create makes one)'
              : 'this API key is not valid',
          'key',
        );
      }
      ctx.sessions.end(sessionIdOf(http.cookie));
      const s = ctx.sessions.create(auth.id);
      const info: SessionInfo = {
        keyRequired: ctx.requireKeyForReads,
        signedIn: true,
        scope: auth.scope,
        keyId: auth.id,
        csrf: s.csrf,
      };
      return { body: info, headers: { 'set-cookie': ctx.sessions.cookie(s, http.secure) } };
    },
  }),
  route({
    method: 'POST',
    path: '/api/session/logout',
    summary: 'Signs out: ends the session and clears its cookie',
    scope: 'public',
    query: EmptyQuery,
    response: SessionInfoSchema,
    handler: async (ctx, _q, { http }) => {
      ctx.sessions.end(sessionIdOf(http.cookie));
      const info: SessionInfo = {
        keyRequired: ctx.requireKeyForReads,
        signedIn: false,
        scope: null,
        keyId: null,
        csrf: null,
      };
      return { body: info, headers: { 'set-cookie': ctx.sessions.cookie(null, http.secure) } };
    },
  }),
];
