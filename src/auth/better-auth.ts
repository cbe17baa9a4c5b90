// Better Auth set up for mana: its own database handle (node:sqlite or a pg Pool), tables prefixed auth_, every email written to the outbox, links pointing at our scanner-safe pages (no RFC).
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { betterAuth, type BetterAuthOptions } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { jwt, magicLink, organization } from 'better-auth/plugins';
import { NodeSqliteDialect } from '@better-auth/kysely-adapter/node-sqlite-dialect';
import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/store.ts';
import type { Outbox } from './outbox.ts';
import { accountDeletedEmail, authLocale, changeEmailEmail, invitationEmail, LIFETIMES, magicLinkEmail, passwordResetEmail, verificationEmail, welcomeEmail } from './emails.ts';

export type AuthDatabase = {
  dialect: 'sqlite' | 'postgres';
  /** What Better Auth's `database` option receives. */
  handle: NonNullable<BetterAuthOptions['database']>;
  close(): Promise<void>;
};

/**
 * Opens Better Auth's own handle on the shared database. SQLite: a second connection to
 * <dataDir>/mana.db (WAL, busy timeout) with Better Auth's transactions off: a deferred read
 * transaction held across the password hash would fail to upgrade when another connection of
 * this process (the store) writes meanwhile, and an immediate one would stall that writer.
 */
export function openAuthDatabase(options: { dataDir: string; databaseUrl?: string; busyTimeoutMs?: number }): AuthDatabase {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
    pool.on('error', () => {}); // an idle client's error surfaces on the next query
    return { dialect: 'postgres', handle: pool, close: () => pool.end() };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const db = new DatabaseSync(join(options.dataDir, 'mana.db'), { timeout: options.busyTimeoutMs ?? 5_000 });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
  return {
    dialect: 'sqlite',
    handle: { dialect: new NodeSqliteDialect({ database: db }), type: 'sqlite', transaction: false },
    close: async () => {
      if (db.isOpen) db.close();
    },
  };
}

/** Pages the emails link to; a GET of each shows a button, the POST spends the token. */
export function pageUrls(baseUrl: string) {
  const u = (path: string, params: Record<string, string | undefined>) => {
    const url = new URL(path, `${baseUrl}/`);
    for (const [k, v] of Object.entries(params)) if (v) url.searchParams.set(k, v);
    return url.toString();
  };
  return {
    verify: (token: string, callbackURL?: string) => u('verify', { token, callbackURL }),
    resetPassword: (token: string) => u('reset-password', { token }),
    magicLink: (token: string, callbackURL?: string) => u('magic-link', { token, callbackURL }),
    acceptInvitation: (id: string) => u('accept-invitation', { id }),
    signIn: () => u('sign-in', {}),
  };
}

/** Reads a claim of Better Auth's email-verification JWT without checking it (only to pick the template; Better Auth checks it when it is spent). */
function peekClaims(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    return {};
  }
}

/** callbackURL Better Auth put into its own link, carried over to ours; only same-site paths or trusted origins. */
function callbackOf(url: string): string | undefined {
  try {
    const cb = new URL(url).searchParams.get('callbackURL');
    return cb && cb !== '/' ? cb : undefined;
  } catch {
    return undefined;
  }
}

type UserLike = { id: string; email: string; name?: string | null; locale?: unknown };
const localeOf = (user: UserLike | undefined, request?: Request | null) =>
  authLocale(typeof user?.locale === 'string' && user.locale ? user.locale : request?.headers.get('accept-language'));

export type ManaAuthOptions = {
  database: AuthDatabase;
  baseUrl: string;
  secret: string;
  outbox: Outbox;
  log: Logger;
  production: boolean;
  cookieDomain?: string;
  trustedOrigins: string[];
};

export function betterAuthOptions(o: ManaAuthOptions) {
  const links = pageUrls(o.baseUrl);
  const log = o.log;
  return {
    appName: 'Mana',
    baseURL: o.baseUrl,
    basePath: '/api/auth',
    secret: o.secret,
    database: o.database.handle,
    telemetry: { enabled: false },
    trustedOrigins: o.trustedOrigins,
    logger: {
      level: 'warn',
      log: (level: string, message: string, ...args: unknown[]) => {
        const fn = level === 'error' ? log.error.bind(log) : level === 'warn' ? log.warn.bind(log) : log.debug.bind(log);
        fn({ component: 'better-auth', args: args.length ? String(args[0]) : undefined }, 'better-auth: ' + message);
      },
    },
    // Our own limiter (rate-limit.ts) counts per IP and per address; Better Auth's would count twice.
    rateLimit: { enabled: false },
    user: {
      modelName: 'auth_users',
      // Not returned: a duplicate sign-up's synthetic user could not show the same value, and would give the account away.
      additionalFields: { locale: { type: 'string', required: false, input: true, returned: false } },
      changeEmail: {
        enabled: true,
        sendChangeEmailConfirmation: async ({ user, newEmail, token }: { user: UserLike; newEmail: string; url: string; token: string }, request?: Request) => {
          await o.outbox.enqueue(changeEmailEmail({ to: user.email, userId: user.id, name: user.name ?? undefined, newEmail, url: links.verify(token), locale: localeOf(user, request) }));
        },
      },
      deleteUser: {
        enabled: true,
        afterDelete: async (user: UserLike, request?: Request) => {
          await o.outbox.enqueue(accountDeletedEmail({ to: user.email, name: user.name ?? undefined, locale: localeOf(user, request) }));
        },
      },
    },
    databaseHooks: {
      user: {
        create: {
          // Every account gets one of our locales: the one asked for at sign-up, else the browser's.
          before: async (user: Record<string, unknown>, ctx: { request?: Request } | null) => ({
            data: { ...user, locale: authLocale(typeof user.locale === 'string' && user.locale ? user.locale : ctx?.request?.headers.get('accept-language')) },
          }),
        },
      },
    },
    session: { modelName: 'auth_sessions', expiresIn: 7 * 86400, updateAge: 86400 },
    account: { modelName: 'auth_accounts' },
    verification: { modelName: 'auth_verifications' },
    emailAndPassword: {
      enabled: true,
      requireEmailVerification: true,
      minPasswordLength: 8,
      maxPasswordLength: 128,
      resetPasswordTokenExpiresIn: LIFETIMES.passwordReset / 1000,
      revokeSessionsOnPasswordReset: true,
      sendResetPassword: async ({ user, token }: { user: UserLike; url: string; token: string }, request?: Request) => {
        await o.outbox.enqueue(passwordResetEmail({ to: user.email, userId: user.id, name: user.name ?? undefined, url: links.resetPassword(token), locale: localeOf(user, request) }));
      },
    },
    emailVerification: {
      sendOnSignUp: true,
      autoSignInAfterVerification: true,
      expiresIn: LIFETIMES.verification / 1000,
      sendVerificationEmail: async ({ user, url, token }: { user: UserLike; url: string; token: string }, request?: Request) => {
        const claims = peekClaims(token);
        const locale = localeOf(user, request);
        const link = links.verify(token, callbackOf(url));
        if (claims.requestType === 'change-email-verification') {
          await o.outbox.enqueue(changeEmailEmail({ to: user.email, userId: user.id, name: user.name ?? undefined, newEmail: user.email, url: link, locale }));
        } else {
          await o.outbox.enqueue(verificationEmail({ to: user.email, userId: user.id, name: user.name ?? undefined, url: link, locale }));
        }
      },
      afterEmailVerification: async (user: UserLike, request?: Request) => {
        // Confirming a changed address verifies an email too; the welcome is for the first confirmation only.
        if (!(await o.outbox.firstTime('welcome', user.id))) return;
        await o.outbox.enqueue(welcomeEmail({ to: user.email, userId: user.id, name: user.name ?? undefined, loginUrl: links.signIn(), locale: localeOf(user, request) }));
      },
    },
    advanced: {
      useSecureCookies: o.production,
      ...(o.cookieDomain ? { crossSubDomainCookies: { enabled: true, domain: o.cookieDomain } } : {}),
      defaultCookieAttributes: { sameSite: 'lax' as const, httpOnly: true, secure: o.production },
    },
    plugins: [
      jwt({
        jwks: { keyPairConfig: { alg: 'EdDSA', crv: 'Ed25519' } },
        jwt: {
          issuer: o.baseUrl,
          audience: 'mana',
          expirationTime: '15m',
          definePayload: ({ user, session }: { user: Record<string, any>; session: Record<string, any> }) => ({
            email: user.email,
            name: user.name,
            emailVerified: user.emailVerified,
            role: user.role ?? 'user',
            sid: session.id,
          }),
        },
        schema: { jwks: { modelName: 'auth_jwks' } },
      }),
      organization({
        invitationExpiresIn: LIFETIMES.invitation / 1000,
        sendInvitationEmail: async (data: { id: string; email: string; organization: { name: string }; inviter: { user: UserLike } }, request?: Request) => {
          const inviterName = data.inviter.user.name || data.inviter.user.email;
          await o.outbox.enqueue(invitationEmail({ to: data.email, orgName: data.organization.name, inviterName, url: links.acceptInvitation(data.id), locale: localeOf(data.inviter.user, request) }));
        },
        schema: {
          organization: { modelName: 'auth_organizations' },
          member: { modelName: 'auth_members' },
          invitation: { modelName: 'auth_invitations' },
        },
      }),
      magicLink({
        expiresIn: LIFETIMES.magicLink / 1000,
        storeToken: 'hashed',
        sendMagicLink: async ({ email, url, token }: { email: string; url: string; token: string }, ctx?: { request?: Request }) => {
          await o.outbox.enqueue(magicLinkEmail({ to: email, url: links.magicLink(token, callbackOf(url)), locale: authLocale(ctx?.request?.headers.get('accept-language')) }));
        },
      }),
    ],
  } satisfies BetterAuthOptions;
}

export function createBetterAuth(o: ManaAuthOptions) {
  return betterAuth(betterAuthOptions(o));
}
export type ManaAuth = ReturnType<typeof createBetterAuth>;

/**
 * Creates or extends Better Auth's tables. On PostgreSQL an advisory lock held through our store
 * keeps two auth nodes from migrating at once.
 */
export async function migrateBetterAuth(options: { auth: ManaAuthOptions; store: Store }): Promise<{ created: string[]; added: string[] }> {
  const run = async () => {
    const plan = await getMigrations(betterAuthOptions(options.auth) as BetterAuthOptions);
    await plan.runMigrations();
    return { created: plan.toBeCreated.map((t) => t.table), added: plan.toBeAdded.map((t) => t.table) };
  };
  if (options.store.dialect !== 'postgres') return run();
  return options.store.tx(async (q) => {
    await q.run('SELECT pg_advisory_xact_lock(7312003)');
    return run();
  });
}
