// `mana doctor`: the open-relay self-test: mail from elsewhere to elsewhere, without AUTH, must be refused (RFC 5321 §3.6.2, RFC 2505).
import { inNetworks } from '../../mail/smtp/networks.ts';
import { isLoopback, unmapped } from './address.ts';
import { errorText, skipped, type CheckResult } from './check.ts';
import { connect, converse, ehloName, firstLine, lastLine, type Conversation } from './smtp-client.ts';
import type { ServerContext } from './target.ts';

export async function checkRelay(ctx: ServerContext): Promise<CheckResult> {
  const check = 'open-relay';
  if (isLoopback(ctx.address) && !ctx.fromIp) {
    return skipped(check, `${ctx.host === ctx.address ? ctx.address : `${ctx.host} is ${ctx.address}`}, a loopback address: our server trusts loopback (it may relay), so the test means nothing from here; run it from another host or pass --from-ip 127.0.0.2`);
  }
  if (!ctx.ports.smtp) return skipped(check, 'no smtp port');
  let conversation: Conversation | undefined;
  try {
    const socket = await connect({ address: ctx.address, port: ctx.ports.smtp, localAddress: ctx.fromIp, stepMs: ctx.stepMs });
    const source = unmapped(socket.localAddress ?? '');
    const trusted = source === '127.0.0.1' || source === '::1' || inNetworks(source, ctx.config.mail.allowedIp);
    const c = converse(socket, ctx.stepMs);
    conversation = c;
    if (ctx.local && trusted) return skipped(check, `connecting from ${source}, which the server trusts (loopback or mail.allowedIp): the test means nothing from here; pass --from-ip ADDR`);
    const greeting = await c.reply('greeting');
    if (greeting.code !== 220) return { check, status: 'warn', detail: `cannot test: greeting ${firstLine(greeting)}` };
    const ehlo = await c.command(`EHLO ${ehloName(socket)}`);
    if (ehlo.code !== 250) return { check, status: 'warn', detail: `cannot test: EHLO answered ${firstLine(ehlo)}` };
    const from = await c.command('MAIL FROM:<doctor@example.com>');
    if (from.code >= 500) return { check, status: 'ok', detail: `refused at MAIL FROM from ${source}: ${lastLine(from)}` };
    if (from.code !== 250) return { check, status: 'warn', detail: `cannot tell: MAIL FROM answered ${lastLine(from)}` };
    const rcpt = await c.command('RCPT TO:<relay-test@example.net>');
    await c.command('RSET').catch(() => undefined);
    await c.command('QUIT').catch(() => undefined);
    if (rcpt.code >= 200 && rcpt.code < 300) return { check, status: 'error', detail: `open relay: ${ctx.host} accepted mail for relay-test@example.net from ${source} without AUTH (${lastLine(rcpt)})` };
    if (rcpt.code >= 500) return { check, status: 'ok', detail: `relay from ${source} refused: ${lastLine(rcpt)}` };
    return { check, status: 'warn', detail: `cannot tell: RCPT TO answered ${lastLine(rcpt)} (temporary)` };
  } catch (err) {
    return { check, status: 'error', detail: `cannot test: ${errorText(err)}` };
  } finally {
    conversation?.close();
  }
}
