// Prometheus metrics of notify, in the text exposition format 0.0.4 (counters, gauges, histograms with labels).

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// Exposition format: label values escape backslash, double quote and line feed.
function formatLabels(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

export type Counter = { inc(labels?: Labels, by?: number): void };
export type Histogram = { observe(labels: Labels, seconds: number): void };
export type GaugeCollector = () => Promise<Array<{ labels: Labels; value: number }>>;

type Family =
  | { type: 'counter'; name: string; help: string; values: Map<string, { labels: Labels; value: number }> }
  | { type: 'histogram'; name: string; help: string; buckets: number[]; values: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }> }
  | { type: 'gauge'; name: string; help: string; collect: GaugeCollector };

export type Registry = ReturnType<typeof createRegistry>;

export function createRegistry() {
  const families: Family[] = [];
  return {
    counter(name: string, help: string): Counter {
      const family: Family = { type: 'counter', name, help, values: new Map() };
      families.push(family);
      return {
        inc(labels: Labels = {}, by = 1) {
          const key = labelKey(labels);
          const entry = family.values.get(key);
          if (entry) entry.value += by;
          else family.values.set(key, { labels: { ...labels }, value: by });
        },
      };
    },
    histogram(name: string, help: string, buckets: number[]): Histogram {
      const sorted = [...buckets].sort((a, b) => a - b);
      const family: Family = { type: 'histogram', name, help, buckets: sorted, values: new Map() };
      families.push(family);
      return {
        observe(labels: Labels, value: number) {
          const key = labelKey(labels);
          let entry = family.values.get(key);
          if (!entry) {
            entry = { labels: { ...labels }, counts: sorted.map(() => 0), sum: 0, count: 0 };
            family.values.set(key, entry);
          }
          sorted.forEach((le, i) => {
            if (value <= le) entry.counts[i]! += 1;
          });
          entry.sum += value;
          entry.count += 1;
        },
      };
    },
    gauge(name: string, help: string, collect: GaugeCollector): void {
      families.push({ type: 'gauge', name, help, collect });
    },
    /** The whole registry as `text/plain; version=0.0.4`. */
    async render(): Promise<string> {
      const lines: string[] = [];
      for (const f of families) {
        lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
        if (f.type === 'counter') {
          for (const v of f.values.values()) lines.push(`${f.name}${formatLabels(v.labels)} ${formatNumber(v.value)}`);
        } else if (f.type === 'gauge') {
          let samples: Array<{ labels: Labels; value: number }> = [];
          try {
            samples = await f.collect();
          } catch {
            samples = [];
          }
          for (const s of samples) lines.push(`${f.name}${formatLabels(s.labels)} ${formatNumber(s.value)}`);
        } else {
          for (const v of f.values.values()) {
            f.buckets.forEach((le, i) => lines.push(`${f.name}_bucket${formatLabels(v.labels, ['le', formatNumber(le)])} ${v.counts[i]}`));
            lines.push(`${f.name}_bucket${formatLabels(v.labels, ['le', '+Inf'])} ${v.count}`);
            lines.push(`${f.name}_sum${formatLabels(v.labels)} ${v.sum}`);
            lines.push(`${f.name}_count${formatLabels(v.labels)} ${v.count}`);
          }
        }
      }
      return `${lines.join('\n')}\n`;
    },
  };
}

/** The metrics notify records: the original's names, plus accepted/delivered/bounced, queue depth and accept latency. */
export function createNotifyMetrics() {
  const registry = createRegistry();
  return {
    registry,
    accepted: registry.counter('mana_notify_notifications_accepted_total', 'Notifications accepted (202) by channel and app'),
    deduplicated: registry.counter('mana_notify_notifications_deduplicated_total', 'Requests answered with an existing notification (externalId or Idempotency-Key)'),
    sent: registry.counter('mana_notify_notifications_sent_total', 'Notifications handed to their channel (SMTP 250, webhook 2xx)'),
    delivered: registry.counter('mana_notify_notifications_delivered_total', 'Notifications the mail server reported delivered'),
    bounced: registry.counter('mana_notify_notifications_bounced_total', 'Notifications the mail server reported bounced, failed or expired'),
    failed: registry.counter('mana_notify_notifications_failed_total', 'Notifications given up on'),
    emails: registry.counter('mana_notify_emails_sent_total', 'SMTP attempts by template, provider and outcome'),
    webhooks: registry.counter('mana_notify_webhooks_sent_total', 'Webhook attempts by outcome'),
    push: registry.counter('mana_notify_push_sent_total', 'Push attempts by platform and outcome'),
    failovers: registry.counter('mana_notify_smtp_failovers_total', 'Switches of the active SMTP provider'),
    latency: registry.histogram('mana_notify_notification_latency_seconds', 'Time from accept to sent', [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10]),
    emailLatency: registry.histogram('mana_notify_email_latency_seconds', 'Duration of one SMTP transaction', [0.1, 0.5, 1, 2, 5, 10]),
    acceptLatency: registry.histogram('mana_notify_accept_latency_seconds', 'Time to accept a send request', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5]),
  };
}

export type NotifyMetrics = ReturnType<typeof createNotifyMetrics>;
