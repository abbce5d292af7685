// The hot path's latency histogram is tallied by hand and handed to prom-client at scrape time:
// what a scrape shows must be what prom-client's own observe would have shown.
import { Histogram, Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';

const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('voke_auth_decision_seconds'));

it('matches prom-client observing the same values, across several scrapes', async () => {
  const ours = createMetrics();
  const reference = new Registry();
  const theirs = new Histogram({
    name: 'voke_auth_decision_seconds',
    help: 'Time to answer a broker auth call, by path',
    labelNames: ['path'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [reference],
  });
  const observe = (path: 'topic' | 'user', s: number) => {
    ours.latency[path].observe(s);
    theirs.observe({ path }, s);
  };
  for (const s of [0.00005, 0.0001, 0.0003, 0.004, 2]) observe('topic', s);
  expect(lines(await ours.registry.metrics())).toEqual(lines(await reference.metrics()));
  for (const s of [0.0002, 0.9]) observe('user', s);
  observe('topic', 0.01);
  expect(lines(await ours.registry.metrics())).toEqual(lines(await reference.metrics()));
  expect(lines(await ours.registry.metrics())).toEqual(lines(await reference.metrics())); // a scrape changes nothing
});

it("exposes prom-client's default process metrics, except GC durations (no GC observer on the hot path)", async () => {
  const { collectDefaultMetrics } = await import('prom-client');
  const reference = new Registry();
  collectDefaultMetrics({ register: reference });
  const names = (text: string) =>
    new Set(
      text
        .split('\n')
        .filter((l) => l.startsWith('# TYPE'))
        .map((l) => l.split(' ')[2]!),
    );
  const ours = names(await createMetrics().registry.metrics());
  const defaults = [...names(await reference.metrics())];
  expect(defaults.length).toBeGreaterThan(10);
  expect(defaults.filter((n) => !ours.has(n))).toEqual(['nodejs_gc_duration_seconds']);
});
