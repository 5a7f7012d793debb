/**
 * Alertmanager's webhook payload (version 4) and how one of its alerts joins
 * tickline's alert history: rule = alertname, key = the alert's fingerprint,
 * channel = `alertmanager:<receiver>`. The id is a hash of the fingerprint,
 * the state and the start, so a notification Alertmanager repeats (its
 * group_interval, retries) is recorded once, and its resolution once more.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AlertRecord } from '../pipelines/runs/run-store.ts';

const labels = z.record(z.string(), z.string());

export const AlertmanagerAlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labels.refine((l) => typeof l.alertname === 'string', 'labels.alertname is required'),
  annotations: labels.default({}),
  startsAt: z.string().refine((s) => Number.isFinite(Date.parse(s)), 'an RFC 3339 time'),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).max(128),
});

export const AlertmanagerWebhookSchema = z.object({
  version: z.literal('4').describe('the payload version Alertmanager sends ("4")'),
  status: z.enum(['firing', 'resolved']).describe('the group’s state'),
  receiver: z.string().max(200).describe('the receiver in alertmanager.yml that sent it'),
  groupKey: z.string().optional().describe('the group’s key'),
  truncatedAlerts: z.number().int().optional().describe('alerts left out (max_alerts)'),
  groupLabels: labels.optional().describe('the labels the group is made by'),
  commonLabels: labels.optional().describe('labels every alert of the group has'),
  commonAnnotations: labels.optional().describe('annotations every alert of the group has'),
  externalURL: z.string().optional().describe('Alertmanager’s address'),
  alerts: z
    .array(AlertmanagerAlertSchema)
    .min(1)
    .max(1_000)
    .describe('the alerts: status, labels (alertname), annotations, startsAt, endsAt, fingerprint'),
});

export type AlertmanagerAlert = z.output<typeof AlertmanagerAlertSchema>;

export function alertmanagerRecord(a: AlertmanagerAlert, receiver: string): AlertRecord {
  const endsAt = a.endsAt ? Date.parse(a.endsAt) : Number.NaN;
  // A firing alert's endsAt is Alertmanager's resolve timeout, not an event: its start is.
  const at = a.status === 'resolved' && endsAt > 0 ? endsAt : Date.parse(a.startsAt);
  const rest = Object.entries(a.labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const name = a.labels.alertname!;
  const subject = `[${a.status}] ${a.annotations.summary ?? name}`;
  const body = [a.annotations.description, rest && `labels: ${rest}`, a.generatorURL]
    .filter(Boolean)
    .join('\n');
  return {
    id: createHash('sha256')
      .update(`${a.fingerprint}|${a.status}|${a.startsAt}`)
      .digest('hex')
      .slice(0, 32),
    rule: name,
    key: a.fingerprint,
    state: a.status,
    channel: `alertmanager:${receiver}`,
    outcome: 'received',
    subject,
    body,
    at,
    error: null,
  };
}
