/**
 * What a partner may read about a refusal: one fixed text per deny reason, the only place that
 * maps reasons to words. From RabbitMQ 4.3.0 a vhost, resource or topic answer `deny <text>` puts
 * the text in the close message the partner's client gets (with the broker's
 * `auth_http.authorization_failure_disclosure = true`), e.g. "ACCESS_REFUSED - write access to
 * topic 'acme.command.mode' in exchange 'vcp' in vhost 'partner-…' refused for user 'acme' by
 * backend rabbit_auth_backend_http: routing key needs scope vcp:write:mode". Brokers before 4.3
 * crash the connection's handler on such an answer; whether texts are sent is decided elsewhere
 * (broker/deny-reasons.ts).
 *
 * Rules for a text: short printable ASCII, no line break, nothing from the request (no name,
 * address or routing key echoed: the broker's own message already names the resource), no key
 * material. Login reasons have none: a login refusal must not tell whether a key exists.
 */
import type { DenyReason } from './decide.js';

export const DENY_TEXTS: Readonly<Record<DenyReason, string | null>> = {
  // Login (/auth/user): never a text.
  unknown_key: null,
  malformed_key: null,
  // The connection's key, checked again on every call. A text here says nothing about whether a
  // key exists: the connection logged in with it.
  inactive: 'API key revoked',
  expired: 'API key expired',
  wrong_organization: 'username is not the organization of the API key',
  missing_connect_scope: 'API key lacks scope vcp:connect',
  no_key_tag: 'no API key bound to this connection',
  // Vhost
  wrong_vhost: 'vhost belongs to another API key',
  ip_not_allowed: 'client address not in the allowlist of the API key',
  // Resources
  declare_refused: 'partners declare nothing; passive declare needs read or write access',
  queue_not_readable: 'only the queues vcp.<slug>.event.* may be consumed',
  queue_write_refused: 'partners may not bind queues',
  exchange_read_refused: 'partners may not bind from exchanges',
  exchange_not_vcp: 'publish to exchange vcp only',
  no_write_scope: 'API key has no vcp:write:* scope',
  // Topics
  topic_not_vcp: 'routing keys are checked on exchange vcp only',
  routing_key_other_org: 'routing key must start with the organization slug',
  routing_key_unknown: 'no scope allows this routing key',
  needs_write_setpoint: 'routing key needs scope vcp:write:setpoint',
  needs_write_device_command: 'routing key needs scope vcp:write:device-command',
  needs_write_mode: 'routing key needs scope vcp:write:mode',
  needs_write_schedule: 'routing key needs scope vcp:write:schedule',
  needs_write_config: 'routing key needs scope vcp:write:config',
  binding_not_event: 'only <slug>.event.* keys may be bound',
  not_permitted: 'not permitted',
};

/**
 * The answer bodies, built once: `deny <text>`, or plain `deny` for a reason without a text.
 * The hot path picks one by reference and allocates nothing.
 */
export const DENY_WITH_REASON: Readonly<Record<DenyReason, string>> = Object.freeze(
  Object.fromEntries(Object.entries(DENY_TEXTS).map(([reason, text]) => [reason, text === null ? 'deny' : `deny ${text}`])) as Record<DenyReason, string>,
);
