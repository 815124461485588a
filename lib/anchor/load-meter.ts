/**
 * The arrival rate of records into the anchor queue, for the budget plan (budget.ts): what arrived between
 * two looks is the growth of the queue plus what was taken out of it into batches meanwhile. A moving
 * average smooths bursts so one burst does not swing the interval. Pure: times and counts come in.
 */
export class ArrivalMeter {
  private last: { at: number; pending: number } | undefined;
  private taken = 0;
  private rate: number | undefined;

  /** @param alpha weight of the newest interval in the moving average (0..1]. */
  constructor(private readonly alpha = 0.3) {
    // A programming error (alpha is a constant of the callers): a RangeError.
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
  }

  /** Records taken out of the queue into a batch since the last observe. */
  took(n: number): void {
    this.taken += n;
  }

  /** The queue holds `pending` at `now`; returns the smoothed arrivals per second (0 before two looks). */
  observe(now: number, pending: number): number {
    if (this.last && now > this.last.at) {
      const arrived = Math.max(0, pending - this.last.pending + this.taken);
      const r = arrived / ((now - this.last.at) / 1000);
      this.rate = this.rate === undefined ? r : this.alpha * r + (1 - this.alpha) * this.rate;
    }
    if (!this.last || now > this.last.at) {
      this.last = { at: now, pending };
      this.taken = 0;
    }
    return this.rate ?? 0;
  }

  get perSecond(): number {
    return this.rate ?? 0;
  }
}
