// The ringtone and the ringback tone, made with WebAudio (no audio file ships): two sine
// tones together, on and off in a cadence. "ring": 440+480 Hz, 2 s on, 4 s off, for an
// incoming call; "ringback": the same, quieter, 1 s on, 3 s off, while calling out.
type Kind = "ring" | "ringback";

const PATTERNS: Record<Kind, { on: number; off: number; gain: number }> = {
  ring: { on: 2, off: 4, gain: 0.18 },
  ringback: { on: 1, off: 3, gain: 0.06 },
};

export class Tone {
  private ctx: AudioContext | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private playing: Kind | null = null;

  start(kind: Kind): void {
    this.stop();
    const Ctx = globalThis.AudioContext;
    if (!Ctx) return;
    const ctx = (this.ctx = new Ctx());
    void ctx.resume().catch(() => undefined); // may stay suspended until the page was touched
    this.playing = kind;
    const { on, off, gain } = PATTERNS[kind];
    const burst = () => {
      if (this.ctx !== ctx) return;
      const t0 = ctx.currentTime + 0.05;
      const level = ctx.createGain();
      level.gain.setValueAtTime(0, t0);
      level.gain.linearRampToValueAtTime(gain, t0 + 0.05);
      level.gain.setValueAtTime(gain, t0 + on - 0.05);
      level.gain.linearRampToValueAtTime(0, t0 + on);
      level.connect(ctx.destination);
      for (const hz of [440, 480]) {
        const osc = ctx.createOscillator();
        osc.frequency.value = hz;
        osc.connect(level);
        osc.start(t0);
        osc.stop(t0 + on);
      }
    };
    burst();
    this.timer = setInterval(burst, (on + off) * 1000);
  }

  get kind(): Kind | null {
    return this.playing;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.playing = null;
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
  }
}
