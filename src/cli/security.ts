// `mana security bans|ban|unban`: addresses refused by auto-ban (too many failed AUTHs, relay attempts or protocol errors), shared by every node through the store.
import { EXIT, parse, positiveInt, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { isValidIp, liftBan, listBans, normalizeIp, saveBan } from '../mail/security/bans.ts';
import { notFound } from '../mail/admin/errors.ts';

export const USAGE = `Usage:
  mana security bans                      addresses refused now, why, and until when
  mana security unban IP                  lift a ban
  mana security ban IP [--duration SECONDS]   ban by hand (default: mail.security.banDuration; 0 = until lifted)
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'security', USAGE, async () => {
    switch (sub) {
      case 'bans': {
        const { positionals } = parse(rest);
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        const bans = await listBans(io.store, Date.now());
        if (!bans.length) {
          io.out('no address is banned');
          return EXIT.ok;
        }
        io.out(table(['IP', 'REASON', 'HITS', 'SINCE', 'UNTIL'], bans.map((b) => [b.ip, b.reason, String(b.hits), b.bannedAt, b.expiresAt ?? 'lifted by hand'])));
        return EXIT.ok;
      }
      case 'unban': {
        const { positionals } = parse(rest);
        if (positionals.length !== 1 || !isValidIp(positionals[0])) throw new UsageError('expected an IP address');
        const ip = normalizeIp(positionals[0]);
        if (!(await liftBan(io.store, ip, Date.now()))) throw notFound(ip, 'ban of');
        io.out(`unbanned ${ip}`);
        return EXIT.ok;
      }
      case 'ban': {
        const { positionals, values } = parse(rest, { duration: { type: 'string' } });
        if (positionals.length !== 1 || !isValidIp(positionals[0])) throw new UsageError('expected an IP address');
        const d = str(values.duration);
        const seconds = d === '0' ? 0 : positiveInt('duration', d, io.config.mail.security.banDuration);
        const ban = await saveBan(io.store, { ip: positionals[0], reason: 'manual', hits: 0, durationMs: seconds * 1000, now: Date.now() });
        io.out(`banned ${ban.ip} ${ban.expiresAt ? `until ${ban.expiresAt}` : 'until lifted'}`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
