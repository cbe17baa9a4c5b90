// Tests for notify's Prometheus text exposition (format 0.0.4): counters, gauges, cumulative histogram buckets, label escaping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistry } from './metrics.ts';

describe('metrics registry', () => {
  it('renders counters with HELP/TYPE and escaped label values', async () => {
    const r = createRegistry();
    const c = r.counter('x_total', 'X things');
    c.inc({ app: 'a"b\\c\nd' });
    c.inc({ app: 'a"b\\c\nd' }, 2);
    const text = await r.render();
    assert.match(text, /^# HELP x_total X things\n# TYPE x_total counter\n/);
    assert.ok(text.includes('x_total{app="a\\"b\\\\c\\nd"} 3\n'));
  });
  it('histogram buckets are cumulative and end in +Inf, with _sum and _count', async () => {
    const r = createRegistry();
    const h = r.histogram('lat_seconds', 'Latency', [0.1, 1]);
    h.observe({}, 0.05);
    h.observe({}, 0.5);
    h.observe({}, 5);
    const text = await r.render();
    assert.ok(text.includes('lat_seconds_bucket{le="0.1"} 1\n'));
    assert.ok(text.includes('lat_seconds_bucket{le="1"} 2\n'));
    assert.ok(text.includes('lat_seconds_bucket{le="+Inf"} 3\n'));
    assert.ok(text.includes('lat_seconds_count 3\n'));
    assert.ok(text.includes('lat_seconds_sum 5.55\n'));
  });
  it('gauges are collected at render time; a failing collector renders no samples', async () => {
    const r = createRegistry();
    let depth = 4;
    r.gauge('depth', 'Queue depth', async () => [{ labels: { state: 'pending' }, value: depth }]);
    r.gauge('broken', 'Broken', async () => { throw new Error('db down'); });
    assert.ok((await r.render()).includes('depth{state="pending"} 4\n'));
    depth = 7;
    const text = await r.render();
    assert.ok(text.includes('depth{state="pending"} 7\n'));
    assert.ok(text.includes('# TYPE broken gauge\n'));
  });
});
