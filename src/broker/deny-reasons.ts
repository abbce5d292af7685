// Whether refusals may carry their reason (`deny <text>`, policy/deny-texts.ts): only where the
// broker is known to understand it. RabbitMQ 4.3.0 and later do; earlier ones crash the
// connection's handler on it (the client sees INTERNAL_ERROR or a reset). The broker's version
// comes from its management API (`GET /api/overview`, `rabbitmq_version`), asked at start and then
// every `intervalMs` in the background; the hot path only reads `enabled`.

/** The first release whose HTTP auth backend understands `deny <reason>`. */
export const DENY_REASONS_SINCE = [4, 3, 0] as const;

/** AUTH_DENY_REASONS: `auto` sends reasons to a broker known to be >= 4.3.0, `off` never. */
export type DenyReasonsMode = 'auto' | 'off';

/**
 * Whether `version` (as the management API reports it: `4.3.6`, `4.3.0-rc.1`, `4.3.0+12.g1a2b`)
 * is at least 4.3.0. A pre-release of 4.3.0 is not; anything unparseable is not.
 */
export function understandsDenyReasons(version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)(-)?/.exec(version.trim());
  if (!m) return false;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) {
    if (parts[i]! !== DENY_REASONS_SINCE[i]) return parts[i]! > DENY_REASONS_SINCE[i]!;
  }
  return m[4] === undefined; // exactly 4.3.0: a release, not a pre-release
}

export interface DenyReasonSwitch {
  /** Read by the hot path on each refusal. */
  readonly enabled: boolean;
  /** The broker version last seen (undefined: not asked yet, or the last question failed). */
  readonly brokerVersion: string | undefined;
  /** Asks the broker now; resolves once `enabled` reflects the answer. Never rejects. */
  refresh(): Promise<void>;
  stop(): void;
}

export interface DenyReasonOptions {
  mode: DenyReasonsMode;
  /** The broker's version (management API). Undefined: no broker to ask, reasons stay off. */
  brokerVersion?: () => Promise<string>;
  /** Default 60 s. */
  intervalMs?: number;
  /**
   * Told when `enabled` or the version changes, and when the version cannot be read (reasons off
   * until it can): once per change, not on every question.
   */
  onChange?: (enabled: boolean, brokerVersion: string | undefined, error?: unknown) => void;
}

/**
 * Starts the switch: off until the broker's version is known to be >= 4.3.0, off again as soon as
 * a question fails or the broker reports an older version (a downgrade, or another node answering
 * after a rolling change). The background question is unref'd: it never keeps the process up.
 */
export function startDenyReasons(o: DenyReasonOptions): DenyReasonSwitch {
  const state = { enabled: false, brokerVersion: undefined as string | undefined };
  const ask = o.brokerVersion;
  if (o.mode === 'off' || ask === undefined) {
    return {
      get enabled() {
        return false;
      },
      brokerVersion: undefined,
      refresh: async () => {},
      stop() {},
    };
  }
  let inFlight: Promise<void> | undefined;
  let lastOutcome: 'none' | 'ok' | 'error' = 'none';
  const set = (enabled: boolean, version: string | undefined, error?: unknown) => {
    const outcome = error === undefined ? 'ok' : 'error';
    const changed = enabled !== state.enabled || version !== state.brokerVersion || outcome !== lastOutcome;
    lastOutcome = outcome;
    state.enabled = enabled;
    state.brokerVersion = version;
    if (changed) o.onChange?.(enabled, version, error);
  };
  const refresh = () =>
    (inFlight ??= (async () => {
      try {
        const version = await ask();
        set(understandsDenyReasons(version), version);
      } catch (err) {
        set(false, undefined, err);
      } finally {
        inFlight = undefined;
      }
    })());
  void refresh();
  const timer = setInterval(() => void refresh(), o.intervalMs ?? 60_000);
  timer.unref();
  return {
    get enabled() {
      return state.enabled;
    },
    get brokerVersion() {
      return state.brokerVersion;
    },
    refresh,
    stop: () => clearInterval(timer),
  };
}
