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
}

export const ROUTING_KEY_SCOPES: readonly RoutingRule[] = [
  { family: 'command.site-setpoint', self: true, child: false, scope: 'vcp:write:setpoint' },
  { family: 'command.device', self: true, child: true, scope: 'vcp:write:device-command' },
  { family: 'command.mode', self: true, child: false, scope: 'vcp:write:mode' },
  { family: 'schedule', self: false, child: true, scope: 'vcp:write:schedule' },
  { family: 'config', self: false, child: true, scope: 'vcp:write:config' },
];

/** The scope needed to publish with routing key `<slug>.<rest>`, or undefined: no scope allows it. */
export function requiredPublishScope(rest: string): string | undefined {
  for (const rule of ROUTING_KEY_SCOPES) {
    if (rest === rule.family) {
      if (rule.self) return rule.scope;
      continue;
    }
    if (
      rule.child &&
      rest.length > rule.family.length + 1 &&
      rest.startsWith(rule.family) &&
      rest.charCodeAt(rule.family.length) === 46 /* . */ &&
      rest.indexOf('.', rule.family.length + 1) === -1
    ) {
      return rule.scope;
    }
  }
  return undefined;
}
