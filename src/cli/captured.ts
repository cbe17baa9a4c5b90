// `mana captured list|show`: the catch-all mailbox that holds outbound mail in capture mode (RFC 5322 messages as received).
import { EXIT, parse, positiveInt, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { CAPTURE_MAILBOX, listMailbox, readMailboxMessage } from '../mail/mailbox.ts';
import { headerValue } from '../mail/message/headers.ts';
import { notFound } from '../mail/admin/errors.ts';

export const USAGE = `Usage:
  mana captured list [--to ADDRESS] [--limit N]    newest first
  mana captured show ID                            the whole message as stored
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'captured', USAGE, async () => {
    switch (sub) {
      case 'list': {
        const { positionals, values } = parse(rest, { to: { type: 'string' }, limit: { type: 'string' } });
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        const items = await listMailbox(io.store, { mailbox: CAPTURE_MAILBOX, rcpt: str(values.to), limit: positiveInt('limit', values.limit, 50) });
        const rows: string[][] = [];
        for (const m of items) {
          const full = await readMailboxMessage(io.store, m.id);
          const subject = full ? headerValue(full.raw, 'subject') ?? '' : '';
          rows.push([String(m.id), m.receivedAt, m.mailFrom || '<>', m.rcpt ?? '', subject.replace(/\s+/g, ' ').slice(0, 60)]);
        }
        io.out(items.length ? table(['ID', 'RECEIVED', 'FROM', 'TO', 'SUBJECT'], rows) : 'the captured mailbox is empty');
        return EXIT.ok;
      }
      case 'show': {
        const { positionals } = parse(rest);
        if (positionals.length !== 1 || !/^\d+$/.test(positionals[0])) throw new UsageError('expected a message ID (a number, see mana captured list)');
        const m = await readMailboxMessage(io.store, Number(positionals[0]));
        if (!m || m.mailbox !== CAPTURE_MAILBOX) throw notFound(positionals[0], 'captured message');
        io.out(m.raw.toString('utf8'));
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
