// `mana queue list|show|retry|cancel`: the durable outbound queue (RFC 5321 §4.5.4 retries), as GET/PATCH/DELETE /api/queue/messages show and change it.
import { EXIT, parse, positiveInt, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { getQueueMessage, listQueue, QUEUE_STATES } from '../mail/admin/queue-view.ts';
import { notFound } from '../mail/admin/errors.ts';
import { createQueue } from '../mail/queue/queue.ts';
import { createCommitBatcher } from '../store/batch.ts';
import { createEvents } from '../mail/events.ts';
import { silentLogger } from '../lib/log.ts';

export const USAGE = `Usage:
  mana queue list [--status queued|delivered|failed|expired|cancelled|all] [--text TEXT] [--limit N] [--page N]
      Messages still waiting for a recipient by default.
  mana queue show ID          recipients, their state and the message's timeline
  mana queue retry ID         try every waiting recipient now (a running server picks it up within a second)
  mana queue cancel ID        never try the waiting recipients again
`;

function queueOf(io: CliIo) {
  const mc = io.config.mail;
  return createQueue({
    store: io.store,
    batcher: createCommitBatcher(io.store),
    events: createEvents({ log: silentLogger(), subscribers: [...mc.webhooks] }),
    retrySchedule: mc.queue.retrySchedule,
    expireAfterMs: mc.queue.expireAfter * 1000,
    delayNoticeAfterMs: mc.queue.delayNoticeAfter * 1000,
    leaseMs: mc.queue.leaseSeconds * 1000,
  });
}

async function requireMessage(io: CliIo, id: string) {
  const m = await getQueueMessage(io.store, id);
  if (!m) throw notFound(id, 'message');
  return m;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'queue', USAGE, async () => {
    switch (sub) {
      case 'list': {
        const { positionals, values } = parse(rest, { status: { type: 'string' }, text: { type: 'string' }, limit: { type: 'string' }, page: { type: 'string' }, all: { type: 'boolean' } });
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        const status = values.all ? 'all' : str(values.status);
        if (status && !QUEUE_STATES.includes(status as (typeof QUEUE_STATES)[number])) throw new UsageError(`--status is one of ${QUEUE_STATES.join(', ')}`);
        const { items, total } = await listQueue(io.store, { status, text: str(values.text), limit: positiveInt('limit', values.limit, 50), page: positiveInt('page', values.page, 1) });
        io.out(table(['ID', 'CREATED', 'FROM', 'RECIPIENTS'], items.map((m) => [m.id, m.created, m.return_path || '<>', m.recipients.map((r) => `${r.address} (${r.status}${r.retry_num ? `, ${r.retry_num} tries` : ''})`).join(', ')])));
        io.out(`${items.length} of ${total}`);
        return EXIT.ok;
      }
      case 'show': {
        const { positionals } = parse(rest);
        if (positionals.length !== 1) throw new UsageError('expected ID');
        const m = await requireMessage(io, positionals[0]);
        io.out([`id          ${m.id}`, `from        ${m.return_path || '<>'}`, `message-id  ${m.message_id ?? '-'}`, `created     ${m.created}`, `size        ${m.size}`, `source      ${m.source}${m.auth_user ? ` (${m.auth_user})` : ''}`, ''].join('\n'));
        io.out(table(['RECIPIENT', 'STATUS', 'TRIES', 'NEXT', 'LAST REPLY'], m.recipients.map((r) => [r.address, r.status, String(r.retry_num), r.next_retry ?? '-', r.last_reply ? `${r.last_code ?? ''} ${r.last_reply}`.trim() : '-'])));
        io.out('');
        io.out(table(['AT', 'EVENT', 'RECIPIENT', 'DETAIL'], m.timeline.map((e) => [e.at, e.type, e.rcpt ?? '', JSON.stringify(e.data)])));
        return EXIT.ok;
      }
      case 'retry':
      case 'cancel': {
        const { positionals } = parse(rest);
        if (positionals.length !== 1) throw new UsageError('expected ID');
        await requireMessage(io, positionals[0]);
        const q = queueOf(io);
        const n = sub === 'retry' ? await q.retryNow(positionals[0]) : await q.cancel(positionals[0]);
        io.out(n ? `${sub === 'retry' ? 'retrying' : 'cancelled'} ${n} recipient(s) of ${positionals[0]}` : `${positionals[0]} has no recipient waiting`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
