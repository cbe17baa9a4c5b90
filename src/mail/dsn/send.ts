// Which delivery outcomes produce a DSN (RFC 3461 §4.1 NOTIFY, §4.3 RET) and queuing it, DKIM-signed, to the return path with MAIL FROM:<> (RFC 3464, RFC 5321 §4.5.5).
import type { Queryable, Store } from '../../store/store.ts';
import type { Logger } from '../../lib/log.ts';
import type { ClaimedMessage, MailQueue, SettleHook, Settled } from '../queue/queue.ts';
import type { DkimSigner, DkimSigningKey } from '../dkim/sign.ts';
import type { SigningKeyCache } from '../dkim/key-store.ts';
import type { DkimAlgorithm } from '../dkim/keys.ts';
import { unsealPrivateKey } from '../dkim/seal.ts';
import type { Events } from '../events.ts';
import { buildDsn, type DsnAction, type DsnRecipientReport } from './report.ts';

export type DsnOptions = {
  queue: MailQueue;
  store: Store;
  log: Logger;
  /** Reporting-MTA and the domain of MAILER-DAEMON. */
  hostname: string;
  signer: DkimSigner;
  signingKeys: SigningKeyCache;
  /** The local domain whose keys sign every DSN. */
  domain: string;
  /** The timeline gets a `dsn_sent` event on the original message. */
  events: Events;
  /** Opens sealed DKIM keys (mail.dkimSealKey). */
  sealKey?: string;
  /** Queue expiry, for Will-Retry-Until in delay notices (RFC 3464 §2.3.9). */
  expireAfterMs?: number;
  /** Originals larger than this come back as headers only, whatever RET says. Default 1 MiB. */
  maxReturnBytes?: number;
  now?: () => number;
};

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/** The RFC 3463 code for a recipient's report: the server's own when it fits the action, else a generic one. */
export function statusFor(action: DsnAction, outcome: Settled['outcome'], expired: boolean): string {
  const m = ENHANCED.exec(outcome.text ?? '');
  const own = m ? `${m[1]}.${m[2]}.${m[3]}` : undefined;
  if (action === 'delivered' || action === 'relayed' || action === 'expanded') return own?.startsWith('2') ? own : '2.0.0';
  if (action === 'delayed') return own?.startsWith('4') ? own : '4.0.0';
  // failed: a permanent reply keeps its code; an expired recipient keeps its last transient one (RFC 3463 §3.5 X.4.7 otherwise).
  if (expired) return own?.startsWith('4') || own?.startsWith('5') ? own : '4.4.7';
  return own?.startsWith('5') ? own : '5.0.0';
}

/** What to tell the sender about one settled recipient, or null (RFC 3461 §4.1: NOTIFY decides; absent means FAILURE and DELAY). */
export function actionFor(s: Settled): DsnAction | null {
  const notify = s.claimed.notify;
  if (notify?.includes('NEVER')) return null;
  // A suppressed address fails without an attempt, and the sender is not told again: the earlier hard bounce is why.
  if (s.outcome.detail?.suppressed === true) return null;
  if (s.state === 'failed' || s.state === 'expired') return !notify || notify.includes('FAILURE') ? 'failed' : null;
  if (s.state === 'deferred') return s.delayNotice && (!notify || notify.includes('DELAY')) ? 'delayed' : null;
  if (s.state === 'delivered' && notify?.includes('SUCCESS')) {
    const route = String(s.outcome.detail?.route ?? '');
    const remote = route === 'mx' || route.startsWith('relay');
    // RFC 3461 §4.2: a next hop that speaks DSN got NOTIFY passed on and reports itself; one that does not gets "relayed".
    if (remote) return s.outcome.detail?.remoteDsn === true ? null : 'relayed';
    return 'delivered';
  }
  return null;
}

function recipientReport(s: Settled, action: DsnAction, at: number, willRetryUntil: number | null): DsnRecipientReport {
  const d = s.outcome.detail ?? {};
  const remoteMta = typeof d.mx === 'string' && d.mx ? d.mx : null;
  const text = (s.outcome.text ?? '').trim();
  const diagnostic = remoteMta && s.outcome.code
    ? { type: 'smtp' as const, text: `${s.outcome.code} ${text}` }
    : text ? { type: 'X-Mana' as const, text } : null;
  return {
    finalRecipient: s.rcpt,
    originalRecipient: s.claimed.orcpt,
    action,
    status: statusFor(action, s.outcome, s.state === 'expired'),
    remoteMta,
    diagnostic,
    lastAttemptAt: at,
    willRetryUntil: action === 'delayed' ? willRetryUntil : null,
  };
}

/**
 * The settle hook that writes DSNs. It runs inside the transaction that records the outcomes, so a
 * failure and its DSN commit together; it never throws (a DSN that cannot be made is logged and skipped,
 * the outcomes still commit).
 */
export function afterSettleDsn(options: DsnOptions): SettleHook {
  const { log } = options;
  const now = options.now ?? Date.now;
  const maxReturn = options.maxReturnBytes ?? 1024 * 1024;
  const from = `Mail Delivery System <MAILER-DAEMON@${options.hostname}>`;
  // Sealed key -> PEM; opening costs an scrypt, so once per key per process (warmed below, outside any transaction).
  const opened = new Map<string, Promise<string>>();
  const open = (stored: string): Promise<string> => {
    let p = opened.get(stored);
    if (!p) {
      p = unsealPrivateKey(stored, options.sealKey);
      p.catch(() => opened.delete(stored));
      opened.set(stored, p);
    }
    return p;
  };

  type KeyRow = { selector: string; algorithm: string; private_key: string };
  const keySql = "SELECT selector, algorithm, private_key FROM mail_dkim_keys WHERE domain = ? AND status = 'active' ORDER BY created_at, id";
  const domain = options.domain.toLowerCase();
  /** Read through the transaction's own handle: the store itself would wait for this very transaction. */
  async function keysIn(q: Queryable): Promise<DkimSigningKey[]> {
    const rows = await q.all<KeyRow>(keySql, [domain]);
    const keys: DkimSigningKey[] = [];
    for (const r of rows) keys.push({ domain, selector: r.selector, algorithm: r.algorithm as DkimAlgorithm, privateKeyPem: await open(r.private_key) });
    return keys;
  }
  void options.store.all<KeyRow>(keySql, [domain])
    .then((rows) => Promise.all(rows.map((r) => open(r.private_key))))
    .catch((err) => log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, domain }, 'dsn.keys_unavailable'));

  async function hook(q: Queryable, message: ClaimedMessage, settled: Settled[]): Promise<boolean> {
    // RFC 3461 §5.2.1 / RFC 5321 §4.5.5: nothing is reported for a DSN or for mail with a null return path.
    if (message.isDsn || !message.mailFrom) return false;
    const at = now();
    const willRetryUntil = options.expireAfterMs ? message.receivedAt + options.expireAfterMs : null;
    const reports: DsnRecipientReport[] = [];
    for (const s of settled) {
      const action = actionFor(s);
      if (action) reports.push(recipientReport(s, action, at, willRetryUntil));
    }
    if (!reports.length) return false;

    let savepoint = false;
    try {
      const failed = reports.some((r) => r.action === 'failed');
      // RFC 3461 §4.3: RET applies to failure reports; delay and success reports carry the header only.
      const full = failed && message.ret !== 'HDRS' && message.raw.length <= maxReturn;
      const dsn = buildDsn({
        reportingMta: options.hostname,
        from,
        to: message.mailFrom,
        envId: message.envId,
        arrivalDate: message.receivedAt,
        original: message.raw,
        returnContent: full ? 'full' : 'headers',
        recipients: reports,
        now: new Date(at),
      });
      const keys = await keysIn(q);
      const raw = keys.length ? await options.signer.sign({ raw: dsn.raw, keys }) : dsn.raw;
      // A savepoint keeps a failed insert from spoiling the outcomes around it (PostgreSQL aborts the whole transaction otherwise).
      await q.run('SAVEPOINT dsn');
      savepoint = true;
      const dsnId = await options.queue.enqueueIn(q, {
        mailFrom: '',
        recipients: [{ address: message.mailFrom, notify: ['NEVER'] }],
        raw,
        source: 'dsn',
        isDsn: true,
        headerMessageId: dsn.messageId,
        signedWith: keys.map((k) => `${k.selector}._domainkey.${k.domain}`),
      });
      await options.events.record(q, {
        type: 'dsn_sent',
        messageId: message.id,
        headerMessageId: message.headerMessageId,
        data: {
          action: dsn.action,
          dsnQueueId: dsnId,
          dsnMessageId: dsn.messageId,
          to: message.mailFrom,
          returned: full ? 'full' : 'headers',
          recipients: reports.map((r) => ({ rcpt: r.finalRecipient, action: r.action, status: r.status })),
        },
      });
      await q.run('RELEASE SAVEPOINT dsn');
      return true;
    } catch (err) {
      if (savepoint) await q.run('ROLLBACK TO SAVEPOINT dsn').then(() => q.run('RELEASE SAVEPOINT dsn')).catch(() => {});
      log.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, queueId: message.id }, 'dsn.failed');
      return false;
    }
  }
  return hook;
}
