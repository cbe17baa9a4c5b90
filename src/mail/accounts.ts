// Accounts ("principals"), their addresses and the local domains: what SMTP AUTH, local delivery and the admin API read.
import type { Queryable } from '../store/store.ts';
import { randomBytes } from 'node:crypto';
import { hashSecret, isHashedSecret, verifySecret } from './secrets.ts';
import { CAPTURE_MAILBOX } from './mailbox.ts';

export type PrincipalType = 'individual' | 'domain' | 'apiKey' | 'group' | 'list';

export type Principal = {
  id: number;
  name: string;
  type: PrincipalType;
  /** Password hashes; never returned by the API in clear. */
  secrets: string[];
  emails: string[];
  roles: string[];
  description: string | null;
  quota: number;
};

export type NewPrincipal = {
  type: PrincipalType;
  name: string;
  secrets?: string[];
  emails?: string[];
  roles?: string[];
  description?: string | null;
  quota?: number;
};

export class AccountError extends Error {
  code: string;
  /** Stalwart-style error envelope fields, e.g. { error: 'fieldAlreadyExists', field: 'name', value }. */
  body: Record<string, unknown>;
  constructor(code: string, message: string, body: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.body = body;
  }
}

type PrincipalRow = { id: number; name: string; type: string; secrets: string; emails: string; roles: string; description: string | null; quota: number };

function fromRow(r: PrincipalRow): Principal {
  return {
    id: Number(r.id),
    name: r.name,
    type: r.type as PrincipalType,
    secrets: JSON.parse(r.secrets),
    emails: JSON.parse(r.emails),
    roles: JSON.parse(r.roles),
    description: r.description,
    quota: Number(r.quota),
  };
}

export const normalizeAddress = (a: string) => a.trim().toLowerCase();
export const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
/** An addr-spec good enough for a list key or a command-line argument: local@domain, no spaces or angle brackets (RFC 5321 §4.1.2). */
export const isAddrSpec = (a: string) => /^[^\s<>@]+@[^\s<>@]+$/.test(a);

export async function listDomains(q: Queryable): Promise<string[]> {
  return (await q.all<{ name: string }>('SELECT name FROM mail_domains ORDER BY name')).map((r) => r.name);
}

export async function isLocalDomain(q: Queryable, domain: string): Promise<boolean> {
  return !!(await q.get('SELECT 1 AS x FROM mail_domains WHERE name = ?', [domain.toLowerCase()]));
}

export async function addDomain(q: Queryable, name: string): Promise<boolean> {
  const r = await q.run('INSERT INTO mail_domains (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name.toLowerCase(), Date.now()]);
  return r.changes === 1;
}

export async function getPrincipal(q: Queryable, name: string): Promise<Principal | undefined> {
  const r = await q.get<PrincipalRow>('SELECT * FROM mail_principals WHERE name = ?', [name]);
  return r ? fromRow(r) : undefined;
}

export async function getPrincipalById(q: Queryable, id: number): Promise<Principal | undefined> {
  const r = await q.get<PrincipalRow>('SELECT * FROM mail_principals WHERE id = ?', [id]);
  return r ? fromRow(r) : undefined;
}

/** The account an address belongs to, if it is local. */
export async function principalForAddress(q: Queryable, address: string): Promise<string | undefined> {
  return (await q.get<{ principal_name: string }>('SELECT principal_name FROM mail_addresses WHERE address = ?', [normalizeAddress(address)]))?.principal_name;
}

/** Plain secrets are hashed (argon2id) on the way in; hashes are kept as given. */
export async function prepareSecrets(secrets: string[]): Promise<string[]> {
  return Promise.all(secrets.map((s) => (isHashedSecret(s) ? s : hashSecret(s))));
}

async function checkEmails(q: Queryable, emails: string[], owner: string): Promise<string[]> {
  const out: string[] = [];
  for (const raw of emails) {
    const email = normalizeAddress(raw);
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new AccountError('account.bad_email', `invalid email address ${raw}`, { error: 'fieldInvalid', field: 'emails', value: raw });
    const domain = domainOf(email);
    if (!(await isLocalDomain(q, domain))) throw new AccountError('account.unknown_domain', `domain ${domain} is not a local domain`, { error: 'notFound', item: domain });
    const taken = await principalForAddress(q, email);
    if (taken && taken !== owner) throw new AccountError('account.email_taken', `address ${email} belongs to ${taken}`, { error: 'fieldAlreadyExists', field: 'emails', value: email });
    out.push(email);
  }
  return [...new Set(out)];
}

/**
 * An account's name is its mailbox's name (IMAP login, local delivery), so the name of the capture mailbox is not
 * an account's: one named `captured` would read every captured message without the admin role.
 */
function refuseReservedName(name: string): void {
  if (name.toLowerCase() !== CAPTURE_MAILBOX) return;
  const details = `the name ${CAPTURE_MAILBOX} is reserved for the capture mailbox`;
  throw new AccountError('account.reserved_name', details, { error: 'fieldInvalid', field: 'name', value: name, details });
}

/** Creates a principal; a `domain` principal also makes the domain local. Runs inside the caller's transaction. */
export async function createPrincipal(q: Queryable, input: NewPrincipal): Promise<number> {
  const name = input.name?.trim();
  if (!name) throw new AccountError('account.bad_name', 'name is required', { error: 'fieldMissing', field: 'name' });
  refuseReservedName(name);
  if (await getPrincipal(q, name)) throw new AccountError('account.exists', `a principal named ${name} exists`, { error: 'fieldAlreadyExists', field: 'name', value: name });
  if (input.type === 'domain') await addDomain(q, name);
  const emails = await checkEmails(q, input.emails ?? [], name);
  const secrets = await prepareSecrets(input.secrets ?? []);
  const now = Date.now();
  const row = await q.get<{ id: number }>(
    'INSERT INTO mail_principals (name, type, secrets, emails, roles, description, quota, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [name, input.type, JSON.stringify(secrets), JSON.stringify(emails), JSON.stringify(input.roles ?? []), input.description ?? null, input.quota ?? 0, now, now],
  );
  for (const e of emails) await q.run('INSERT INTO mail_addresses (address, principal_name) VALUES (?, ?)', [e, name]);
  return Number(row!.id);
}

/** Replaces the stored fields of a principal (the caller applied set/addItem/removeItem, or a rename: the name is checked). */
export async function savePrincipal(q: Queryable, p: Principal): Promise<void> {
  refuseReservedName(p.name);
  const emails = await checkEmails(q, p.emails, p.name);
  await q.run('UPDATE mail_principals SET type = ?, secrets = ?, emails = ?, roles = ?, description = ?, quota = ?, updated_at = ? WHERE id = ?', [
    p.type, JSON.stringify(p.secrets), JSON.stringify(emails), JSON.stringify(p.roles), p.description, p.quota, Date.now(), p.id,
  ]);
  await q.run('DELETE FROM mail_addresses WHERE principal_name = ?', [p.name]);
  for (const e of emails) await q.run('INSERT INTO mail_addresses (address, principal_name) VALUES (?, ?)', [e, p.name]);
}

/** Deletes a principal with its addresses and its mail, so an account made later under the name starts empty. */
export async function deletePrincipal(q: Queryable, name: string): Promise<boolean> {
  await q.run('DELETE FROM mail_addresses WHERE principal_name = ?', [name]);
  // An account named like the capture mailbox (made before the name was reserved) never owned that mail.
  if (name !== CAPTURE_MAILBOX) await q.run('DELETE FROM mail_mailbox WHERE mailbox = ?', [name]);
  const r = await q.run('DELETE FROM mail_principals WHERE name = ?', [name]);
  return r.changes === 1;
}

/**
 * SMTP AUTH: the account name without a domain (as the seed's troubleshooting says) and one of its secrets.
 * Returns the principal, or undefined for any mismatch, without saying which part was wrong.
 */
export async function authenticate(
  q: Queryable, username: string, password: string, verify: (stored: string, password: string) => Promise<boolean> = verifySecret,
): Promise<Principal | undefined> {
  if (!username || !password || username.includes('@')) return undefined;
  const p = await getPrincipal(q, username);
  if (!p || p.type !== 'individual' || !p.secrets.length) {
    // As long as a wrong password for a real account: an unknown name is not told apart by the time it takes.
    await verify(await dummyHash(), password);
    return undefined;
  }
  for (const s of p.secrets) if (await verify(s, password)) return p;
  return undefined;
}

let dummy: Promise<string> | undefined;

/** A hash like the stored ones (hashSecret's scheme and cost) of a random password, made once per process. */
function dummyHash(): Promise<string> {
  dummy ??= hashSecret(randomBytes(18).toString('base64'));
  return dummy;
}
