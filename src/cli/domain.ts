// `mana domain add|list`: the local mail domains (Stalwart's domain principals).
import { EXIT, parse, runCommand, table, UsageError, type CliIo } from './args.ts';
import { createPrincipalChecked, listPrincipals, syncDomainPrincipals } from '../mail/admin/principals.ts';
import { listDkimKeys } from '../mail/dkim/key-store.ts';

export const USAGE = `Usage:
  mana domain add DOMAIN      make DOMAIN local (accounts may use it; mail to it is accepted)
  mana domain list
A new domain gets an Ed25519 and an RSA DKIM key; publish what mana dns records DOMAIN prints.
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'domain', USAGE, async () => {
    const { positionals } = parse(rest);
    switch (sub) {
      case 'add': {
        if (positionals.length !== 1) throw new UsageError('expected DOMAIN');
        const name = positionals[0].toLowerCase();
        await createPrincipalChecked(io.store, { type: 'domain', name }, { sealKey: io.config.mail.dkimSealKey });
        io.out(`added ${name} with an Ed25519 and an RSA DKIM key; publish its records: mana dns records ${name}`);
        return EXIT.ok;
      }
      case 'list': {
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        await io.store.tx((q) => syncDomainPrincipals(q));
        const { items } = await listPrincipals(io.store, { types: ['domain'] });
        const rows: string[][] = [];
        for (const d of items) {
          const keys = (await listDkimKeys(io.store, d.name)).filter((k) => k.status === 'active');
          rows.push([d.name, keys.map((k) => `${k.selector} (${k.algorithm})`).join(', ') || '-']);
        }
        io.out(table(['DOMAIN', 'DKIM KEYS'], rows));
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
