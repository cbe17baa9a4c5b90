// First start of the mail server: the local domain, the accounts admin, noreply and postmaster, and both DKIM keys of the domain.
import type { Store } from '../store/store.ts';
import type { RuntimeSecrets } from '../stack/secrets.ts';
import { addDomain, createPrincipal, getPrincipal, prepareSecrets, savePrincipal } from './accounts.ts';
import { createDkimKey, listDkimKeys, type StoredDkimKey } from './dkim/key-store.ts';
import { verifySecret } from './secrets.ts';

export type BootstrapResult = { createdDomain: boolean; createdAccounts: string[]; createdKeys: StoredDkimKey[] };

export async function bootstrapMail(options: { store: Store; domain: string; secrets: RuntimeSecrets; sealKey?: string }): Promise<BootstrapResult> {
  const { store, domain, secrets } = options;
  const result: BootstrapResult = { createdDomain: false, createdAccounts: [], createdKeys: [] };
  await store.tx(async (q) => {
    result.createdDomain = await addDomain(q, domain);
    const accounts: Array<{ name: string; emails: string[]; roles: string[]; password: string; description: string }> = [
      { name: 'admin', emails: [], roles: ['admin'], password: secrets.adminPassword, description: 'Administrator, not for SMTP' },
      { name: 'noreply', emails: [`noreply@${domain}`], roles: ['user'], password: secrets.noreplyPassword, description: 'Sends the transactional mail of notify' },
      { name: 'postmaster', emails: [`postmaster@${domain}`], roles: ['user'], password: secrets.noreplyPassword + '.pm', description: 'DMARC reports and bounces' },
    ];
    for (const a of accounts) {
      const existing = await getPrincipal(q, a.name);
      if (!existing) {
        await createPrincipal(q, { type: 'individual', name: a.name, secrets: [a.password], emails: a.emails, roles: a.roles, description: a.description });
        result.createdAccounts.push(a.name);
      } else if (a.name === 'admin' || a.name === 'noreply') {
        // The password given in the environment wins: MAIL_ADMIN_PASSWORD changed means the admin password changed.
        let matches = false;
        for (const s of existing.secrets) if (await verifySecret(s, a.password)) { matches = true; break; }
        if (!matches) await savePrincipal(q, { ...existing, secrets: await prepareSecrets([a.password]) });
      }
    }
  });
  const keys = await listDkimKeys(store, domain);
  for (const algorithm of ['ed25519', 'rsa'] as const) {
    if (!keys.some((k) => k.algorithm === algorithm && k.status === 'active')) {
      result.createdKeys.push(await store.tx((q) => createDkimKey(q, { domain, algorithm, sealKey: options.sealKey })));
    }
  }
  return result;
}
