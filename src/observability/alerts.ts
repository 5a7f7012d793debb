/**
 * Alerts: rules from the config (run_failed, run_succeeded, feed_stale,
 * quarantine_rate, data_stale) sent to channels (email over SMTP with
 * nodemailer, STARTTLS when the server offers it; webhooks as a JSON POST,
 * retried with backoff). A condition notifies once when it starts firing,
 * again only after `repeatInterval` while it lasts, and once more when it
 * clears (resolved). Alerts of one rule and channel that fire within
 * `groupWait` go out as one message. Every notification is recorded.
 */
import { randomUUID } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { errorMessage } from '../core/errors.ts';
import {
  type AlertChannel,
  type AlertRule,
  type AlertsConfig,
  durationMs,
} from '../core/pipeline-schema.ts';
import { DoNotRetryError, retry } from '../core/retry.ts';
import type { AlertRecord, RunRecord, RunStore } from '../pipelines/runs/run-store.ts';

export type AlertKind = AlertRule['on'];

/** One condition of one rule: a run that failed, a feed gone stale, a series behind. */
export interface AlertEvent {
  kind: AlertKind;
  /** What it is about: one alert per kind and key at a time. */
  key: string;
  state: 'firing' | 'resolved';
  subject: string;
  body: string;
  /** Facts for webhooks (run id, pipeline, partitions, …). */
  details: Record<string, unknown>;
  /** run_* rules: the pipeline, for rules limited to some pipelines. */
  pipeline?: string;
}

export interface AlerterOptions {
  config: AlertsConfig;
  runs: RunStore;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
  onSent?: (channel: string, outcome: string) => void;
  /** Dashboard link put in messages. */
  baseUrl?: string | null;
}

interface Firing {
  since: number;
  lastSent: number;
}

export class Alerter {
  readonly #o: AlerterOptions;
  readonly #now: () => number;
  readonly #firing = new Map<string, Firing>();
  readonly #groups = new Map<string, { events: AlertEvent[]; timer: NodeJS.Timeout }>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #mailers = new Map<string, Transporter>();

  constructor(o: AlerterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** The dashboard's address, for links in messages (known once the server listens). */
  setBaseUrl(url: string): void {
    this.#o.baseUrl = url;
  }

  get rules(): readonly AlertRule[] {
    return this.#o.config.rules;
  }

  /** A run ended: run_failed / run_succeeded; a success clears its pipeline's failure. */
  onRun(run: RunRecord): void {
    const link = this.#o.baseUrl ? `\n${this.#o.baseUrl}/#runs/${run.id}` : '';
    const details = {
      runId: run.id,
      pipeline: run.pipeline,
      runState: run.state,
      trigger: run.trigger,
      scheduledFor: new Date(run.scheduledFor).toISOString(),
      error: run.error,
      rows: run.rows,
      rejects: run.rejects,
    };
    if (run.state === 'failed') {
      this.report(
        {
          kind: 'run_failed',
          key: `run:${run.pipeline}`,
          state: 'firing',
          pipeline: run.pipeline,
          subject: `[tickline] run of ${run.pipeline} failed (${run.id})`,
          body: `Pipeline ${run.pipeline}, run ${run.id} (${run.trigger}, scheduled for ${details.scheduledFor}) failed.\n\n${run.error ?? ''}${link}\n`,
          details,
        },
        { repeatEveryTime: true },
      );
    } else if (run.state === 'succeeded') {
      this.report({
        kind: 'run_failed',
        key: `run:${run.pipeline}`,
        state: 'resolved',
        pipeline: run.pipeline,
        subject: `[tickline] ${run.pipeline} succeeded again (${run.id})`,
        body: `Pipeline ${run.pipeline}, run ${run.id} succeeded: ${run.rows} rows, ${run.rejects} rejects.${link}\n`,
        details,
      });
      this.report(
        {
          kind: 'run_succeeded',
          key: `run:${run.id}`,
          state: 'firing',
          pipeline: run.pipeline,
          subject: `[tickline] run of ${run.pipeline} succeeded (${run.id})`,
          body: `Pipeline ${run.pipeline}, run ${run.id} (${run.trigger}) succeeded: ${run.rows} rows, ${run.rejects} rejects.${link}\n`,
          details,
        },
        { repeatEveryTime: true },
      );
    }
  }

  /**
   * A condition's current truth. Firing: notified when it starts, then every
   * `repeatInterval` while it lasts. Resolved: notified once if it was firing.
   * `repeatEveryTime`: each call is news (a run that failed).
   */
  report(e: AlertEvent, opts: { repeatEveryTime?: boolean } = {}): void {
    const id = `${e.kind}\u0000${e.key}`;
    const now = this.#now();
    const prior = this.#firing.get(id);
    if (e.state === 'resolved') {
      if (!prior) return;
      this.#firing.delete(id);
      this.#dispatch(e);
      return;
    }
    if (
      prior &&
      !opts.repeatEveryTime &&
      now - prior.lastSent < durationMs(this.#o.config.repeatInterval)
    ) {
      return;
    }
    this.#firing.set(id, { since: prior?.since ?? now, lastSent: now });
    this.#dispatch(e);
  }

  /** Whether an alert of this kind and key is firing. */
  isFiring(kind: AlertKind, key: string): boolean {
    return this.#firing.has(`${kind}\u0000${key}`);
  }

  #dispatch(e: AlertEvent): void {
    for (const rule of this.#o.config.rules) {
      if (rule.on !== e.kind) continue;
      if (rule.pipelines && e.pipeline !== undefined && !rule.pipelines.includes(e.pipeline))
        continue;
      for (const channel of rule.channels) this.#queue(channel, e);
    }
  }

  #queue(channel: string, e: AlertEvent): void {
    const wait = durationMs(this.#o.config.groupWait);
    if (wait <= 0) {
      this.#track(this.#send(channel, [e]));
      return;
    }
    const gid = `${channel}\u0000${e.kind}\u0000${e.state}`;
    const group = this.#groups.get(gid);
    if (group) {
      group.events.push(e);
      return;
    }
    const timer = setTimeout(() => {
      const g = this.#groups.get(gid);
      this.#groups.delete(gid);
      if (g) this.#track(this.#send(channel, g.events));
    }, wait);
    timer.unref();
    this.#groups.set(gid, { events: [e], timer });
  }

  #track(p: Promise<void>): void {
    this.#inflight.add(p);
    void p.finally(() => this.#inflight.delete(p));
  }

  async #send(channelName: string, events: AlertEvent[]): Promise<void> {
    const channel = this.#o.config.channels[channelName]!;
    const first = events[0]!;
    const subject =
      events.length === 1
        ? first.subject
        : `[tickline] ${events.length} alerts: ${first.kind} (${first.state})`;
    const body = events
      .map((e) => (events.length === 1 ? e.body : `- ${e.subject}\n${e.body}`))
      .join('\n');
    let outcome = 'sent';
    let error: string | null = null;
    try {
      await this.#deliver(channel, channelName, subject, body, events);
    } catch (err) {
      outcome = 'failed';
      error = errorMessage(err);
      process.stderr.write(`alerts: ${channelName}: ${error}\n`);
    }
    this.#o.onSent?.(channelName, outcome);
    for (const e of events) {
      const rec: AlertRecord = {
        id: randomUUID(),
        rule: e.kind,
        key: e.key,
        state: e.state,
        channel: channelName,
        outcome,
        subject: e.subject,
        body: e.body,
        at: this.#now(),
        error,
      };
      await this.#o.runs.recordAlert(rec).catch((err) => {
        process.stderr.write(`alerts: recording failed: ${errorMessage(err)}\n`);
      });
    }
  }

  async #deliver(
    channel: AlertChannel,
    name: string,
    subject: string,
    body: string,
    events: AlertEvent[],
  ): Promise<void> {
    if (channel.kind === 'email') {
      let mailer = this.#mailers.get(name);
      if (!mailer) {
        const env = this.#o.env ?? process.env;
        const user = env.TICKLINE_SMTP_USER;
        mailer = nodemailer.createTransport({
          host: channel.smtp.host,
          port: channel.smtp.port,
          secure: channel.smtp.secure,
          ...(user ? { auth: { user, pass: env.TICKLINE_SMTP_PASSWORD ?? '' } } : {}),
          connectionTimeout: 15_000,
          greetingTimeout: 15_000,
          socketTimeout: 30_000,
        });
        this.#mailers.set(name, mailer);
      }
      await mailer.sendMail({ from: channel.from, to: channel.to.join(', '), subject, text: body });
      return;
    }
    const payload = JSON.stringify({
      source: 'tickline',
      subject,
      alerts: events.map((e) => ({
        ...e.details,
        kind: e.kind,
        key: e.key,
        state: e.state,
        subject: e.subject,
        body: e.body,
      })),
    });
    await retry(
      async () => {
        let res: Response;
        try {
          res = await fetch(channel.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...channel.headers },
            body: payload,
            signal: AbortSignal.timeout(10_000),
          });
        } catch (err) {
          throw new Error(`${channel.url}: ${errorMessage(err)}`, { cause: err });
        }
        await res.arrayBuffer().catch(() => {});
        if (res.status >= 500 || res.status === 429)
          throw new Error(`${channel.url} answered ${res.status}`);
        if (!res.ok) throw new DoNotRetryError(`${channel.url} answered ${res.status}`);
      },
      { retries: 4, delayMs: 500, backoff: 'exponential', maxDelayMs: 10_000 },
    );
  }

  /** Waits for notifications on their way (and sends groups now). */
  async flush(): Promise<void> {
    for (const [gid, g] of this.#groups) {
      clearTimeout(g.timer);
      this.#groups.delete(gid);
      this.#track(this.#send(gid.split('\u0000')[0]!, g.events));
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async close(): Promise<void> {
    await this.flush();
    for (const m of this.#mailers.values()) m.close();
  }
}
