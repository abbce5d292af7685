/**
 * At most `perSecond` takes a second on average, `perSecond` at once after a quiet spell.
 * Refilled lazily from the monotonic clock when asked, so it costs nothing while unused.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.refilledAt = clock();
  }

  take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
