// Delivery status notifications (RFC 3464) for recipients that failed, expired or are delayed. Placeholder until the DSN builder lands.
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../lib/log.ts';
import type { ClaimedMessage, MailQueue, Settled } from '../queue/queue.ts';
import type { DkimSigner } from '../dkim/sign.ts';
import type { SigningKeyCache } from '../dkim/key-store.ts';

export type DsnOptions = { queue: MailQueue; store: Store; log: Logger; hostname: string; signer: DkimSigner; signingKeys: SigningKeyCache; domain: string };

export function afterSettleDsn(options: DsnOptions) {
  return async (message: ClaimedMessage, settled: Settled[]): Promise<void> => {
    const report = settled.filter((s) => s.state === 'failed' || s.state === 'expired');
    if (report.length) options.log.info({ queueId: message.id, recipients: report.map((s) => s.rcpt) }, 'dsn.pending');
  };
}
