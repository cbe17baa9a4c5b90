// `mana doctor`: PTR and HELO: forward-confirmed reverse DNS of the server's addresses (RFC 1035 §3.5, RFC 3596 §2.5) and the name it says in HELO (RFC 5321 §4.1.1.1).
import { dnsFailureOf, type DnsResolver } from '../../mail/route/resolver.ts';
import { reverseName, sameAddress } from './address.ts';
import { bare, errorText, type CheckResult } from './check.ts';
import type { ServerContext } from './target.ts';

export async function checkPtr(ctx: ServerContext, dns: DnsResolver): Promise<CheckResult[]> {
  const helo = bare(ctx.config.mail.hostname);
  return Promise.all(ctx.addresses.slice(0, 4).map(async (ip): Promise<CheckResult> => {
    const check = `ptr ${ip}`;
    let names: string[];
    try {
      names = (await dns.resolvePtr(reverseName(ip))).map(bare);
    } catch (err) {
      if (dnsFailureOf(err) === 'temporary') return { check, status: 'error', detail: `PTR lookup failed: ${errorText(err)}` };
      return { check, status: 'warn', detail: `no PTR record for ${ip}: many receivers refuse or mark mail from addresses without reverse DNS; ask the address's provider for PTR ${helo}` };
    }
    const confirmed: string[] = [];
    for (const name of names) {
      const forward = await Promise.all([dns.resolve4(name).catch(() => []), dns.resolve6(name).catch(() => [])]);
      if (forward.flat().some((a) => sameAddress(a, ip))) confirmed.push(name);
    }
    if (!confirmed.length) return { check, status: 'warn', detail: `PTR ${names.join(', ')} does not resolve back to ${ip} (no forward-confirmed reverse DNS)` };
    if (!confirmed.includes(helo)) return { check, status: 'warn', detail: `PTR ${confirmed.join(', ')} resolves back to ${ip}, but the HELO name (mail.hostname) is ${helo}` };
    return { check, status: 'ok', detail: `PTR ${helo} resolves back to ${ip} and equals the HELO name` };
  }));
}
