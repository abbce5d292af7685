// The ops kit against the real thing: the alert rules and the Grafana dashboard name only
// metrics the service exports; promtool accepts the rules and the example configuration and
// passes the rules' unit tests; and a real Prometheus scraping a running service sees
// VokeAuthDatabaseUnreachable fire when the database goes away (and resolve when it is back),
// then VokeAuthInstanceDown when the service stops.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/net/free-port.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { startTestService } from './support/service.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { tempDir } from './support/temp.js';

const ALERTS = 'deploy/prometheus/alerts.yml';
const PROMETHEUS_YML = 'deploy/prometheus/prometheus.yml';
const DASHBOARD = 'deploy/grafana/voke-auth.json';

function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, program))) return join(dir, program);
  return undefined;
}
const promtool = onPath('promtool');
const prometheus = onPath('prometheus');
const required = process.env.E2E_REQUIRED === '1';

/** Metric names an expression refers to (ours and the process/node defaults). */
function referencedMetrics(text: string): Set<string> {
  return new Set(text.match(/\b(?:voke_auth|process|nodejs)_[a-z0-9_]+\b/g) ?? []);
}

/** Names a Prometheus exposition offers, with a histogram's _bucket, _sum and _count series. */
function exportedMetrics(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram' || m[2] === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
  }
  return names;
}

function alertNames(): string[] {
  return [...readFileSync(ALERTS, 'utf8').matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1]!);
}

describe('the alert rules and the dashboard name what the service exports', () => {
  let db: TestDatabase;
  let service: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    db = await createTestDatabase();
    // A management URL (nothing answers there) so that the broker gauges are registered too.
    service = await startTestService(db.url, { env: { RABBITMQ_MANAGEMENT_URL: 'http://voke-admin:x@127.0.0.1:9' } });
  });
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  it('every metric in alerts.yml and in every dashboard panel is in /metrics', async () => {
    const exported = exportedMetrics(await (await fetch(`${service.adminUrl}/metrics`)).text());
    const inAlerts = referencedMetrics(readFileSync(ALERTS, 'utf8'));
    expect(inAlerts.size).toBeGreaterThanOrEqual(5);
    for (const name of inAlerts) expect(exported, `alerts.yml: ${name}`).toContain(name);

    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    const seen = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets!) {
        const names = referencedMetrics(expr);
        // `up` is Prometheus's own series of the scrape; every other panel shows ours.
        if (!/^sum\(up\{job="voke-auth"/.test(expr)) expect(names.size, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) {
          expect(exported, `${panel.title}: ${name}`).toContain(name);
          seen.add(name);
        }
      }
    }
    // The dashboard shows every series the alerts watch.
    for (const name of inAlerts) expect(seen, `dashboard lacks ${name}`).toContain(name);
  });

  it('every alert has its runbook entry in docs/operations.md', () => {
    const runbooks = readFileSync('docs/operations.md', 'utf8');
    const names = alertNames();
    expect(names).toEqual([
      'VokeAuthInstanceDown',
      'VokeAuthDatabaseUnreachable',
      'VokeAuthKeyTableStale',
      'VokeAuthVhostDeletionStuck',
      'VokeAuthRefusalsHigh',
      'VokeAuthLatencyHigh',
      'VokeAuthBrokerNodeUnreachable',
      'VokeAuthBrokerClusterMemberDown',
      'VokeAuthBrokerUnreachable',
    ]);
    for (const name of names) expect(runbooks, name).toContain(`### ${name}\n`);
  });
});

describe.runIf(promtool || required)('promtool', () => {
  const run = (...args: string[]) => {
    if (!promtool) throw new Error('promtool is not installed (Debian package prometheus) and E2E_REQUIRED=1');
    const r = spawnSync(promtool, args, { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  };

  it('check rules: alerts.yml is valid', () => {
    const r = run('check', 'rules', ALERTS);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${alertNames().length} rules found`);
  });

  it('check config: the example prometheus.yml (with the rules beside it) is valid', () => {
    const r = run('check', 'config', PROMETHEUS_YML);
    expect(r.status, r.output).toBe(0);
  });

  it('test rules: each alert fires on the series it should, not before its `for`', () => {
    const r = run('test', 'rules', 'test/prometheus/alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });
});

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

describe.runIf(prometheus || required)('a real Prometheus scraping the service', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let service: Awaited<ReturnType<typeof startTestService>> | undefined;
  let server: ChildProcess | undefined;
  let output = '';
  let api = '';
  let target = '';

  beforeAll(async () => {
    if (!prometheus) throw new Error('prometheus is not installed (Debian package prometheus) and E2E_REQUIRED=1');
    db = await createTestDatabase();
    proxy = await startTcpProxy(db.url);
    service = await startTestService(proxy.url);
    target = new URL(service.adminUrl!).host;

    // The rules as shipped, with `for: 1m` shortened so that the test does not wait a minute.
    const dir = tempDir('voke-prometheus-');
    const rules = readFileSync(ALERTS, 'utf8').replace(/for: 1m/g, 'for: 2s');
    expect(rules).toContain('for: 2s');
    writeFileSync(join(dir, 'alerts.yml'), rules);
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
        'rule_files: [alerts.yml]',
        'scrape_configs:',
        `  - { job_name: voke-auth, static_configs: [{ targets: ['${target}'] }] }`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    server = spawn(
      prometheus,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    server.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const until = Date.now() + 30_000;
    while ((await fetch(`${api}/-/ready`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > until || server.exitCode !== null) throw new Error(`prometheus did not become ready: ${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 60_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    proxy?.up();
    await service?.stop();
    await proxy?.close();
    await db?.drop();
  });

  const alerts = async (): Promise<Alert[]> => {
    const body = (await (await fetch(`${api}/api/v1/alerts`)).json()) as { status: string; data: { alerts: Alert[] } };
    expect(body.status).toBe('success');
    return body.data.alerts;
  };
  const alert = async (name: string) => (await alerts()).find((a) => a.labels.alertname === name);
  const query = async (expr: string) => {
    const body = (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { data: { result: { value: [number, string] }[] } };
    return body.data.result.map((r) => r.value[1]);
  };

  it('VokeAuthDatabaseUnreachable fires when the database goes away, and resolves when it is back', async () => {
    // Scraped and current: the table is not stale, nothing fires.
    await expect.poll(() => query(`voke_auth_key_table_stale{job="voke-auth", instance="${target}"}`), { timeout: 20_000, interval: 500 }).toEqual(['0']);
    await expect.poll(() => query(`up{job="voke-auth"}`), { timeout: 10_000, interval: 500 }).toEqual(['1']);
    expect(await alerts(), output).toEqual([]);

    proxy.down();
    await expect.poll(async () => (await alert('VokeAuthDatabaseUnreachable'))?.state, { timeout: 30_000, interval: 500 }).toBe('firing');
    expect((await alert('VokeAuthDatabaseUnreachable'))!.labels).toMatchObject({ job: 'voke-auth', instance: target, severity: 'critical' });
    expect(await alert('VokeAuthInstanceDown')).toBeUndefined(); // the service itself still answers

    proxy.up();
    await expect.poll(() => alert('VokeAuthDatabaseUnreachable'), { timeout: 30_000, interval: 500 }).toBeUndefined();
  }, 90_000);

  it('VokeAuthInstanceDown fires when the service stops', async () => {
    await service!.stop();
    service = undefined;
    await expect.poll(async () => (await alert('VokeAuthInstanceDown'))?.state, { timeout: 30_000, interval: 500 }).toBe('firing');
    expect((await alert('VokeAuthInstanceDown'))!.labels).toMatchObject({ job: 'voke-auth', instance: target });
  }, 60_000);
});
