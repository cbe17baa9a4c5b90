// `mana dkim create|list|retire`: DKIM keys per domain (RFC 6376 RSA, RFC 8463 Ed25519), several active at once for rotation.
import { EXIT, parse, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { isLocalDomain } from '../mail/accounts.ts';
import { createDkimKey, listDkimKeys, retireDkimKey } from '../mail/dkim/key-store.ts';
import { dkimTxtRecord } from '../mail/dkim/keys.ts';
import { notFound } from '../mail/admin/errors.ts';
import { parseAlgorithm } from '../mail/admin/routes-dkim.ts';

export const USAGE = `Usage:
  mana dkim create DOMAIN [--algorithm ed25519|rsa] [--selector SELECTOR]
      Ed25519 by default; Gmail verifies only RSA, so keep one of each. Publish the printed TXT
      record; a running server signs with the new key within 30 s (or at once after GET /api/reload).
  mana dkim list [DOMAIN]
  mana dkim retire DOMAIN SELECTOR    stop signing with the key (remove its TXT record a few days later)
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'dkim', USAGE, async () => {
    switch (sub) {
      case 'create': {
        const { positionals, values } = parse(rest, { algorithm: { type: 'string', short: 'a' }, selector: { type: 'string', short: 's' } });
        if (positionals.length !== 1) throw new UsageError('expected DOMAIN');
        const domain = positionals[0].toLowerCase();
        let algorithm;
        try {
          algorithm = parseAlgorithm(str(values.algorithm) ?? 'ed25519');
        } catch {
          throw new UsageError('--algorithm is ed25519 or rsa');
        }
        if (!(await isLocalDomain(io.store, domain))) throw notFound(domain, 'domain');
        const key = await io.store.tx((q) => createDkimKey(q, { domain, algorithm, selector: str(values.selector), sealKey: io.config.mail.dkimSealKey }));
        io.out(`created ${key.algorithm} key ${key.selector} for ${domain}; publish:`);
        io.out(`${key.selector}._domainkey.${domain}.  TXT  "${dkimTxtRecord(key)}"`);
        return EXIT.ok;
      }
      case 'list': {
        const { positionals } = parse(rest);
        if (positionals.length > 1) throw new UsageError('expected at most one DOMAIN');
        const keys = await listDkimKeys(io.store, positionals[0]);
        io.out(table(['DOMAIN', 'SELECTOR', 'ALGORITHM', 'STATUS', 'CREATED'], keys.map((k) => [k.domain, k.selector, k.algorithm, k.status, new Date(k.createdAt).toISOString()])));
        return EXIT.ok;
      }
      case 'retire': {
        const { positionals } = parse(rest);
        if (positionals.length !== 2) throw new UsageError('expected DOMAIN SELECTOR');
        const [domain, selector] = positionals;
        if (!(await retireDkimKey(io.store, domain, selector))) throw notFound(`${selector}._domainkey.${domain.toLowerCase()}`, 'active DKIM key');
        io.out(`retired ${selector}._domainkey.${domain.toLowerCase()}; it no longer signs (running servers: within 30 s)`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
