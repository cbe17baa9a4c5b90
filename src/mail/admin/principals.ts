// Principal management as Stalwart's admin API does it: create, view without secrets, list with filter and pages, and set/addItem/removeItem patches.
import type { Queryable, Store } from '../../store/store.ts';
import {
  createPrincipal, deletePrincipal, getPrincipal, normalizeAddress, prepareSecrets, savePrincipal,
  type NewPrincipal, type Principal, type PrincipalType,
} from '../accounts.ts';
import { secretScheme, verifySecret } from '../secrets.ts';
import { createDkimKey } from '../dkim/key-store.ts';
import { ManagementError, fieldInvalid, fieldMissing, notFound } from './errors.ts';

/** The types the admin API manages (SPEC §1). */
export const PRINCIPAL_TYPES = ['individual', 'domain', 'apiKey'] as const satisfies readonly PrincipalType[];

export const PATCH_FIELDS = ['name', 'secrets', 'emails', 'roles', 'description', 'quota'] as const;
export type PatchField = (typeof PATCH_FIELDS)[number];
export type PatchAction = 'set' | 'addItem' | 'removeItem';
export type PatchOp = { action: PatchAction; field: PatchField; value?: unknown };

/** A principal as the API shows it: secrets only as their hash scheme, never the hash or the password. */
export type PrincipalView = {
  id: number;
  type: PrincipalType;
  name: string;
  description?: string;
  secrets: string[];
  emails: string[];
  roles: string[];
  quota: number;
};

export function viewPrincipal(p: Principal): PrincipalView {
  return {
    id: p.id,
    type: p.type,
    name: p.name,
    ...(p.description ? { description: p.description } : {}),
    secrets: p.secrets.map((s) => `[redacted ${secretScheme(s) ?? 'secret'}]`),
    emails: p.emails,
    roles: p.roles,
    quota: p.quota,
  };
}

/** RFC 1035 §2.3.1 host name, as a domain principal's name. */
const DOMAIN_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function stringList(field: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!isStringArray(v)) throw fieldInvalid(field, v, `${field} must be a list of strings`);
  return v;
}

function checkName(type: PrincipalType, name: string): string {
  const n = name.trim();
  if (!n) throw fieldMissing('name');
  if (type === 'domain') {
    if (!DOMAIN_NAME.test(n)) throw fieldInvalid('name', name, 'a domain name such as example.com');
    return n.toLowerCase();
  }
  if (n.includes('@')) throw fieldInvalid('name', name, 'the account name is used without domain (SMTP AUTH user "noreply", not "noreply@example.com")');
  if (/[\s/:]/.test(n) || n.length > 255) throw fieldInvalid('name', name, 'no spaces, "/" or ":", at most 255 characters');
  return n;
}

function checkRoles(roles: string[]): string[] {
  for (const r of roles) if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(r)) throw fieldInvalid('roles', r, 'a role is a word such as user or admin');
  return [...new Set(roles)];
}

function checkQuota(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fieldInvalid('quota', v, 'quota is a whole number of bytes, 0 for none');
  return v;
}

/** Validates a `POST /api/principal` body into a new principal. */
export function parseNewPrincipal(body: unknown): NewPrincipal {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw fieldInvalid('body', null, 'expected a JSON object with type and name');
  const b = body as Record<string, unknown>;
  if (b.type === undefined) throw fieldMissing('type');
  if (!PRINCIPAL_TYPES.includes(b.type as (typeof PRINCIPAL_TYPES)[number])) throw fieldInvalid('type', b.type, `type is one of ${PRINCIPAL_TYPES.join(', ')}`);
  const type = b.type as PrincipalType;
  if (b.name === undefined || b.name === null || b.name === '') throw fieldMissing('name');
  if (typeof b.name !== 'string') throw fieldInvalid('name', b.name, 'name is a string');
  const secrets = stringList('secrets', b.secrets);
  if (secrets.some((s) => s.length === 0)) throw fieldInvalid('secrets', '', 'a secret cannot be empty');
  if (b.description !== undefined && b.description !== null && typeof b.description !== 'string') throw fieldInvalid('description', b.description, 'description is a string');
  return {
    type,
    name: checkName(type, b.name),
    secrets,
    emails: stringList('emails', b.emails),
    roles: checkRoles(stringList('roles', b.roles)),
    description: (b.description as string | null | undefined) ?? null,
    quota: b.quota === undefined || b.quota === null ? 0 : checkQuota(b.quota),
  };
}

/** Makes every local domain (also those made by first start) a domain principal, so lists show it. */
export async function syncDomainPrincipals(q: Queryable): Promise<void> {
  const now = Date.now();
  const missing = await q.all<{ name: string }>("SELECT d.name FROM mail_domains d WHERE NOT EXISTS (SELECT 1 FROM mail_principals p WHERE p.name = d.name AND p.type = 'domain')");
  for (const { name } of missing) {
    await q.run(
      "INSERT INTO mail_principals (name, type, secrets, emails, roles, description, quota, created_at, updated_at) VALUES (?, 'domain', '[]', '[]', '[]', NULL, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
      [name, now, now],
    );
  }
}

/**
 * Creates a principal from an API body. A new domain gets an Ed25519 and an RSA key at once
 * (SPEC §1: every message of a local domain is signed with both), made after the domain's
 * transaction so the RSA key generation does not hold it.
 */
export async function createPrincipalChecked(store: Store, body: unknown, options: { sealKey?: string } = {}): Promise<number> {
  const input = parseNewPrincipal(body);
  const id = await store.tx((q) => createPrincipal(q, input));
  if (input.type === 'domain') {
    for (const algorithm of ['ed25519', 'rsa'] as const) {
      await store.tx((q) => createDkimKey(q, { domain: input.name, algorithm, sealKey: options.sealKey }));
    }
  }
  return id;
}

export async function requirePrincipal(q: Queryable, name: string): Promise<Principal> {
  const p = await getPrincipal(q, name);
  if (!p) throw notFound(name, 'principal');
  return p;
}

export type ListQuery = { types?: string[]; filter?: string; page?: number; limit?: number };

/** Principals by name; `filter` matches name, address or description (case-insensitive); page is 1-based, limit 0 is all. */
export async function listPrincipals(q: Queryable, query: ListQuery): Promise<{ items: PrincipalView[]; total: number }> {
  for (const t of query.types ?? []) if (!PRINCIPAL_TYPES.includes(t as (typeof PRINCIPAL_TYPES)[number])) throw fieldInvalid('types', t, `types are ${PRINCIPAL_TYPES.join(', ')}`);
  const rows = await q.all<{ name: string }>('SELECT name FROM mail_principals ORDER BY name');
  const all: Principal[] = [];
  for (const r of rows) {
    const p = await getPrincipal(q, r.name);
    if (p) all.push(p);
  }
  const needle = query.filter?.trim().toLowerCase();
  const matching = all.filter((p) => {
    if (query.types?.length && !query.types.includes(p.type)) return false;
    if (!needle) return true;
    return p.name.toLowerCase().includes(needle) || p.emails.some((e) => e.includes(needle)) || (p.description ?? '').toLowerCase().includes(needle);
  });
  const limit = query.limit ?? 0;
  const page = Math.max(1, query.page ?? 1);
  const items = limit > 0 ? matching.slice((page - 1) * limit, page * limit) : matching;
  return { items: items.map(viewPrincipal), total: matching.length };
}

/** Checks the shape of a PATCH body before anything is applied. */
export function parsePatch(body: unknown): PatchOp[] {
  const ops = Array.isArray(body) ? body : body && typeof body === 'object' ? [body] : undefined;
  if (!ops) throw fieldInvalid('body', null, 'expected a JSON array of {"action","field","value"}');
  return ops.map((op) => {
    if (!op || typeof op !== 'object') throw fieldInvalid('body', op, 'each change is an object {"action","field","value"}');
    const { action, field, value } = op as Record<string, unknown>;
    if (action === undefined) throw fieldMissing('action');
    if (action !== 'set' && action !== 'addItem' && action !== 'removeItem') throw fieldInvalid('action', action, 'action is set, addItem or removeItem');
    if (field === undefined) throw fieldMissing('field');
    if (!PATCH_FIELDS.includes(field as PatchField)) throw fieldInvalid('field', field, `field is one of ${PATCH_FIELDS.join(', ')}`);
    if ((field === 'name' || field === 'description' || field === 'quota') && action !== 'set') {
      throw fieldInvalid('action', action, `${field} has one value: use set`);
    }
    return { action, field: field as PatchField, value };
  });
}

function applyList(current: string[], op: PatchOp, normalize: (s: string) => string): string[] {
  if (op.action === 'set') return [...new Set(stringList(op.field, op.value).map(normalize))];
  const items = stringList(op.field, op.value).map(normalize);
  if (!items.length) throw fieldInvalid(op.field, op.value, `${op.action} needs a value`);
  if (op.action === 'addItem') return [...new Set([...current, ...items])];
  return current.filter((x) => !items.includes(x));
}

/** Applies a patch in one transaction: all changes or none. */
export async function patchPrincipal(store: Store, name: string, ops: PatchOp[]): Promise<void> {
  await store.tx(async (q) => {
    const p = await requirePrincipal(q, name);
    let rename: string | undefined;
    for (const op of ops) {
      switch (op.field) {
        case 'name': {
          if (typeof op.value !== 'string') throw fieldInvalid('name', op.value, 'name is a string');
          const next = checkName(p.type, op.value);
          if (next === p.name) break;
          if (p.type === 'domain') {
            throw new ManagementError({ code: 'admin.unsupported', status: 400, message: 'a domain cannot be renamed', body: { error: 'unsupported', details: 'A domain cannot be renamed; add the new domain and move the addresses' } });
          }
          if (await getPrincipal(q, next)) {
            throw new ManagementError({ code: 'account.exists', status: 409, message: `a principal named ${next} exists`, body: { error: 'fieldAlreadyExists', field: 'name', value: next } });
          }
          rename = next;
          break;
        }
        case 'secrets': {
          if (op.action === 'removeItem') {
            const drop = stringList('secrets', op.value);
            const kept: string[] = [];
            // A secret is removed by its stored hash or by the password it verifies.
            for (const s of p.secrets) {
              let remove = drop.includes(s);
              for (const d of drop) if (!remove && (await verifySecret(s, d))) remove = true;
              if (!remove) kept.push(s);
            }
            p.secrets = kept;
          } else {
            const given = stringList('secrets', op.value);
            if (given.some((s) => s.length === 0)) throw fieldInvalid('secrets', '', 'a secret cannot be empty');
            if (op.action === 'addItem' && !given.length) throw fieldInvalid('secrets', op.value, 'addItem needs a value');
            const hashed = await prepareSecrets(given);
            p.secrets = op.action === 'set' ? hashed : [...p.secrets, ...hashed];
          }
          break;
        }
        case 'emails':
          p.emails = applyList(p.emails, op, normalizeAddress);
          break;
        case 'roles':
          p.roles = checkRoles(applyList(p.roles, op, (s) => s.trim()));
          break;
        case 'description':
          if (op.value !== null && op.value !== undefined && typeof op.value !== 'string') throw fieldInvalid('description', op.value, 'description is a string');
          p.description = (op.value as string | null | undefined) || null;
          break;
        case 'quota':
          p.quota = checkQuota(op.value);
          break;
      }
    }
    if (rename) {
      await q.run('UPDATE mail_principals SET name = ? WHERE id = ?', [rename, p.id]);
      await q.run('UPDATE mail_addresses SET principal_name = ? WHERE principal_name = ?', [rename, p.name]);
      p.name = rename;
    }
    await savePrincipal(q, p);
  });
}

/** Deletes a principal; a domain only when no address uses it any more. */
export async function deletePrincipalChecked(store: Store, name: string): Promise<void> {
  await store.tx(async (q) => {
    const p = await requirePrincipal(q, name);
    if (p.type === 'domain') {
      const used = await q.get<{ n: number }>("SELECT COUNT(*) AS n FROM mail_addresses WHERE address LIKE ?", [`%@${p.name.replace(/[%_]/g, '')}`]);
      if (Number(used?.n ?? 0) > 0) {
        throw new ManagementError({
          code: 'admin.domain_in_use', status: 409, message: `domain ${p.name} still has addresses`,
          body: { error: 'other', details: `Domain ${p.name} still has ${used!.n} address(es); remove them first`, reason: 'domainInUse' },
        });
      }
      await q.run('DELETE FROM mail_domains WHERE name = ?', [p.name]);
      await q.run('DELETE FROM mail_dkim_keys WHERE domain = ?', [p.name]);
    }
    await deletePrincipal(q, p.name);
  });
}
