/**
 * Publishing on exchange `vcp`: what follows `<slug>.` in the routing key decides the scope.
 * `self` matches the family name itself, `child` matches exactly one more non-empty segment
 * (the `*` of the docs' `command.device.*`). Anything not in this table is denied, including
 * `command.emergency`, for which no scope is documented.
 */
export interface RoutingRule {
  family: string;
  self: boolean;
  child: boolean;
  scope: string;
  /** The deny reason when the key lacks `scope` (its text: policy/deny-texts.ts). */
  missing: MissingScopeReason;
}

/** A publish refused because the key lacks the scope its routing key needs, one per scope. */
export type MissingScopeReason = 'needs_write_setpoint' | 'needs_write_device_command' | 'needs_write_mode' | 'needs_write_schedule' | 'needs_write_config';

export const ROUTING_KEY_SCOPES: readonly RoutingRule[] = [
  { family: 'command.site-setpoint', self: true, child: false, scope: 'vcp:write:setpoint', missing: 'needs_write_setpoint' },
  { family: 'command.device', self: true, child: true, scope: 'vcp:write:device-command', missing: 'needs_write_device_command' },
  { family: 'command.mode', self: true, child: false, scope: 'vcp:write:mode', missing: 'needs_write_mode' },
  { family: 'schedule', self: false, child: true, scope: 'vcp:write:schedule', missing: 'needs_write_schedule' },
  { family: 'config', self: false, child: true, scope: 'vcp:write:config', missing: 'needs_write_config' },
];

/** The rule that decides publishing with routing key `<slug>.<rest>`, or undefined: no scope allows it. */
export function publishRule(rest: string): RoutingRule | undefined {
  for (const rule of ROUTING_KEY_SCOPES) {
    if (rest === rule.family) {
      if (rule.self) return rule;
      continue;
    }
    if (
      rule.child &&
      rest.length > rule.family.length + 1 &&
      rest.startsWith(rule.family) &&
      rest.charCodeAt(rule.family.length) === 46 /* . */ &&
      rest.indexOf('.', rule.family.length + 1) === -1
    ) {
      return rule;
    }
  }
  return undefined;
}

/** The scope needed to publish with routing key `<slug>.<rest>`, or undefined: no scope allows it. */
export function requiredPublishScope(rest: string): string | undefined {
  return publishRule(rest)?.scope;
}
