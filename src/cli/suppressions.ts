// `mana suppressions list|add|remove`: addresses that hard-bounced (RFC 3464 DSNs, src/mail/bounces.ts) or were listed by hand; mail to them fails at once.
import { EXIT, parse, positiveInt, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { addSuppression, listSuppressions, removeSuppression } from '../mail/bounces.ts';
import { notFound } from '../mail/admin/errors.ts';
import { isAddrSpec } from '../mail/accounts.ts';

export const USAGE = `Usage:
  mana suppressions list [--limit N] [--page N]   suppressed addresses, newest first
  mana suppressions add ADDRESS [--reason TEXT]    suppress by hand
  mana suppressions remove ADDRESS                 let mail to ADDRESS go out again
`;


function address(positionals: string[]): string {
  if (positionals.length !== 1 || !isAddrSpec(positionals[0]) || positionals[0].length > 320) throw new UsageError('expected one email address, local@domain');
  return positionals[0].toLowerCase();
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'suppressions', USAGE, async () => {
    switch (sub) {
      case 'list': {
        const { positionals, values } = parse(rest, { limit: { type: 'string' }, page: { type: 'string' } });
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        const limit = positiveInt('limit', str(values.limit), 100);
        const page = positiveInt('page', str(values.page), 1);
        const { items, total } = await listSuppressions(io.store, { limit, offset: (page - 1) * limit });
        if (!total) {
          io.out('no address is suppressed');
          return EXIT.ok;
        }
        io.out(table(['ADDRESS', 'REASON', 'SINCE', 'FROM MESSAGE'], items.map((s) => [s.address, s.reason ?? '', s.createdAt, s.sourceMessageId ?? ''])));
        io.out(`${items.length} of ${total}`);
        return EXIT.ok;
      }
      case 'add': {
        const { positionals, values } = parse(rest, { reason: { type: 'string' } });
        const addr = address(positionals);
        const reason = str(values.reason) ?? 'manual';
        const added = await io.store.tx((q) => addSuppression(q, { address: addr, reason, now: Date.now() }));
        io.out(added ? `suppressed ${addr}` : `${addr} was already suppressed`);
        return EXIT.ok;
      }
      case 'remove': {
        const { positionals } = parse(rest);
        const addr = address(positionals);
        if (!(await io.store.tx((q) => removeSuppression(q, addr)))) throw notFound(addr, 'suppression');
        io.out(`removed ${addr}`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
